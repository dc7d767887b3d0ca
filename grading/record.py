"""Write executed notebooks into the course and their grades into the gradebook: the one writer.

Workers (:mod:`grading.execute`) send back each student's executed notebook. This module stages
them beside a copy of the student's submitted files and runs ONE real ``nbgrader autograde`` over
the batch with execution switched off (``--Execute.enabled=False``) and the outputs kept
(``--ClearOutput.enabled=False``): nbgrader restores the test cells, scores the outputs, writes
``autograded/<student>/<assignment>/`` and records grades and comments exactly as in a serial
run, without running any student code. One process writes, so SQLite never reports "database is
locked"; a PostgreSQL gradebook (``--db postgresql://...``) is written the same way.

Only notebooks that a grading worker executed are staged: a submission that could not be graded
is never scored from the outputs the student saved in it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable

from grading.course import Course
from grading.execute import Executed, failure_reason
from grading.inert import make_file_inert

STAGING = ".staging"  # autograded/.staging-<pid>/<student>/<assignment>/: the batch being recorded


@contextlib.contextmanager
def gradebook_lock(course: Course):
    """Hold the gradebook for writing: two grading runs on one SQLite file take turns (PostgreSQL needs no lock)."""
    if not course.db.startswith("sqlite:///"):
        yield
        return
    lock = Path(course.db[len("sqlite:///"):] + ".lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


Files = Callable[[str], dict[str, bytes]]  # student -> the submitted files, as data


def stage(course: Course, assignment: str, results: list[Executed], files: Files) -> Path:
    """Write each student's submitted files with the executed notebooks in place of the submitted ones."""
    from grading.intake import Intake, write_submission

    root = course.root / "autograded" / f"{STAGING}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    for r in results:
        intake = Intake(files=dict(files(r.student)))
        for name, text in r.notebooks.items():
            intake.files[f"{name}.ipynb"] = text.encode("utf-8")
        write_submission(intake, root / r.student / assignment)
    return root


def record(course: Course, assignment: str, results: list[Executed], files: Files, log: Path) -> dict[str, str]:
    """Record a batch of executed submissions; return {student: reason} for any nbgrader could not record."""
    results = [r for r in results if r.status == "graded" and r.notebooks]
    if not results:
        return {}
    root = stage(course, assignment, results, files)
    try:
        with gradebook_lock(course):
            code, text = course.nbgrader(
                "autograde", assignment, "--force",
                f"--CourseDirectory.submitted_directory={root.relative_to(course.root)}",
                # The worker already restored the test cells; doing it again here would drop nbgrader's
                # "this cell was missing" note from cells it put back, which a serial run keeps.
                "--Execute.enabled=False", "--ClearOutput.enabled=False", "--OverwriteCells.enabled=False",
                log=log, echo=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    problems = {}
    for r in results:
        graded = course.root / "autograded" / r.student / assignment
        if not all((graded / f"{nb}.ipynb").is_file() for nb in r.notebooks):
            # No student code ran in this nbgrader process: its log is the grader's own.
            problems[r.student] = "recording the grades failed: " + failure_reason(text)
    for r in results:  # formgrader renders these in the instructor's session: no student script may run there
        for nb in r.notebooks:
            if r.student not in problems:
                make_file_inert(course.root / "autograded" / r.student / assignment / f"{nb}.ipynb")
    flagged = [r for r in results if r.flagged and r.student not in problems]
    if flagged:
        with gradebook_lock(course), course.gradebook() as gb:
            for r in flagged:
                apply_verdict(gb, assignment, r)
    return problems


def apply_verdict(gb, assignment: str, r: Executed) -> None:
    """Zero the tampered parts' autograded scores, mark them for review, and say why in a comment."""
    reason = "FLAGGED for review: " + ("; ".join(r.flag_reasons) or "tampering detected")
    for name in r.notebooks:
        nb = gb.find_notebook(name, assignment)
        manual = {c.name for c in nb.solution_cells}
        sub = gb.find_submission_notebook(name, assignment, r.student)
        for grade in sub.grades:
            if grade.cell.name in manual:
                continue  # written answers are graded by hand anyway
            if r.parts_zeroed and grade.cell.name not in r.parts_zeroed:
                continue
            grade.auto_score = 0.0
            grade.needs_manual_grade = True
        comments = sorted(sub.comments, key=lambda c: _position(r.notebooks[name], c.cell.name))
        if comments:  # feedback shows comments under the answer cells: the first one carries the reason
            first = comments[0]
            first.auto_comment = reason if not first.auto_comment else f"{reason}\n{first.auto_comment}"
    gb.db.commit()


def _position(notebook_json: str, grade_id: str) -> int:
    at = notebook_json.find(f'"grade_id": "{grade_id}"')
    return at if at >= 0 else len(notebook_json)


def record_failed(course: Course, assignment: str, student: str) -> None:
    """What nbgrader does for a submission it could not grade: it is in the gradebook, ungraded, with no stale output."""
    from nbgrader.utils import parse_utc

    stamp = course.submitted() / student / assignment / "timestamp.txt"
    kwargs = {}
    try:
        if stamp.is_file() and not stamp.is_symlink():
            kwargs["timestamp"] = parse_utc(stamp.read_text()[:100].strip())
    except (OSError, ValueError):
        pass
    with gradebook_lock(course), course.gradebook() as gb:
        gb.update_or_create_submission(assignment, student, **kwargs)
    shutil.rmtree(course.root / "autograded" / student / assignment, ignore_errors=True)
