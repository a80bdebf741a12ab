"""When a training loop writes a checkpoint besides every `checkpoint_every` steps, and when it stops early.

- At the latest `CHECKPOINT_SECONDS` of wall clock after the last checkpoint: a run killed without warning
  (SIGKILL, the out-of-memory killer, a lent machine taken back) loses at most that much work, however long
  `checkpoint_every` steps take on the device at hand (25,000 steps of the zoo's conv VAE are 20 minutes of
  a CPU core and seconds of a GPU).
- At a `deadline` (`time.time()`, for machines lent by the hour).
- When SIGINT (Ctrl-C, a notebook's "interrupt the kernel") or SIGTERM (a batch scheduler, `kill`) arrives:
  the step under way finishes, the run writes its checkpoint, then the signal does what it would have done
  (KeyboardInterrupt, termination). A second signal acts at once, in case a step hangs.

Where it stops changes nothing: resuming continues the run exactly (`training.train`'s `resume`).
"""
from __future__ import annotations

import signal
import threading
import time

from course_lib.checks import check_number

CHECKPOINT_SECONDS = 600.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def past(deadline: float | None) -> bool:
    """Whether the `time.time()` `deadline` (None: none) has come."""
    return deadline is not None and time.time() >= deadline


def deadline_after(minutes: float | None, name: str = "time_limit_minutes") -> float | None:
    """The `time.time()` `minutes` (> 0) from now, or None for None; a bad value is refused by `name`."""
    minutes = check_number(name, minutes, 0, low_open=True, none_ok=True)
    return None if minutes is None else time.time() + 60 * minutes


class CheckpointClock:
    """Whether a step ends with a checkpoint: every `checkpoint_every` steps, at `until`, when stopping, and at
    the latest `CHECKPOINT_SECONDS` after the last one. `saved()` restarts the clock."""

    def __init__(self, checkpoint_every: int, until: int):
        self.checkpoint_every, self.until = checkpoint_every, until
        self.saved()

    def saved(self) -> None:
        self.last = time.monotonic()

    def due(self, step: int, stopping: bool) -> bool:
        return (step % self.checkpoint_every == 0 or step == self.until or stopping
                or time.monotonic() - self.last >= CHECKPOINT_SECONDS)


class StopRequests:
    """What asks a training loop to stop at the end of its step: the `time.time()` `deadline` (None: none), or
    SIGINT or SIGTERM received inside `with StopRequests(deadline) as stop:` (`stop.requested()`). Leaving the
    block restores the signal handlers and delivers the signal received; a second signal is delivered at once.
    An ignored signal stays ignored; outside the main thread (a Dask worker's task) signals cannot be caught,
    and they act as before."""

    def __init__(self, deadline: float | None = None):
        self.deadline = deadline
        self.received: int | None = None
        self._previous: dict = {}

    def requested(self) -> bool:
        return self.received is not None or past(self.deadline)

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # ignored (SIGINT of a background job): it stays ignored
                previous = signal.signal(signum, self._catch)
                self._previous[signum] = signal.SIG_DFL if previous is None else previous  # None: set outside Python
        return self

    def _catch(self, signum, frame) -> None:
        if self.received is not None:
            self._restore()
            signal.raise_signal(signum)
        self.received = signum

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __exit__(self, error_type, error, traceback) -> None:
        self._restore()
        if self.received is not None and error_type is None:
            signal.raise_signal(self.received)  # the previous handler: KeyboardInterrupt, termination, ...
