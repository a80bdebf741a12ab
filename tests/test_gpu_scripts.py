"""The GPU scripts (benchmarks/gpu_check.sh, gpu_grow.sh, gpu_full.sh): they refuse a machine without CUDA before
doing anything, and their own logic (steps, time limits, summaries, exit codes) runs here on the CPU with a stand-in
for the GPU machine's python3: it says CUDA is there, pretends the kit's long commands and runs the rest for real.
GPU time is lent by the minute: a script that breaks there wastes it."""
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FAKE_PYTHON = '''#!{python}
"""python3 on a GPU machine, played on a CPU. FAKE_SLOW / FAKE_FAIL: a command line holding that text sleeps /
fails."""
import json, os, sys, time
from pathlib import Path

args = sys.argv[1:]
line = " ".join(args)
with open(os.environ["FAKE_LOG"], "a") as log:
    print(line, file=log)
if args[0] == "-c" and "cuda.is_available" in args[1]:
    sys.exit(0)
if args[0] in ("-c", "-") or "lecture_steps" in line:
    os.execv({python!r}, [{python!r}, *args])
if os.environ.get("FAKE_SLOW", "\\0") in line:
    time.sleep(60)
if os.environ.get("FAKE_FAIL", "\\0") in line:
    sys.exit("it broke on the GPU")
if args[:3] == ["-m", "course_lib", "notebooks"]:
    out = Path(args[args.index("--out") + 1])
    after = args[args.index("--only") + 1:] if "--only" in args else ["00_disentanglement", "01_vae"]
    names = [name for name in after[:next((i for i, a in enumerate(after) if a.startswith("--")), len(after))]]
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps({{"notebooks": [
        {{"name": name, "status": "ok", "duration_s": 1.5, "failing_cell": None, "error": None}} for name in names]}}))
print(f"figures of {{line}}")
'''


def run_script(script, tmp_path, *args, background=False, **environment):
    """Run benchmarks/SCRIPT with the stand-in python3 (`FAKE_PYTHON`); its calls land in tmp_path/calls.log."""
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "FAKE_LOG": str(tmp_path / "calls.log"), **environment}
    command = ["bash", str(ROOT / "benchmarks" / script), *map(str, args)]
    if background:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def calls(tmp_path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the scripts run for real")
@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_grow.sh", "gpu_full.sh"])
def test_a_gpu_script_refuses_a_machine_without_cuda_and_writes_nothing(tmp_path, script):
    manifest = (ROOT / "data" / "pretrained" / "manifest.json").read_bytes()
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / script), str(tmp_path / "out")], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=120)
    assert done.returncode == 2 and "CUDA is not available" in done.stderr
    assert not (tmp_path / "out").exists()
    assert (ROOT / "data" / "pretrained" / "manifest.json").read_bytes() == manifest


def test_gpu_check_runs_every_step_on_cuda_and_summarises_them(tmp_path):
    done = run_script("gpu_check.sh", tmp_path, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "out" / "gpu_check_summary.md").read_text()
    for step in ("data", "notebooks", "cuda_tests", "bench_train", "bench_train_packed", "bench_train_packed_bf16",
                 "bench_train_packed_eager", "bench_metrics"):
        assert f"| {step} | ok |" in summary, summary
    assert "| 01_vae | ok | 1.5 |" in summary
    assert "## bench_metrics\n\n```\nfigures of benchmarks/bench_metrics.py" in summary
    kit_calls = [line for line in calls(tmp_path) if line.startswith(("-m", "benchmarks/"))]
    assert all("--device cuda" in line for line in kit_calls if "course_lib data" not in line and "pytest" not in line)
    assert "-m course_lib notebooks --profile smoke --device cuda --out" in "\n".join(kit_calls)


def test_gpu_check_records_a_failed_step_with_its_log_and_goes_on(tmp_path):
    done = run_script("gpu_check.sh", tmp_path, tmp_path / "out", FAKE_FAIL="-m pytest")
    assert done.returncode == 1
    summary = (tmp_path / "out" / "gpu_check_summary.md").read_text()
    assert "| cuda_tests | failed (exit 1) |" in summary and "| bench_metrics | ok |" in summary
    assert "## cuda_tests did not pass: the end of logs/cuda_tests.err\n\n```\nit broke on the GPU" in summary


