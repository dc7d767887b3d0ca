"""autograde: grade every submission of an assignment and report, student by student.

A short pipeline, as nbgrader's own steps are:

* **plan**: who is graded (submitted folders, minus those graded before and unchanged failures),
  and the material every task needs (the source, checks, a template gradebook, the secret);
* **grade**: each submission in its own private course, on this machine's workers or a Dask
  cluster (:mod:`grading.parallel`, :mod:`grading.execute`); there the notebook runs in a sandboxed
  kernel and the lab's hidden checks in a sandboxed judge (:mod:`grading.grade_notebook`);
* **record**: one writer puts the graded notebooks and their scores into the gradebook as they
  arrive (:mod:`grading.record`);
* **report**: scores from the gradebook, the grader's notes, and a summary (:mod:`grading.summary`).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading import failures, parallel, roster, sandbox
from grading.course import DEFAULT_COURSE_DIR, Course, GradingError
from grading.execute import Executed, Material, Submission
from grading.inert import strip_control as clean  # student text never reaches a terminal raw
from grading.summary import Outcome, edited_cells, handed_in, scores, summary


@dataclass
class Run:
    """One autograde run: what plan() decided and what the other steps fill in."""

    course: Course
    assignment: str
    students: list[str]
    notebooks: list[str]
    outcomes: dict[str, Outcome]
    todo: list[str]
    log: Path
    sandboxed: bool
    workers: int = 1
    scheduler: str | None = None
    deadline: float = 900.0
    fast: bool = False  # grading in fast mode (COURSE_FAST=1 in the instructor's environment: tests and tries)
    prints: dict[str, str] = field(default_factory=dict)  # fingerprint of what each submission held when read
    results: dict[str, Executed] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # the writer's failures, by student
    seconds: float = 0.0


def add_arguments(parser) -> None:
    """autograde's options for grading a large class (python -m grading autograde --help)."""
    parser.add_argument("--workers", type=int, default=None,
                        help="autograde: submissions graded at once on this machine "
                             "(default: one per CPU, at most one per 2 GB of free memory)")
    parser.add_argument("--scheduler", default=None,
                        help="autograde: grade on a Dask cluster, e.g. tcp://head-node:8786 (see docs/grading-at-scale.md)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="autograde: seconds one submission may take in all before it is stopped and "
                             "reported FAILED (default: the sandbox's wall-clock limit, 900 s)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="autograde: run again the submissions that failed before and were not handed in "
                             "again (by default a rerun reports them FAILED without spending their deadline again)")


# --- plan --------------------------------------------------------------------------------------------------

def _sandboxed(args) -> bool:
    if args.no_sandbox:
        print("!" * 78)
        print("WARNING: --no-sandbox: student code runs with YOUR rights. It can read solutions/,")
        print("the gradebook and other students' work, and change grades. Use only on trusted submissions.")
        print("!" * 78, flush=True)
        return False
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as err:
        raise GradingError(f"Cannot sandbox the kernels: {err}\n"
                           "Grading refuses to run student code unsandboxed; to accept the risk, rerun with --no-sandbox.")
    return True


def _students(course: Course, assignment: str, only: list[str] | None) -> list[str]:
    folder = course.submitted()
    found = sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir()) if folder.is_dir() else []
    if only:
        missing = sorted(set(only) - set(found))
        if missing:
            raise GradingError(f"No submission for {', '.join(missing)} in submitted/<student>/{assignment}/.")
        found = [s for s in found if s in only]
    if not found:
        raise GradingError(f"No submissions in {folder}/<student>/{assignment}/: run `collect` first.")
    return found


def _check_released(course: Course, assignment: str) -> list[str]:
    """The assignment's notebooks as the gradebook knows them; GradingError when it was never released."""
    from nbgrader.api import MissingEntry
    from sqlalchemy.engine import make_url

    try:
        make_url(course.db).get_dialect().import_dbapi()
    except ImportError as err:
        raise GradingError(f"--db {make_url(course.db).render_as_string(hide_password=True)} needs a database driver "
                           f"that is not installed ({err}): pip install -e '.[grading]' (psycopg for PostgreSQL).") from None
    except Exception:  # noqa: BLE001 - an unknown URL: nbgrader's own error says more
        pass
    with course.gradebook() as gb:
        try:
            notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            notebooks = []
    if not notebooks:
        raise GradingError(f"The gradebook {course.db} does not know {assignment!r}: run `release` first "
                           "(it records the master copy of every test cell, which grading restores).")
    return notebooks


