"""Data-layer figures: render the full dSprites grid, peak memory, sampling speed.

    python benchmarks/bench_data.py [--device cuda]

Targets (issue 2): full grid <= 20 s, peak resident memory <= 0.5 GB, a batch of 64 <= 1 ms.
Peak memory is measured in this process, which imports NumPy but not torch on the CPU path (the
target is for that path: with --device cuda the CUDA libraries alone take over 1 GB of host memory).
"""
import argparse
import resource
import tempfile
import time

import numpy as np

from course_lib.data import DSprites
from course_lib.data import dsprites_render as render
from course_lib.data import ensure_grid_cache


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", help="cpu, or a CUDA device to assemble the grid on")
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()

    if args.device != "cpu":  # start CUDA before the clock: context creation is not rendering
        import torch

        torch.zeros(1, device=args.device)
    start = time.perf_counter()
    packed = render.render_packed_grid(device=args.device, progress=False)
    if args.device != "cpu":
        torch.cuda.synchronize()
    render_s = time.perf_counter() - start
    if args.device != "cpu":  # the GPU grid must carry the same bits as the CPU one
        reference = render.render_packed_grid(progress=False)
        print(f"GPU grid identical to CPU grid: {bool(np.array_equal(packed.cpu().numpy(), reference))}")
    del packed

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        ensure_grid_cache(folder, progress=False)
        cache_s = time.perf_counter() - start
        start = time.perf_counter()
        ensure_grid_cache(folder, progress=False)
        verify_s = time.perf_counter() - start
        data = DSprites(data_dir=folder, progress=False)
        random_state = np.random.RandomState(0)
        data.sample(64, random_state)
        start = time.perf_counter()
        for _ in range(args.batches):
            data.sample(64, random_state)
        batch_ms = (time.perf_counter() - start) / args.batches * 1e3

    print(f"render full grid ({render.NUM_IMAGES:,} images, {args.device}): {render_s:6.2f} s   (target <= 20 s)")
    print(f"render + write cache with checksum:            {cache_s:6.2f} s")
    print(f"verify existing cache (sha256):                {verify_s:6.2f} s")
    print(f"bit-packed grid in memory:                     {data.packed_grid.nbytes / 2**30:6.3f} GiB")
    print(f"peak resident memory of this process:          {peak_rss_gib():6.3f} GiB (target <= 0.5 GB)")
    print(f"sample a batch of 64 observations:             {batch_ms:6.3f} ms  (target <= 1 ms)")


if __name__ == "__main__":
    main()
