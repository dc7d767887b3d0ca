"""Grade ONE submission in a private folder: the unit of work that parallel and cluster grading ship.

A task is pure data (:class:`Material` for the assignment, :class:`Submission` for the student's
files as bytes), so a worker needs no shared disk: :func:`grade` builds a throw-away course in a
temporary folder (the course's ``nbgrader_config.py``, the assignment's source folder with its
``checks.py``, a template SQLite gradebook holding only the assignment's master cells), runs
nbgrader's Autograde converter there for the student (in this process, as Formgrader does), and
returns the graded notebooks.
nbgrader's execute step is the course's grader (:mod:`grading.preprocessors`): the notebook runs
in a sandboxed kernel, the hidden checks in a sandboxed judge, and the test cells carry the judge's
verdict. The status comes from the grader's own records: whether nbgrader succeeded, whether the
graded notebook exists, nbgrader's own log, and the judge's record in the notebook. Nothing a
kernel printed decides a status.

The grades in that temporary gradebook are thrown away: :mod:`grading.record` writes the
returned notebooks into the real course and records their grades with one nbgrader run that does
not execute again.
"""
from __future__ import annotations

import collections
import json
import os
import re
import resource
import shutil
import socket
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TEMPLATE_DB = "gradebook.db"
SKIP_SOURCE = {"checkpoints", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}  # not shipped to workers


@dataclass
class Material:
    """What every task of one assignment needs besides the submission (built once per run)."""

    assignment: str
    course_id: str
    config: str  # the course's nbgrader_config.py
    source: dict[str, bytes]  # solutions/<assignment>/ (notebooks, checks; not the instructor's checkpoints)
    gradebook: bytes  # a SQLite gradebook with the assignment's master cells only (no students)
    notebooks: list[str]  # the assignment's notebooks, as the gradebook names them
    timeout: int = 0  # seconds per cell (0: nbgrader_config.py's GradeInSandbox.timeout)
    sandbox: bool = True
    deadline: float = 900.0  # seconds for the whole task; then it is stopped and reported FAILED
    secret: bytes = b""  # the course's grading secret: the seed of each submission's hidden inputs (grading.secret)
    fast: bool = False  # grade in fast mode (tests and tries): the lab's small data and fast checkpoints
    data: tuple[str, ...] = ()  # helpers.data sets the kernels read: fetched on the worker first


@dataclass
class Submission:
    """One student's submitted folder, as data."""

    student: str
    files: dict[str, bytes]  # relative path -> bytes (regular files only; see grading.intake)


@dataclass
class Executed:
    """What grading one submission produced, returned to the coordinator."""

    student: str
    status: str = "graded"  # graded | failed
    notebooks: dict[str, str] = field(default_factory=dict)  # name -> graded notebook (JSON)
    reason: str = ""  # why it failed
    notes: list[str] = field(default_factory=list)  # what the grader noted (timeouts, replaced kernels, ...)
    flag_reasons: list[str] = field(default_factory=list)  # evidence honest code cannot produce (grading.spec)
    seconds: float = 0.0  # wall time of the task
    cpu_seconds: float = 0.0  # CPU time of nbgrader and its kernel (sampled over the process tree)
    worker: str = ""  # host:pid that ran it (a rerun after a lost worker shows a new one)
    log: str = ""  # the end of nbgrader's own log for this student (for the run's log file)


# ---------------------------------------------------------------------------------------------
# Building the material (coordinator side)

def template_gradebook(master_url: str, course_id: str, assignment: str) -> bytes:
    """A fresh SQLite gradebook with the assignment's notebooks and master cells copied from master_url.

    Works whatever the master is (SQLite or PostgreSQL), and ships no student's data to workers.
    """
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()  # nbgrader's Gradebook runs the `alembic` command
    with tempfile.TemporaryDirectory(prefix="rnn-template-") as tmp:
        path = Path(tmp) / TEMPLATE_DB
        with Gradebook(master_url, course_id) as src, Gradebook(f"sqlite:///{path}", course_id) as dst:
            a = src.find_assignment(assignment)
            dst.update_or_create_assignment(assignment, duedate=a.duedate)
            for nb in a.notebooks:
                dst.update_or_create_notebook(nb.name, assignment)
                for c in nb.grade_cells:
                    dst.update_or_create_grade_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                                    cell_type=c.cell_type)
                for c in nb.solution_cells:
                    dst.update_or_create_solution_cell(c.name, nb.name, assignment)
                for c in nb.task_cells:
                    dst.update_or_create_task_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                                   cell_type=c.cell_type)
                for c in nb.source_cells:
                    dst.update_or_create_source_cell(c.name, nb.name, assignment, cell_type=c.cell_type,
                                                     locked=c.locked, source=c.source, checksum=c.checksum)
        return path.read_bytes()


