"""The CLI's hyperparameter flags, in one place: `python -m course_lib train` reads them, and the zoo's
manifest writes with them the command line that trains each model.
"""
from __future__ import annotations


def number(text: str) -> int | float:
    """'16' -> 16, '16.0' -> 16.0, '1e-3' -> 0.001: a value written as an integer stays one, so the CLI names a
    run as the notebooks do (run slugs spell values as given: beta16, gamma1000.0)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


HYPERPARAMETER_FLAGS = {  # flag -> (objective argument, type)
    "--beta": ("beta", number), "--c-max": ("c_max", number), "--gamma": ("gamma", number),
    "--annealing-steps": ("annealing_steps", int), "--lambda-od": ("lambda_od", number),
    "--lambda-d": ("lambda_d", number), "--estimator": ("estimator", str), "--dataset-size": ("dataset_size", int),
    "--base": ("base", str), "--delay": ("delay", int), "--factor-gamma": ("factor_gamma", number),  # topdis
}


def cli_command(config) -> str:
    """The `python -m course_lib train ...` command line that trains `config` (a TrainConfig)."""
    flags = {name: flag for flag, (name, _) in HYPERPARAMETER_FLAGS.items()}
    parts = ["python -m course_lib train", f"--method {config.method}"]
    parts += [f"{flags[name]} {value}" for name, value in sorted(config.hyperparameters.items())]
    parts += [f"--steps {config.steps}", f"--seed {config.seed}", f"--batch-size {config.batch_size}",
              f"--lr {config.lr:g}", f"--num-latent {config.num_latent}", f"--architecture {config.architecture}",
              f"--width {config.width}", f"--variant {config.variant}", f"--checkpoint-every {config.checkpoint_every}"]
    parts += [f"--precision {config.precision}"] if config.precision != "float32" else []
    parts += [f"--out runs/{config.slug()}"]
    return " ".join(parts)