def plan(course: Course, assignment: str, args) -> Run:
    from grading.collect import intake_limits
    from grading.record import gradebook_lock

    sandboxed = _sandboxed(args)
    notebooks = _check_released(course, assignment)
    students = _students(course, assignment, args.student)
    with gradebook_lock(course), course.gradebook() as gb:  # every submitted folder is a student, even if grading fails
        roster.record(gb, course, students)
    run = Run(course, assignment, students, notebooks, {s: Outcome(s) for s in students}, [],
              course.log_file("autograde", assignment), sandboxed)
    retry = args.force or getattr(args, "retry_failed", False)
    limits = intake_limits(course)
    for s in students:
        if not args.force and (course.root / "autograded" / s / assignment).is_dir():
            run.outcomes[s].status = "skipped"
            run.outcomes[s].notes.append("already graded; rerun with --force to grade it again")
        elif (earlier := None if retry else failures.earlier(course, assignment, s, limits)):
            # the same files failed before: a rerun would spend the same deadline for the same verdict
            run.outcomes[s].status = "failed"
            run.outcomes[s].notes.append(clean(f"failed before ({earlier.get('when', '?')}): {earlier.get('reason', '?')}; "
                                               "not run again, as the submission is unchanged (--retry-failed runs it)"))
        else:
            run.todo.append(s)
    run.scheduler = getattr(args, "scheduler", None)
    run.workers = getattr(args, "workers", None) or parallel.default_workers()
    if run.workers < 1:
        raise GradingError("--workers must be at least 1.")
    run.workers = min(run.workers, max(1, len(run.todo)))
    run.deadline = getattr(args, "deadline", None) or sandbox.SandboxConfig.from_env().wall_seconds
    run.fast = os.environ.get("COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
    return run


def material(run: Run, args) -> Material:
    from grading import execute
    from grading.secret import load_secret

    try:
        source = execute.read_source(run.course.source(run.assignment))
    except ValueError as err:
        raise GradingError(str(err)) from None
    return Material(
        assignment=run.assignment, course_id=run.course.course_id, source=source, notebooks=run.notebooks,
        config=(run.course.root / "nbgrader_config.py").read_text(),
        gradebook=execute.template_gradebook(run.course.db, run.course.course_id, run.assignment),
        timeout=args.timeout or 0, sandbox=run.sandboxed, deadline=run.deadline, secret=load_secret(), fast=run.fast,
        data=tuple(run.course.lab(run.assignment).data))


# --- grade and record ---------------------------------------------------------------------------------------

def _readable(intake):
    """The submission without a timestamp.txt nbgrader cannot parse (it would stop grading it); notes say so."""
    from nbgrader.utils import parse_utc

    stamp = intake.files.get("timestamp.txt")
    if stamp is not None:
        try:
            parse_utc(stamp.decode("utf-8").strip())
        except (ValueError, UnicodeDecodeError, OverflowError):
            del intake.files["timestamp.txt"]
            intake.notes.append("timestamp.txt is not a time nbgrader can read; graded without a submission time "
                                "(so not counted late)")
    return intake


def grade(run: Run, args) -> None:
    """Grade run.todo on the workers; the one writer records each result as it arrives."""
    from grading.collect import intake_limits
    from grading.execute import prepare_data
    from grading.intake import fingerprint, read_submission
    from grading.record import Writer

    prepare_data(run.course.lab(run.assignment).data)
    task = material(run, args)
    limits = intake_limits(run.course)

    def files(student: str) -> dict[str, bytes]:
        return _readable(read_submission(run.course.submitted() / student / run.assignment, limits)).files

    def submissions():
        for s in run.todo:
            intake = _readable(read_submission(run.course.submitted() / s / run.assignment, limits))
            run.outcomes[s].notes += [clean(n) for n in intake.notes]
            run.prints[s] = fingerprint(intake.files)
            yield Submission(s, intake.files)

    if not run.scheduler and "OMP_NUM_THREADS" not in os.environ:  # the cores, shared out between the kernels
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // run.workers))
    where = "on a Dask cluster" if run.scheduler else (f"{run.workers} at a time" if run.workers > 1 else "one at a time")
    print(f"Autograding {len(run.todo)} submission(s) of {run.assignment} {where}"
          f" ({'sandboxed' if run.sandboxed else 'NOT sandboxed'}{', fast mode' if task.fast else ''}),"
          f" at most {run.deadline:.0f} s each; full log: {run.log.relative_to(run.course.root)}", flush=True)
    run.log.write_text(f"autograde {run.assignment}: {len(run.todo)} submission(s), deadline {run.deadline:.0f} s\n")
    # Each batch pays one nbgrader start-up (~3 s CPU) and ~0.2 s per submission: batch by the run's width.
    writer = Writer(run.course, run.assignment, files, run.log, batch=32 if run.scheduler else max(8, 2 * run.workers))
    writer.start()

    def on_result(r: Executed) -> None:
        run.results[r.student] = r
        state = "graded" if r.status == "graded" else "FAILED"
        print(f"  [{len(run.results)}/{len(run.todo)}] {r.student}: {state} in {r.seconds:.0f} s", flush=True)
        Course.append_log(run.log, f"\n== {r.student}: {r.status} in {r.seconds:.1f} s (CPU {r.cpu_seconds:.1f} s) "
                                   f"on {r.worker} ==\n{clean(r.log)}\n")
        writer.put(r)

    start = time.perf_counter()
    try:
        ran = parallel.run(task, submissions(), on_result, workers=run.workers, scheduler=run.scheduler)
    finally:
        writer.close()
    run.seconds = time.perf_counter() - start
    run.problems = writer.problems
    print(f"  graded {ran}; gradebook written by one process ({run.course.db.split(':', 1)[0].split('+', 1)[0]}).",
          flush=True)


def record(run: Run) -> None:
    """Each graded student's outcome: a failure remembered, or the grader's notes and flags."""
    from grading.record import record_failed

    for s in run.todo:
        r = run.results.get(s) or Executed(s, "failed", reason="no result came back (the run was interrupted)")
        out = run.outcomes[s]
        if r.status == "graded" and s in run.problems:
            r.status, r.reason = "failed", run.problems[s]
        if r.status != "graded":
            out.status, out.notes = "failed", [clean(r.reason)] + out.notes
            record_failed(run.course, run.assignment, s)
            if s in run.results:  # the submission's own verdict; an interrupted run or the writer is no reason to skip it
                failures.remember(run.course, run.assignment, s, run.prints[s], clean(r.reason))
            continue
        failures.record_path(run.course, run.assignment, s).unlink(missing_ok=True)
        out.notes += [clean(n) for n in r.notes]
        if r.flag_reasons:
            out.flag = clean("; ".join(r.flag_reasons))


# --- report ----------------------------------------------------------------------------------------------------

def report(run: Run) -> int:
    lab = run.course.lab(run.assignment)
    for s in run.students:
        out = run.outcomes[s]
        if out.status == "failed":
            continue
        out.auto, out.auto_max, out.manual_pending = scores(run.course, run.assignment, s, run.notebooks)
        if out.status == "graded":
            for nb in run.notebooks:
                out.notes += edited_cells(run.course, run.assignment, s, nb)
            out.notes.append(handed_in(run.course.submitted() / s / run.assignment, lab, run.fast))
    text = summary([run.outcomes[s] for s in run.students], run.assignment, run.seconds)
    print(text)
    Course.append_log(run.log, "\n" + text + "\n")  # the summary also closes the saved log
    failed = [o for o in run.outcomes.values() if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} submission(s) could not be graded and need your attention (listed above as FAILED).")
        return 1
    return 0


def autograde(course: Course, assignment: str, args) -> int:
    run = plan(course, assignment, args)
    if run.todo:
        grade(run, args)
        record(run)
    return report(run)


def main(argv: list[str] | None = None) -> int:
    """``python -m grading.autograde ASSIGNMENT [options]``: this step alone, with all its options."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m grading.autograde", description=__doc__.split("\n")[0])
    parser.add_argument("assignment", help="e.g. sherlock_rnn_vs_gru")
    parser.add_argument("--course-dir", default=str(DEFAULT_COURSE_DIR), help="course root (default: this repository)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///<course-dir>/gradebook.db)")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again what was graded before")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell time limit in seconds")
    parser.add_argument("--no-sandbox", action="store_true", help="run student code WITHOUT isolation (trusted only)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return autograde(Course.from_args(args), args.assignment, args)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
