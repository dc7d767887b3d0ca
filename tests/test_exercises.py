"""helpers.exercises: the checker every lecture's exercises use, and how lectures 01-06 and 09 use their checkers."""
import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest
import torch

from helpers.exercises import check, matches


def test_unanswered_and_correct(capsys):
    assert not check(None, 3, "think")
    assert capsys.readouterr().out.strip() == "not answered yet"
    assert check(3, 3, "think")
    assert capsys.readouterr().out.strip() == "correct"


def test_wrong_answers_get_the_hint(capsys):
    assert not check([1, 2], [1, 3], "second entry")
    assert capsys.readouterr().out.strip() == "not yet: second entry"
    assert not check("abc", 3, "a number")
    assert not check((32, 16), (32, 10, 1000), "shape")


def test_dicts_count_the_right_entries(capsys):
    expected = {"spam filter": "many-to-one", "translation": "delayed many-to-many"}
    assert not check({"spam filter": "Many-to-one", "translation": "one-to-many"}, expected, "count outputs")
    assert capsys.readouterr().out.strip() == "not yet: 1 of 2 right. count outputs"


def test_numbers_ints_exact_floats_close():
    assert matches(16288, 16288) and not matches(16288.5, 16288)
    assert matches(0.3001, 0.3) and not matches(0.31, 0.3)
    assert matches([[0.3, -0.4]], torch.tensor([[0.3, -0.4]]), tol=1e-6)
    assert not matches(3.0000001, 3.0, tol=1e-9)
    assert matches(True, True) and not matches(1, True)



def test_checker_never_raises_and_reads_numbers_typed_as_text(capsys):
    assert check("12", 12, "h") and not check(16289, 16288, "h")       # counts are exact, text that is a number counts
    assert check([0.1001], [0.1], "h") and check(" Jordan", "jordan", "h")
    assert not check("abc", 12, "h") and not check(object(), [1, 2], "h")
    assert capsys.readouterr().out.split("\n")[:3] == ["correct", "not yet: h", "correct"]

# ---------------------------------------------------------------- the lectures' exercise sections (01-06, 09)

LECTURES = Path(__file__).resolve().parent.parent / "lectures"
NOTEBOOKS = {n: next(LECTURES.glob(f"{n:02d}_*.ipynb")) for n in (*range(1, 7), 9)}  # 07 and 08: test_exercises_07_08


def code_cells(number):
    return [c for c in nbformat.read(NOTEBOOKS[number], as_version=4).cells if c.cell_type == "code"]


def printed(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").strip()


def tagged(number, tag):
    return [c for c in code_cells(number) if tag in c.metadata.get("tags", [])]


@pytest.mark.parametrize("number", NOTEBOOKS)
def test_no_lecture_defines_a_checker(number):
    defined = [node.name for c in code_cells(number) for node in ast.walk(ast.parse(c.source.replace("%", "#")))
               if isinstance(node, ast.FunctionDef) and node.name.startswith("check")]
    assert not defined, f"lecture {number:02d} defines {defined}: checkers go in helpers/exercises/lecture{number:02d}.py"


@pytest.mark.parametrize("number", NOTEBOOKS)
def test_every_exercise_calls_its_checker_from_the_lectures_module(number):
    module = importlib.import_module(f"helpers.exercises.lecture{number:02d}")
    sources = [c.source for c in code_cells(number)]
    assert any(f"from helpers.exercises.lecture{number:02d} import" in s for s in sources)
    exercises = tagged(number, "exercise")
    found = sorted(int(n) for c in exercises for n in re.findall(r"^answer_(\d+) = None\b", c.source, flags=re.M))
    assert found == list(range(1, len(found) + 1)) and len(found) >= 6, f"exercise cells answer_N = None: {found}"
    for n in found:
        checker = getattr(module, f"check_exercise_{n}")
        assert checker.__doc__.startswith(f"Lecture {number:02d}, exercise {n}"), checker.__doc__
        assert any(re.search(rf"\bcheck_exercise_{n}\(answer_{n}\b", c.source) for c in exercises)
    assert not hasattr(module, f"check_exercise_{len(found) + 1}"), "a checker without an exercise cell"


@pytest.mark.parametrize("number", NOTEBOOKS)
def test_stored_exercises_are_unanswered_and_solutions_solve_them(number):
    assert all(printed(c).splitlines()[-1] == "not answered yet" for c in tagged(number, "exercise"))
    solutions = tagged(number, "solution")
    assert solutions and all(c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions), "collapsed"
    checked = [line for c in solutions if "deliberate-wrong-answer" not in c.metadata["tags"]
               for line in printed(c).splitlines() if line in ("correct",) or line.startswith("not ")]
    assert checked.count("correct") == len(tagged(number, "exercise")) and set(checked) == {"correct"}


@pytest.mark.parametrize("number", NOTEBOOKS)
def test_a_deliberate_wrong_answer_is_labelled_on_the_line_it_fails(number):
    (cell,) = tagged(number, "deliberate-wrong-answer")
    (line,) = printed(cell).splitlines()
    label, verdict = line.split(": ", 1)
    assert "deliberately wrong" in label and verdict.startswith("not yet: ")
