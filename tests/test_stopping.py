"""A run stopped by Ctrl-C or SIGTERM checkpoints the step it finished first, a run killed without warning loses
at most CHECKPOINT_SECONDS of work, and where a run stopped or checkpointed never changes the model it becomes."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import course_lib.training.loop as loop
import course_lib.training.packed as packed
from course_lib.kit import cli
from course_lib.kit.runner import KERNEL_NAME
from course_lib.training import (CHECKPOINT, CONFIG, LOG, TrainConfig, load_checkpoint, load_run, stopping, train,
                                 train_packed)

CHECKOUT = Path(__file__).resolve().parents[1]


def tiny(seed=0, **changes):
    return TrainConfig("beta_vae", architecture="mlp", num_latent=3, batch_size=8, seed=seed,
                       **{"steps": 8, "checkpoint_every": 1000, **changes})


def train_alone_or_packed(how, folders, dsprites, **kwargs):
    """`train` of one tiny run, or `train_packed` of two (seeds 0 and 1), into `folders`."""
    if how == "alone":
        return [train(tiny(), folders[0], device="cpu", dataset=dsprites, progress=False, **kwargs)]
    return train_packed([tiny(0), tiny(1)], folders, device="cpu", dataset=dsprites, progress=False, **kwargs)


def signalling_after(step_to_signal: int, signum: int, times: int, monkeypatch, how: str) -> None:
    """Make the training loop of `how` raise `signum` `times` times right after its step `step_to_signal`."""
    module, name = (loop, "make_step_function") if how == "alone" else (packed, "pack_step_function")
    make = getattr(module, name)

    def make_signalling(*args, **kwargs):
        step_function = make(*args, **kwargs)

        def step(n):
            result = step_function(n)
            if n == step_to_signal:
                for _ in range(times):
                    signal.raise_signal(signum)  # the handler runs before raise_signal returns
            return result
        return step
    monkeypatch.setattr(module, name, make_signalling)


@pytest.fixture
def interruptible():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, however pytest was started: a shell starts a background
    job (`make test &`) with SIGINT ignored, and training rightly keeps an ignored SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def logged_steps(folder):
    return [int(row.split(",")[0]) for row in (folder / LOG).read_text().splitlines()[1:]]


@pytest.mark.parametrize("how", ["alone", "packed"])
def test_ctrl_c_checkpoints_the_finished_step_then_interrupts_and_resuming_equals_one_run(how, dsprites, tmp_path,
                                                                                           monkeypatch, interruptible):
    folders = [tmp_path / "a", tmp_path / "b"]
    handler = signal.getsignal(signal.SIGINT)
    signalling_after(3, signal.SIGINT, 1, monkeypatch, how)
    with pytest.raises(KeyboardInterrupt):
        train_alone_or_packed(how, folders, dsprites)
    assert signal.getsignal(signal.SIGINT) is handler
    trained = folders[:1] if how == "alone" else folders
    for seed, folder in enumerate(trained):
        assert load_checkpoint(folder / CHECKPOINT, tiny(seed))["step"] == 3  # checkpoint_every is 1000
        assert logged_steps(folder) == [1, 2, 3]

    monkeypatch.undo()
    resumed = train_alone_or_packed(how, folders, dsprites, resume=True)
    whole = train_alone_or_packed(how, [tmp_path / "whole_a", tmp_path / "whole_b"], dsprites)
    for run, one_run in zip(resumed, whole):
        assert logged_steps(run.directory) == list(range(1, 9))
        assert (run.directory / LOG).read_text() == (one_run.directory / LOG).read_text()
        for a, b in zip(run.model.state_dict().values(), one_run.model.state_dict().values()):
            assert torch.equal(a, b)


def test_a_second_ctrl_c_interrupts_at_once_without_a_checkpoint(dsprites, tmp_path, monkeypatch, interruptible):
    handler = signal.getsignal(signal.SIGINT)
    signalling_after(3, signal.SIGINT, 2, monkeypatch, "alone")
    with pytest.raises(KeyboardInterrupt):
        train_alone_or_packed("alone", [tmp_path / "run"], dsprites)
    assert not (tmp_path / "run" / CHECKPOINT).exists()
    assert signal.getsignal(signal.SIGINT) is handler


TERMINATED = """
import signal, sys
import course_lib.training.loop as loop
make = loop.make_step_function
def make_terminated(*args, **kwargs):
    step_function = make(*args, **kwargs)
    def step(n):
        result = step_function(n)
        if n == 5:
            signal.raise_signal(signal.SIGTERM)
        return result
    return step
