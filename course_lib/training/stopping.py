"""When a training loop writes a checkpoint besides every `checkpoint_every` steps, and when it stops early.

- At the latest `CHECKPOINT_SECONDS` of wall clock after the last checkpoint: a run killed without warning
  (SIGKILL, the out-of-memory killer, a lent machine taken back) loses at most that much work, however long
  `checkpoint_every` steps take on the device at hand (25,000 steps of the zoo's conv VAE are 20 minutes of
  a CPU core and seconds of a GPU).
- At a `deadline` (`time.time()`, for machines lent by the hour).
- When SIGINT (Ctrl-C, a notebook's "interrupt the kernel") or SIGTERM (a batch scheduler, `kill`) arrives:
  the step under way finishes, the run writes its checkpoint, then the signal does what it would have done
  (KeyboardInterrupt, termination). A second signal acts at once, in case a step hangs.
- When this process is asked to stop (`ask_to_stop`): for worker processes, whose parent collects their runs
  (a Dask worker, whose tasks run outside the main thread and cannot catch signals; a process pool's).
  `WorkerStopSignals` turns the worker's own signals into that request; a parent forwards its signal to its
  workers that way (`kit.sweep`, `stop_with_parent`).

Where it stops changes nothing: resuming continues the run exactly (`training.train`'s `resume`).
"""
from __future__ import annotations

import signal
import threading
import time

from course_lib.checks import check_number

CHECKPOINT_SECONDS = 600.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ASKED_TO_STOP = threading.Event()  # this process's training is asked to stop: `ask_to_stop`


def past(deadline: float | None) -> bool:
    """Whether the `time.time()` `deadline` (None: none) has come."""
    return deadline is not None and time.time() >= deadline


def ask_to_stop(asked: bool = True) -> None:
    """Ask every training of this process, in whatever thread, to stop at the end of its step with a checkpoint,
    and every sweep job to start no training or scoring (`stop_reason`); `asked=False` withdraws the request."""
    if asked:
        _ASKED_TO_STOP.set()
    else:
        _ASKED_TO_STOP.clear()


def stop_with_parent(event) -> None:
    """A worker process's setup (a `ProcessPoolExecutor`'s initializer): its training stops with a checkpoint on
    its first SIGINT or SIGTERM (`WorkerStopSignals`; a second acts at once) or once the parent sets the
    multiprocessing `event` (the parent's own signal, which may not have reached the worker); either way the
    worker goes on, and its parent collects the stopped runs."""
    WorkerStopSignals().install()
    threading.Thread(target=lambda: event.wait() and ask_to_stop(), name="stop-with-parent", daemon=True).start()


def stop_reason(deadline: float | None) -> str | None:
    """Why training should stop now: "a stop signal" (`ask_to_stop`), "the time limit" (the `time.time()`
    `deadline` has come), or None."""
    if _ASKED_TO_STOP.is_set():
        return "a stop signal"
    return "the time limit" if past(deadline) else None


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


def _catch_stop_signals(handler) -> dict:
    """Set `handler` for every STOP_SIGNALS that is not ignored (SIGINT of a background job stays ignored) nor a
    worker's (`WorkerStopSignals`: there the signal already asks to stop), from the main thread (elsewhere
    nothing); the handlers it replaced, for `_restore_handlers`."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current is not signal.SIG_IGN and not isinstance(getattr(current, "__self__", None), WorkerStopSignals):
                handler_before = signal.signal(signum, handler)
                previous[signum] = signal.SIG_DFL if handler_before is None else handler_before  # None: not Python's
    return previous


def _restore_handlers(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


class StopRequests:
    """What asks a training loop to stop at the end of its step: the `time.time()` `deadline` (None: none),
    `ask_to_stop`, or SIGINT or SIGTERM received inside `with StopRequests(deadline) as stop:`
    (`stop.requested()`). Leaving the block restores the signal handlers and delivers the signal received; a
    second signal is delivered at once. An ignored signal stays ignored; outside the main thread (a Dask worker's
    task) signals cannot be caught: there `WorkerStopSignals` turns them into `ask_to_stop`."""

    def __init__(self, deadline: float | None = None):
        self.deadline = deadline
        self.received: int | None = None
        self._previous: dict = {}

    def requested(self) -> bool:
        return self.received is not None or stop_reason(self.deadline) is not None

    def __enter__(self) -> StopRequests:
        self._previous = _catch_stop_signals(self._catch)
        return self

    def _catch(self, signum, frame) -> None:
        if self.received is not None:
            self._restore()
            signal.raise_signal(signum)
        self.received = signum

    def _restore(self) -> None:
        _restore_handlers(self._previous)
        self._previous = {}

    def __exit__(self, error_type, error, traceback) -> None:
        self._restore()
        if self.received is not None and error_type is None:
            signal.raise_signal(self.received)  # the previous handler: KeyboardInterrupt, termination, ...


class WorkerStopSignals:
    """SIGINT and SIGTERM for a worker process, whose parent collects its runs (a Dask worker, a process pool's):
    from `install()` (in the main thread; elsewhere it does nothing) to `uninstall()`, the first one asks every
    training of the process to stop with a checkpoint (`ask_to_stop`; a sweep's jobs then say "stopped") and the
    process goes on; a second one does at once what the signal did before. An ignored signal stays ignored.
    Training in the main thread keeps these handlers (`StopRequests`), so it stops the same way."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def install(self) -> None:
        self._previous = _catch_stop_signals(self._catch)

    def _catch(self, signum, frame) -> None:
        if self.received is not None:
            self.uninstall()
            signal.raise_signal(signum)
        self.received = signum
        ask_to_stop()

    def uninstall(self) -> None:
        _restore_handlers(self._previous)
        self._previous = {}
