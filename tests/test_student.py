"""The student build: no worked answer (code or prose), the instructor's cells otherwise, and it runs."""
import re

import nbformat
import papermill
import pytest

from course_lib.kit.runner import KERNEL_NAME, discover_notebooks
from course_lib.kit.student import (EXERCISE_PROMPT, EXERCISE_STATEMENT, EXERCISE_TAG, build_student, exercises,
                                    is_solution, student_notebook)

NOTEBOOKS = discover_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
# Answers in prose that an earlier student build handed out (issue 18).
KNOWN_LEAKS = {"01_vae": "The Monte Carlo averages agree with the formula",
               "02_beta_vae": r"*Proof.* Model $i$ minimises $D + \beta_i R$ over the curve"}
TOY_NOTEBOOK = """# %% [markdown]
# ### Exercise 1
#
# What is 6 x 7?

# %% tags=["solution"]
print(6 * 7)

# %% [markdown]
# It is 42, the answer to everything.
"""


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert [p.name for p in build_student(out)] == [f"{stem}.ipynb" for stem in IDS]
    return out


def instructor_cells(source):
    return nbformat.read(source.with_suffix(".ipynb"), as_version=4).cells


def is_prompt(cell) -> bool:
    return EXERCISE_TAG in cell.metadata.get("tags", [])


def first_exercise(cells) -> int:
    return next(i for i, cell in enumerate(cells) if is_prompt(cell))


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_every_exercise_is_answered_in_solution_cells_only(source):
    cells = instructor_cells(source)
    found = exercises(cells)
    statements = re.findall(r"^# (?:#+ |\*\*)Exercise (\d+)", source.read_text(), re.MULTILINE)
    numbers = [int(re.search(r"\d+", EXERCISE_STATEMENT.search(cells[i].source).group()).group()) for i, _ in found]
    assert numbers == [int(n) for n in statements] == list(range(1, len(found) + 1)) and len(found) >= 2
    for statement, answer in found:
        assert len(answer) >= 1, f"Exercise in cell {statement} has no worked answer"
        untagged = [cells[j].source[:80] for j in answer if not is_solution(cells[j])]
        assert untagged == [], f"answer to the exercise in cell {statement} not tagged solution: {untagged}"
    # and nothing but the answers is tagged, so the student build keeps all of the lecture
    assert {i for i, cell in enumerate(cells) if is_solution(cell)} == {j for _, answer in found for j in answer}


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_student_notebook_has_one_prompt_per_exercise_and_keeps_everything_else(source, student_dir):
    theirs = instructor_cells(source)
    student = nbformat.read(student_dir / f"{source.stem}.ipynb", as_version=4)
    nbformat.validate(student)
    expected = []  # the instructor's sources, each run of solution cells as one prompt (None)
    for cell in theirs:
        if not is_solution(cell):
            expected.append(cell.source)
        elif expected[-1] is not None:
            expected.append(None)
    assert [None if is_prompt(cell) else cell.source for cell in student.cells] == expected
    prompts = [cell for cell in student.cells if is_prompt(cell)]
    assert len(prompts) == len(exercises(theirs))
    assert all(cell.cell_type == "code" and cell.source == EXERCISE_PROMPT for cell in prompts)
    assert all(cell.get("outputs", []) == [] and not is_solution(cell) for cell in student.cells)
    # so up to its first exercise a student notebook runs as the instructor's does (test_notebooks)
    assert first_exercise(student.cells) == next(i for i, c in enumerate(theirs) if is_solution(c))


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_no_line_of_a_worked_answer_reaches_the_student_build(source, student_dir):
    theirs = instructor_cells(source)
    student_text = "\n".join(cell.source for cell in
                             nbformat.read(student_dir / f"{source.stem}.ipynb", as_version=4).cells)
    shared_text = "\n".join(cell.source for cell in theirs if not is_solution(cell))
    for cell in filter(is_solution, theirs):
        own = [line.strip() for line in cell.source.splitlines() if len(line.strip()) > 20]
        own = [line for line in own if line not in shared_text]
        assert own, f"a solution cell with no text of its own: {cell.source[:80]!r}"
        leaked = [line for line in own if line in student_text]
        assert leaked == [], f"a worked answer in the student build: {leaked[:3]}"


@pytest.mark.parametrize("stem, answer", KNOWN_LEAKS.items(), ids=list(KNOWN_LEAKS))
def test_the_answers_issue_18_found_in_the_student_build_are_withheld(stem, answer, student_dir):
    (source,) = [p for p in NOTEBOOKS if p.stem == stem]
    assert any(answer in cell.source for cell in instructor_cells(source))
    student = nbformat.read(student_dir / f"{stem}.ipynb", as_version=4)
    assert not any(answer in cell.source for cell in student.cells)


def test_build_student_refuses_an_answer_left_untagged(tmp_path):
    source = tmp_path / "00_toy.py"
    source.write_text(TOY_NOTEBOOK)
    with pytest.raises(ValueError, match=r"cells \[2\] answer the exercise of cell 0"):
        build_student(tmp_path / "out", notebooks_dir=tmp_path)
    assert not (tmp_path / "out").exists()
    source.write_text(TOY_NOTEBOOK.replace("# %% [markdown]\n# It is", '# %% [markdown] tags=["solution"]\n# It is'))
    (written,) = build_student(tmp_path / "out", notebooks_dir=tmp_path)
    student = nbformat.read(written, as_version=4)
    assert [cell.source for cell in student.cells] == ["### Exercise 1\n\nWhat is 6 x 7?", EXERCISE_PROMPT]


def test_a_student_notebook_executes_up_to_its_first_exercise(student_dir, tmp_path):
    student = nbformat.read(student_dir / "00_disentanglement.ipynb", as_version=4)
    student.cells = student.cells[:first_exercise(student.cells) + 1]  # the prompt itself runs too
    executed = papermill.execute_notebook(student, str(tmp_path / "out.ipynb"), parameters={"profile": "smoke"},
                                          kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS[0].parent), progress_bar=False)
    assert all(cell.get("outputs") is not None for cell in executed.cells if cell.cell_type == "code")


def test_build_student_rejects_a_folder_without_notebooks(tmp_path):
    with pytest.raises(ValueError, match="holds no notebooks"):
        build_student(tmp_path / "out", notebooks_dir=tmp_path)
    assert student_notebook(NOTEBOOKS[0]).metadata.get("jupytext") is None
