"""Every notebook: paired with its .ipynb, committed without outputs, parameterised, and it runs.

The execution tests use the profile in $COURSE_PROFILE (`make test` sets smoke) and default to smoke.
"""
import ast
import os
import subprocess
import sys

import nbformat
import pytest
from papermill.translators import PythonTranslator

from course_lib.kit.runner import NOTEBOOKS_DIR, discover_notebooks, ipynb_text, run_notebooks, sync_notebooks

NOTEBOOKS = discover_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def tagged(notebook, tag):
    return [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_the_course_has_notebooks():
    assert "00_disentanglement" in IDS


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_ipynb_is_in_sync_with_its_py_source(source):
    paired = source.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} is missing: run `make sync`"
    assert paired.read_text() == ipynb_text(source), f"{paired.name} differs from {source.name}: run `make sync`"


def test_sync_never_loses_edits_made_in_a_notebook_and_regenerates_everything_else(tmp_path):
    """Before, `make sync` wrote every .ipynb over from its .py, also one edited in an editor without jupytext."""
    for stem, question in (("00_toy", "What is 6 x 7?"), ("01_other", "What is 2 + 2?")):
        (tmp_path / f"{stem}.py").write_text(f"# %% [markdown]\n# {question}\n\n# %%\nprint(1)\n")
    edited, other = tmp_path / "00_toy.ipynb", tmp_path / "01_other.ipynb"
    assert sync_notebooks(tmp_path) == [edited, other]
    notebook = nbformat.read(edited, as_version=4)
    notebook.cells[1].source = "print(42)  # my edit"
    nbformat.write(notebook, edited)
    os.utime(tmp_path / "00_toy.py", (1, 1))  # the notebook was saved after its .py
    (tmp_path / "01_other.py").write_text((tmp_path / "01_other.py").read_text().replace("2 + 2", "3 + 3"))
    saved = edited.read_bytes(), other.read_bytes()
    with pytest.raises(ValueError, match=r"00_toy\.ipynb hold cells their \.py lacks.*jupytext --sync"):
        sync_notebooks(tmp_path)
    assert (edited.read_bytes(), other.read_bytes()) == saved  # nothing written, not even the other notebook
    notebook.cells[1].source = "print(1)"  # the same cells as the .py, with outputs: not an edit
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nbformat.write(notebook, edited)
    assert sync_notebooks(tmp_path) == [edited, other]
    assert edited.read_text() == ipynb_text(tmp_path / "00_toy.py") and "3 + 3" in other.read_text()
    notebook.cells[1].source = "print(42)  # my edit"
    nbformat.write(notebook, edited)
    os.utime(edited, (1, 1))  # the .py was saved after the notebook: the .py is the newer text
    assert sync_notebooks(tmp_path) == [edited]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_ipynb_carries_no_outputs(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_parameters_cell_and_exercises(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    (parameters,) = tagged(notebook, "parameters")
    for name in ("profile", "device", "seed"):
        assert f"{name} =" in parameters.source
    assert len(tagged(notebook, "solution")) >= 2, "each notebook has at least two exercises with solutions"
    assigned = [node.targets[0].id for node in ast.parse(parameters.source).body if isinstance(node, ast.Assign)]
    inspected = [parameter.name for parameter in PythonTranslator.inspect(parameters)]
    assert inspected == assigned, ("papermill must read every parameter "
                                   "(a second `=` on a line, even in its comment, hides it)")


@pytest.mark.notebook
@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_notebook_executes(source, tmp_path):
    profile = os.environ.get("COURSE_PROFILE", "smoke")
    (result,) = run_notebooks(tmp_path, profile=profile, device="auto", names=[source.stem], progress=False)
    assert result.status == "ok", f"{result.error} in cell [{result.failing_cell}]:\n{result.failing_source}"
    assert "data:image/png;base64" in (tmp_path / result.html).read_text()


@pytest.mark.notebook
def test_pytest_nbmake_runs_a_notebook_at_the_profile_of_the_environment():
    """`COURSE_PROFILE=smoke pytest --nbmake notebooks/` runs the paired .ipynb files as pytest items."""
    notebook = NOTEBOOKS_DIR / "00_disentanglement.ipynb"
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-q", "-p", "no:cacheprovider", str(notebook)],
                            env={**os.environ, "COURSE_PROFILE": "smoke"}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:]
