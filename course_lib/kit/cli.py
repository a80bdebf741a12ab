"""`python -m course_lib ...`: the kit's command line.

  data        render the procedural dSprites cache when it is missing or corrupt
  train       train one model (any objective) into a run directory; --resume continues it
  evaluate    the disentanglement metrics of a trained run (written to RUN/metrics.csv)
  sweep       train and evaluate a grid of (method, hyperparameter value, seed) on Dask
  study       notebook 13's study at a profile (main sweep, scale sweeps, UDR); --export ships its tables
  notebooks   execute notebooks headlessly into a folder of executed notebooks, HTML and an index
  report      an HTML report on one model (--run, or a configuration), or on every run of a sweep
  exercises   write the student build (solution cells replaced by prompts) to build/student; never over your work
  sync        regenerate each notebooks/*.ipynb from its .py (--check: only report differences)
  zoo         list the pretrained zoo (data/pretrained), add finished runs to it, or grow its models older
  lab         JupyterLab on the notebooks or, with --root, the student build (`make lab`); extra arguments to jupyter
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from course_lib.device import CUDA_GRAPH_CHOICES, PRECISIONS
from course_lib.kit.flags import HYPERPARAMETER_FLAGS
from course_lib.kit.runner import NOTEBOOKS_DIR


def _data(args) -> int:
    from course_lib.data import ensure_grid_cache

    print(ensure_grid_cache(args.data_dir))
    return 0


def _train(args) -> int:
    from course_lib.checks import check_writable_directory
    from course_lib.training import TrainConfig, deadline_after, train

    deadline = deadline_after(args.time_limit, "--time-limit")
    hyperparameters = {name: getattr(args, name) for name, _ in HYPERPARAMETER_FLAGS.values()
                       if getattr(args, name) is not None}
    config = TrainConfig(method=args.method, hyperparameters=hyperparameters, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, num_latent=args.num_latent,
                         architecture=args.architecture, width=args.width, variant=args.variant, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, precision=args.precision)
    check_writable_directory("--out", args.out)
    run = train(config, args.out, device=args.device, resume=args.resume, overwrite=args.overwrite,
                cuda_graph=args.cuda_graph, deadline=deadline)
    if run.step < config.steps:
        print(f"the time limit stopped {config.method} at step {run.step:,} of {config.steps:,} with a checkpoint in "
              f"{run.directory}; the same command with --resume continues it")
    else:
        print(f"trained {config.method} for {run.step} steps into {run.directory}")
    return 0


def _evaluate(args) -> int:
    from course_lib.checks import check_writable_directory
    from course_lib.data import DSprites
    from course_lib.io import write_text_atomic
    from course_lib.metrics import METRICS, evaluate
    from course_lib.metrics.evaluate import check_evaluation
    from course_lib.representation import mean_code_function
    from course_lib.training import load_run

    check_evaluation(args.metrics or METRICS, args.num_train, args.num_test, args.seed)  # before the run is loaded
    out = Path(args.out) if args.out else Path(args.run) / "metrics.csv"
    if out.is_dir():
        raise ValueError(f"--out={str(out)!r} is a folder; give the path of a CSV file")
    check_writable_directory("folder of --out" if args.out else "--run", out.parent)  # before hours of scoring
    run = load_run(args.run, device=args.device)
    if run.step < run.config.steps:
        unfinished = f"run={args.run!r} is unfinished: it stopped at step {run.step} of {run.config.steps}"
        if not args.allow_unfinished:
            raise ValueError(f"{unfinished}; finish it with `train --resume` (same flags) or pass --allow-unfinished")
        print(f"warning: {unfinished}; scoring it as it is", file=sys.stderr)
    metrics = {"metrics": args.metrics} if args.metrics else {}
    table = evaluate(DSprites(run.config.variant), mean_code_function(run.model), **metrics,
                     random_state=args.seed, num_train=args.num_train, num_test=args.num_test)
    write_text_atomic(out, table.to_csv(index=False))
    print(table.to_string(index=False))
    print(f"written to {out}")
    return 0


def _study(args) -> int:
    import pandas as pd

    from course_lib.kit.study import export_study, study_plan, study_results
    from course_lib.kit.sweep import STOPPED
    from course_lib.profiles import get_profile
    from course_lib.training import deadline_after, default_runs_dir

    deadline = deadline_after(args.time_limit, "--time-limit")
    profile = get_profile(args.profile)
    out = Path(args.out) if args.out else default_runs_dir() / f"study-{profile.name}"  # notebook 13's folder
    plan = study_plan(profile, out, device=args.device, first_seed=args.seed)
    results, scale, note = study_results(plan, profile, args.seed, args.device, args.scheduler, train=True,
                                         workers=args.workers, deadline=deadline)
    jobs = pd.concat([results, scale]).drop_duplicates("run_dir")  # the scale study reuses some main runs
    failed = int((jobs["status"] != "ok").sum())
    print(f"{note}; under {out}")
    if (jobs["status"] == STOPPED).any():
        return 1  # nothing to export yet
    if args.export:
        if failed:
            raise ValueError(f"{failed} jobs failed (see {out}); a study is shipped only when every job finished")
        print(f"shipped: {export_study(plan, profile, results, scale, args.seed)}")
    return 1 if failed else 0


def _number(text: str) -> int | float:
    """'4' -> 4, '0.5' -> 0.5: integers stay integers, so run slugs match the notebooks' (beta4)."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _sweep(args) -> int:
    from course_lib.kit.sweep import STOPPED, Sweep, run_sweep
    from course_lib.training import deadline_after

    deadline = deadline_after(args.time_limit, "--time-limit")
    fields = {"methods": args.methods, "values": args.values, "seeds": args.seeds, "steps": args.steps,
              "out": args.out, "metrics": args.metrics, "num_train": args.num_train, "num_test": args.num_test,
              "device": args.device, "width": args.width, "pack": args.pack, "precision": args.precision}
    fields = {key: tuple(value) if isinstance(value, list) and key != "values" else value
              for key, value in fields.items() if value is not None}
    sweep = Sweep.from_yaml(args.config, **fields) if args.config else Sweep(**fields)
    table = run_sweep(sweep, scheduler=args.scheduler, workers=args.workers, deadline=deadline)
    failed = table[table["status"] != "ok"]
    stopped = int((table["status"] == STOPPED).sum())
    print(table[["method", "hyperparameter", "value", "seed", "status", "seconds"]].to_string(index=False))
    print(f"{len(table) - len(failed)} of {len(table)} jobs ok; table: {Path(sweep.out) / 'results.csv'}")
    if stopped:
        print(f"{stopped} jobs stopped before they finished (under {sweep.out}); the same command resumes them")
    return 1 if len(failed) else 0