def test_gpu_check_within_minutes_stops_the_step_at_the_limit_and_starts_no_other(tmp_path):
    """A machine lent for minutes: the step running at the limit is stopped and marked, the later steps say they
    did not start, and the summary is there to copy back."""
    start = time.monotonic()
    done = run_script("gpu_check.sh", tmp_path, tmp_path / "out", 0.2, STEPS="bench_train bench_metrics",
                      FAKE_SLOW="bench_train.py")
    assert done.returncode == 1 and time.monotonic() - start < 45  # the stand-in would sleep 60 s
    summary = (tmp_path / "out" / "gpu_check_summary.md").read_text()
    assert "| bench_train | stopped at the time limit |" in summary
    assert "| bench_metrics | not started (time up) |" in summary
    assert "time limit: 0.2 minutes" in summary
    assert not any("bench_metrics" in line for line in calls(tmp_path))


def test_gpu_check_keeps_a_summary_of_the_steps_done_when_it_is_killed(tmp_path):
    """A call killed at its limit returns what is under $OUT: the summary (SUMMARY=...) is rewritten after every
    step, so the finished steps' figures come back."""
    summary = tmp_path / "back" / "gpu_check_summary.md"
    process = run_script("gpu_check.sh", tmp_path, tmp_path / "out", background=True, FAKE_SLOW="--packed",
                         SUMMARY=str(summary))
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "calls.log").is_file() or not any("--packed" in line for line in calls(tmp_path)):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    text = summary.read_text()
    assert "| bench_train | ok |" in text and "bench_train_packed" not in text.split("## ")[0].split("| step |")[1]
    assert not summary.with_name(summary.name + ".part").exists()


@pytest.mark.parametrize("environment, phrase", [
    ({"STEPS": "notebooks bench_everything"}, "STEPS names bench_everything"),
    ({"MINUTES": "soon"}, "MINUTES=soon is not allowed"),
    ({"MINUTES": "0"}, "MINUTES=0 is not allowed")])
def test_gpu_check_refuses_bad_steps_or_minutes_before_anything(tmp_path, environment, phrase):
    minutes = [environment.pop("MINUTES")] if "MINUTES" in environment else []
    done = run_script("gpu_check.sh", tmp_path, tmp_path / "out", *minutes, **environment)
    assert done.returncode == 2 and phrase in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "calls.log").exists()


def test_gpu_full_runs_each_notebook_at_full_on_cuda_within_its_minutes(tmp_path):
    """Each notebook is its own run of the runner at `full` on CUDA, in the order given; the one running at the
    limit is stopped and marked, the rest did not start; the summary (SUMMARY=...) says so."""
    summary = tmp_path / "back" / "full.md"
    done = run_script("gpu_full.sh", tmp_path, tmp_path / "out", 0.2, NOTEBOOKS="00_disentanglement 08_metrics report",
                      FAKE_SLOW="--only 08_metrics", SUMMARY=str(summary))
    assert done.returncode == 1
    text = summary.read_text()
    assert "| 00_disentanglement | ok |" in text and "| 08_metrics | stopped at the time limit |" in text
    assert "| report | not started (time up) |" in text and "time limit: 0.2 minutes" in text
    runs = [line for line in calls(tmp_path) if line.startswith("-m course_lib notebooks")]
    assert [line.split("--only ")[1].split()[0] for line in runs] == ["00_disentanglement", "08_metrics"]
    assert all("--profile full --device cuda" in line for line in runs)


def test_gpu_full_refuses_bad_minutes_before_anything(tmp_path):
    done = run_script("gpu_full.sh", tmp_path, tmp_path / "out", "-3")
    assert done.returncode == 2 and "MINUTES=-3 is not allowed" in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "calls.log").exists()


def test_gpu_grow_packs_the_grown_zoo_in_parts_only_once_every_run_is_that_old(tmp_path):
    """`zoo --grow STEPS --device cuda --time-limit MINUTES`, then: a zoo younger than STEPS (the time ran out) is
    exit 3 and nothing packed; a zoo of that age is packed into parts that unpack to data/pretrained."""
    from course_lib.kit.lecture_models import lecture_steps

    age = lecture_steps("lecture")
    younger = run_script("gpu_grow.sh", tmp_path, tmp_path / "young", 2 * age, 5)
    assert younger.returncode == 3 and f"the zoo is {age} steps old" in younger.stderr
    assert f"-m course_lib zoo --grow {2 * age} --device cuda --time-limit 5" in calls(tmp_path)
    assert not list((tmp_path / "young").glob("zoo-*"))
    grown = run_script("gpu_grow.sh", tmp_path, tmp_path / "out", age)
    assert grown.returncode == 0, grown.stderr
    parts = sorted((tmp_path / "out").glob(f"zoo-{age}.tar.gz.part-*"))
    assert parts and all(part.stat().st_size <= 15 * 2**20 for part in parts)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(f"cat {' '.join(map(str, parts))} | tar xzf - -C {unpacked}", shell=True, check=True)
    manifest = "data/pretrained/manifest.json"
    assert (unpacked / manifest).read_bytes() == (ROOT / manifest).read_bytes()
