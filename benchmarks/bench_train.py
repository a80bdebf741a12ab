"""Training speed: the kit's loop against a textbook PyTorch loop, same model, objective and data.

    python benchmarks/bench_train.py [--device auto] [--steps 300] [--method beta_vae] [--cuda-graph auto]
    python benchmarks/bench_train.py --packed [--k 1 8 32 128] [--steps 40] [--cuda-graph auto]
    ... [--precision bfloat16]     the kit's loop (beside its float32 figure) and the packs in bfloat16 autocast

Prints steps per second of both loops at batch 64 (the study's conv VAE), their ratio, the kit's
data time as a share of a step, and the projected time of the study's 300,000-step run.
Targets (issue 3): ratio >= 1.0 and data time <= 5 % on the CPU; <= 30 minutes per 300k-step
beta-VAE on one H100. On a GPU the kit's loop is timed with its step captured in a CUDA graph
(`--cuda-graph auto`, course_lib.training.graphed; target >= 900 steps/s on an H100/H200) and eagerly.

The textbook loop: a TensorDataset of float32 images in host memory (a random subset of the grid,
since all 737,280 images would take 12 GB), a shuffling DataLoader, `.to(device)` per batch, the
loss read with `.item()` every step.

`--packed`: model-steps per second of K models trained as one network (course_lib.training.packed) for each K
(default 1, 8, 32, 128 on a GPU and 1, 2, 4 on the CPU), beside the kit's loop, and the projected
device-hours of Locatello et al.'s grid (6 methods x 6 values x 50 seeds = 1,800 models x 300,000
steps) at the best K, counting every model as a beta-VAE (FactorVAE's discriminator costs more). Each
figure is the training loop's own rate (summary.json) after a 5-step warm-up, as for the kit's loop:
building the models is left out.
"""
import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_lib.data import DSprites
from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.device import PRECISIONS, get_device
from course_lib.training import SUMMARY, TrainConfig, train, train_packed

STUDY_STEPS = 300_000
STUDY_MODELS = 6 * 6 * 50  # methods x hyperparameter values x seeds (Locatello et al. 2019)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def kit_steps_per_second(config, device, dataset, cuda_graph: str = "auto") -> float:
    """The loop's own figure (summary.json): the training loop only, as for the textbook loop (a CUDA graph's
    warm-up steps and capture included)."""
    with tempfile.TemporaryDirectory() as folder:
        train(TrainConfig(**{**config.__dict__, "steps": 20, "checkpoint_every": 20}), folder, device=device,
              dataset=dataset, progress=False, overwrite=True, cuda_graph=cuda_graph)  # kernels, cuDNN plans, allocator
        train(config, folder, device=device, dataset=dataset, progress=False, overwrite=True, cuda_graph=cuda_graph)
        return json.loads((Path(folder) / SUMMARY).read_text())["steps_per_second"]


def kit_data_seconds_per_batch(dataset, device, batches: int) -> float:
    sampler = GridBatchSampler(dataset, device, seed=0)
    sampler.sample(64)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        sampler.sample(64)
    synchronize(device)
    return (time.perf_counter() - start) / batches


