"""What the test suites share: environments, the instructors' CLI, courses, submissions and scores.

One place for each helper (conftest.py holds the fixtures built from them). A course here is a real
folder with the course's nbgrader_config.py, an assignment's source (notebook and checks.py) under
solutions/, and the real ``python -m grading`` commands run on it; scores are read back through
nbgrader's Gradebook, as nbgrader's own test suite does.
"""
from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
COURSE_ID = "rnn-course"
SECRET = "test-course-secret"  # the course secret of every test course (COURSE_GRADING_SECRET)

LAB = "sherlock_rnn_vs_gru"
LAB_NOTEBOOK = f"{LAB}.ipynb"
LAB_SOURCE = REPO / "solutions" / LAB / LAB_NOTEBOOK
# the lab's autograded test cells and their points: what an honest, complete submission must get
LAB_POINTS = {"vocab_tests": 10, "batches_tests": 10, "gru_shape_tests": 5, "gru_match_tests": 15,
              "model_tests": 15, "train_tests": 15, "eval_tests": 10}
LAB_MANUAL = ("samples", "curves", "comparison")


# --- environments and commands -----------------------------------------------------------------------------

def env(**extra: str) -> dict:
    """The environment of a grading command: fast mode, one thread, the venv first on PATH, the data mirror."""
    out = {**os.environ, "COURSE_FAST": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "COURSE_GRADING_SECRET": SECRET,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if SHARED_DATA.is_dir():
        out.setdefault("COURSE_DATA_MIRROR", str(SHARED_DATA))
    out.update(extra)
    return out


def run_cli(course: Path, step: str, *args: str, db: str | None = None, wait: bool = True, timeout: int = 1200,
            **extra: str):
    """``python -m grading STEP ARGS --course-dir=course`` (a Popen when wait=False)."""
    cmd = [sys.executable, "-m", "grading", step, *args, f"--course-dir={course}"] + ([f"--db={db}"] if db else [])
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(cmd, cwd=REPO, env=env(**extra), capture_output=True, text=True, timeout=timeout)


def autograde(course: Path, assignment: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """The README's autograde, sandboxed where the sandbox works here (else --no-sandbox)."""
    return run_cli(course, "autograde", assignment, *args, *sandbox_flags(), **extra)


def nbgrader(course: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """Plain ``nbgrader ARGS`` run from the course folder, as an instructor might."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env(**extra),
                          capture_output=True, text=True, timeout=1200)


def sandbox_flags() -> list[str]:
    """``[]`` where grading.sandbox works here, else ``["--no-sandbox"]`` (tests/test_sandbox.py fails for the cause)."""
    try:
        from grading import sandbox

        sandbox.check()
        return []
    except Exception:  # noqa: BLE001 - any reason the sandbox cannot run here
        return ["--no-sandbox"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_folder(prefix: str) -> Path:
    """A fresh folder under /tmp every user can walk into (pytest's own are private to this user)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    return folder


# --- courses, submissions, scores ------------------------------------------------------------------------------

def new_course(root: Path, assignment: str, notebook: nbformat.NotebookNode, checks: str | Path | None,
               name: str | None = None, release: bool = True) -> Path:
    """A course at root with one assignment's source (notebook, checks.py), released unless release=False."""
    source = root / "solutions" / assignment
    source.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nbformat.write(notebook, source / f"{name or assignment}.ipynb")
    if isinstance(checks, Path):
        shutil.copy(checks, source / "checks.py")
    elif checks is not None:
        (source / "checks.py").write_text(checks)
    if release:
        done = run_cli(root, "release", assignment)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def lab_course(root: Path, lab: str = LAB) -> Path:
    """A course with a lab's source (without the instructor's checkpoints), released; the Sherlock lab by default."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions" / lab, root / "solutions" / lab,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints", "__pycache__"))
    done = run_cli(root, "release", lab)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def released(course: Path, assignment: str, name: str | None = None) -> nbformat.NotebookNode:
    return nbformat.read(course / "assignments" / assignment / f"{name or assignment}.ipynb", as_version=4)


def submit(course: Path, student: str, assignment: str, nb=None, *, name: str | None = None, raw: str | None = None,
           checkpoints: Path | None = None, files: dict[str, bytes] | None = None) -> Path:
    """Put one student's hand-in into submitted/<student>/<assignment>/ (a notebook, raw text, checkpoints, files)."""
    target = course / "submitted" / student / assignment
    target.mkdir(parents=True)
    path = target / f"{name or assignment}.ipynb"
    if raw is not None:
        path.write_text(raw)
    elif nb is not None:
        nbformat.write(nb, path)
    if checkpoints is not None:
        shutil.copytree(checkpoints / "checkpoints", target / "checkpoints")
    for rel, data in (files or {}).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return target


def scores(course: Path, assignment: str, db: str | None = None) -> dict[str, dict[str, float | None]]:
    """student -> {grade cell: score} for every submission the gradebook holds."""
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()
    out = {}
    with Gradebook(db or f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for sub in gb.find_assignment(assignment).submissions:
            out[sub.student_id] = {g.cell.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


def auto_total(cells: dict[str, float | None], manual=LAB_MANUAL) -> float:
    return sum(v or 0.0 for k, v in cells.items() if k not in manual)


def summary_block(stdout: str, student: str) -> str:
    """A student's lines in the autograde summary: the head line and its notes."""
    lines = stdout.splitlines()
    starts = [i for i, ln in enumerate(lines) if re.match(rf"^  {re.escape(student)}\s", ln)]
    assert starts, f"{student} is not in the summary:\n{stdout[-3000:]}"
    block = [lines[starts[-1]]]
    for ln in lines[starts[-1] + 1:]:
        if not ln.startswith("      "):
            break
        block.append(ln)
    return "\n".join(block)


def assert_unflagged(stdout: str, student: str) -> None:
    """The student's summary lines say neither FLAGGED nor FAILED."""
    block = summary_block(stdout, student)
    assert "FLAGGED" not in block and "FAILED" not in block, block


def assert_flagged(stdout: str, student: str, *why: str) -> None:
    """The student is flagged for review, and the summary says each of ``why``."""
    block = summary_block(stdout, student)
    assert "FLAGGED for review" in block and all(w in block for w in why), block


# --- feedback ------------------------------------------------------------------------------------------------------

def notebook_text(notebook: Path) -> str:
    """A notebook's cell sources, one after another."""
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells)


def hidden_lines(checks: str | Path, public: Path, min_length: int = 25) -> list[str]:
    """The lines of a checks.py that are the grader's alone: code (not a comment or a message) of min_length or
    more characters that the ``public`` notebook does not hold."""
    text = checks.read_text() if isinstance(checks, Path) else checks
    shown = notebook_text(public)
    lines = {ln.strip() for ln in text.splitlines()}
    return sorted(ln for ln in lines if len(ln) >= min_length and ln not in shown
                  and not ln.startswith(("#", '"', "'", 'f"', "f'")))


def feedback_pages(course: Path, assignment: str, hidden: list[str]) -> tuple[dict[str, str], str]:
    """``feedback`` run on the course: each graded student's page (raw HTML) by name, and what the command said.

    Fails where a graded student has no page, feedback holds anything but HTML, or a page shows a hidden line the
    student did not write, the course secret or the seed of the student's hidden inputs.
    """
    from grading.secret import submission_seed

    done = run_cli(course, "feedback", assignment)
    assert done.returncode == 0, done.stdout + done.stderr
    pages = {}
    graded = [f for f in (course / "autograded").iterdir() if (f / assignment).is_dir()]  # not the grader's .logs
    for folder in sorted(graded):
        found = sorted((course / "feedback" / folder.name / assignment).glob("*.html"))
        assert found, f"no feedback for {folder.name}:\n{done.stdout[-3000:]}"
        raw = found[0].read_text()
        words = html.unescape(re.sub(r"<[^>]+>", "", raw)) + "\n" + html.unescape(raw)
        handed_in = sorted((course / "submitted" / folder.name / assignment).glob("*.ipynb"))
        notebooks = {p.name: p.read_bytes() for p in handed_in}
        own = "\n".join(notebook_text(p) for p in handed_in)
        leaked = [ln for ln in hidden if ln in words and ln not in own]  # a line they wrote too is theirs to see
        assert not leaked, f"{folder.name}'s feedback shows lines of checks.py: {leaked[:3]}"
        seed = submission_seed(SECRET.encode(), COURSE_ID, assignment, folder.name, notebooks)
        assert SECRET not in raw and str(seed) not in raw, f"{folder.name}'s feedback shows the secret or its seed"
        assert "Hidden checks, on inputs drawn for this submission" in raw, raw[-2000:]
        pages[folder.name] = raw
    others = [p for p in (course / "feedback").rglob("*") if p.is_file() and p.suffix != ".html"]
    assert not others, f"feedback holds more than HTML: {others[:3]}"
    return pages, done.stdout


def cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def graded_notebook(course: Path, student: str, assignment: str, name: str | None = None):
    return nbformat.read(course / "autograded" / student / assignment / f"{name or assignment}.ipynb", as_version=4)


def solution_source(grade_id: str, source: Path = LAB_SOURCE) -> str:
    """A student's answer: the source cell without its solution markers."""
    text = cell(nbformat.read(source, as_version=4), grade_id).source
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n?", "", text, flags=re.M)


REFERENCE_RUNS = REPO / "test-artifacts" / "reference-runs"


def run_reference(folder: Path, environment: dict, source: Path = LAB_SOURCE,
                  checkpoints: tuple = ("gru.pt", "rnn.pt"), timeout: int = 900) -> Path:
    """A lab's reference solution (the Sherlock lab's by default) run top to bottom (fast mode), copied into
    ``folder``: notebook + checkpoints/fast/, which must hold exactly ``checkpoints``.

    The run is stored under test-artifacts/ by what it depends on (notebook, helpers, mode, data, Python,
    torch), so the workers and both make targets share one run instead of training the same model again.
    """
    import fcntl

    stored = REFERENCE_RUNS / f"{source.stem}-{_reference_fingerprint(source, environment)}"
    REFERENCE_RUNS.mkdir(parents=True, exist_ok=True)
    with open(REFERENCE_RUNS / f"{source.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a worker running this reference now: wait for its run
        if not (stored / ".complete").is_file():
            for old in REFERENCE_RUNS.glob(f"{source.stem}-*"):  # runs of older code
                shutil.rmtree(old, ignore_errors=True)
            _execute_reference(stored, environment, source, timeout)
            (stored / ".complete").touch()
        # copied under the lock: another Python's session may replace the stored run once it is released
        shutil.copytree(stored, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
    found = sorted(p.name for p in (folder / "checkpoints" / "fast").iterdir())
    assert found == sorted(checkpoints), f"the reference run left checkpoints {found}, expected {sorted(checkpoints)}"
    return folder


def _reference_fingerprint(source: Path, environment: dict) -> str:
    """A digest of everything a reference run's result depends on."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in [source, *sorted((REPO / "helpers").rglob("*.py"))]:
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    settings = [environment.get(k) for k in ("COURSE_FAST", "COURSE_DATA_MIRROR")] + [sys.version, version("torch")]
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:16]


def _execute_reference(folder: Path, environment: dict, source: Path, timeout: int) -> None:
    from nbclient import NotebookClient

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    nb = nbformat.read(source, as_version=4)
    saved = dict(os.environ)
    os.environ.update(environment)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, folder / source.name)


# --- a real Jupyter server, as `make lab` starts one -----------------------------------------------------------------

def venv_bin() -> Path:
    """The folder `make lab` puts first on PATH: this interpreter's (make test runs $(VENV)/bin/python), else .venv/bin."""
    folder = Path(sys.executable).parent
    return folder if (folder / "jupyter").exists() else REPO / ".venv" / "bin"


def _answers(port: int, token: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/status", headers={"Authorization": f"token {token}"})
        return conn.getresponse().status == 200
    except OSError:
        return False


CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and os.access(p, os.X_OK)), None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None or sys.platform != "linux",
                                    reason="no system Chromium (/usr/bin/chromium): `make test` installs Debian's "
                                           "chromium where it can; or `sudo apt-get install chromium`")


@contextlib.contextmanager
def jupyter_server(folder: Path, home: Path, *, app: str = "lab", path_first: Path | None = None,
                   settings: dict | None = None, args: tuple = (), **extra: str):
    """``jupyter lab`` (or ``server``) in folder, as `make lab` starts it, with a private home and JupyterLab
    settings (name -> values); yields {url, token, log, folder}."""
    import json
    import secrets

    home.mkdir(parents=True, exist_ok=True)
    token, port = secrets.token_hex(16), free_port()
    for name, values in (settings or {}).items():
        (home / "lab-settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "lab-settings" / name).write_text(json.dumps(values))
    environment = {k: v for k, v in env(**extra).items() if not k.startswith(("JUPYTER", "JPY_"))}
    environment.update(
        PATH=os.pathsep.join(str(p) for p in (path_first, venv_bin()) if p) + os.pathsep + environment["PATH"],
        HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / ".ipython"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    command = [str(venv_bin() / "jupyter"), app, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", *args]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = home / f"{app}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        stop = time.monotonic() + 90
        while not _answers(port, token):
            if process.poll() is not None or time.monotonic() > stop:
                raise RuntimeError(f"Jupyter did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "log": log_path, "folder": folder}
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def api(server: dict, method: str, path: str, timeout: int = 600) -> dict:
    """A call to the server's REST API (Formgrader's buttons call these), as JSON."""
    import json
    import urllib.request

    request = urllib.request.Request(server["url"] + path, method=method, data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"token {server['token']}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode())
