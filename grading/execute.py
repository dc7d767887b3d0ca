"""Grade ONE submission in a private folder: the unit of work that parallel and cluster grading ship.

A task is pure data (:class:`Material` for the assignment, :class:`Submission` for the student's
files as bytes), so a worker needs no shared disk: :func:`grade` builds a throw-away course in a
temporary folder (the course's ``nbgrader_config.py``, the assignment's source folder, a template
SQLite gradebook holding only the assignment's master cells), runs the real ``nbgrader autograde
<assignment> --student <id>`` there with the sandbox flags, and returns the executed notebooks
with a status taken from the grader's own records: nbgrader's exit status, whether the autograded
notebook exists, nbgrader's own log (written to a file the kernel cannot reach), and per-cell
timeouts read from the outputs. Nothing a kernel printed decides a status.

The grades in that temporary gradebook are thrown away: :mod:`grading.record` writes the
returned notebooks into the real course and records their grades with one nbgrader run that does
not execute again. Tamper checks (:mod:`grading.tamper`) wrap the execution here: ``prepare``
before it, ``judge`` and ``verify`` after it.
"""
from __future__ import annotations

import collections
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TEMPLATE_DB = "gradebook.db"
GRADER_LOG = "grader.log"  # nbgrader's own log lines, in a folder no kernel can write
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
    flags: list[str] = field(default_factory=list)  # extra nbgrader flags (e.g. --Execute.timeout=20)
    sandbox: bool = True
    deadline: float = 900.0  # seconds for the whole task; then it is stopped and reported FAILED
    secret: bytes = b""  # the course's grading secret (hidden-test seed, canary layout): grading.tamper
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
    notebooks: dict[str, str] = field(default_factory=dict)  # name -> executed notebook (JSON), inserted cells removed
    reason: str = ""  # why it failed
    timeouts: list[str] = field(default_factory=list)  # cells stopped at the per-cell limit
    flagged: bool = False  # tamper verdict (grading.tamper)
    flag_reasons: list[str] = field(default_factory=list)
    parts_zeroed: list[str] = field(default_factory=list)
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


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:  # a crafted name such as ../../x: never outside root
            raise ValueError(f"refusing file name {rel!r}: it points outside its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


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


def _kill_descendants() -> None:
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def supervise(parent: int, cmd: list[str]) -> int:
    """Run cmd; take down everything it started when it ends, when told to stop, or when the worker dies.

    nbgrader starts each kernel launcher in a session of its own, so killing nbgrader alone would
    leave a sandboxed kernel idling until its wall limit. This process adopts every orphan below it
    (a child subreaper) and gets SIGTERM when the worker that started it dies.
    """
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the worker died before the line above
        return 137

    def stop(signum, frame):
        _kill_descendants()
        os._exit(137)

    signal.signal(signal.SIGTERM, stop)
    proc = subprocess.Popen(cmd)
    code = proc.wait()
    _kill_descendants()
    return code


def _cpu_ticks(pids) -> dict[int, int]:
    """utime + stime (clock ticks) of each process, its own time only."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return out


def _run_nbgrader(cmd: list[str], cwd: Path, env: dict, deadline: float) -> tuple[int | None, float]:
    """Run nbgrader under :func:`supervise`; its exit status (None when stopped at the deadline) and CPU seconds.

    The CPU time is sampled from /proc every 0.25 s over the whole process tree, the sandboxed
    kernel included (its processes are never reaped by anything this process could ask).
    """
    wrapped = [sys.executable, str(Path(__file__).resolve()), "--supervise", str(os.getpid()), "--", *cmd]
    proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)  # nbgrader's own log goes to a file (GRADER_LOG)
    ticks: dict[int, int] = {}
    stop = time.monotonic() + deadline
    code: int | None = None
    while True:
        ticks.update(_cpu_ticks([proc.pid, *_descendants(proc.pid)]))
        try:
            code = proc.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > stop:
                proc.terminate()  # the supervisor takes the whole tree down
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                code = None
                break
    return code, sum(ticks.values()) / os.sysconf("SC_CLK_TCK")


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


def timeouts(nb: nbformat.NotebookNode) -> list[str]:
    """Cells nbgrader stopped at the per-cell time limit (their error output is nbclient's)."""
    hits = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "CellTimeoutError":
                hits.append(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}")
                break
    return hits


KERNEL_START_FAILED = "Kernel died before replying to kernel_info"
UID_BASE = 2_000_000_000  # unprivileged uids with no account, far above any real user's


def _sandbox_flags(root: Path, deadline: float) -> list[str]:
    """The sandbox's nbgrader flags for one task, with the kernel's wall limit at the deadline.

    Each task gets its own run folder (ipc sockets, the limits), as each nbgrader process did
    before grading went parallel: a second kernel started over a folder a previous one used died
    before replying to kernel_info. _drop_run_folder removes it when the task ends.
    """
    from grading import sandbox

    wall = int(max(1, min(deadline or 1e9, sandbox.Limits.from_env().wall_seconds)))
    return sandbox.nbgrader_args(root, sandbox.Limits.from_env(wall_seconds=wall, **_own_uid()))


def _own_uid() -> dict:
    """A uid of this worker's own for its kernels, when grading as root and none was configured.

    RLIMIT_NPROC counts the processes of a uid across the machine: with every kernel as nobody, a
    fork bomb graded on one worker starves the kernels of the students graded beside it (they died
    before replying to kernel_info). One uid per worker process keeps each limit to its own sandbox.
    """
    if os.geteuid() != 0 or "COURSE_SANDBOX_UID" in os.environ:
        return {}
    uid = UID_BASE + os.getpid()
    return {"uid": uid, "gid": uid}


def _drop_run_folder(flags: list[str]) -> None:
    for flag in flags:
        if flag.startswith("--KernelManager.ip=") and flag.endswith("/ipc/kernel"):
            shutil.rmtree(Path(flag.split("=", 1)[1]).parent.parent, ignore_errors=True)


def grade(material: Material, submission: Submission) -> Executed:
    """Autograde one submission in a private temporary course; never raises for a bad submission."""
    start = time.perf_counter()
    out = Executed(submission.student, worker=f"{socket.gethostname()}:{os.getpid()}")
    root = Path(tempfile.mkdtemp(prefix="rnn-grade-", dir="/tmp"))  # short: Unix socket paths are limited
    sandbox_flags: list[str] = []
    try:
        os.chmod(root, 0o755)  # the kernel's unprivileged uid walks down to its folder
        _prepare_data(material.data)
        a, s = material.assignment, submission.student
        (root / "nbgrader_config.py").write_text(material.config)
        (root / TEMPLATE_DB).write_bytes(material.gradebook)
        _write(root / "solutions" / a, material.source)
        folder = root / "submitted" / s / a
        folder.mkdir(parents=True)
        _write(folder, submission.files)
        plans = _prepare_notebooks(material, submission, folder, out)
        if out.status == "failed":
            return out
        flags = list(material.flags)
        if material.sandbox:
            sandbox_flags = _sandbox_flags(root, material.deadline)
            flags += sandbox_flags
        bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        cmd = [sys.executable, "-m", "nbgrader", "autograde", a, f"--student={s}",
               f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url=sqlite:///{root / TEMPLATE_DB}",
               f"--NbGrader.logfile={root / GRADER_LOG}", *flags]  # nbgrader's own lines only
        for attempt in range(2):
            remaining = material.deadline - (time.perf_counter() - start)
            code, cpu = _run_nbgrader(cmd + (["--force"] if attempt else []), root, env, max(1.0, remaining))
            out.cpu_seconds += cpu
            log = (root / GRADER_LOG).read_text(errors="replace") if (root / GRADER_LOG).is_file() else ""
            # A kernel that died while starting ran no student code (seen now and then with two sandboxed
            # kernels starting at once): start it once more rather than fail an honest student for it.
            if code is None or KERNEL_START_FAILED not in log.split("== retry ==")[-1]:
                break
            with (root / GRADER_LOG).open("a") as fh:
                fh.write("\n== retry == the kernel died before replying to kernel_info; started again\n")
        out.log = log[-8000:]
        graded = root / "autograded" / s / a
        if code is None:
            out.status = "failed"
            out.reason = (f"grading ran past the {material.deadline:.0f} s deadline and was stopped; nothing was "
                          "graded. Inspect the notebook (or raise --deadline).")
        elif code != 0 or not all((graded / f"{nb}.ipynb").is_file() for nb in material.notebooks):
            out.status, out.reason = "failed", failure_reason(log)
        else:
            _collect(material, graded, folder, plans, root, out)
    except Exception as err:  # noqa: BLE001 - one submission's trouble is reported against it alone
        out.status, out.reason = "failed", f"grading this submission failed: {type(err).__name__}: {err}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
        _drop_run_folder(sandbox_flags)
        out.seconds = time.perf_counter() - start
    return out


def _prepare_notebooks(material: Material, submission: Submission, folder: Path, out: Executed) -> dict:
    """tamper.prepare() on every submitted notebook; returns the private plans (by notebook)."""
    from grading import tamper

    plans = {}
    for name in material.notebooks:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            continue  # nbgrader scores a missing notebook zero itself
        try:
            nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        except Exception:  # noqa: BLE001 - nbgrader fails on it the same way; its log gives the reason
            continue
        master_bytes = material.source.get(f"{name}.ipynb")
        if master_bytes is None:
            continue
        master = nbformat.reads(master_bytes.decode("utf-8"), as_version=4)
        try:
            prepared, plans[name] = tamper.prepare(nb, master, material.secret, student=submission.student)
        except Exception as err:  # noqa: BLE001
            out.status, out.reason = "failed", f"could not prepare {name}.ipynb for grading ({type(err).__name__}: {err})"
            return plans
        path.write_text(nbformat.writes(prepared), encoding="utf-8")
    return plans


def _collect(material: Material, graded: Path, submitted: Path, plans: dict, root: Path, out: Executed) -> None:
    """Read back the executed notebooks, judge them (tamper), and note the per-cell timeouts."""
    from grading import tamper
    from grading.course import Course

    notebooks, verdict = {}, None
    for name in material.notebooks:
        nb = nbformat.read(graded / f"{name}.ipynb", as_version=4)
        if name in plans:
            nb, found = tamper.judge(nb, plans[name])
            verdict = found if verdict is None else verdict.merge(found)
        out.timeouts += timeouts(nb)
        notebooks[name] = nb
    found = tamper.verify(submitted, Course(root, f"sqlite:///{root / TEMPLATE_DB}"), material.assignment)
    verdict = found if verdict is None else verdict.merge(found)
    if verdict.flagged:
        out.flagged = True
        out.flag_reasons = list(dict.fromkeys(verdict.reasons))
        out.parts_zeroed = list(dict.fromkeys(verdict.parts_zeroed))
        # The zeroed tests carry an error output naming the reason: nbgrader itself scores them 0.
        notebooks = {name: tamper.apply(nb, verdict) for name, nb in notebooks.items()}
    out.notebooks = {name: nbformat.writes(nb) for name, nb in notebooks.items()}


def as_json(executed: Executed) -> str:
    """A one-line record of a result (for logs): everything except the notebooks."""
    d = {k: v for k, v in executed.__dict__.items() if k != "notebooks"}
    return json.dumps(d)


if __name__ == "__main__":  # the supervisor: python grading/execute.py --supervise PARENT_PID -- CMD...
    if len(sys.argv) > 4 and sys.argv[1] == "--supervise" and sys.argv[3] == "--":
        sys.exit(supervise(int(sys.argv[2]), sys.argv[4:]))
    sys.exit("usage: python grading/execute.py --supervise PARENT_PID -- COMMAND...")
