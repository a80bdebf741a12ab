"""JupyterLab as a lecturer starts it (`make lab`): a `.py` notebook opens as a notebook through jupytext,
the "Python (course kit)" kernel is offered, and the /lab page loads in headless Chromium; as a student starts it
(`make lab ROOT=build/student`): the student build, prompts in place of solutions."""
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course_lib.kit.cli import lab_command
from course_lib.kit.runner import NOTEBOOKS_DIR
from course_lib.kit.site_check import Chromium, find_chromium
from course_lib.kit.student import EXERCISE_PROMPT, build_student, is_solution

TOKEN = "course-kit-test"
LAB_READY_JS = """new Promise((resolve) => {
  const started = Date.now();
  const poll = () => {
    const ready = document.querySelector('.jp-LabShell') && !document.querySelector('#jupyterlab-splash');
    const files = Array.from(document.querySelectorAll('.jp-DirListing-itemText')).map(e => e.textContent.trim());
    if ((ready && files.length) || Date.now() - started > 90000)
      resolve(JSON.stringify({ready: !!ready, files: files, title: document.title}));
    else setTimeout(poll, 250);
  };
  poll();
})"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def running_lab(root, log: Path):
    """`make lab` (`lab_command`) on `root`, on a free local port with the test's token; yields its URL."""
    port = free_port()
    with open(log, "w") as handle:
        as_root = ["--allow-root"] if os.geteuid() == 0 else []  # CI containers run as root
        server = subprocess.Popen(lab_command("--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                                              f"--IdentityProvider.token={TOKEN}", *as_root, root=root),
                                  stdout=handle, stderr=handle)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # the first start builds JupyterLab's caches: up to a minute
            try:
                get_json(f"{base}/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, log.read_text()
                time.sleep(0.5)
        else:
            pytest.fail(f"jupyter lab did not answer within 2 minutes:\n{log.read_text()}")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(NOTEBOOKS_DIR, tmp_path_factory.mktemp("lab") / "jupyter.log") as base:
        yield base


def test_a_py_notebook_opens_as_a_notebook_through_jupytext(lab):
    source = NOTEBOOKS_DIR / "01_vae.py"
    model = get_json(f"{lab}/api/contents/{source.name}?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    code = [cell["source"] for cell in model["content"]["cells"] if cell["cell_type"] == "code"]
    assert len(code) >= 10 and any("course_lib" in text for text in code)
    assert model["content"]["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"  # paired by jupytext


def test_the_course_kernel_is_offered(lab):
    specs = get_json(f"{lab}/api/kernelspecs")["kernelspecs"]
    names = {spec["spec"]["display_name"] for spec in specs.values()}
    assert "Python (course kit)" in names, names


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (CI installs it)")
def test_the_lab_page_loads_in_chromium(lab, tmp_path):
    with Chromium() as browser:
        browser.send("Page.navigate", session=True, url=f"{lab}/lab?token={TOKEN}")
        state = browser.send("Runtime.evaluate", session=True, expression=LAB_READY_JS, awaitPromise=True,
                             returnByValue=True)
        report = json.loads(state["result"]["value"])
        time.sleep(1)  # let the listing paint before the screenshot
        browser.screenshot(tmp_path / "lab.png")
    print(f"screenshot: {tmp_path / 'lab.png'}")
    assert report["ready"] and "JupyterLab" in report["title"], report
    assert "01_vae.py" in report["files"], report  # the file browser lists the notebooks folder
    assert (tmp_path / "lab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_lab_root_opens_the_student_build_with_prompts_in_place_of_solutions(tmp_path):
    """`make exercises`, then `make lab ROOT=build/student`: the lab lists the student notebooks, and one opens
    with the exercise prompts and no solution cell."""
    student = tmp_path / "student"
    build_student(student)
    with running_lab(student, tmp_path / "jupyter.log") as base:
        listing = {item["name"] for item in get_json(f"{base}/api/contents/")["content"]}
        model = get_json(f"{base}/api/contents/01_vae.ipynb?type=notebook&content=1")
    assert listing >= {"00_disentanglement.ipynb", "01_vae.ipynb", "report.ipynb"}, listing
    cells = model["content"]["cells"]
    assert not any(is_solution(cell) for cell in cells)
    assert any(cell["source"].startswith(EXERCISE_PROMPT) for cell in cells)
