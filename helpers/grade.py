"""The instructors' grading cycle: release, collect, autograde, feedback, export.

    python -m helpers.grade release   sherlock_rnn_vs_gru
    python -m helpers.grade collect   sherlock_rnn_vs_gru --from ~/Downloads/submissions
    python -m helpers.grade autograde sherlock_rnn_vs_gru        # sandboxed; --no-sandbox to opt out
    python -m helpers.grade feedback  sherlock_rnn_vs_gru
    python -m helpers.grade export    sherlock_rnn_vs_gru        # -> grades.csv

Each step runs the real ``nbgrader`` command on the course directory and then
checks what it did, student by student, so that one broken submission never
hides behind a long log. Every command takes ``--course-dir`` (default: the
repository) and ``--db`` (default: ``gradebook.db`` in the course directory).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers import sandbox

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "rnn-course"
# Data sets each lab reads; fetched before grading so that sandboxed kernels find them cached.
LAB_DATA = {"sherlock_rnn_vs_gru": ("sherlock", "sherlock_adventures")}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
IGNORED = {".ipynb_checkpoints", "__pycache__", ".DS_Store", "__MACOSX"}


def _venv_on_path() -> None:
    """nbgrader's Gradebook runs the `alembic` command; find it next to this Python even without an activated venv."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class GradingError(RuntimeError):
    """A step cannot run: the message says why and what to do."""


# --- paths and nbgrader ----------------------------------------------------------------------

@dataclass
class Course:
    root: Path
    db: str

    @classmethod
    def from_args(cls, args) -> "Course":
        root = Path(args.course_dir).expanduser().resolve()
        if not (root / "nbgrader_config.py").is_file():
            raise GradingError(f"{root} has no nbgrader_config.py: pass --course-dir the course's root folder.")
        return cls(root, args.db or f"sqlite:///{root / 'gradebook.db'}")

    def source(self, assignment: str) -> Path:
        return self.root / "solutions" / assignment

    def release(self, assignment: str) -> Path:
        return self.root / "assignments" / assignment

    def submitted(self) -> Path:
        return self.root / "submitted"

    def log_file(self, step: str, assignment: str) -> Path:
        path = self.root / "autograded" / ".logs" / f"{step}-{assignment}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def nbgrader(self, *args: str, log: Path | None = None, echo: bool = True) -> tuple[int, str]:
        """Run ``nbgrader <args>`` on this course; return its exit status and its whole log."""
        cmd = [sys.executable, "-m", "nbgrader", *args,  # not every app knows --course-dir/--db; these it does
               f"--CourseDirectory.root={self.root}", f"--CourseDirectory.db_url={self.db}"]
        _venv_on_path()
        proc = subprocess.Popen(cmd, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        lines, body = [], False
        for line in proc.stdout:
            lines.append(line)
            # nbgrader puts some warnings (e.g. collect's "cheating attempt?") on the indented lines after the header
            body = (body and line[:1].isspace()) or (_worth_echoing(line) and line.rstrip().endswith("]"))
            if echo and line.strip() and (body or _worth_echoing(line)):
                print("  " + line.rstrip(), flush=True)
        proc.wait()
        text = "".join(lines)
        if log is not None:
            log.write_text(" ".join(cmd) + "\n\n" + text)
        return proc.returncode, text

    def gradebook(self):
        from nbgrader.api import Gradebook

        _venv_on_path()
        return Gradebook(self.db, COURSE_ID)


def _worth_echoing(line: str) -> bool:
    return any(k in line for k in ("| ERROR]", "| WARNING]", "Autograding ", "Generating feedback", "[ExportApp"))


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


# --- release ---------------------------------------------------------------------------------

def release(course: Course, assignment: str, args) -> int:
    source = course.source(assignment)
    if not _notebooks(source):
        raise GradingError(f"No notebook in {source}: the source of an assignment lives in solutions/<assignment>/.")
    code, log = course.nbgrader("generate_assignment", assignment, "--force")
    if code != 0:
        print(log[-3000:])
        raise GradingError(f"nbgrader generate_assignment failed for {assignment} (log above).")
    target = course.release(assignment)
    shutil.rmtree(target / "checkpoints", ignore_errors=True)  # the config's hook does this too
    leaks = [f"{nb.name}: {m}" for nb in _notebooks(target) for m in SOLUTION_MARKERS if m in nb.read_text()]
    if leaks:
        raise GradingError("The release still contains solution markers: " + "; ".join(leaks))
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    print(f"Released {assignment} to {target.relative_to(course.root)}/: {', '.join(files)}")
    print("The gradebook now knows its test cells. Commit assignments/ and hand the folder to students.")
    return 0


# --- collect ---------------------------------------------------------------------------------

def collect(course: Course, assignment: str, args) -> int:
    if args.exchange:
        code, log = course.nbgrader("collect", assignment, "--update")
        if code != 0:  # nbgrader says why only in CRITICAL lines, which are not echoed
            why = "; ".join(ln.split("] ", 1)[-1] for ln in log.splitlines() if "| CRITICAL]" in ln)
            raise GradingError(
                f"nbgrader collect could not read the exchange ({why or 'see the log above'}). "
                f"Set c.Exchange.root in {course.root / 'nbgrader_config.py'} to the exchange folder your students "
                f"submit to, and release the assignment there first (`nbgrader release_assignment {assignment}`); "
                "or collect a folder of submissions with --from FOLDER.")
        students = re.findall(rf"Collecting submission: (\S+) {re.escape(assignment)}$", log, re.M)
        print(f"Collected {len(students)} new submission(s) of {assignment} from the exchange into "
              f"submitted/<student>/{assignment}/" + (": " + ", ".join(sorted(students)) if students else "."))
        return 0
    if not args.source:
        raise GradingError("Say where the submissions are: --from FOLDER (one sub-folder per student), "
                           "or --exchange for nbgrader's exchange. For an LMS zip download use `nbgrader zip_collect`.")
    source = Path(args.source).expanduser()
    if not source.is_dir():
        raise GradingError(f"--from {source}: no such folder.")
    expected = f"{assignment}.ipynb"
    copied, problems = 0, []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and p.name not in IGNORED):
        student = folder.name
        if not STUDENT_ID.match(student):
            problems.append(f"{student!r}: not usable as a student id (letters, digits, _ . @ + - only); skipped")
            continue
        inner = folder / assignment if (folder / assignment).is_dir() else folder
        notebooks = _notebooks(inner)
        rename = None
        if not (inner / expected).is_file():
            if len(notebooks) != 1:
                problems.append(f"{student}: expected {expected}, found {[p.name for p in notebooks] or 'no notebook'}; skipped")
                continue
            rename = notebooks[0].name
        target = course.submitted() / student / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(inner, target, ignore=shutil.ignore_patterns(*IGNORED))
        if rename:
            (target / rename).rename(target / expected)
            problems.append(f"{student}: notebook {rename!r} renamed to {expected}")
        if not any((target / "checkpoints").rglob("*.pt")):
            problems.append(f"{student}: no checkpoints/*.pt submitted; the training tests will get no credit")
        copied += 1
    print(f"Collected {copied} submission(s) into {course.submitted().relative_to(course.root)}/<student>/{assignment}/.")
    for p in problems:
        print("  note: " + p)
    return 0


