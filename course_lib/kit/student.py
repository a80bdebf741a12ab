"""The student build: every notebook with its worked answers replaced by a prompt.

An exercise is a Markdown statement (a `### Exercise N` heading or a bold `**Exercise N`) followed by
its answer: every cell up to the next heading — code, and the Markdown that explains the result —
tagged `solution`. The student build keeps every other cell as it is and turns each run of solution
cells into one code cell tagged `exercise` that holds only `EXERCISE_PROMPT`; nothing carries
outputs. Up to its first exercise a student notebook is therefore the instructor's notebook, cell for
cell. A notebook with an untagged cell in an answer is refused: it would give that answer away.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import jupytext
import nbformat

from course_lib.io import write_text_atomic
from course_lib.kit.runner import NOTEBOOKS_DIR, discover_notebooks

SOLUTION_TAG, EXERCISE_TAG = "solution", "exercise"
EXERCISE_PROMPT = ("# Your turn: solve the exercise above here (add Markdown cells for answers in words).\n"
                   "# (The instructor build has a worked solution.)")
EXERCISE_STATEMENT = re.compile(r"^(#+ Exercise \d+|\*\*Exercise \d+)", re.MULTILINE)
STUDENT_DIR = Path("build") / "student"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def opens_section(cell) -> bool:
    """Whether `cell` ends the answer before it: an untagged Markdown heading or `**Exercise` statement."""
    return (cell.cell_type == "markdown" and not is_solution(cell)
            and cell.source.lstrip().startswith(("#", "**Exercise")))


def exercises(cells) -> list[tuple[int, range]]:
    """Each exercise as (the index of its statement, the indices of its answer, up to the next heading)."""
    found = []
    for i, cell in enumerate(cells):
        if opens_section(cell) and EXERCISE_STATEMENT.search(cell.source):
            end = next((j for j in range(i + 1, len(cells)) if opens_section(cells[j])), len(cells))
            found.append((i, range(i + 1, end)))
    return found


def student_notebook(source_py: Path) -> nbformat.NotebookNode:
    """The notebook of `source_py` with each run of solution cells replaced by one exercise prompt."""
    notebook = jupytext.read(source_py)
    for statement, answer in exercises(notebook.cells):
        untagged = [j for j in answer if not is_solution(notebook.cells[j])]
        if untagged:
            raise ValueError(f"{source_py}: cells {untagged} answer the exercise of cell {statement} but are not "
                             f"tagged {SOLUTION_TAG!r}; tag them or the student build gives the answer away")
    cells = []
    for solution, run in itertools.groupby(notebook.cells, key=is_solution):
        cells += [nbformat.v4.new_code_cell(EXERCISE_PROMPT, metadata={"tags": [EXERCISE_TAG]})] if solution else run
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number:03d}"
    notebook.cells = cells
    notebook.metadata.pop("jupytext", None)  # a plain .ipynb: the student edits it directly
    return notebook


def build_student(out_dir=STUDENT_DIR, notebooks_dir=NOTEBOOKS_DIR) -> list[Path]:
    """Write the student version of every notebook to `out_dir` (atomically); return the paths.

    Every notebook is converted before any is written, so a refused notebook leaves `out_dir` as it was.
    """
    sources = discover_notebooks(notebooks_dir)
    if not sources:
        raise ValueError(f"notebooks_dir={str(notebooks_dir)!r} holds no notebooks (NN_topic.py)")
    notebooks = [student_notebook(source) for source in sources]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source, notebook in zip(sources, notebooks):
        target = out_dir / f"{source.stem}.ipynb"
        write_text_atomic(target, nbformat.writes(notebook))
        written.append(target)
    return written
