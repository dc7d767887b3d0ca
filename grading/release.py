"""release: generate the student version of an assignment, after checking that its grading is complete.

Before nbgrader writes the release: the source notebook holds no hidden tests (they belong in the
lab's ``checks.py``, which the grader runs and students never get), and every autograded test cell
has hidden checks whose points add up to the cell's. After: no solution marker reached the release.
"""
from __future__ import annotations

import shutil

import nbformat

from grading.course import SOLUTION_MARKERS, Course, GradingError, notebooks_in

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def lint(course: Course, assignment: str) -> list[str]:
    """What stops an assignment's source from being graded fairly (empty when nothing does)."""
    from grading.spec import load_checks, points_by_cell

    source = course.source(assignment)
    cells = {}
    problems = []
    for path in notebooks_in(source):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if any(m in cell.source for m in HIDDEN):
                problems.append(f"{path.name}: cell {meta.get('grade_id', '?')} has hidden tests; hidden checks belong "
                                "in checks.py beside the notebook, where the grader runs them (docs/grading.md)")
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                cells[meta["grade_id"]] = float(meta.get("points", 0))
    if not cells:
        return problems
    checks_path = source / "checks.py"
    if not checks_path.is_file():
        return problems + [f"{assignment} has autograded cells but no checks.py: nothing could earn their points"]
    try:
        have = points_by_cell(load_checks(checks_path))
    except Exception as err:  # noqa: BLE001 - any error in the instructor's checks.py
        return problems + [f"checks.py does not load: {type(err).__name__}: {err}"]
    for cell, points in cells.items():
        if abs(have.get(cell, 0.0) - points) > 1e-9:
            problems.append(f"test cell {cell} is worth {points:g} points, its checks in checks.py {have.get(cell, 0):g}")
    problems += [f"checks.py has checks for {cell}, which is not an autograded test cell" for cell in set(have) - set(cells)]
    return problems


def release(course: Course, assignment: str, args) -> int:
    source = course.source(assignment)
    if not notebooks_in(source):
        raise GradingError(f"No notebook in {source}: the source of an assignment lives in solutions/<assignment>/.")
    problems = lint(course, assignment)
    if problems:
        raise GradingError(f"{assignment} cannot be released yet:\n  - " + "\n  - ".join(problems))
    code, log = course.nbgrader("generate_assignment", assignment, "--force")
    if code != 0:
        print(log[-3000:])
        raise GradingError(f"nbgrader generate_assignment failed for {assignment} (log above).")
    target = course.release(assignment)
    shutil.rmtree(target / "checkpoints", ignore_errors=True)  # the config's hook does this too
    leaks = [f"{nb.name}: {m}" for nb in notebooks_in(target) for m in SOLUTION_MARKERS if m in nb.read_text()]
    if leaks:
        raise GradingError("The release still contains solution markers: " + "; ".join(leaks))
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    print(f"Released {assignment} to {target.relative_to(course.root)}/: {', '.join(files)}")
    print("The gradebook now knows its test cells. Commit assignments/ and hand the folder to students.")
    return 0
