"""Metric speed at the study's sizes: the six metrics from given codes, and a trained conv VAE end to end.

    python benchmarks/bench_metrics.py [--device auto] [--run RUN_DIR] [--compare-sklearn]

1. From given codes: a 10-D code of dSprites' factor grid (3 x 6 x 40 x 32 x 32 = 737,280 points,
   a fixed linear mix of the factors plus noise), cached per grid index as `evaluate` caches a
   model's codes; each metric at the study's sizes (10,000 / 5,000) with its seconds.
2. `--compare-sklearn`: DCI with disentanglement_lib's estimator (scikit-learn's
   GradientBoostingClassifier) on the same codes, its seconds and its scores beside the default's.
3. A conv VAE on binary dSprites (a finished run from `--run`, else an untrained one: the time is the
   same): encoding the whole grid once, then all six metrics.
Targets (issue 4, 2 CPU cores): six metrics from codes <= 60 s; the whole evaluation <= 5 minutes.
"""
import argparse
import time

import numpy as np
import pandas as pd
import torch

from course_lib.data import DSprites, FactorGrid
from course_lib.device import get_device
from course_lib.metrics import EncodedDataset, evaluate, sample_factor_codes
from course_lib.metrics.dci import dci
from course_lib.metrics.sampling import identity
from course_lib.models import conv_vae
from course_lib.representation import mean_code_function
from course_lib.training import load_run

DSPRITES_SIZES = (3, 6, 40, 32, 32)


def mixed_code(num_latent: int = 10, seed: int = 0):
    """A fixed linear mix of the scaled factors into num_latent dimensions, plus noise."""
    random_state = np.random.RandomState(seed)
    mixing = np.eye(len(DSPRITES_SIZES), num_latent) + 0.2 * random_state.randn(len(DSPRITES_SIZES), num_latent)
    return lambda x: x @ mixing + 0.05 * random_state.randn(len(x), num_latent)


def per_metric_seconds(table: pd.DataFrame) -> pd.Series:
    return table.groupby("metric", sort=False)["seconds"].first()


def from_codes(compare_sklearn: bool) -> None:
    grid = FactorGrid(DSPRITES_SIZES)
    start = time.perf_counter()
    codes = EncodedDataset(grid, mixed_code(), batch_size=65_536, progress=False).encode_all()
    print(f"codes of all {codes.num_encoded:,} grid points: {time.perf_counter() - start:.1f} s")
    table = evaluate(codes, identity, random_state=0, cache_codes=False, progress=False)
    seconds = per_metric_seconds(table)
    print(table.round(4).to_string(index=False))
    print(f"six metrics from given codes: {seconds.sum():.1f} s  (target <= 60 s)\n")
    if compare_sklearn:
        random_state = np.random.RandomState(0)
        arrays = (*sample_factor_codes(codes, identity, 10_000, random_state),
                  *sample_factor_codes(codes, identity, 5_000, random_state))
        for estimator in ("lightgbm", "sklearn"):
            start = time.perf_counter()
            scores = dci(*arrays, estimator=estimator)
            print(f"DCI {estimator:>8}: {time.perf_counter() - start:6.1f} s  "
                  + "  ".join(f"{name} {value:.3f}" for name, value in scores.items()))
        print()


def trained_model(run_dir, device) -> None:
    model = load_run(run_dir, device=device).model if run_dir else conv_vae(num_latent=10).to(device).eval()
    dataset = DSprites("binary")
    start = time.perf_counter()
    table = evaluate(dataset, mean_code_function(model), random_state=0, progress=True)
    total = time.perf_counter() - start
    seconds = per_metric_seconds(table)
    print(table.round(4).to_string(index=False))
    print(f"encoding the grid {total - seconds.sum():.1f} s + metrics {seconds.sum():.1f} s = {total:.1f} s "
          f"on {device}  (target <= 300 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--run", default=None, help="a finished run directory (default: an untrained conv VAE)")
    parser.add_argument("--compare-sklearn", action="store_true", help="also time DCI with scikit-learn's GBT")
    parser.add_argument("--skip-model", action="store_true", help="only the metrics from given codes")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    from_codes(args.compare_sklearn)
    if not args.skip_model:
        trained_model(args.run, get_device(args.device))


if __name__ == "__main__":
    main()
