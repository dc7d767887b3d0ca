"""A 3-point assignment (add: 2 points, mul: 1) with its hidden checks, for the grading tests that need a fast one."""
import nbformat

ASSIGNMENT = "mini"
RIGHT = ("def add(a, b):\n    return a + b", "def mul(a, b):\n    return a * b")
POINTS = {"test_add": 2, "test_mul": 1}

# The grader's hidden checks (solutions/mini/checks.py): random integers per submission, exact answers.
CHECKS = '''
from grading.spec import Check, equal, value


def draw_pairs(ctx):
    r = ctx.random
    return {"pairs": [[r.randint(-1000, 1000), r.randint(-1000, 1000)] for _ in range(6)]}


def ask_add(nb, inputs):
    return [attempt(nb.add, a, b) for a, b in inputs["pairs"]]


def ask_mul(nb, inputs):
    return [attempt(nb.mul, a, b) for a, b in inputs["pairs"]]


def judge_add(inputs, answer, ctx):
    for (a, b), got in zip(inputs["pairs"], value(answer, "add")):
        equal(got, a + b, f"add({a}, {b})")


def judge_mul(inputs, answer, ctx):
    for (a, b), got in zip(inputs["pairs"], value(answer, "mul")):
        equal(got, a * b, f"mul({a}, {b})")


CHECKS = [
    Check("test_add", "add on random integers", 2, judge_add, draw_pairs, ask_add),
    Check("test_mul", "mul on random integers", 1, judge_mul, draw_pairs, ask_mul),
]
'''


def _cell(kind: str, source: str, grade_id: str | None = None, points: int | None = None, solution=False):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        meta = {"grade_id": grade_id, "schema_version": 3, "task": False,
                "solution": solution, "grade": points is not None, "locked": not solution}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def source_notebook(title: str = "Mini assignment") -> nbformat.NotebookNode:
    """The instructor's version, with solutions; the hidden checks are CHECKS."""
    nb = nbformat.v4.new_notebook(cells=[
        _cell("markdown", f"# {title} (3 points)"),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
              "add", solution=True),
        _cell("code", "assert add(1, 2) == 3", "test_add", points=2),
        _cell("code", "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
              "mul", solution=True),
        _cell("code", "assert mul(2, 3) == 6", "test_mul", points=1),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def fill_answers(nb: nbformat.NotebookNode, add: str, mul: str) -> nbformat.NotebookNode:
    """A student's copy: the two answer cells replaced by ``add`` and ``mul`` (in place; returns ``nb``)."""
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ("add", "mul"):
            cell.source = add if gid == "add" else mul
    return nb
