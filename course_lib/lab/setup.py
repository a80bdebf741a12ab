"""The first code cell of every notebook: profile, device and seed resolved, seeded and printed in one call."""
from __future__ import annotations

from course_lib.device import get_device
from course_lib.profiles import get_profile
from course_lib.seeding import seed_everything


def notebook_setup(profile=None, device="auto", seed: int = 0, show: bool = True):
    """(P, DEVICE, random_state) from a notebook's parameters: the profile's sizes (`get_profile`; None reads
    $COURSE_PROFILE), the torch device (`get_device`: "auto" is CUDA when present) and the NumPy RandomState
    of `seed_everything(seed)`, which seeds every generator first. `show` prints the three, so that an
    executed notebook records what it ran with."""
    P = get_profile(profile)
    DEVICE = get_device(device)
    random_state = seed_everything(seed)
    if show:
        print(f"profile: {P.name} ({P.description}); train_steps = {P.train_steps:,}, "
              f"num_samples = {P.num_samples:,}, num_sweep_values = {P.num_sweep_values}")
        print(f"device:  {DEVICE}")
        print(f"seed:    {seed}")
    return P, DEVICE, random_state