def textbook_steps_per_second(config, device, dataset, subset: int) -> float:
    torch.manual_seed(0)
    model, objective = config.build(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    index = np.random.RandomState(0).choice(dataset.num_images, subset, replace=False)
    images = torch.from_numpy(dataset.binary_images_at(np.sort(index))[:, None].astype(np.float32))
    loader = DataLoader(TensorDataset(images), batch_size=config.batch_size, shuffle=True, drop_last=True)

    def steps():
        while True:
            yield from loader

    batches = steps()

    def one_step(step):
        (x,) = next(batches)
        x = x.to(device)
        out = model(x)
        loss = objective(x, out, step)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        objective.auxiliary_step(out)
        return loss.item()

    for step in range(20):
        one_step(step)
    start = time.perf_counter()
    for step in range(config.steps):
        one_step(step)
    synchronize(device)
    return config.steps / (time.perf_counter() - start)


def packed_model_steps_per_second(configs, device, dataset, cuda_graph: str = "auto") -> float:
    """Model-steps per second of `configs` trained as one pack: K x the pack's loop rate (summary.json)."""
    with tempfile.TemporaryDirectory() as folder:
        folders = [Path(folder) / str(k) for k in range(len(configs))]
        warm_up = [TrainConfig(**{**config.__dict__, "steps": 5, "checkpoint_every": 5}) for config in configs]
        for pack in (warm_up, configs):
            train_packed(pack, folders, device=device, dataset=dataset, progress=False, overwrite=True,
                         cuda_graph=cuda_graph)
        return len(configs) * json.loads((folders[0] / SUMMARY).read_text())["steps_per_second"]


def packed_main(args, device, dataset, name: str) -> None:
    counts = args.k or ([1, 8, 32, 128] if device.type == "cuda" else [1, 2, 4])
    print(f"{args.method}, batch 64, study conv VAE, packed; {args.steps} timed steps on {name}")
    timed = {"method": args.method, "steps": args.steps, "checkpoint_every": args.steps, "precision": args.precision}
    kit = kit_steps_per_second(TrainConfig(**timed), device, dataset, args.cuda_graph)
    print(f"kit loop (train):  {kit:9.1f} model-steps/s   (cuda_graph={args.cuda_graph}, {args.precision})")
    rates = {}
    for count in counts:
        configs = [TrainConfig(**timed, seed=seed) for seed in range(count)]
        rates[count] = packed_model_steps_per_second(configs, device, dataset, args.cuda_graph)
        print(f"packed K = {count:4d}:  {rates[count]:9.1f} model-steps/s   ({rates[count] / kit:.2f} x the kit loop)")
    best = max(rates, key=rates.get)
    unit = "GPU" if device.type == "cuda" else "CPU"
    work = STUDY_MODELS * STUDY_STEPS
    print(f"Locatello et al.'s grid ({STUDY_MODELS:,} models x {STUDY_STEPS:,} steps): "
          f"{work / kit / 3600:,.0f} {unit}-hours with the kit loop, "
          f"{work / rates[best] / 3600:,.0f} {unit}-hours packed at K = {best}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps (default 300; --packed: 100 on a GPU, 10 on the CPU)")
    parser.add_argument("--method", default="beta_vae")
    parser.add_argument("--subset", type=int, default=50_000, help="images in the textbook loop's TensorDataset")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each loop; the best counts")
    parser.add_argument("--packed", action="store_true", help="model-steps/s of packed training for each K")
    parser.add_argument("--cuda-graph", default="auto", choices=("auto", "on", "off"),
                        help="the kit's step as one captured CUDA graph (auto: on a GPU); "
                             "eager figures print beside it")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="the kit's forward arithmetic (TrainConfig.precision; bfloat16 is timed beside float32); "
                             "the textbook loop stays float32")
    parser.add_argument("--k", type=int, nargs="+", default=None,
                        help="pack sizes for --packed (default 1 8 32 128 on a GPU, 1 2 4 on the CPU)")
    args = parser.parse_args()
    if (args.steps is not None and args.steps < 1) or any(k < 1 for k in args.k or []):
        parser.error(f"--steps {args.steps} and --k {args.k} are not allowed; use integers >= 1")

    device = get_device(args.device)
    args.steps = args.steps or (300 if not args.packed else 100 if device.type == "cuda" else 10)
    dataset = DSprites(progress=False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    if args.packed:
        packed_main(args, device, dataset, name)
        return
    config = TrainConfig(method=args.method, steps=args.steps, checkpoint_every=args.steps, precision=args.precision)
    print(f"{config.method}, batch {config.batch_size}, study conv VAE, {args.steps} timed steps on {name}")

    # bfloat16 is timed beside the float32 kit loop, in the same alternation
    configs = {args.precision: config, "float32": dataclasses.replace(config, precision="float32")}
    kit_runs, textbook_runs = {precision: [] for precision in configs}, []
    for _ in range(args.repeats):  # alternate, so that a busy moment of the machine hits every loop alike
        for precision, timed in configs.items():
            kit_runs[precision].append(kit_steps_per_second(timed, device, dataset, args.cuda_graph))
        textbook_runs.append(textbook_steps_per_second(config, device, dataset, args.subset))
    kit, textbook = max(kit_runs[args.precision]), max(textbook_runs)
    print(f"runs (steps/s): kit {[round(r, 1) for r in kit_runs[args.precision]]}, "
          f"textbook {[round(r, 1) for r in textbook_runs]}")
    data_s = kit_data_seconds_per_batch(dataset, device, batches=max(args.steps, 200))
    print(f"kit loop:       {kit:8.1f} steps/s   (cuda_graph={args.cuda_graph}, {args.precision})")
    if args.precision != "float32":
        float32 = max(kit_runs["float32"])
        print(f"kit loop:       {float32:8.1f} steps/s   (float32, runs {[round(r, 1) for r in kit_runs['float32']]}): "
              f"{args.precision} is {kit / float32:.2f} x")
    if device.type == "cuda" and args.cuda_graph != "off":
        print(f"kit loop eager: {kit_steps_per_second(config, device, dataset, 'off'):8.1f} steps/s   (cuda_graph=off)")
    print(f"textbook loop:  {textbook:8.1f} steps/s")
    print(f"ratio kit / textbook: {kit / textbook:.2f}   (target >= 1.0)")
    print(f"kit data time: {data_s * 1e3:.3f} ms per batch = {100 * data_s * kit:.1f} % of a step   (target <= 5 %)")
    print(f"projected {STUDY_STEPS:,}-step run: {STUDY_STEPS / kit / 60:.1f} min (kit), "
          f"{STUDY_STEPS / textbook / 60:.1f} min (textbook)")


if __name__ == "__main__":
    main()
