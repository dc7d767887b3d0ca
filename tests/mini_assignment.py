"""A 3-point nbgrader source notebook (add: 2 points, mul: 1) for the grading tests that need a fast assignment."""
import nbformat


def _cell(kind: str, source: str, grade_id: str | None = None, points: int | None = None, solution=False):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        meta = {"grade_id": grade_id, "schema_version": 3, "task": False,
                "solution": solution, "grade": points is not None, "locked": not solution}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def source_notebook(title: str) -> nbformat.NotebookNode:
    """The instructor's version, with solutions and hidden tests."""
    return nbformat.v4.new_notebook(cells=[
        _cell("markdown", f"# {title} (3 points)"),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
              "add", solution=True),
        _cell("code", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(10, -3) == 7\n### END HIDDEN TESTS",
              "test_add", points=2),
        _cell("code", "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
              "mul", solution=True),
        _cell("code", "assert mul(2, 3) == 6\n### BEGIN HIDDEN TESTS\nassert mul(-4, 5) == -20\n### END HIDDEN TESTS",
              "test_mul", points=1),
    ])


def fill_answers(nb: nbformat.NotebookNode, add: str, mul: str) -> nbformat.NotebookNode:
    """A student's copy: the two answer cells replaced by ``add`` and ``mul`` (in place; returns ``nb``)."""
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ("add", "mul"):
            cell.source = add if gid == "add" else mul
    return nb
