"""The student build: no worked answer (code or prose), the instructor's cells otherwise, and it runs."""
import re

import nbformat
import papermill
import pytest

from course_lib.kit.runner import KERNEL_NAME, discover_notebooks
from course_lib.kit.student import (BUILD_RECORD, EXERCISE_PROMPT, EXERCISE_STATEMENT, EXERCISE_TAG, build_student,
                                    exercises, is_solution, student_notebook)

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
    assert [p.name for p in build_student(out).written] == [f"{stem}.ipynb" for stem in IDS]
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
    (written,) = build_student(tmp_path / "out", notebooks_dir=tmp_path).written
    student = nbformat.read(written, as_version=4)
    assert [cell.source for cell in student.cells] == ["### Exercise 1\n\nWhat is 6 x 7?", EXERCISE_PROMPT]


def test_a_student_notebook_executes_up_to_its_first_exercise(student_dir, tmp_path):
    student = nbformat.read(student_dir / "00_disentanglement.ipynb", as_version=4)
    student.cells = student.cells[:first_exercise(student.cells) + 1]  # the prompt itself runs too
    executed = papermill.execute_notebook(student, str(tmp_path / "out.ipynb"), parameters={"profile": "smoke"},
                                          kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS[0].parent), progress_bar=False)
    assert all(cell.get("outputs") is not None for cell in executed.cells if cell.cell_type == "code")


def test_build_student_refuses_to_write_into_the_notebooks_own_folder(course):
    saved = sorted((course / "course").iterdir())
    with pytest.raises(ValueError, match="is the notebooks' own folder"):
        build_student(course / "course" / ".." / "course", notebooks_dir=course / "course")
    assert sorted((course / "course").iterdir()) == saved


def test_build_student_rejects_a_folder_without_notebooks(tmp_path):
    with pytest.raises(ValueError, match="holds no notebooks"):
        build_student(tmp_path / "out", notebooks_dir=tmp_path)
    assert student_notebook(NOTEBOOKS[0]).metadata.get("jupytext") is None


def answered(path, answer: str) -> bytes:
    """A student's work: the prompt of the notebook at `path` replaced by `answer`, saved; the bytes saved."""
    notebook = nbformat.read(path, as_version=4)
    (prompt,) = [cell for cell in notebook.cells if is_prompt(cell)]
    prompt.source = answer
    nbformat.write(notebook, path)
    return path.read_bytes()


@pytest.fixture
def course(tmp_path):
    """A one-notebook course (`tmp_path/course/00_toy.py`) and a student build of it (`tmp_path/student`)."""
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "00_toy.py").write_text(TOY_NOTEBOOK.replace("# %% [markdown]\n# It is",
                                                                        '# %% [markdown] tags=["solution"]\n# It is'))
    build_student(tmp_path / "student", notebooks_dir=tmp_path / "course")
    return tmp_path


def change_the_course(course, question: str) -> None:
    source = course / "course" / "00_toy.py"
    source.write_text(re.sub(r"What is 6 x \d\?", question, source.read_text()))


def test_building_again_never_overwrites_a_students_work_and_puts_the_new_version_beside_it(course):
    """Before, `make exercises` after a course update wrote over every answer a student had typed."""
    student, mine = course / "student" / "00_toy.ipynb", course / "student" / "00_toy.updated.ipynb"
    work = answered(student, "print(42)")
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")  # the course has not changed
    assert (rebuilt.written, rebuilt.kept, student.read_bytes(), mine.exists()) == ([], [], work, False)
    change_the_course(course, "What is 6 x 9?")
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")
    assert (rebuilt.written, rebuilt.kept, student.read_bytes()) == ([], [(student, mine)], work)
    assert "What is 6 x 9?" in nbformat.read(mine, as_version=4).cells[0].source
    mine_too = answered(mine, "print(54)")  # the student works on in the new version
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")
    assert (rebuilt.kept, student.read_bytes(), mine.read_bytes()) == ([], work, mine_too)  # nothing new to say
    change_the_course(course, "What is 6 x 8?")
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")
    assert (rebuilt.kept, student.read_bytes(), mine.read_bytes()) == ([(student, None)], work, mine_too)


def test_building_again_replaces_a_notebook_the_student_left_as_it_was(course):
    student = course / "student" / "00_toy.ipynb"
    change_the_course(course, "What is 6 x 9?")
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")
    assert (rebuilt.written, rebuilt.kept) == ([student], [])
    assert "What is 6 x 9?" in nbformat.read(student, as_version=4).cells[0].source
    assert not (course / "student" / "00_toy.updated.ipynb").exists()


@pytest.mark.parametrize("record", ["missing", "damaged"])
def test_without_a_readable_record_a_notebook_that_differs_from_the_new_build_counts_as_the_students(course, record):
    """A build made before the record existed, or a damaged record: nothing that may be the student's is lost."""
    student = course / "student" / "00_toy.ipynb"
    if record == "missing":
        (course / "student" / BUILD_RECORD).unlink()
    else:
        (course / "student" / BUILD_RECORD).write_text("{not json")
    assert build_student(course / "student", notebooks_dir=course / "course").written == [student]  # as built
    (course / "student" / BUILD_RECORD).unlink()
    work = answered(student, "print(42)")
    rebuilt = build_student(course / "student", notebooks_dir=course / "course")
    assert (rebuilt.written, rebuilt.kept, student.read_bytes()) == ([], [(student, student.with_suffix(
        ".updated.ipynb"))], work)


def test_the_exercises_command_names_each_notebook_it_kept(course, capsys):
    from course_lib.kit.cli import main

    work = answered(course / "student" / "00_toy.ipynb", "print(42)")
    change_the_course(course, "What is 6 x 9?")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("course_lib.kit.student.discover_notebooks", lambda _: [course / "course" / "00_toy.py"])
        assert main(["exercises", "--out", str(course / "student")]) == 0
    out = capsys.readouterr().out
    assert "0 student notebooks written" in out and "kept " in out and "00_toy.updated.ipynb" in out
    assert (course / "student" / "00_toy.ipynb").read_bytes() == work