def _notebooks(args) -> int:
    from course_lib.kit.runner import run_notebooks

    results = run_notebooks(out_dir=args.out, profile=args.profile, device=args.device, seed=args.seed,
                            notebooks_dir=args.notebooks_dir, names=args.only)
    for r in results:
        print(f"{r.status:>6}  {r.duration_s:7.1f} s  {r.name}" + (f"  ({r.error})" if r.error else ""))
    print(f"index: {args.out}/index.html")
    return 1 if any(r.status != "ok" for r in results) else 0


def _report(args) -> int:
    from course_lib.kit.report import write_report, write_sweep_reports

    common = {"out_dir": args.out, "profile": args.profile, "device": args.device}
    if args.sweep:
        print(f"comparison page: {write_sweep_reports(args.sweep, **common)}")
        return 0
    hyperparameters = {name: getattr(args, name) for name, _ in HYPERPARAMETER_FLAGS.values()
                       if getattr(args, name) is not None}
    configuration = {"run": args.run} if args.run else {
        "method": args.method, "hyperparameters": hyperparameters or None, "seed": args.seed, "steps": args.steps}
    print(f"report: {write_report(**common, name=args.name, **configuration)}")
    return 0


def _exercises(args) -> int:
    from course_lib.kit.student import build_student

    build = build_student(args.out)
    print(f"{len(build.written)} student notebooks written to {args.out}; open them with "
          f"`python -m course_lib lab --root {args.out}` (make lab ROOT={args.out})")
    for yours, updated in build.kept:
        print(f"kept {yours}: you changed it; " + (f"the course's new version is {updated}" if updated else
              f"the course's new version was not written, because you changed {yours.stem}.updated.ipynb too"))
    return 0


