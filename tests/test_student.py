"""The student build: no solution code, the instructor's cells up to the first exercise, and it runs."""
import nbformat
import papermill
import pytest

from course_lib.runner import KERNEL_NAME, discover_notebooks
from course_lib.student import EXERCISE_PROMPT, EXERCISE_TAG, build_student, is_solution, student_notebook

NOTEBOOKS = discover_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert [p.name for p in build_student(out)] == [f"{stem}.ipynb" for stem in IDS]
    return out


def first_exercise(cells) -> int:
    return next(i for i, cell in enumerate(cells) if EXERCISE_TAG in cell.metadata.get("tags", []))


@pytest.mark.parametrize("source", NOTEBOOKS, ids=IDS)
def test_student_notebook_hides_every_solution_and_keeps_everything_else(source, student_dir):
    instructor = nbformat.reads((source.with_suffix(".ipynb")).read_text(), as_version=4)
    student = nbformat.read(student_dir / f"{source.stem}.ipynb", as_version=4)
    nbformat.validate(student)
    assert len(student.cells) == len(instructor.cells)
    solutions = [cell for cell in instructor.cells if is_solution(cell)]
    assert len(solutions) >= 2
    student_text = "\n".join(cell.source for cell in student.cells)
    shared_text = "\n".join(cell.source for cell in instructor.cells if not is_solution(cell))
    solution_lines = {line.strip() for cell in solutions for line in cell.source.splitlines()}
    leaked = [line for line in solution_lines if len(line) > 20 and line not in shared_text and line in student_text]
    assert leaked == [], f"solution code in the student build: {leaked[:3]}"
    for theirs, ours in zip(instructor.cells, student.cells):
        if is_solution(theirs):
            assert ours.source == EXERCISE_PROMPT and ours.cell_type == "code"
        else:
            assert ours.source == theirs.source  # the instructor's notebook, cell for cell
        assert ours.get("outputs", []) == []
    # so up to its first exercise a student notebook runs as the instructor's does (test_notebooks)
    assert first_exercise(student.cells) == next(i for i, c in enumerate(instructor.cells) if is_solution(c))


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
