"""autograde: run every submission's notebook in a sandboxed kernel and report, student by student."""
from __future__ import annotations

import json
import os
import queue
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading import sandbox
from grading.course import DEFAULT_COURSE_DIR, Course, GradingError
from grading.inert import strip_control as clean  # student text never reaches a terminal raw
from grading.execute import prepare_data

@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | failed | skipped
    auto: float = 0.0
    auto_max: float = 0.0
    manual_pending: int = 0
    notes: list[str] = field(default_factory=list)
    flag: str = ""  # tamper verdict's reason (grading.tamper), shown as FLAGGED for review


def _sandbox_args(course: Course, args) -> list[str]:
    if args.no_sandbox:
        print("!" * 78)
        print("WARNING: --no-sandbox: student code runs with YOUR rights. It can read solutions/,")
        print("the gradebook and other students' work, and change grades. Use only on trusted submissions.")
        print("!" * 78, flush=True)
        return []
    try:
        sandbox.check()
        return list(sandbox.nbgrader_args(course.root))  # may also refuse, e.g. an unwritable kernelspec
    except sandbox.SandboxUnavailable as err:
        raise GradingError(f"Cannot sandbox the kernels: {err}\n"
                           "Grading refuses to run student code unsandboxed; to accept the risk, rerun with --no-sandbox.")


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


def _check_driver(url: str) -> None:
    """A clear error when the gradebook URL needs a database driver that is not installed."""
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect().import_dbapi()
    except ImportError as err:
        raise GradingError(f"--db {make_url(url).render_as_string(hide_password=True)} needs a database driver that is "
                           f"not installed ({err}): pip install -e '.[grading]' (psycopg for PostgreSQL).") from None
    except Exception:  # noqa: BLE001 - an unknown URL: nbgrader's own error says more
        pass


def _check_released(course: Course, assignment: str) -> None:
    from nbgrader.api import MissingEntry

    _check_driver(course.db)

    with course.gradebook() as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    raise GradingError(f"The gradebook {course.db} does not know {assignment!r}: run `release` first "
                       "(it records the master copy of every test cell, which grading restores).")


def _scores(course: Course, assignment: str, student: str, notebooks: list[str]) -> tuple[float, float, int]:
    auto = auto_max = 0.0
    pending = 0
    with course.gradebook() as gb:
        for name in notebooks:
            source = gb.find_notebook(name, assignment)
            manual = {c.name for c in source.solution_cells}
            for grade in gb.find_submission_notebook(name, assignment, student).grades:
                if grade.cell.name in manual:
                    pending += bool(grade.needs_manual_grade)
                else:
                    auto += grade.score or 0.0
                    auto_max += grade.max_score
    return auto, auto_max, pending


def _locked_cells(nb_json: dict) -> dict[str, tuple[str, bool]]:
    """grade_id -> (source, is a test cell) for every locked cell."""
    cells = {}
    for c in nb_json.get("cells", []):
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and "grade_id" in meta:
            cells[meta["grade_id"]] = ("".join(c["source"]).strip(), bool(meta.get("grade")))
    return cells


def _tampering(course: Course, assignment: str, student: str, notebook: str) -> list[str]:
    """Notes on locked cells a student changed or deleted (nbgrader restores edits and deleted tests)."""
    try:
        release = json.loads((course.release(assignment) / f"{notebook}.ipynb").read_text())
        submitted = json.loads((course.submitted() / student / assignment / f"{notebook}.ipynb").read_text())
    except (OSError, ValueError):
        return []
    expected, got = _locked_cells(release), _locked_cells(submitted)
    with course.gradebook() as gb:  # the master copies, hidden tests included
        master = {c.name: c.source.strip() for c in gb.find_notebook(notebook, assignment).source_cells}
    edited = [k for k in expected if k in got and got[k][0] not in (expected[k][0], master.get(k))]
    deleted_tests = [k for k, (_, test) in expected.items() if k not in got and test]
    deleted_other = [k for k, (_, test) in expected.items() if k not in got and not test]
    notes = []
    if edited:
        notes.append("edited test/read-only cells, restored before grading: " + ", ".join(edited))
    if deleted_tests:
        notes.append("deleted test cells, put back and graded: " + ", ".join(deleted_tests))
    if deleted_other:
        notes.append("deleted read-only cells (nbgrader does not put these back): " + ", ".join(deleted_other))
    return notes


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


def _failure_record(course: Course, assignment: str, student: str) -> Path:
    # with the logs; not autograded/<name>/<assignment>/, where every step looks for graded students
    return course.root / "autograded" / ".logs" / "failed" / assignment / f"{student}.json"


