"""The three run profiles, in one table that every notebook reads.

  smoke    CI: every notebook end to end in seconds, to prove it runs (numbers are not meaningful).
  lecture  a 2-core laptop CPU: each notebook in a few minutes, figures worth showing in class.
  full     a CUDA GPU: the papers' sizes.

A notebook's parameters cell holds only `profile = None` (and device, seed); the next cell calls
`get_profile(profile)`, so papermill can override the name and the sizes follow from the table.
"""
from __future__ import annotations

import dataclasses
import os

ENV_VAR = "COURSE_PROFILE"
DEFAULT = "lecture"


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    description: str
    num_samples: int  # observations drawn for statistics, histograms and estimates
    train_steps: int  # optimisation steps per trained model (the study: 300,000 at batch 64)
    num_sweep_values: int  # hyperparameter values per method in a sweep (the study: 6)
    notebook_timeout_s: int  # the runner stops a notebook cell that runs longer than this


PROFILES = {
    "smoke": Profile("smoke", "CI: runs every notebook in seconds", num_samples=512, train_steps=20,
                     num_sweep_values=2, notebook_timeout_s=600),
    "lecture": Profile("lecture", "2-core CPU: a few minutes per notebook", num_samples=10_000,
                       train_steps=2000, num_sweep_values=3,
                       notebook_timeout_s=2 * 3600),  # notebook 13's sweep cell trains 24 models: ~1 h on a busy CPU
    "full": Profile("full", "GPU: the papers' sizes", num_samples=100_000, train_steps=300_000,
                    num_sweep_values=6, notebook_timeout_s=12 * 3600),
}


def get_profile(name: str | Profile | None = None) -> Profile:
    """The profile called `name` (a Profile is returned as it is); None reads $COURSE_PROFILE and falls back to
    'lecture'."""
    if isinstance(name, Profile):
        return name
    chosen = name if name is not None else os.environ.get(ENV_VAR, DEFAULT)
    if chosen not in PROFILES:
        source = "profile" if name is not None else f"${ENV_VAR}"
        raise ValueError(f"{source}={chosen!r} is not allowed; use one of {tuple(PROFILES)}")
    return PROFILES[chosen]
