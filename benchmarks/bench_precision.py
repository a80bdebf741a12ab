"""bfloat16 against float32 training: do bfloat16-trained models score within the seed spread of float32 ones?

    python benchmarks/bench_precision.py [--steps 10000] [--seeds 5] [--methods vae beta_tcvae] [--device auto]

Issue 15 allows TF32 / bfloat16 "where trained models' metrics stay within the seed spread". This trains the
chosen configurations of the shipped seed table (data/pretrained/seeds/seeds-STEPS.csv, trained in float32
for seeds 0 .. 4) again in bfloat16 (`TrainConfig.precision`) for seeds 0 .. N-1, same steps, scores them as that
table was scored (its metrics and sizes, as sweep jobs: `run_sweep`), and prints for each configuration and score
the float32 seeds' range and median, the bfloat16 seeds', and whether the bfloat16 median lies inside the
float32 range. The runs stay under runs/precision-STEPS (a second call reuses them), and each run's training
speed (steps/s, from its summary) is printed beside the float32 table's, which has no speed: time that with
`bench_train.py --precision`.
"""
import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd

from course_lib.kit.seeds import SEED_METHODS, SEEDS_DIR, seed_configs, shipped_seed_results
from course_lib.kit.sweep import Sweep, default_pack, run_sweep
from course_lib.training import SUMMARY, default_runs_dir

SCORES = ("mig.score", "dci.disentanglement", "sap.score", "modularity.modularity", "elbo", "tc_mean")


def spread(values: pd.Series) -> str:
    return f"{values.min():8.3f} {values.median():8.3f} {values.max():8.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="the age of a shipped seed table")
    parser.add_argument("--seeds", type=int, default=5, help="bfloat16 seeds 0 .. N-1 (the float32 table has 5)")
    parser.add_argument("--methods", nargs="+", default=["vae", "beta_tcvae"], choices=SEED_METHODS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    float32 = shipped_seed_results(args.steps)
    if float32 is None:
        parser.error(f"--steps {args.steps}: no seed table of that age is shipped in {SEEDS_DIR}")
    settings = json.loads((SEEDS_DIR / f"seeds-{args.steps}.json").read_text())["settings"]
    configs = [dataclasses.replace(config, precision="bfloat16") for config in seed_configs(args.steps, args.seeds)
               if config.method in args.methods]
    sweep = Sweep(methods=tuple(args.methods), seeds=tuple(range(args.seeds)), steps=args.steps,
                  metrics=tuple(settings["metrics"]), num_train=settings["num_train"], num_test=settings["num_test"],
                  device=args.device, precision="bfloat16", pack=default_pack(len(configs), args.device),
                  out=str(default_runs_dir() / f"precision-{args.steps}"))
    bfloat16 = run_sweep(sweep, workers=args.workers, jobs=configs)
    if not (bfloat16["status"] == "ok").all():
        raise SystemExit(f"jobs failed: {bfloat16.loc[bfloat16['status'] != 'ok', ['run_dir', 'error']]}")
    speeds = [json.loads((Path(d) / SUMMARY).read_text()) for d in bfloat16["run_dir"] if (Path(d) / SUMMARY).is_file()]

    print(f"{len(bfloat16)} bfloat16 models (seeds 0..{args.seeds - 1}) at {args.steps:,} steps against every seed "
          "of the shipped float32 seed table (min, median, max)")
    inside, total = 0, 0
    for (method, value), runs in bfloat16.groupby(["method", "value"], dropna=False):
        value_matches = float32["value"].isna() if pd.isna(value) else float32["value"] == value
        same = (float32["method"] == method) & value_matches
        reference = float32[same]  # every shipped seed: the float32 spread
        print(f"\n{method} {'' if pd.isna(value) else value}: {len(reference)} float32 and {len(runs)} bfloat16 seeds")
        for score in SCORES:
            ok = reference[score].min() <= runs[score].median() <= reference[score].max()
            inside, total = inside + ok, total + 1
            print(f"  {score:24s} float32 {spread(reference[score])}   bfloat16 {spread(runs[score])}   "
                  f"{'inside' if ok else 'OUTSIDE'}")
    print(f"\nbfloat16 medians inside the float32 seeds' range: {inside} of {total}")
    if speeds:
        rates = pd.Series([s["steps_per_second"] for s in speeds])
        print(f"bfloat16 training speed: {rates.median():.1f} steps/s per run (median of {len(rates)}; "
              f"{speeds[0]['device']}, {'packed' if sweep.pack > 1 else 'one run per worker'})")


if __name__ == "__main__":
    main()