def _earlier_failure(course: Course, assignment: str, student: str, limits) -> dict | None:
    """The record of this very submission failing before, or None (none, unreadable, or handed in again since).

    The submission is read (to compare its fingerprint) only when a record exists: most students have none.
    """
    from grading.intake import fingerprint, read_submission

    try:
        record = json.loads(_failure_record(course, assignment, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    now = fingerprint(read_submission(course.submitted() / student / assignment, limits).files)
    return record if record.get("fingerprint") == now else None


def _remember_failure(course: Course, assignment: str, student: str, fingerprint: str, reason: str) -> None:
    path = _failure_record(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint, "reason": reason,
                                "when": time.strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8")


def handed_in(folder: Path, lab) -> str:
    """One line saying what a student handed in beside the notebook, and what it means for grading."""
    full = sorted(p.relative_to(folder).as_posix() for p in folder.glob(lab.checkpoints) if p.is_file())
    fast = sorted(p.relative_to(folder).as_posix() for p in folder.glob(lab.fast_checkpoints)
                  if p.is_file()) if lab.fast_checkpoints else []
    if full:
        return "handed in: the notebook and " + ", ".join(full)
    if fast:
        return ("handed in: only fast-mode checkpoints (" + ", ".join(fast) + "): the training tests need a "
                "full-mode run, so they scored 0; the other parts are graded on their own")
    return f"handed in: the notebook only (no {lab.checkpoints}): the training tests could not pass"


def _material(course: Course, assignment: str, notebooks: list[str], args, sandboxed: bool, deadline: float):
    from grading import execute, tamper

    flags = [f"--Execute.timeout={args.timeout}"] if args.timeout else []
    try:
        source = execute.read_source(course.source(assignment))
    except ValueError as err:
        raise GradingError(str(err)) from None
    return execute.Material(
        assignment=assignment, course_id=course.course_id, config=(course.root / "nbgrader_config.py").read_text(),
        source=source, gradebook=execute.template_gradebook(course.db, course.course_id, assignment),
        notebooks=notebooks, flags=flags, sandbox=sandboxed, deadline=deadline,
        secret=tamper.load_secret(), data=tuple(course.lab(assignment).data))


class _Writer(threading.Thread):
    """The one gradebook writer: records executed submissions in batches while the others are graded."""

    def __init__(self, course: Course, assignment: str, files, log: Path, batch: int):
        super().__init__(name="gradebook-writer", daemon=True)
        self.course, self.assignment, self.files, self.log, self.batch = course, assignment, files, log, batch
        self.queue: queue.Queue = queue.Queue()
        self.problems: dict[str, str] = {}

    def run(self) -> None:
        from grading.record import record

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
                with self.log.open("a") as fh:
                    fh.write(f"\n== recorded {len(batch)}: {', '.join(r.student for r in batch)} in "
                             f"{time.perf_counter() - start:.1f} s (CPU {cpu:.1f} s) ==\n" + part.read_text())
                part.unlink()
            except Exception as err:  # noqa: BLE001 - reported in the summary, for every student in the batch
                for r in batch:
                    self.problems[r.student] = f"recording the grades failed ({type(err).__name__}: {err})"

    def put(self, result) -> None:
        self.queue.put(result)

    def close(self) -> None:
        self.queue.put(None)
        self.join()


def autograde(course: Course, assignment: str, args) -> int:
    from grading import parallel
    from grading.collect import intake_limits
    from grading.execute import Executed, Submission
    from grading.intake import fingerprint, read_submission
    from grading.record import gradebook_lock, record_failed

    sandboxed = bool(_sandbox_args(course, args))
    _check_released(course, assignment)
    students = _students(course, assignment, args.student)
    with gradebook_lock(course), course.gradebook() as gb:  # every submitted folder is a student, even if grading fails
        for student in students:
            gb.update_or_create_student(student)
        notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
    outcomes = {s: Outcome(s) for s in students}
    limits = intake_limits(course)
    retry = args.force or getattr(args, "retry_failed", False)
    for s in students:
        if not args.force and (course.root / "autograded" / s / assignment).is_dir():
            outcomes[s].status = "skipped"
            outcomes[s].notes.append("already graded; rerun with --force to grade it again")
            continue
        earlier = None if retry else _earlier_failure(course, assignment, s, limits)
        if earlier:  # the same files failed before: a rerun would spend the same deadline for the same verdict
            outcomes[s].status = "failed"
            outcomes[s].notes.append(clean(f"failed before ({earlier.get('when', '?')}): {earlier.get('reason', '?')}; "
                                           "not run again, as the submission is unchanged (--retry-failed runs it)"))
    todo = [s for s in students if outcomes[s].status == "graded"]  # "graded" here: still to grade
    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None) or parallel.default_workers()
    if workers < 1:
        raise GradingError("--workers must be at least 1.")
    workers = min(workers, max(1, len(todo)))
    deadline = getattr(args, "deadline", None) or sandbox.Limits.from_env().wall_seconds
    log_path = course.log_file("autograde", assignment)
    seconds = 0.0
    if todo:
        prepare_data(course.lab(assignment).data)
        material = _material(course, assignment, notebooks, args, sandboxed, deadline)

        def files(student: str) -> dict[str, bytes]:
            return read_submission(course.submitted() / student / assignment, limits).files

        prints: dict[str, str] = {}  # what each submission held when it was read for grading

        def submissions():
            for s in todo:
                intake = read_submission(course.submitted() / s / assignment, limits)
                outcomes[s].notes += [clean(n) for n in intake.notes]
                prints[s] = fingerprint(intake.files)
                yield Submission(s, intake.files)

        if not scheduler and "OMP_NUM_THREADS" not in os.environ:  # the cores, shared out between the kernels
            os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        where = "on a Dask cluster" if scheduler else (f"{workers} at a time" if workers > 1 else "one at a time")
        print(f"Autograding {len(todo)} submission(s) of {assignment} {where}"
              f" ({'sandboxed' if sandboxed else 'NOT sandboxed'}), at most {deadline:.0f} s each;"
              f" full log: {log_path.relative_to(course.root)}", flush=True)
        log_path.write_text(f"autograde {assignment}: {len(todo)} submission(s), deadline {deadline:.0f} s\n")
        # Each batch pays one nbgrader start-up (~3 s CPU) and ~0.2 s per submission: batch by the run's width.
        writer = _Writer(course, assignment, files, log_path, batch=32 if scheduler else max(8, 2 * workers))
        writer.start()
        results: dict[str, Executed] = {}

        def on_result(r: Executed) -> None:
            results[r.student] = r
            state = "executed" if r.status == "graded" else "FAILED"
            print(f"  [{len(results)}/{len(todo)}] {r.student}: {state} in {r.seconds:.0f} s", flush=True)
            with log_path.open("a") as fh:
                fh.write(f"\n== {r.student}: {r.status} in {r.seconds:.1f} s (CPU {r.cpu_seconds:.1f} s) on {r.worker} ==\n"
                         f"{clean(r.log)}\n")
            writer.put(r)

        start = time.perf_counter()
        try:
            ran = parallel.run(material, submissions(), on_result, workers=workers, scheduler=scheduler)
        finally:
            writer.close()
        seconds = time.perf_counter() - start
        print(f"  graded {ran}; gradebook written by one process ({_db_kind(course.db)}).", flush=True)
        for s in todo:
            r = results.get(s) or Executed(s, "failed", reason="no result came back (the run was interrupted)")
            out = outcomes[s]
            if r.status == "graded" and s in writer.problems:
                r.status, r.reason = "failed", writer.problems[s]
            if r.status != "graded":
                out.status, out.notes = "failed", [clean(r.reason)] + out.notes
                record_failed(course, assignment, s)
                if s in results:  # the submission's own verdict; an interrupted run or the writer is no reason to skip it
                    _remember_failure(course, assignment, s, prints[s], clean(r.reason))
                continue
            _failure_record(course, assignment, s).unlink(missing_ok=True)
            out.notes += [f"{cell}: stopped at the per-cell time limit; the rest was graded" for cell in r.timeouts]
            if r.flagged:
                out.flag = clean("; ".join(r.flag_reasons) or "tampering detected")
    for s in students:
        out = outcomes[s]
        if out.status == "failed":
            continue
        out.auto, out.auto_max, out.manual_pending = _scores(course, assignment, s, notebooks)
        if out.status == "graded":
            for nb in notebooks:
                out.notes += _tampering(course, assignment, s, nb)
            out.notes.append(handed_in(course.submitted() / s / assignment, course.lab(assignment)))
    summary = _summary([outcomes[s] for s in students], assignment, seconds)
    print(summary)
    with log_path.open("a") as fh:  # the summary also closes the saved log
        fh.write("\n" + summary + "\n")
    failed = [o for o in outcomes.values() if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} submission(s) could not be graded and need your attention (listed above as FAILED).")
        return 1
    return 0


def _db_kind(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def _summary(outcomes: list[Outcome], assignment: str, seconds: float) -> str:
    width = max(len(o.student) for o in outcomes)
    lines = ["", f"Autograde summary for {assignment} ({seconds:.0f} s):"]
    for o in outcomes:
        if o.status == "failed":
            head = "FAILED"
        else:
            head = f"{o.auto:g}/{o.auto_max:g} autograded" + (f", {o.manual_pending} part(s) to grade by hand"
                                                              if o.manual_pending else "")
            if o.status == "skipped":
                head = "skipped, " + head
            if o.flag:
                head += f", FLAGGED for review: {o.flag}"
        lines.append(f"  {o.student:<{width}}  {head}")
        lines += [f"  {'':<{width}}    - {n}" for n in o.notes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "failed", "skipped")}
    lines.append(f"{counts['graded']} graded, {counts['failed']} failed, {counts['skipped']} skipped.")
    if any(o.manual_pending for o in outcomes):
        lines.append("Next: grade the written parts in formgrader (`jupyter lab`, Nbgrader > Formgrader > Manual Grading), "
                     "then run feedback and export.")
    return "\n".join(lines)


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