loop.make_step_function = make_terminated
from course_lib.kit import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_sigterm_checkpoints_the_finished_step_then_terminates_and_the_run_resumes(dsprites, tmp_path):
    flags = ["train", "--method", "beta_vae", "--steps", "8", "--checkpoint-every", "1000", "--architecture", "mlp",
             "--num-latent", "3", "--batch-size", "8", "--device", "cpu"]
    terminated = subprocess.run([sys.executable, "-c", TERMINATED, *flags, "--out", str(tmp_path / "run")],
                                capture_output=True, text=True, cwd=CHECKOUT, timeout=300)
    assert terminated.returncode == -signal.SIGTERM, terminated.stderr
    assert logged_steps(tmp_path / "run") == [1, 2, 3, 4, 5]
    assert cli.main([*flags, "--out", str(tmp_path / "run"), "--resume"]) == 0
    assert cli.main([*flags, "--out", str(tmp_path / "whole")]) == 0
    assert (tmp_path / "run" / LOG).read_text() == (tmp_path / "whole" / LOG).read_text()
    resumed, whole = load_run(tmp_path / "run", "cpu"), load_run(tmp_path / "whole", "cpu")
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("how", ["alone", "packed"])
def test_a_checkpoint_is_written_once_checkpoint_seconds_have_passed_and_changes_nothing(how, dsprites, tmp_path,
                                                                                        monkeypatch):
    module = loop if how == "alone" else packed
    saved_steps = []
    save = module.save_checkpoint

    def recording_save(path, step, *args):
        saved_steps.append(step)
        save(path, step, *args)
    monkeypatch.setattr(module, "save_checkpoint", recording_save)
    rarely = train_alone_or_packed(how, [tmp_path / "rarely_a", tmp_path / "rarely_b"], dsprites)
    assert sorted(set(saved_steps)) == [8]  # only at the end: checkpoint_every is 1000
    saved_steps.clear()
    monkeypatch.setattr(stopping, "CHECKPOINT_SECONDS", 0.0)  # every step is "10 minutes after the last"
    often = train_alone_or_packed(how, [tmp_path / "often_a", tmp_path / "often_b"], dsprites)
    assert sorted(set(saved_steps)) == list(range(1, 9))
    for a_run, b_run in zip(rarely, often):
        assert (a_run.directory / LOG).read_text() == (b_run.directory / LOG).read_text()
        for a, b in zip(a_run.model.state_dict().values(), b_run.model.state_dict().values()):
            assert torch.equal(a, b)


def test_training_outside_the_main_thread_leaves_signals_alone(dsprites, tmp_path):
    handlers = [signal.getsignal(signum) for signum in stopping.STOP_SIGNALS]
    errors = []

    def worker():
        try:
            train_alone_or_packed("alone", [tmp_path / "run"], dsprites)
        except BaseException as error:  # noqa: BLE001 - the test reports whatever the thread raised
            errors.append(error)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=300)
    assert not errors
    assert logged_steps(tmp_path / "run") == list(range(1, 9))
    assert [signal.getsignal(signum) for signum in stopping.STOP_SIGNALS] == handlers


def test_interrupting_a_notebook_kernel_keeps_every_step_trained(dsprites, tmp_path):  # dsprites: the cache exists
    """What a student does: "interrupt the kernel" during a long training cell. The cell ends with
    KeyboardInterrupt as before, and the run folder holds a checkpoint at the last step trained."""
    from jupyter_client.manager import start_new_kernel

    folder = tmp_path / "run"
    manager, client = start_new_kernel(kernel_name=KERNEL_NAME, cwd=str(CHECKOUT))
    try:
        handler = {"handler": "signal.getsignal(signal.SIGINT)"}
        before = client.execute_interactive("import signal", user_expressions=handler, timeout=60)
        client.execute("from course_lib.training import TrainConfig, train\n"
                       f"train({tiny(steps=10**6)!r}, {str(folder)!r}, device='cpu', progress=False)")
        deadline = time.monotonic() + 120
        while not (folder / CONFIG).exists() and time.monotonic() < deadline:  # written as training starts
            time.sleep(0.2)
        time.sleep(1.0)
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=120)
        for _ in range(10):  # a request that arrives while the kernel still drops its queue after the error: aborted
            after = client.execute_interactive("", user_expressions=handler, timeout=60)
            if after["content"]["status"] != "aborted":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    step = load_checkpoint(folder / CHECKPOINT, tiny(steps=10**6))["step"]
    assert 0 < step < 10**6
    assert logged_steps(folder) == list(range(1, step + 1))
    assert after["content"]["user_expressions"] == before["content"]["user_expressions"]