# --- autograde -------------------------------------------------------------------------------

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


def autograde(course: Course, assignment: str, args) -> int:
    extra = _sandbox_args(course, args)
    _check_released(course, assignment)
    students = _students(course, assignment, args.student)
    with course.gradebook() as gb:  # every submitted folder is a student, even if grading fails
        for student in students:
            gb.update_or_create_student(student)
        notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
    for name in LAB_DATA.get(assignment, ()):
        from helpers.data import fetch

        fetch(name)  # cached now, so kernels (which have no network) find it
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
            if not any((course.submitted() / student / assignment / "checkpoints").rglob("*.pt")):
                out.notes.append("no checkpoints submitted: training-based tests could not pass")
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


# --- feedback and export ---------------------------------------------------------------------

def feedback(course: Course, assignment: str, args) -> int:
    code, log = course.nbgrader("generate_feedback", assignment, "--force", log=course.log_file("feedback", assignment))
    graded = sorted(p.parent.name for p in (course.root / "autograded").glob(f"*/{assignment}") if p.is_dir())
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


def export(course: Course, assignment: str, args) -> int:
    target = Path(args.to).expanduser() if args.to else course.root / "grades.csv"
    target = target if target.is_absolute() else (Path.cwd() / target)
    code, log = course.nbgrader("export", f"--to={target}", f"--ExportPlugin.assignment=['{assignment}']")
    if code != 0 or not target.is_file():
        print(log[-3000:])
        raise GradingError("nbgrader export failed (log above).")
    rows = target.read_text().strip().splitlines()[1:]
    print(f"Wrote {len(rows)} row(s) for {assignment} to {target}.")
    with course.gradebook() as gb:
        submissions = {s.student.id: s.needs_manual_grade for s in gb.find_assignment(assignment).submissions}
    ungraded = sorted(s for s in submissions if not (course.root / "autograded" / s / assignment).is_dir())
    pending = sorted(s for s, manual in submissions.items() if manual and s not in ungraded)
    if ungraded:
        print(f"Note: {len(ungraded)} submission(s) were never autograded (they score 0 here): " + ", ".join(ungraded))
    if pending:
        print(f"Note: {len(pending)} submission(s) still have parts to grade by hand; their scores are incomplete: "
              + ", ".join(pending))
    return 0


# --- command line ----------------------------------------------------------------------------

STEPS = {"release": release, "collect": collect, "autograde": autograde, "feedback": feedback, "export": export}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("assignment", help="e.g. sherlock_rnn_vs_gru")
    parser.add_argument("--course-dir", default=str(REPO_ROOT), help="course root (default: this repository)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///<course-dir>/gradebook.db)")
    parser.add_argument("--from", dest="source", help="collect: folder with one sub-folder per student")
    parser.add_argument("--exchange", action="store_true", help="collect: use nbgrader's exchange (nbgrader collect)")
    parser.add_argument("--student", action="append", help="autograde: only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="autograde: grade again what was graded before")
    parser.add_argument("--timeout", type=int, default=None, help="autograde: per-cell time limit in seconds")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="autograde: run student code WITHOUT isolation (trusted submissions only)")
    parser.add_argument("--to", help="export: CSV path (default: <course-dir>/grades.csv)")
    args = parser.parse_args(argv)
    try:
        course = Course.from_args(args)
        return STEPS[args.step](course, args.assignment, args)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
