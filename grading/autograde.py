"""autograde: run every submission's notebook in a sandboxed kernel and report, student by student."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading import sandbox
from grading.course import Course, GradingError

@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | failed | skipped
    auto: float = 0.0
    auto_max: float = 0.0
    manual_pending: int = 0
    notes: list[str] = field(default_factory=list)


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


def _check_released(course: Course, assignment: str) -> None:
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    raise GradingError(f"The gradebook {course.db} does not know {assignment!r}: run `release` first "
                       "(it records the master copy of every test cell, which grading restores).")


def _log_sections(log: str, assignment: str) -> dict[str, str]:
    """Split nbgrader's autograde log into one piece per student (lines follow the last student named)."""
    sections: dict[str, list[str]] = {}
    current = None
    path = re.compile(rf"(?:submitted|autograded)/([^/]+)/{re.escape(assignment)}\b")
    for line in log.splitlines():
        m = path.search(line) or re.search(r"Creating/updating student with ID '([^']+)'", line)
        if m:
            current = m.group(1)
        if current:
            sections.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def _failure_reason(section: str) -> str:
    if "NotJSONError" in section or "JSONDecodeError" in section:
        return ("the notebook is not valid JSON (damaged or not a notebook); nothing was graded. "
                "Ask the student to resubmit the .ipynb file, then rerun autograde --student <id>.")
    if "UnresponsiveKernelError" in section or "kernel became unresponsive" in section:
        return "the kernel stopped responding (runaway memory or processes); nothing was graded. Inspect the notebook."
    if "DeadKernelError" in section or "Kernel died" in section:
        return "the kernel died (out of memory, or killed by the sandbox); nothing was graded. Inspect the notebook."
    errors = [ln for ln in section.splitlines() if re.match(r"^\w[\w.]*(Error|Exception)\b", ln)]
    return (errors[-1] if errors else "nbgrader could not process it") + " (see the log)."


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


def _timeouts(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text())
    hits = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "CellTimeoutError":
                hits.append(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}")
    return hits


def prepare_data(names) -> None:
    """Fetch the lab's data sets and make them readable by the kernels' unprivileged uid.

    The kernels have no network, so the files must be in the cache; the sandbox runs them as
    another user (nobody), so the cached files and their folders must be world-readable.
    """
    import os
    import stat

    from helpers.data import fetch

    for name in names:
        path = fetch(name)
        for target in [path, *path.parents]:
            mode = target.stat().st_mode
            want = mode | stat.S_IROTH | (stat.S_IXOTH if target.is_dir() else 0)
            if want != mode:
                try:
                    os.chmod(target, want)
                except OSError:
                    break  # not ours (e.g. /): the sandbox check reports unreadable paths
            if target == Path.home() or target.parent == target:
                break


def autograde(course: Course, assignment: str, args) -> int:
    extra = _sandbox_args(course, args)
    _check_released(course, assignment)
    students = _students(course, assignment, args.student)
    with course.gradebook() as gb:  # every submitted folder is a student, even if grading fails
        for student in students:
            gb.update_or_create_student(student)
        notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
    prepare_data(course.lab(assignment).data)
    graded_before = {s: (course.root / "autograded" / s / assignment).is_dir() for s in students}
    flags = [f"--Execute.timeout={args.timeout}"] if args.timeout else []
    if args.force:
        flags.append("--force")
    if args.student:  # nbgrader takes one id or a glob; leave the others out explicitly
        others = sorted(set(_students(course, assignment, None)) - set(students))
        if others:
            flags.append("--CourseDirectory.student_id_exclude=" + ",".join(others))
    log_path = course.log_file("autograde", assignment)
    print(f"Autograding {len(students)} submission(s) of {assignment}"
          f" ({'sandboxed' if extra else 'NOT sandboxed'}); full log: {log_path.relative_to(course.root)}", flush=True)
    start = time.perf_counter()
    code, log = course.nbgrader("autograde", assignment, *flags, *extra, log=log_path)
    seconds = time.perf_counter() - start
    sections = _log_sections(log, assignment)
    if code != 0 and not sections:
        print(log[-3000:])
        raise GradingError(f"nbgrader autograde failed before grading anyone (log above; full log {log_path}).")
    outcomes = []
    for student in students:
        out = Outcome(student)
        section = sections.get(student, "")
        graded_dir = course.root / "autograded" / student / assignment
        if "error processing assignment: " in section or f"for student '{student}'" in section:
            out.status, out.notes = "failed", [_failure_reason(section)]
        elif "Skipping existing assignment" in section or (graded_before[student] and not section):
            out.status = "skipped"
            out.notes.append("already graded; rerun with --force to grade it again")
        elif not all((graded_dir / f"{nb}.ipynb").is_file() for nb in notebooks):
            out.status, out.notes = "failed", [_failure_reason(section)]
        if out.status != "failed":
            out.auto, out.auto_max, out.manual_pending = _scores(course, assignment, student, notebooks)
        if out.status == "graded":
            for nb in notebooks:
                for cell in _timeouts(graded_dir / f"{nb}.ipynb"):
                    out.notes.append(f"{cell}: stopped at the per-cell time limit; the rest was graded")
            for nb in notebooks:
                out.notes += _tampering(course, assignment, student, nb)
            pattern = course.lab(assignment).checkpoints
            if not any((course.submitted() / student / assignment).glob(pattern)):
                out.notes.append(f"no {pattern} submitted: training-based tests could not pass")
        outcomes.append(out)
    summary = _summary(outcomes, assignment, seconds)
    print(summary)
    with log_path.open("a") as fh:  # the summary also closes the saved log
        fh.write("\n" + summary + "\n")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} submission(s) could not be graded and need your attention (listed above as FAILED).")
        return 1
    return 0


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
        lines.append(f"  {o.student:<{width}}  {head}")
        lines += [f"  {'':<{width}}    - {n}" for n in o.notes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "failed", "skipped")}
    lines.append(f"{counts['graded']} graded, {counts['failed']} failed, {counts['skipped']} skipped.")
    if any(o.manual_pending for o in outcomes):
        lines.append("Next: grade the written parts in formgrader (`jupyter lab`, Nbgrader > Manage Assignments), "
                     "then run feedback and export.")
    return "\n".join(lines)
