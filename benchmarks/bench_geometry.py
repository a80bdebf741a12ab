"""Latent geometry speed: batched decoder Jacobians and 16-point geodesics on the study's decoder.

    python benchmarks/bench_geometry.py [--points 64] [--pairs 5] [--run runs/<slug>] [--device auto]

1. Jacobians of the study's deconvolutional decoder (Bernoulli mean, d = 10 latents, D = 4,096
   pixels) at `--points` codes: `course_lib.analysis.geometry.jacobian` (forward mode, all directions and
   points of a chunk at once) against a Python loop over the d latent directions (one batched JVP
   each) and against a loop over points (`torch.autograd.functional.jacobian`, timed on a few
   points and scaled). The three must agree.
2. Geodesics with 16 points between encoded dSprites images on a trained decoder (issue 8's target:
   "converges in seconds on the CPU"): seconds, L-BFGS steps, whether the gradient rule
   (gtol = 0.05, the default) was met, and the linear-to-geodesic length ratio. The decoder is the
   lecture β-VAE (β = 16, 2,000 steps) under `runs/` when it exists (`--run` picks another run),
   else a freshly initialised one (said so in the output).
Run with OMP_NUM_THREADS=1 for figures comparable with the ones in the issue's report.
"""
import argparse
import time

import numpy as np
import torch

from course_lib.analysis.geometry import geodesic, jacobian, mean_decoder
from course_lib.device import get_device
from course_lib.models import conv_vae


def load_model(run_dir, device):
    from course_lib.training import TrainConfig, default_runs_dir, load_run

    path = run_dir or default_runs_dir() / TrainConfig("beta_vae", {"beta": 16}, steps=2000).slug()
    try:
        return load_run(path, device=device).model, f"trained run {path}"
    except ValueError:
        torch.manual_seed(0)
        return conv_vae(10).to(device).eval(), "a freshly initialised conv VAE (no trained run found)"


def time_it(function, repeats=3):
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--run", default=None, help="a run directory whose decoder to use")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = get_device(args.device)
    model, source = load_model(args.run, device)
    decoder = mean_decoder(model)
    print(f"device {device}, torch threads {torch.get_num_threads()}; decoder: {source}")

    z = torch.randn(args.points, model.num_latent, generator=torch.Generator().manual_seed(args.seed)).to(device)
    flat = lambda codes: decoder(codes).reshape(len(codes), -1)  # noqa: E731
    basis = torch.eye(model.num_latent, device=device)

    def per_direction():
        with torch.no_grad():
            return torch.stack([torch.func.jvp(flat, (z,), (basis[k].expand_as(z),))[1] for k in range(len(basis))], -1)

    few = z[: min(4, len(z))]

    def per_point():
        return torch.stack([torch.autograd.functional.jacobian(lambda v: flat(v[None])[0], zi) for zi in few])

    batched_s, J = time_it(lambda: jacobian(decoder, z))
    loop_s, J_loop = time_it(per_direction)
    point_s, J_point = time_it(per_point, repeats=1)
    assert torch.allclose(J, J_loop, rtol=1e-4, atol=1e-6) and torch.allclose(J[: len(few)], J_point, rtol=1e-4,
                                                                             atol=1e-6)
    point_s *= len(z) / len(few)
    print(f"\nJacobians at {len(z)} codes ({tuple(J.shape[1:])} each)          seconds   ms / code   vs batched")
    for label, seconds in (("batched (vmap over directions, chunks of 64)", batched_s),
                           ("loop over the d directions", loop_s),
                           (f"loop over codes, autograd (scaled from {len(few)})", point_s)):
        print(f"  {label:<52}{seconds:8.2f}{1e3 * seconds / len(z):11.1f}{seconds / batched_s:11.1f}x")

    from course_lib.data import DSprites
    from course_lib.representation import encode

    observations = DSprites("binary", progress=False).sample(2 * args.pairs, np.random.RandomState(args.seed))[1]
    codes = encode(model, observations)[0]
    print(f"\n16-point geodesics (L-BFGS, gtol 0.05, <= 500 steps) between {args.pairs} pairs of encoded images")
    print(f"  {'pair':<6}{'seconds':>9}{'steps':>7}{'evals':>7}{'converged':>11}"
          f"{'linear':>9}{'geodesic':>10}{'ratio':>8}")
    seconds = []
    for i in range(args.pairs):
        result = geodesic(decoder, codes[2 * i], codes[2 * i + 1], n_points=16)
        seconds.append(result.seconds)
        print(f"  {i:<6}{result.seconds:9.2f}{result.steps:7d}{result.evaluations:7d}{str(result.converged):>11}"
              f"{result.linear_length:9.2f}{result.length:10.2f}{result.ratio:8.3f}")
    print(f"  median {np.median(seconds):.2f} s per geodesic")


if __name__ == "__main__":
    main()
