"""Topology speed (issue 7): relative living times, RTD cross-barcodes and the TopDis regulariser.

    python benchmarks/bench_topology.py [--part rlt rtd] [--points 2000] [--draws 100] [--jobs 2]
                                        [--sizes 100 1000] [--repeats 3]

RLT (`--part rlt`): for two clouds of `--points` points (a noisy circle in the plane and a Gaussian in
64 dimensions, the size of Zhou et al.'s image embeddings), the best of `--repeats` wall times of

  baseline    the reference algorithm (Khrulkov & Oseledets' public code, restated here): the same
              gudhi witness complex, full persistence, and the RLT counted by a Python double loop
              over the midpoints of the segments between end points
  sequential  course_lib.topology.rlts(n_jobs=1)
  parallel    course_lib.topology.rlts(n_jobs=--jobs) (worker processes; the pool is started once
              before timing, as it is in a notebook session)

and whether all three give identical values at the same seed (the landmark sets are the same draws
of RandomState(seed).choice(N, L) in all of them).

RTD (`--part rtd`): one cross-barcode of paired 10-D clouds (b = a + noise) at each of `--sizes`
points, one TopDis regulariser call at batch 64 (with and without its backward pass), and a whole
TopDis training step beside a beta-VAE step.

Issue 7's figures for the public code on the team's 2-core machine: RLT, 100 draws on 2,000 points,
2-4 s; a cross-barcode 0.2 s at 100 points and 41 s at 1,000; a TopDis regulariser call 3-5 s.
Targets: RLT at least 2x faster with identical values; RTD <= 0.1 s and <= 10 s; TopDis <= 0.5 s.
OMP_NUM_THREADS defaults to 1 here, for figures comparable with the README's.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from course_lib.data import DSprites  # noqa: E402
from course_lib.data.torch_sampler import GridBatchSampler  # noqa: E402
from course_lib.models import conv_vae  # noqa: E402
from course_lib.objectives import make_objective  # noqa: E402
from course_lib.topology.rlt import default_gamma, rlts, witness_table  # noqa: E402
from course_lib.topology.rtd import cross_barcode  # noqa: E402


def baseline_rlts(points, n_landmarks, gamma, i_max, n_draws, seed):
    """The reference algorithm, draw by draw (full persistence, midpoint-counting loop)."""
    import gudhi

    random_state = np.random.RandomState(seed)
    rows = np.zeros((n_draws, i_max))
    for k in range(n_draws):
        index = random_state.choice(len(points), n_landmarks)
        order, dist = witness_table(points, points[index])
        alpha_max = dist.max() * gamma
        tree = gudhi.WitnessComplex(np.dstack([order, dist])).create_simplex_tree(
            max_alpha_square=alpha_max, limit_dimension=2)
        tree.persistence(homology_coeff_field=2)
        bars = [[b, alpha_max if np.isinf(d) else d] for b, d in tree.persistence_intervals_in_dimension(1)]
        if not bars:
            rows[k, 0] = 1.0
            continue
        ends = np.unique(np.array(bars + [[0.0, alpha_max]]).ravel())
        for left, right in zip(ends[:-1], ends[1:]):
            middle = (left + right) / 2
            count = sum(1 for b, d in bars if b <= middle < d)
            if count < i_max:
                rows[k, count] += right - left
        rows[k] /= alpha_max
    return rows


def best_time(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def seconds(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def training_step(model, objective, optimizer, sampler, step):
    x = sampler.sample(64)
    out = model(x)
    terms = objective(x, out, step)
    optimizer.zero_grad(set_to_none=True)
    terms["total"].backward()
    optimizer.step()
    objective.auxiliary_step(out)


def bench_rlt(args):
    """RLTs: the reference algorithm against rlts(n_jobs=1) and rlts(n_jobs=--jobs)."""
    rs = np.random.RandomState(args.seed)
    angle = rs.uniform(0, 2 * np.pi, args.points)
    clouds = {
        "noisy circle, 2-D": np.c_[np.cos(angle), np.sin(angle)] + 0.1 * rs.randn(args.points, 2),
        "Gaussian, 64-D": rs.randn(args.points, 64),
    }
    gamma = default_gamma(args.points)
    settings = dict(n_landmarks=args.landmarks, gamma=gamma, i_max=100, n_draws=args.draws, random_state=args.seed,
                    progress=False)
    rlts(clouds["noisy circle, 2-D"], **{**settings, "n_draws": 2 * args.jobs}, n_jobs=args.jobs)  # start the pool
    print(f"RLT, {args.draws} draws of {args.landmarks} landmarks on {args.points:,} points, gamma = {gamma:.4g}, "
          f"best of {args.repeats} (cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
    print(f"{'cloud':<20} {'baseline':>10} {'sequential':>11} {'parallel':>10} {'speed-up':>9}  identical")
    for name, points in clouds.items():
        base_s, base = best_time(lambda: baseline_rlts(points, args.landmarks, gamma, 100, args.draws, args.seed),
                                 args.repeats)
        seq_s, seq = best_time(lambda: rlts(points, **settings, n_jobs=1), args.repeats)
        par_s, par = best_time(lambda: rlts(points, **settings, n_jobs=args.jobs), args.repeats)
        identical = np.array_equal(base, seq) and np.array_equal(seq, par)
        print(f"{name:<20} {base_s:>9.2f}s {seq_s:>10.2f}s {par_s:>9.2f}s {base_s / min(seq_s, par_s):>8.1f}x  "
              f"{identical}")


def bench_rtd(args):
    """RTD cross-barcodes at --sizes points, the TopDis regulariser call and training step."""
    rs = np.random.RandomState(args.seed)
    cross_barcode(rs.randn(20, 3), rs.randn(20, 3))  # imports outside the clock

    print("cross-barcode R-Cross-Barcode_1(a, b), b = a + 0.5 noise, 10-D (median / best of repeats)")
    for n in args.sizes:
        a = rs.randn(n, 10)
        b = a + 0.5 * rs.randn(n, 10)
        repeats = args.repeats if n <= 300 else max(1, args.repeats // 5)
        median, best = seconds(lambda: cross_barcode(a, b), repeats)
        bars = cross_barcode(a, b)
        print(f"  {n:>5} points: {median:7.3f} s (best {best:.3f} s), {len(bars)} bars, "
              f"target {'0.1' if n <= 100 else '10'} s")

    torch.manual_seed(args.seed)
    sampler = GridBatchSampler(DSprites(progress=False), "cpu", args.seed)
    model = conv_vae(10)
    objective = make_objective("topdis", 10, beta=4.0, delay=0)
    objective.attach(model, sampler)
    x = sampler.sample(64)
    out = model(x)
    objective.topological_loss(x, out)  # warm-up
    median, best = seconds(lambda: objective.topological_loss(x, out), args.repeats)
    print(f"TopDis regulariser call (second batch of 64: encode, shift, decode 2 clouds, 4 cross-barcodes): "
          f"{median:.3f} s (best {best:.3f} s), target 0.5 s")
    median, best = seconds(lambda: objective.topological_loss(x, out)[0].backward(), args.repeats)
    print(f"  ... with its backward pass: {median:.3f} s (best {best:.3f} s)")

    for method, hyperparameters in (("beta_vae", {"beta": 4.0}), ("topdis", {"beta": 4.0, "delay": 0})):
        model = conv_vae(10)
        objective = make_objective(method, 10, **hyperparameters)
        if hasattr(objective, "attach"):
            objective.attach(model, sampler)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        training_step(model, objective, optimizer, sampler, 1)
        median, best = seconds(lambda: training_step(model, objective, optimizer, sampler, 2), args.repeats)
        print(f"training step at batch 64, {method:8s}: {median:.3f} s (best {best:.3f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", nargs="+", choices=("rlt", "rtd"), default=["rlt", "rtd"])
    parser.add_argument("--points", type=int, default=2000, help="RLT: points per cloud")
    parser.add_argument("--draws", type=int, default=100, help="RLT: landmark draws")
    parser.add_argument("--landmarks", type=int, default=64, help="RLT: landmarks per draw")
    parser.add_argument("--jobs", type=int, default=2, help="RLT: worker processes of the parallel run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="RTD: points per cloud")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "rlt" in args.part:
        bench_rlt(args)
    if "rtd" in args.part:
        bench_rtd(args)


if __name__ == "__main__":
    main()