def _zoo(args) -> int:
    from course_lib.kit.grow import grow
    from course_lib.kit.seeds import SEEDS_DIR, seed_results
    from course_lib.kit.sweep import STOPPED
    from course_lib.kit.zoo import add_run, read_manifest

    if args.steps is not None and args.seed_results is None:  # before --grow trains anything
        raise ValueError(f"--steps {args.steps} is not allowed without --seed-results (--grow takes its steps itself)")
    if args.time_limit is not None and args.grow is None and args.seed_results is None:
        raise ValueError(f"--time-limit {args.time_limit} is not allowed without --grow or --seed-results (it limits "
                         "their training)")
    if args.grow is not None:
        for entry in grow(args.grow, args.seed, args.runs, device=args.device, cuda_graph=args.cuda_graph,
                          workers=args.workers, time_limit_minutes=args.time_limit):
            print(f"grown {entry['slug']}: {entry['metrics']}")
    if args.seed_results is not None:
        table = seed_results(args.seed_results, steps=args.steps, runs=args.runs, device=args.device,
                             workers=args.workers, time_limit_minutes=args.time_limit)
        stopped = table[table["status"] == STOPPED]
        if len(stopped):
            print(f"{len(stopped)} of {len(table)} runs stopped before they finished; the same command resumes "
                  "them, and ships the table once every one has finished:\n  " + "\n  ".join(stopped["note"]))
        else:
            print(f"{len(table)} runs scored; shipped in {SEEDS_DIR}")
    for run_dir in args.add or []:
        entry = add_run(run_dir)
        print(f"added {entry['slug']} ({entry['bytes'] / 2**20:.1f} MB): {entry['metrics']}")
    for slug, entry in read_manifest().items():
        print(f"{slug}  MIG {entry['metrics']['mig']:.3f}  DCI {entry['metrics']['dci_disentanglement']:.3f}\n"
              f"    {entry['command']}")
    return 0


def _sync(args) -> int:
    from course_lib.kit.runner import discover_notebooks, ipynb_text, sync_notebooks

    if args.check:
        stale = [p for p in discover_notebooks() if not p.with_suffix(".ipynb").is_file()
                 or p.with_suffix(".ipynb").read_text() != ipynb_text(p)]
        for path in stale:
            print(f"out of sync: {path.with_suffix('.ipynb')}")
        return 1 if stale else 0
    for path in sync_notebooks():
        print(f"wrote {path}")
    return 0


