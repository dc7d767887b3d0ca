"""Write graded notebooks into the course and their grades into the gradebook: the one writer.

Workers (:mod:`grading.execute`) send back each student's graded notebook. This module stages
them beside a copy of the student's submitted files and runs ONE real ``nbgrader autograde`` over
the batch with the grader switched off (``--GradeInSandbox.enabled=False``) and the outputs kept
(``--ClearOutput.enabled=False``): nbgrader scores the verdicts, writes
``autograded/<student>/<assignment>/`` and records grades, comments and flags exactly as in a serial
run, without running any student code. One process writes (:class:`Writer`, while the others are
graded), so SQLite never reports "database is locked"; a PostgreSQL gradebook
(``--db postgresql://...``) is written the same way.

Only notebooks that a grading worker executed are staged: a submission that could not be graded
is never scored from the outputs the student saved in it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from grading.course import Course
from grading.execute import Executed, failure_reason

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
                "--GradeInSandbox.enabled=False", "--ClearOutput.enabled=False", "--OverwriteCells.enabled=False",
                log=log, echo=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    problems = {}
    for r in results:
        graded = course.root / "autograded" / r.student / assignment
        if not all((graded / f"{nb}.ipynb").is_file() for nb in r.notebooks):
            # No student code ran in this nbgrader process: its log is the grader's own.
            problems[r.student] = "recording the grades failed: " + failure_reason(text)
    return problems


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


class Writer(threading.Thread):
    """The one gradebook writer: records executed submissions in batches while the others are graded."""

    def __init__(self, course: Course, assignment: str, files, log: Path, batch: int):
        super().__init__(name="gradebook-writer", daemon=True)
        self.course, self.assignment, self.files, self.log, self.batch = course, assignment, files, log, batch
        self.queue: queue.Queue = queue.Queue()
        self.problems: dict[str, str] = {}

    def run(self) -> None:
        done = False
        while not done:
            batch = [self.queue.get()]
            while batch[-1] is not None and len(batch) < self.batch:  # a full batch, or the end of the run
                batch.append(self.queue.get())
            done = batch[-1] is None
            batch = [r for r in batch if r is not None]
            if not batch:
                continue
            try:
                part = self.log.with_suffix(".record.log")
                start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                self.problems.update(record(self.course, self.assignment, batch, self.files, part))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)  # nbgrader without kernels: all reaped
                cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
                said = part.read_text() if part.is_file() else "(nbgrader's log was removed)\n"
                self.course.append_log(self.log, f"\n== recorded {len(batch)}: {', '.join(r.student for r in batch)} "
                                                 f"in {time.perf_counter() - start:.1f} s (CPU {cpu:.1f} s) ==\n" + said)
                part.unlink(missing_ok=True)
            except Exception as err:  # noqa: BLE001 - reported in the summary, for every student in the batch
                for r in batch:
                    self.problems[r.student] = f"recording the grades failed ({type(err).__name__}: {err})"

    def put(self, result) -> None:
        self.queue.put(result)

    def close(self) -> None:
        self.queue.put(None)
        self.join()
