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

from course_lib.kit.runner import NOTEBOOKS_DIR, discover_notebooks, ipynb_text, run_notebooks

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
    assert inspected == assigned, "papermill must read every parameter (a second `=` on a line, even in its comment, hides it)"


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
