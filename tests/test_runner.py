"""The notebook runner on tiny notebooks with known outcomes."""
import json
import os
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_lib.io import LOCK_FILE, directory_lock
from course_lib.kit import runner
from course_lib.kit.cli import main
from course_lib.kit.runner import discover_notebooks, run_notebooks
from course_lib.kit.site_check import check_site, find_chromium

HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""


def write_notebook(folder, name, body):
    text = HEADER + f"\n# %% [markdown]\n# # Title of {name}\n\n# %% tags=[\"parameters\"]\nprofile = None\n" \
        "device = \"auto\"\nseed = 0\n\n" + textwrap.dedent(body)
    (folder / f"{name}.py").write_text(text)


@pytest.fixture
def three_notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder, "00_first", "# %%\nimport matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.show()\n")
    write_notebook(folder, "01_broken", "# %%\nx = 1\n\n# %%\nraise ValueError('on purpose ' + profile)\n")
    write_notebook(folder, "02_last", "# %%\nprint(profile, device, seed)\n")
    return folder


def test_course_order_puts_numbered_notebooks_first(tmp_path):
    for name in ("report", "10_topology", "02_beta_vae", "_scratch"):
        (tmp_path / f"{name}.py").write_text("")
    assert [p.stem for p in discover_notebooks(tmp_path)] == ["02_beta_vae", "10_topology", "report"]


def test_a_failing_notebook_is_reported_and_the_others_run(three_notebooks, tmp_path):
    out = tmp_path / "reports"
    results = run_notebooks(out, profile="smoke", device="cpu", seed=3, notebooks_dir=three_notebooks, progress=False)
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    broken = results[1]
    assert broken.error == "ValueError: on purpose smoke"
    # cell [4] as numbered in the executed notebook: parameters, papermill's injected cell, x = 1, raise
    assert broken.failing_cell == 4 and "raise ValueError" in broken.failing_source
    assert all(r.parameters == {"profile": "smoke", "device": "cpu", "seed": 3} for r in results)
    assert results[0].title == "Title of 00_first"
    first_html = (out / "00_first.html").read_text()
    assert "data:image/png;base64" in first_html  # the figure is embedded
    assert "smoke cpu 3" in (out / "02_last.html").read_text()  # papermill injected the parameters
    index = (out / "index.html").read_text()
    assert index.index("00_first") < index.index("01_broken") < index.index("02_last")
    assert "ValueError: on purpose smoke" in index and "raise ValueError" in index
    assert json.loads((out / "index.json").read_text())["notebooks"][1]["status"] == "failed"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [LOCK_FILE], "no scratch files left behind"


def test_a_second_run_into_a_folder_in_use_is_refused_before_it_executes_anything(three_notebooks, tmp_path):
    """Two `make report` at once (two terminals): before, both executed every notebook into reports/, each training
    the same runs; now the second is refused at once, naming the folder, and the first's files stay as they were."""
    out = tmp_path / "reports"
    run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks, names=["00_first"],
                  progress=False)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    with directory_lock(out, "folder of executed notebooks"):  # the first run, still executing
        with pytest.raises(ValueError, match="is in use: another process is writing this folder of executed"):
            run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks, progress=False)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_cli_exits_non_zero_when_a_notebook_fails(three_notebooks, tmp_path):
    common = ["notebooks", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path / "r"),
              "--notebooks-dir", str(three_notebooks), "--only"]
    assert main(common + ["02_last"]) == 0
    assert main(common + ["01_broken"]) == 1
    assert main(common + ["nope"]) == 2


def test_figures_render_inline_whatever_mplbackend_says(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder, "00_plot", "# %%\nimport matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.show()\n")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as on many headless servers
    (result,) = run_notebooks(tmp_path / "r", profile="smoke", device="cpu", notebooks_dir=folder, progress=False)
    assert result.status == "ok", result.error
    executed = nbformat.read(tmp_path / "r" / "00_plot.ipynb", as_version=4)
    assert any("image/png" in output.get("data", {}) for cell in executed.cells for output in cell.get("outputs", []))
    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is left as it was


def test_a_failed_html_export_marks_that_notebook_failed_and_the_others_run(three_notebooks, tmp_path, monkeypatch):
    real_export = runner.export_html

    def export_html(notebook, html_path):
        if html_path.stem == "00_first":
            raise ValueError("No template sub-directory with name 'lab' found")
        real_export(notebook, html_path)

    monkeypatch.setattr(runner, "export_html", export_html)
    out = tmp_path / "reports"
    results = run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks, progress=False)
    assert [r.status for r in results] == ["failed", "failed", "ok"]
    first = results[0]
    assert first.error == "HTML export failed: ValueError: No template sub-directory with name 'lab' found"
    assert first.html is None and not (out / "00_first.html").exists()
    executed = nbformat.read(out / "00_first.ipynb", as_version=4)  # the executed notebook is kept
    assert any("image/png" in output.get("data", {}) for cell in executed.cells for output in cell.get("outputs", []))
    assert results[1].error == "ValueError: on purpose smoke" and (out / "02_last.html").is_file()
    assert "HTML export failed" in (out / "index.html").read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "fast"}, "profile='fast'"),
    ({"device": "gpu"}, "device='gpu'"),
    ({"seed": -2}, "seed=-2"),
    ({"names": ["99_missing"]}, "99_missing"),
])
def test_bad_arguments_fail_before_any_file_is_written(three_notebooks, tmp_path, kwargs, message):
    out = tmp_path / "reports"
    with pytest.raises(ValueError, match=message):
        run_notebooks(out, notebooks_dir=three_notebooks, progress=False, **{"profile": "smoke", **kwargs})
    assert not out.exists()


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_notebooks_dir_without_notebooks_is_refused_before_any_file_is_written(tmp_path, capsys, folder):
    notebooks_dir, out = tmp_path / folder, tmp_path / "reports"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no notebooks here")
    with pytest.raises(ValueError, match=re.escape(f"notebooks_dir='{notebooks_dir}'")):
        run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=notebooks_dir, progress=False)
    assert main(["notebooks", "--profile", "smoke", "--device", "cpu", "--out", str(out),
                 "--notebooks-dir", str(notebooks_dir)]) == 2
    assert f"notebooks_dir='{notebooks_dir}'" in capsys.readouterr().err
    assert not out.exists()


