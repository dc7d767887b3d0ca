"""feedback: one HTML report per graded student, built from the grader's verdicts.

Hidden checks never enter a notebook (they run in the grader's judge), so the autograded notebook
holds nothing to hide: each test cell shows the student's visible tests as they ran and the
grader's message for each hidden check ("make_batches on 997 ids, batch 3, seq_len 10: 32 batches,
expected 33"), never a check's code. Feedback is rendered from a staged copy of each autograded
notebook, made inert once more (grading.inert), one student at a time: a notebook that cannot be
read is reported against that student alone. Only the HTML reaches feedback/ - no checkpoints or
other files of the submission.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from grading.course import Course
from grading.inert import make_inert, strip_control

STAGING = ".feedback-source"  # under the course root: nbgrader's step folders are relative names


def _stage(course: Course, assignment: str) -> tuple[list[str], list[str]]:
    """Copy each student's autograded notebooks, made inert, into STAGING; (staged students, notes)."""
    staging = course.root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    students, notes = [], []
    for folder in sorted((course.root / "autograded").glob(f"*/{assignment}")):
        if folder.is_symlink() or not folder.is_dir():
            continue
        target = staging / folder.parent.name / assignment
        target.mkdir(parents=True)
        try:
            for path in sorted(folder.glob("*.ipynb")):
                if path.is_file() and not path.is_symlink():
                    nbformat.write(make_inert(nbformat.read(path, as_version=4)), target / path.name)
        except Exception as err:  # noqa: BLE001 - reported against this student alone
            shutil.rmtree(target, ignore_errors=True)
            notes.append(f"{folder.parent.name}: the autograded notebook could not be read "
                         f"({type(err).__name__}); grade it again with autograde --force --student")
            continue
        students.append(folder.parent.name)
    return students, notes


def _only_html(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_symlink() or (path.is_file() and path.suffix != ".html"):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def feedback(course: Course, assignment: str, args) -> int:
    graded, notes = _stage(course, assignment)
    for note in notes:
        print("  note: " + strip_control(note))
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
          f"in feedback/<student>/{assignment}/.")
    if missing:
        print("No feedback for: " + ", ".join(missing) + " (see the log above).")
        return 1
    if code != 0:
        print(log[-3000:])
        return 1
    print("Hand them out with `nbgrader release_feedback` (exchange) or upload each HTML to your LMS.")
    return 0
