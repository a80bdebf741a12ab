"""The student build: every notebook with its solution cells replaced by a prompt.

Each exercise in a notebook is a Markdown statement followed by one or more code cells tagged
`solution`. The student build keeps every other cell as it is and turns each solution cell into a
code cell tagged `exercise` that holds only `EXERCISE_PROMPT`; nothing carries outputs. Up to its
first exercise a student notebook is therefore the instructor's notebook, cell for cell.
"""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

from course_lib.io import write_text_atomic
from course_lib.runner import NOTEBOOKS_DIR, discover_notebooks

SOLUTION_TAG, EXERCISE_TAG = "solution", "exercise"
EXERCISE_PROMPT = "# Your turn: write your solution to the exercise above here.\n# (The instructor build has a worked solution.)"
STUDENT_DIR = Path("build") / "student"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(source_py: Path) -> nbformat.NotebookNode:
    """The notebook of `source_py` with each solution cell replaced by an empty exercise cell."""
    notebook = jupytext.read(source_py)
    cells = []
    for number, cell in enumerate(notebook.cells):
        if is_solution(cell):
            cell = nbformat.v4.new_code_cell(EXERCISE_PROMPT, metadata={"tags": [EXERCISE_TAG]})
        cell["id"] = f"cell-{number:03d}"
        cells.append(cell)
    notebook.cells = cells
    notebook.metadata.pop("jupytext", None)  # a plain .ipynb: the student edits it directly
    return notebook


def build_student(out_dir=STUDENT_DIR, notebooks_dir=NOTEBOOKS_DIR) -> list[Path]:
    """Write the student version of every notebook to `out_dir` (atomically); return the paths."""
    sources = discover_notebooks(notebooks_dir)
    if not sources:
        raise ValueError(f"notebooks_dir={str(notebooks_dir)!r} holds no notebooks (NN_topic.py)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        target = out_dir / f"{source.stem}.ipynb"
        write_text_atomic(target, nbformat.writes(student_notebook(source)))
        written.append(target)
    return written
