"""The student build: every notebook with its worked answers replaced by a prompt.

An exercise is a Markdown statement (a `### Exercise N` heading or a bold `**Exercise N`) followed by
its answer: every cell up to the next heading — code, and the Markdown that explains the result —
tagged `solution`. The student build keeps every other cell as it is and turns each run of solution
cells into one code cell tagged `exercise` that holds only `EXERCISE_PROMPT`; nothing carries
outputs. Up to its first exercise a student notebook is therefore the instructor's notebook, cell for
cell. A notebook with an untagged cell in an answer is refused: it would give that answer away.

Students work in the build, so building again never overwrites their work: `BUILD_RECORD` keeps the SHA-256 of
what the kit last wrote to each file, and a notebook that differs from it (and from the new build) is the
student's. It is kept as it is; where the course changed it, the new version goes beside it
(`<stem>.updated.ipynb`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from pathlib import Path

import jupytext
import nbformat

from course_lib.io import directory_lock, sha256_of_file, write_json_atomic, write_text_atomic
from course_lib.kit.runner import NOTEBOOKS_DIR, discover_notebooks

SOLUTION_TAG, EXERCISE_TAG = "solution", "exercise"
EXERCISE_PROMPT = ("# Your turn: solve the exercise above here (add Markdown cells for answers in words).\n"
                   "# (The instructor build has a worked solution.)")
EXERCISE_STATEMENT = re.compile(r"^(#+ Exercise \d+|\*\*Exercise \d+)", re.MULTILINE)
STUDENT_DIR = Path("build") / "student"
BUILD_RECORD = ".kit-build.json"  # {file name: SHA-256 of the text the kit last wrote to it}
UPDATED_SUFFIX = ".updated.ipynb"  # the new version of a notebook the student changed


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


@dataclasses.dataclass
class StudentBuild:
    """What `build_student` did: the notebooks it wrote, and each one it kept because the student changed it while
    the course changed it too, with where the course's new version went instead (None: nowhere, because the student
    changed that file too)."""
    written: list[Path]
    kept: list[tuple[Path, Path | None]]


def _read_build_record(path: Path) -> dict[str, str]:
    """The record of what the kit last wrote, or {} (none, or unreadable: then every file that differs from the new
    build counts as the student's, which loses nothing)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def build_student(out_dir=STUDENT_DIR, notebooks_dir=NOTEBOOKS_DIR) -> StudentBuild:
    """Write the student version of every notebook to `out_dir` (atomically), never over a student's work.

    A file the kit may replace is missing, holds what the kit last wrote there (`BUILD_RECORD`), or holds the new
    text already; any other `<stem>.ipynb` is the student's and is kept, and when the new build differs from the one
    the student started from it is written to `<stem>.updated.ipynb` (if that file is the kit's to replace).
    Every notebook is converted before any is written, so a refused notebook leaves `out_dir` as it was.
    """
    sources = discover_notebooks(notebooks_dir)
    if not sources:
        raise ValueError(f"notebooks_dir={str(notebooks_dir)!r} holds no notebooks (NN_topic.py)")
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(notebooks_dir).resolve():
        raise ValueError(f"out_dir='{out_dir}' is the notebooks' own folder; the student build goes beside it "
                         f"(default: {STUDENT_DIR})")
    texts = [nbformat.writes(student_notebook(source)) for source in sources]
    build = StudentBuild(written=[], kept=[])
    with directory_lock(out_dir, "student build"):
        record = _read_build_record(out_dir / BUILD_RECORD)

        def replaceable(path: Path, digest: str) -> bool:
            return not path.exists() or sha256_of_file(path) in (record.get(path.name), digest)

        def write(path: Path, text: str, digest: str) -> None:
            write_text_atomic(path, text)
            record[path.name] = digest

        for source, text in zip(sources, texts):
            digest = hashlib.sha256(text.encode()).hexdigest()
            target, updated = out_dir / f"{source.stem}.ipynb", out_dir / f"{source.stem}{UPDATED_SUFFIX}"
            if replaceable(target, digest):
                write(target, text, digest)
                build.written.append(target)
            elif record.get(target.name) != digest:  # the student's, and the course changed since their copy
                if replaceable(updated, digest):
                    write(updated, text, digest)
                    build.kept.append((target, updated))
                elif record.get(updated.name) != digest:  # the student's too: this version has nowhere to go
                    build.kept.append((target, None))
        write_json_atomic(out_dir / BUILD_RECORD, record)
    return build