def read_source(folder: Path, limit_mb: float = 50.0) -> dict[str, bytes]:
    """The assignment's source folder as data (regular files; no links, no instructor checkpoints)."""
    files, total = {}, 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_SOURCE)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name in SKIP_SOURCE or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            total += len(data)
            if total > limit_mb * 1e6:
                raise ValueError(f"{folder} holds more than {limit_mb:.0f} MB (besides checkpoints/): "
                                 "keep large files out of an assignment's source folder")
            files[str(path.relative_to(folder))] = data
    return files


# ---------------------------------------------------------------------------------------------
# Grading one submission (worker side)

_prepared_data: set[str] = set()


def _prepare_data(names) -> None:
    """Fetch the lab's data sets on this worker once (the kernels have no network)."""
    todo = [n for n in names if n not in _prepared_data]
    if todo:
        prepare_data(todo)
        _prepared_data.update(todo)


def prepare_data(names) -> None:
    """Fetch the lab's data sets and make them readable by the kernels' unprivileged uid.

    The kernels have no network, so the files must be in the cache; the sandbox runs them as
    another user (nobody), so the cached files and their folders must be world-readable.
    """
    import stat

    from helpers.data import fetch

    def readable(target: Path) -> bool:
        mode = target.stat().st_mode
        want = mode | stat.S_IROTH | (stat.S_IXOTH if target.is_dir() else 0)
        if want != mode:
            try:
                os.chmod(target, want)
            except OSError:
                return False
        return True

    for name in names:
        path = fetch(name)
        if path.is_dir():  # a data set of several files (imdb: train and test): the folder and what it holds
            for target in sorted(path.rglob("*")):
                if not target.is_symlink():
                    readable(target)
        for target in [path, *path.parents]:
            if not readable(target):
                break  # not ours (e.g. /): the sandbox check reports unreadable paths
            if target == Path.home() or target.parent == target:
                break


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:  # a crafted name such as ../../x: never outside root
            raise ValueError(f"refusing file name {rel!r}: it points outside its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class _CpuMeter(threading.Thread):
    """CPU seconds of one grading task: this thread's own, and its kernels' and judge's (sampled from /proc).

    The kernels and the judge are never reaped by anything this process could ask, so their time is
    read while they live. The gradebook writer's nbgrader runs beside a task in this process; it is
    not counted.
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.ticks: dict[int, int] = {}
        self.done = threading.Event()
        self.own = resource.getrusage(resource.RUSAGE_THREAD)

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.sample()

    def sample(self) -> None:
        for pid in _descendants(os.getpid()):
            try:
                if b"nbgrader" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue  # the writer's recording run
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.ticks[pid] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass

    def stop(self) -> float:
        self.sample()
        self.done.set()
        now = resource.getrusage(resource.RUSAGE_THREAD)
        own = now.ru_utime - self.own.ru_utime + now.ru_stime - self.own.ru_stime
        return own + sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def _autograde(root: Path, material: Material, student: str) -> tuple[bool, str]:
    """nbgrader's Autograde converter on one student of the private course, in this process.

    In-process because nbgrader's start-up (about 3 s of CPU) would otherwise be paid per
    submission; Formgrader runs the same converter the same way. Returns (success, log).
    """
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.merge(Config({
        "CourseDirectory": {"root": str(root), "db_url": f"sqlite:///{root / TEMPLATE_DB}",
                            "assignment_id": material.assignment, "student_id": student},
        "GradeInSandbox": {"sandbox": material.sandbox, "fast": material.fast, "deadline": int(max(1, material.deadline)),
                           **({"timeout": material.timeout} if material.timeout else {})},
    }))
    app = Autograde(coursedir=CourseDirectory(config=config), config=config)
    app.force, app.create_student = True, True
    with warnings.catch_warnings():  # SQLAlchemy's notes on nbgrader's own session use: nothing to act on
        warnings.simplefilter("ignore")
        result = capture_log(app)
    return bool(result.get("success")), result.get("log", "") + result.get("error", "")


def failure_reason(log: str) -> str:
    """Why nbgrader could not grade a notebook, from nbgrader's own log (never the kernel's output)."""
    if "NotJSONError" in log or "JSONDecodeError" in log:
        return ("the notebook is not valid JSON (damaged or not a notebook); nothing was graded. "
                "Ask the student to resubmit the .ipynb file, then rerun autograde --student <id>.")
    if "SchemaTooNewError" in log or "SchemaTooOldError" in log or "SchemaMismatchError" in log:
        return "the notebook's nbgrader metadata has an unknown schema version; nothing was graded. Inspect the notebook."
    if "Timeout waiting for execute reply" in log and "Interrupting kernel" in log:
        return ("a cell ran past the per-cell time limit and the kernel ignored the interrupt (the notebook "
                "disables Ctrl-C or loops where Python cannot be interrupted), so nbgrader gave up on the whole "
                "notebook; nothing was graded. Inspect the notebook; grade it by hand or ask for a fix.")
    if "UnresponsiveKernelError" in log or "kernel became unresponsive" in log:
        return "the kernel stopped responding (runaway memory or processes); nothing was graded. Inspect the notebook."
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died (out of memory, or killed by the sandbox); nothing was graded. Inspect the notebook."
    errors = [ln for ln in log.splitlines() if re.match(r"^\w[\w.]*(Error|Exception)\b", ln)]
    return (errors[-1][:300] if errors else "nbgrader could not process it") + " (see the log)."


def grade(material: Material, submission: Submission) -> Executed:
    """Autograde one submission in a private temporary course; never raises for a bad submission."""
    start, meter = time.perf_counter(), _CpuMeter()
    meter.start()
    out = Executed(submission.student, worker=f"{socket.gethostname()}:{os.getpid()}")
    root = Path(tempfile.mkdtemp(prefix="rnn-grade-", dir="/tmp"))  # short: Unix socket paths are limited
    try:
        os.chmod(root, 0o755)  # the kernel's unprivileged uid walks down to its folder
        _prepare_data(material.data)
        a, s = material.assignment, submission.student
        (root / "nbgrader_config.py").write_text(material.config)
        (root / TEMPLATE_DB).write_bytes(material.gradebook)
        _write(root / "solutions" / a, material.source)
        _write(root / "submitted" / s / a, submission.files)
        os.environ["COURSE_GRADING_SECRET"] = material.secret.decode()  # a worker on a cluster has no secret file
        ok, log = _autograde(root, material, s)
        out.log = log[-8000:]
        graded = root / "autograded" / s / a
        if not ok or not all((graded / f"{nb}.ipynb").is_file() for nb in material.notebooks):
            out.status, out.reason = "failed", failure_reason(log)
        else:
            _collect(material, graded, out)
    except Exception as err:  # noqa: BLE001 - one submission's trouble is reported against it alone
        out.status, out.reason = "failed", f"grading this submission failed: {type(err).__name__}: {err}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
        out.seconds = time.perf_counter() - start
        out.cpu_seconds = meter.stop()
    return out


def _collect(material: Material, graded: Path, out: Executed) -> None:
    """Read back the graded notebooks and what the grader recorded in them."""
    from grading import verdict

    for name in material.notebooks:
        nb = nbformat.read(graded / f"{name}.ipynb", as_version=4)
        record = nb.metadata.get(verdict.RECORD_KEY, {})
        out.notes += [n for n in record.get("notes", []) if n not in out.notes]
        for cell, reasons in verdict.flags(nb).items():
            out.flag_reasons += [f"{cell}: {r}" for r in reasons]
        out.notebooks[name] = nbformat.writes(nb)


def as_json(executed: Executed) -> str:
    """A one-line record of a result (for logs): everything except the notebooks."""
    d = {k: v for k, v in executed.__dict__.items() if k != "notebooks"}
    return json.dumps(d)
