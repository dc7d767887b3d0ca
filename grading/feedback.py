"""feedback: one HTML report per graded student, with the hidden tests kept hidden.

nbgrader's generate_feedback renders the autograded notebook, whose test cells hold the hidden
tests verbatim (and their tracebacks quote them). Here the feedback is rendered from a staged
copy instead: hidden test regions are cut out of every test cell, a test cell with hidden
tests shows only the name and message of its error (never the traceback, which quotes the
test's code), and every output is made inert (grading.inert). Each test still shows its name,
points and pass/fail; visible tests keep their code and the student's own error. Only the
HTML reaches feedback/ - no checkpoints or other files of the submission.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from grading.course import Course
from grading.inert import make_inert

STAGING = ".feedback-source"  # under the course root: nbgrader's step folders are relative names
HIDDEN_NOTE = "# (hidden tests: not shown in feedback)"


def hide_hidden_tests(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Cut hidden test regions out of test cells and reduce their errors to name and message."""
    from nbgrader.preprocessors import ClearHiddenTests

    clear = ClearHiddenTests()
    for cell in nb.cells:
        if cell.cell_type != "code" or not clear._remove_hidden_test_region(cell):
            continue
        cell.source = (cell.source.rstrip() + "\n" + HIDDEN_NOTE).lstrip()
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                out.traceback = [f"{out.ename}: {out.evalue}"]
                outputs.append(out)
        cell.outputs = outputs  # printed values of a hidden test could give it away too
    return nb


def _stage(course: Course, assignment: str) -> list[str]:
    """Copy each student's autograded notebooks, hidden tests cut and outputs inert, into STAGING."""
    staging = course.root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    students = []
    for folder in sorted((course.root / "autograded").glob(f"*/{assignment}")):
        if folder.is_symlink() or not folder.is_dir():
            continue
        target = staging / folder.parent.name / assignment
        target.mkdir(parents=True)
        for path in sorted(folder.glob("*.ipynb")):
            if path.is_file() and not path.is_symlink():
                nb = nbformat.read(path, as_version=4)
                nbformat.write(make_inert(hide_hidden_tests(nb)), target / path.name)
        students.append(folder.parent.name)
    return students


def _only_html(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_symlink() or (path.is_file() and path.suffix != ".html"):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def feedback(course: Course, assignment: str, args) -> int:
    graded = _stage(course, assignment)
    try:
        code, log = course.nbgrader("generate_feedback", assignment, "--force",
                                    f"--CourseDirectory.autograded_directory={STAGING}",
                                    log=course.log_file("feedback", assignment))
    finally:
        shutil.rmtree(course.root / STAGING, ignore_errors=True)
    for student in graded:
        _only_html(course.root / "feedback" / student / assignment)
    missing = [s for s in graded if not list((course.root / "feedback" / s / assignment).glob("*.html"))]
    print(f"Feedback HTML for {len(graded) - len(missing)} of {len(graded)} graded student(s) "
          f"in feedback/<student>/{assignment}/ (hidden tests not shown).")
    if missing:
        print("No feedback for: " + ", ".join(missing) + " (see the log above).")
        return 1
    if code != 0:
        print(log[-3000:])
        return 1
    print("Hand them out with `nbgrader release_feedback` (exchange) or upload each HTML to your LMS.")
    return 0