def test_a_run_never_writes_over_notebooks_it_did_not_execute_and_reruns_into_its_own_folder(three_notebooks,
                                                                                              tmp_path, capsys):
    """Before, `notebooks --out notebooks` wrote executed copies over the course's paired notebooks, and `--out
    build/student` over a student's answers."""
    from course_lib.kit.runner import sync_notebooks

    sync_notebooks(three_notebooks)  # the course's paired .ipynb beside each .py
    saved = {path: path.read_bytes() for path in three_notebooks.iterdir()}
    with pytest.raises(ValueError, match=r"holds \['02_last.ipynb'\], which are not notebooks a run executed"):
        run_notebooks(three_notebooks, profile="smoke", device="cpu", notebooks_dir=three_notebooks,
                      names=["02_last"], progress=False)
    assert main(["notebooks", "--profile", "smoke", "--device", "cpu", "--out", str(three_notebooks),
                 "--notebooks-dir", str(three_notebooks)]) == 2
    assert "which are not notebooks a run executed" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in three_notebooks.iterdir()} == saved
    out = tmp_path / "reports"
    for _ in range(2):  # a folder of executed notebooks is the runner's own: it runs into it again
        (result,) = run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks,
                                  names=["02_last"], progress=False)
        assert result.status == "ok"


needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")


@needs_chromium
def test_the_site_opens_in_chromium_with_every_link_and_image(three_notebooks, tmp_path):
    out = tmp_path / "site"
    run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks, progress=False)
    report = check_site(out / "index.html", screenshot=tmp_path / "index.png")
    assert {Path(page).name for page in report.pages} == {"index.html", "00_first.html", "01_broken.html",
                                                          "02_last.html"}
    assert report.missing == [] and report.broken_images == {}
    assert report.pages[str(out / "00_first.html")]["images"] >= 1  # the embedded figure loaded
    screenshot = (tmp_path / "index.png").read_bytes()
    assert screenshot.startswith(b"\x89PNG") and len(screenshot) > 5000


@needs_chromium
def test_check_site_reports_dead_links_and_broken_images(tmp_path):
    (tmp_path / "index.html").write_text('<a href="page.html">p</a> <a href="gone.html">g</a>'
                                         '<img src="data:image/png;base64,AAAA">')
    (tmp_path / "page.html").write_text('<img src="missing.png">')
    report = check_site(tmp_path / "index.html")
    assert report.missing == [str(tmp_path / "gone.html")]
    assert set(report.broken_images) == {str(tmp_path / "index.html"), str(tmp_path / "page.html")}
    with pytest.raises(ValueError, match="does not exist"):
        check_site(tmp_path / "nothing.html")


def test_the_index_opens_with_the_profile_the_device_and_the_total_time():
    results = [runner.NotebookResult("00_a", "A", {"profile": "lecture", "device": "cuda:0", "seed": 0}, "ok", 30.5,
                                     html="00_a.html"),
               runner.NotebookResult("01_b", "B", {"profile": "lecture", "device": "cuda:0", "seed": 0}, "ok", 95.0)]
    page = runner.render_index_html(results, {"profile": "lecture", "device": "cuda:0", "seed": 0})
    text = re.sub(r"<[^>]+>", "", page)
    headline = re.search(r'<p class="run">(.*?)</p>', page).group(1)
    assert re.sub(r"<[^>]+>", "", headline) == "profile lecture on device cuda:0 · total time 2 min 06 s"
    assert page.index('class="run"') < page.index("<table>")  # on top, before the notebooks
    assert "30.5 s" in text and "1 min 35 s" in text  # each notebook's own time
    assert "total, 2 notebooks2 min 06 s" in text  # and a total row under them


def test_index_json_records_the_total_time(three_notebooks, tmp_path):
    out = tmp_path / "reports"
    results = run_notebooks(out, profile="smoke", device="cpu", notebooks_dir=three_notebooks, names=["02_last"],
                            progress=False)
    run = json.loads((out / "index.json").read_text())["run"]
    assert run["total_s"] == results[0].duration_s and run["profile"] == "smoke" and run["device"] == "cpu"
    assert "profile <strong>smoke</strong> on device <strong>cpu</strong>" in (out / "index.html").read_text()


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets: POSIX only (TCP elsewhere)")
def test_kernels_talk_through_private_unix_sockets_not_localhost_tcp(tmp_path, capfd):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder, "00_transport", "# %%\nfrom ipykernel.kernelapp import IPKernelApp\n"
                   "app = IPKernelApp.instance()\nprint(app.transport, app.ip)\n")
    (result,) = run_notebooks(tmp_path / "r", profile="smoke", device="cpu", notebooks_dir=folder, progress=False)
    assert result.status == "ok", result.error
    executed = nbformat.read(tmp_path / "r" / "00_transport.ipynb", as_version=4)
    transport, ip = executed.cells[-1].outputs[0]["text"].split()
    assert transport == "ipc" and Path(ip).name == "kernel" and not Path(ip).parent.exists()  # removed after the run
    assert "without encryption" not in capfd.readouterr().err