def test_an_ignored_signal_stays_ignored(dsprites, tmp_path, monkeypatch):
    """A background job ignores SIGINT: training there neither stops nor checkpoints early on one."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        signalling_after(3, signal.SIGINT, 1, monkeypatch, "alone")
        run = train_alone_or_packed("alone", [tmp_path / "run"], dsprites)[0]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert run.step == 8 and logged_steps(tmp_path / "run") == list(range(1, 9))


@pytest.fixture
def recorded_sigterm():
    """SIGTERM only recorded here (the signals it received, in a list) instead of ending pytest; afterwards the
    handler and this process's stop request are as before."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    yield received
    signal.signal(signal.SIGTERM, previous)
    stopping.ask_to_stop(False)


def test_threads_stop_on_signals_checkpoints_training_in_a_thread_and_a_second_signal_acts(dsprites, tmp_path,
                                                                                             recorded_sigterm,
                                                                                             wait_until_training):
    """What a Dask worker needs: its tasks train outside the main thread, where no signal lands. The first SIGTERM
    stops that training at the end of its step with a checkpoint and the process goes on; the second does what
    SIGTERM did before (here: recorded)."""
    recorder = signal.getsignal(signal.SIGTERM)
    signals = stopping.WorkerStopSignals()
    signals.install()
    runs = []
    thread = threading.Thread(target=lambda: runs.append(train(tiny(steps=10**6), tmp_path / "run", device="cpu",
                                                               dataset=dsprites, progress=False)))
    thread.start()
    wait_until_training(tmp_path)
    os.kill(os.getpid(), signal.SIGTERM)
    thread.join(timeout=120)
    assert not thread.is_alive() and recorded_sigterm == []
    assert stopping.stop_reason(None) == "a stop signal"
    step = runs[0].step
    assert 0 < step < 10**6
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT, tiny(steps=10**6))["step"] == step
    assert logged_steps(tmp_path / "run") == list(range(1, step + 1))

    os.kill(os.getpid(), signal.SIGTERM)
    assert recorded_sigterm == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is recorder  # put back by the second signal


def test_training_in_a_workers_main_thread_stops_on_its_signal_and_the_worker_goes_on(dsprites, tmp_path,
                                                                                         recorded_sigterm,
                                                                                         monkeypatch):
    """A process pool's worker trains in its main thread: training keeps the worker's handlers, so the signal
    stops it with a checkpoint and is not delivered again when it ends (the worker lives on for its parent)."""
    signals = stopping.WorkerStopSignals()
    signals.install()
    try:
        signalling_after(3, signal.SIGTERM, 1, monkeypatch, "alone")
        run = train_alone_or_packed("alone", [tmp_path / "run"], dsprites)[0]
        assert signal.getsignal(signal.SIGTERM) == signals._catch  # training put nothing else in its place
    finally:
        signals.uninstall()
    assert run.step == 3 and logged_steps(tmp_path / "run") == [1, 2, 3] and recorded_sigterm == []


def test_a_stop_request_outranks_the_time_limit_and_withdrawing_it_restores_training(dsprites, tmp_path):
    assert stopping.stop_reason(None) is None and stopping.stop_reason(1.0) == "the time limit"
    stopping.ask_to_stop()
    try:
        assert stopping.stop_reason(None) == stopping.stop_reason(1.0) == "a stop signal"
        run = train(tiny(), tmp_path / "asked", device="cpu", dataset=dsprites, progress=False)
        assert run.step == 1 and logged_steps(tmp_path / "asked") == [1]  # the first step, then its checkpoint
    finally:
        stopping.ask_to_stop(False)
    assert stopping.stop_reason(None) is None
    assert train(tiny(), tmp_path / "asked", device="cpu", dataset=dsprites, progress=False, resume=True).step == 8