def lab_command(*jupyter_args: str, root=NOTEBOOKS_DIR) -> list[str]:
    """The command line of `make lab`: this interpreter's JupyterLab on `root`, the notebooks folder (jupytext
    opens each `.py` as a notebook) or a student build (`make exercises`), with the "Python (course kit)" kernel."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root={str(root)!r} is not a folder; give the notebooks folder ({NOTEBOOKS_DIR}) or a "
                         f"student build (`make exercises` writes one to build/student)")
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root.resolve()}", *jupyter_args]


def _lab(args) -> int:
    return subprocess.call(lab_command(*args.jupyter_args, root=args.root))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="render the dSprites cache if needed")
    data.add_argument("--data-dir", default=None, help="cache folder (default: the checkout's data/)")
    data.set_defaults(func=_data)

    train = commands.add_parser("train", help="train a model into a run directory")
    train.add_argument("--method", required=True, help="vae | beta_vae | annealed_vae | factor_vae | beta_tcvae | "
                       "dip_vae_i | dip_vae_ii | topdis (--base beta_vae|beta_tcvae|factor_vae, "
                       "--gamma: its weight, --delay, --beta or --factor-gamma: the base's)")
    for flag, (name, kind) in HYPERPARAMETER_FLAGS.items():
        train.add_argument(flag, dest=name, type=kind, default=None, help=f"objective's {name} (default: the study's)")
    train.add_argument("--steps", type=int, required=True)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--num-latent", type=int, default=10)
    train.add_argument("--architecture", default="conv", help="conv (the study's) | mlp")
    train.add_argument("--width", type=int, default=1, help="conv channel/hidden multiplier (1: the study's)")
    train.add_argument("--variant", default="binary", help="binary | color | noisy")
    train.add_argument("--checkpoint-every", type=int, default=1000)
    train.add_argument("--precision", default="float32", choices=PRECISIONS,
                       help="the network's forward arithmetic: bfloat16 autocast trained 1.3-1.7x faster on a CPU with "
                            "AVX512-BF16, and is another run than float32's (README, 'Precision')")
    train.add_argument("--device", default="auto")
    train.add_argument("--cuda-graph", default="auto", choices=CUDA_GRAPH_CHOICES,
                       help="run each step as one captured CUDA graph (auto: on a GPU, for every objective but TopDis)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="delete what --out holds and start again")
    train.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                       help="stop with a checkpoint after MINUTES (machines lent for a while); --resume continues")
    train.set_defaults(func=_train)

    evaluation = commands.add_parser("evaluate", help="the disentanglement metrics of a trained run")
    evaluation.add_argument("--run", required=True, help="a run directory written by `train`")
    evaluation.add_argument("--metrics", nargs="+", default=None,
                            help="any of beta_vae factor_vae mig sap dci modularity (default: all)")
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.add_argument("--num-train", type=int, default=10_000, help="the study's: 10,000")
    evaluation.add_argument("--num-test", type=int, default=5_000, help="the study's: 5,000")
    evaluation.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    evaluation.add_argument("--out", default=None, help="CSV file (default: RUN/metrics.csv)")
    evaluation.add_argument("--allow-unfinished", action="store_true",
                            help="score a run that stopped before its configured steps (refused otherwise)")
    evaluation.set_defaults(func=_evaluate)

    sweep = commands.add_parser("sweep", help="train and evaluate a grid of models on Dask")
    sweep.add_argument("--config", default=None, help="a YAML file with the fields below (flags override it)")
    sweep.add_argument("--methods", nargs="+", default=None, help="default: the study's six methods")
    sweep.add_argument("--values", nargs="+", type=_number, default=None,
                       help="values of each method's hyperparameter (default: the study's six)")
    sweep.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 0")
    sweep.add_argument("--steps", type=int, default=None, help="training steps per model (default: 300,000)")
    sweep.add_argument("--out", default=None, help="sweep folder (default: runs/sweep)")
    sweep.add_argument("--metrics", nargs="+", default=None, help="default: all six")
    sweep.add_argument("--num-train", type=int, default=None, help="metric sample sizes (default: 10,000 ...")
    sweep.add_argument("--num-test", type=int, default=None, help="... and 5,000)")
    sweep.add_argument("--device", default=None, help="auto | cpu | cuda")
    sweep.add_argument("--width", type=int, default=None, help="conv width multiplier (default 1: the study's)")
    sweep.add_argument("--precision", default=None, choices=PRECISIONS,
                       help="the networks' forward arithmetic (default float32; see train --precision)")
    sweep.add_argument("--pack", type=int, default=None,
                       help="train the jobs K at a time as one packed network, for a GPU (default 1: one by one)")
    sweep.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    sweep.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: cores or GPUs)")
    sweep.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                       help="stop every job's training with a checkpoint after MINUTES; the same command resumes them")
    sweep.set_defaults(func=_sweep)

    study = commands.add_parser("study", help="notebook 13's study at a profile; --export ships its tables")
    study.add_argument("--profile", default=None, help="smoke | lecture | full (default: $COURSE_PROFILE or lecture)")
    study.add_argument("--seed", type=int, default=0, help="the first seed, as notebook 13's seed")
    study.add_argument("--device", default="auto", help="auto | cpu | cuda")
    study.add_argument("--out", default=None, help="runs folder (default: notebook 13's, runs/study-PROFILE)")
    study.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    study.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: cores or GPUs)")
    study.add_argument("--export", action="store_true", help="write the tables to data/pretrained/study")
    study.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                       help="stop every job's training with a checkpoint after MINUTES; the same command resumes them")
    study.set_defaults(func=_study)

    notebooks = commands.add_parser("notebooks", help="execute notebooks into HTML with an index")
    notebooks.add_argument("--profile", default=None,
                           help="smoke | lecture | full (default: $COURSE_PROFILE or lecture)")
    notebooks.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    notebooks.add_argument("--seed", type=int, default=0)
    notebooks.add_argument("--out", default="reports", help="output folder")
    notebooks.add_argument("--notebooks-dir", default=str(NOTEBOOKS_DIR), help="folder of .py notebooks")
    notebooks.add_argument("--only", nargs="+", default=None, metavar="NAME", help="notebook stems to run")
    notebooks.set_defaults(func=_notebooks)

    report = commands.add_parser("report", help="an HTML report on a model (or one per run of a sweep)")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--run", default=None, help="a run directory or a checkpoint inside one")
    source.add_argument("--sweep", default=None, help="a sweep folder: one report per finished run + comparison")
    report.add_argument("--method", default="beta_vae", help="without --run: the configuration to report on")
    for flag, (name, kind) in HYPERPARAMETER_FLAGS.items():
        report.add_argument(flag, dest=name, type=kind, default=None)
    report.add_argument("--steps", type=int, default=None,
                        help="default: the zoo's model where the zoo holds the configuration, else the profile's "
                             "train_steps")
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--profile", default=None, help="smoke | lecture | full (metric sample sizes)")
    report.add_argument("--device", default="auto")
    report.add_argument("--name", default=None, help="file name (default: the run's)")
    report.add_argument("--out", default="reports", help="output folder")
    report.set_defaults(func=_report)

    exercises = commands.add_parser("exercises", help="write the student build: solutions replaced by prompts")
    exercises.add_argument("--out", default="build/student", help="output folder")
    exercises.set_defaults(func=_exercises)

    sync = commands.add_parser("sync", help="regenerate notebooks/*.ipynb from the .py sources")
    sync.add_argument("--check", action="store_true", help="report out-of-sync notebooks, write nothing")
    sync.set_defaults(func=_sync)

    zoo = commands.add_parser("zoo", help="list the pretrained zoo; --add RUN_DIR ... exports finished runs into it; "
                                          "--grow STEPS retrains the notebooks' models longer")
    zoo.add_argument("--add", nargs="+", metavar="RUN_DIR", help="finished run directories to add")
    zoo.add_argument("--grow", type=int, default=None, metavar="STEPS",
                     help="train the notebooks' models for STEPS steps (packed on a GPU), replace the zoo's other age")
    zoo.add_argument("--seed", type=int, default=0, help="the seed of the models to grow (the notebooks': 0)")
    zoo.add_argument("--runs", default=None, help="runs folder (default: the runs cache, runs/)")
    zoo.add_argument("--device", default="auto", help="auto | cpu | cuda")
    zoo.add_argument("--cuda-graph", default="auto", choices=CUDA_GRAPH_CHOICES, help="as train's")
    zoo.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                     help="--grow, --seed-results: stop every run with a checkpoint after MINUTES; the same command "
                          "resumes them")
    zoo.add_argument("--seed-results", type=int, default=None, metavar="N",
                     help="train and score the compared zoo models for seeds 0..N-1, ship the table (no weights)")
    zoo.add_argument("--steps", type=int, default=None,
                     help="--seed-results: the models' steps (default: the zoo's age); the runs folder's younger "
                          "runs of the same models are continued")
    zoo.add_argument("--workers", type=int, default=None,
                     help="--grow on a CPU: training processes; --seed-results: Dask workers (default: one per core)")
    zoo.set_defaults(func=_zoo)

    lab = commands.add_parser("lab", help="JupyterLab on the notebooks (extra arguments go to jupyter lab)",
                              epilog="Every other argument goes to jupyter lab, e.g. --port 8899 --no-browser.")
    lab.add_argument("--root", default=str(NOTEBOOKS_DIR),
                     help="the folder it opens: the notebooks (default) or a student build, e.g. build/student")
    lab.set_defaults(func=_lab)

    args, others = parser.parse_known_args(argv)
    if args.command == "lab":
        args.jupyter_args = others
    elif others:
        parser.error(f"unrecognized arguments: {' '.join(others)}")
    try:
        return args.func(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
