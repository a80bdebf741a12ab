"""Bad places to write and unfinished runs: the CLI says so in one line (exit 2) before any work starts."""
import json
import os
import re

import pytest

import course_lib.metrics
from course_lib.checks import check_writable_directory
from course_lib.data import dsprites_render as render
from course_lib.kit.cli import main
from course_lib.training import CONFIG

UNWRITABLE = "/proc/course-kit"  # /proc takes no new files, not even from root (who ignores chmod)


def fails_with(capsys, argv, *phrases):
    """Run the CLI; it must exit 2 with every phrase on stderr and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, err


def test_check_writable_directory_accepts_a_new_folder_and_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable_directory("out", str(target)) == target
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("place, message", [
    ("{tmp}/file", "out='.*file' is a file, not a folder"),
    ("{tmp}/file/run", "cannot be created: .*file is a file, not a folder"),
    (UNWRITABLE + "/run", "/proc is not writable"),
    (None, "out=None is not allowed"),
])
def test_check_writable_directory_refuses(tmp_path, place, message):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=message):
        check_writable_directory("out", place and place.format(tmp=tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 0o555 folder anyway")
def test_check_writable_directory_refuses_a_read_only_folder(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            check_writable_directory("out", tmp_path / "run")
    finally:
        tmp_path.chmod(0o755)


def train_argv(out):
    return ["train", "--method", "beta_vae", "--beta", "2", "--steps", "2", "--out", str(out),
            "--device", "cpu", "--checkpoint-every", "1"]


@pytest.mark.parametrize("where", ["file", "unwritable"])
def test_train_refuses_an_out_it_cannot_write(tmp_path, capsys, where):
    out = tmp_path / "file" if where == "file" else UNWRITABLE
    if where == "file":
        out.write_text("keep me")
    fails_with(capsys, train_argv(out), f"--out={str(out)!r}")
    assert where != "file" or out.read_text() == "keep me"


@pytest.fixture
def no_render(monkeypatch):
    def render_packed_grid(progress=True):
        raise AssertionError("the grid was rendered although the data folder cannot hold it")

    monkeypatch.setattr(render, "render_packed_grid", render_packed_grid)


def test_data_refuses_a_data_dir_it_cannot_write_before_rendering(tmp_path, capsys, no_render):
    fails_with(capsys, ["data", "--data-dir", UNWRITABLE], f"data_dir={UNWRITABLE!r}", "/proc is not writable")
    (tmp_path / "file").write_text("x")
    fails_with(capsys, ["data", "--data-dir", str(tmp_path / "file")], "is a file, not a folder")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "finished"
    assert main(train_argv(out)) == 0
    return out


def refuse_scoring(*args, **kwargs):
    raise AssertionError("metrics were computed although the run or the output was refused")


def test_evaluate_refuses_an_out_it_cannot_write_before_scoring(finished_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(course_lib.metrics, "evaluate", refuse_scoring)
    fails_with(capsys, ["evaluate", "--run", str(finished_run), "--out", f"{UNWRITABLE}/metrics.csv"],
               f"folder of --out={UNWRITABLE!r}", "/proc is not writable")
    fails_with(capsys, ["evaluate", "--run", str(finished_run), "--out", str(tmp_path)], "is a folder")
    assert not (finished_run / "metrics.csv").exists()


def unfinished_copy(finished_run, tmp_path):
    """The finished 2-step run, its configuration raised to 4 steps: a run stopped at step 2 of 4."""
    run = tmp_path / "unfinished"
    run.mkdir()
    for path in finished_run.iterdir():
        (run / path.name).write_bytes(path.read_bytes())
    saved = json.loads((run / CONFIG).read_text())
    saved["config"]["steps"] = 4
    (run / CONFIG).write_text(json.dumps(saved))
    return run


def test_evaluate_refuses_an_unfinished_run_unless_allowed(finished_run, tmp_path, capsys, monkeypatch):
    run = unfinished_copy(finished_run, tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(course_lib.metrics, "evaluate", refuse_scoring)
        fails_with(capsys, ["evaluate", "--run", str(run)], "stopped at step 2 of 4", "--allow-unfinished")
    assert not (run / "metrics.csv").exists()
    assert main(["evaluate", "--run", str(run), "--allow-unfinished", "--metrics", "mig", "--num-train", "64",
                 "--num-test", "32", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "stopped at step 2 of 4" in captured.err
    assert "mig" in captured.out and (run / "metrics.csv").read_text().startswith("metric,score,value")


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_the_run_folder_exists(tmp_path, capsys):
    out = tmp_path / "run"
    fails_with(capsys, ["train", "--method", "vae", "--steps", "1", "--batch-size", str(10**9), "--device", "cpu",
                        "--out", str(out)], f"batch_size={10**9} needs about", "use batch_size <= ")
    assert not out.exists()


@pytest.mark.parametrize("flags, phrase", [(["--metrics", "irs"], "metrics=('irs',) is not allowed"),
                                           (["--num-train", "1"], "num_train=1 is not allowed"),
                                           (["--seed", "-3"], "seed=-3")])
def test_evaluate_checks_its_arguments_before_loading_the_run(tmp_path, capsys, monkeypatch, flags, phrase):
    monkeypatch.setattr("course_lib.training.load_run", lambda *a, **k: pytest.fail("the run was loaded"))
    fails_with(capsys, ["evaluate", "--run", str(tmp_path / "no-run-needed"), *flags], phrase)


@pytest.mark.parametrize("flags, phrase", [(["--grow", "0"], "steps=0 is not allowed"),
                                           (["--grow", "10", "--workers", "0"], "workers=0 is not allowed"),
                                           (["--grow", "10", "--time-limit", "-1"],
                                            "time_limit_minutes=-1.0 is not allowed"),
                                           (["--seed-results", "2", "--time-limit", "0"],
                                            "time_limit_minutes=0.0 is not allowed"),
                                           (["--time-limit", "5"], "--time-limit 5.0 is not allowed without --grow")])
def test_zoo_grow_checks_its_arguments_before_any_training(tmp_path, capsys, monkeypatch, flags, phrase):
    monkeypatch.setattr("course_lib.kit.grow.train", lambda *a, **k: pytest.fail("a run was trained"))
    fails_with(capsys, ["zoo", *flags, "--runs", str(tmp_path / "runs"), "--device", "cpu"], phrase)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", [["sweep", "--methods", "vae", "--steps", "2", "--metrics", "mig"],
                                     ["train", "--method", "vae", "--steps", "2"], ["study", "--profile", "smoke"]])
def test_a_time_limit_must_be_positive_before_any_training(tmp_path, capsys, command):
    out = tmp_path / "out"
    fails_with(capsys, [*command, "--out", str(out), "--device", "cpu", "--time-limit", "0"],
               "--time-limit=0.0 is not allowed; use")
    assert not out.exists()


def test_a_study_out_of_time_starts_no_job_scores_nothing_and_says_the_same_command_resumes(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "--profile", "smoke", "--device", "cpu", "--workers", "1", "--out", str(out),
                 "--time-limit", "1e-8"]) == 1
    assert re.search(r"(\d+) of \1 jobs stopped before they finished \(their notes say where\); the same command "
                     "resumes them", capsys.readouterr().out)
    assert not list(out.glob("**/result.json")) and not list(out.glob("**/config.json"))


def test_train_out_of_time_stops_with_a_checkpoint_and_resume_finishes(tmp_path, capsys):
    """A deadline a microsecond away: the first step ends past it, so the run stops there with a checkpoint."""
    out = tmp_path / "run"
    argv = [*train_argv(out), "--checkpoint-every", "5"]  # step 1 is no checkpoint step
    assert main([*argv, "--time-limit", "1e-8"]) == 0
    assert "the time limit stopped beta_vae at step 1 of 2" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["steps_this_session"] == 1
    assert main([*argv, "--resume"]) == 0
    assert "trained beta_vae for 2 steps" in capsys.readouterr().out


def test_lab_passes_every_other_argument_to_jupyter_and_refuses_a_root_that_is_not_a_folder(tmp_path, capsys,
                                                                                            monkeypatch):
    """`python -m course_lib lab --no-browser` was refused by argparse ("unrecognized arguments") although the help
    offered it; options for jupyter now go through in their order, before or after `--root`."""
    import course_lib.kit.cli as cli

    started = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: started.append(command) or 0)
    assert main(["lab", "--port", "8899", "--root", str(tmp_path), "--no-browser"]) == 0
    assert started[0][3:] == [f"--ServerApp.root_dir={tmp_path.resolve()}", "--port", "8899", "--no-browser"]
    fails_with(capsys, ["lab", "--root", str(tmp_path / "student")], f"root='{tmp_path / 'student'}' is not a folder",
               "make exercises")
    assert len(started) == 1  # nothing started for the missing folder
    with pytest.raises(SystemExit) as refused:  # other commands still refuse what they do not know
        main(["data", "--no-browser"])
    assert refused.value.code == 2 and "unrecognized arguments: --no-browser" in capsys.readouterr().err
