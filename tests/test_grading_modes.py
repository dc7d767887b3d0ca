"""Two grading set-ups the other tests do not cover, run for real on a tiny three-point assignment.

* ``collect --exchange``: the instructor releases to an nbgrader exchange in a temporary folder,
  two students fetch and submit from their own folders with ``nbgrader fetch_assignment`` and
  ``nbgrader submit``, ``python -m grading collect --exchange`` brings the submissions into
  submitted/<student>/ and autograde scores them; a missing exchange is a clear error.
* grading as an ordinary user: the whole course command runs as uid 65534 (``nobody``) through
  ``setpriv`` (or ``runuser``); the sandbox then makes an unprivileged user namespace instead of
  dropping privileges itself. Where that is impossible the command must refuse, naming --no-sandbox.

Scores are read back through nbgrader's Gradebook, as in test_grading.py.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import grading_support as support
from grading_support import sandbox_flags
from mini_assignment import CHECKS, fill_answers, source_notebook

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "mini"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
COURSE_ID = "rnn-course"
NOBODY = 65534
BWRAP = shutil.which("bwrap")

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="exchange permissions and the sandbox need Linux"),
              pytest.mark.timeout(900)]


# The kernel says where it runs: the sandbox's hostname is "sandbox".
WHO = "import os, socket\nprint('WHO', socket.gethostname(), os.getuid())\n"
ANSWERS = {  # student -> (add, mul, expected score)
    "alice": (WHO + "def add(a, b):\n    return a + b", "def mul(a, b):\n    return a * b", 3.0),
    "bob": ("def add(a, b):\n    return 3", "def mul(a, b):\n    return a * b", 1.0),  # passes only add(1, 2)
}


def _run(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env or support.env(), capture_output=True, text=True, timeout=600)


def grade(course: Path, *args: str) -> subprocess.CompletedProcess:
    """The instructors' CLI on a temporary course, as root (this process)."""
    return _run([sys.executable, "-m", "grading", *args, f"--course-dir={course}"], REPO)


def nbgrader(cwd: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "nbgrader", *args], cwd, support.env(**({"HOME": str(home)} if home else {})))


def _answer(nb, student: str):
    add, mul, _ = ANSWERS[student]
    return fill_answers(nb, add, mul)


def _scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()  # nbgrader's Gradebook runs the `alembic` command
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}


def _outputs(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))



@pytest.fixture(scope="module")
def base(module_folder):
    return module_folder


@pytest.fixture(scope="module")
def template(base) -> Path:
    """A course with the assignment in solutions/ and released into assignments/ (with its gradebook)."""
    return support.new_course(base / "template", ASSIGNMENT, source_notebook("Grading-modes test assignment"), CHECKS)


def _course(template: Path, root: Path, exchange: Path | None = None) -> Path:
    course = root / "course"
    shutil.copytree(template, course)
    if exchange is not None:
        with (course / "nbgrader_config.py").open("a") as fh:
            fh.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    return course


# --- collect --exchange ----------------------------------------------------------------------

@pytest.fixture
def unix_students():
    """Throw-away Unix accounts for alice and bob: collect takes a submission's owner as its author."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("making Unix accounts needs root and useradd")
    names = {student: f"gm{os.getpid() % 10000}{student}" for student in ANSWERS}
    for name in names.values():
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    yield names
    for name in names.values():
        subprocess.run(["userdel", name], check=False)


def test_exchange_round_trip_collect_and_autograde(template, base, unix_students):
    import pwd

    root = base / "exchange_ok"
    exchange = root / "exchange"
    exchange.mkdir(parents=True)
    course = _course(template, root, exchange)

    done = nbgrader(course, "release_assignment", ASSIGNMENT)  # reads the course's nbgrader_config.py
    assert done.returncode == 0, done.stdout + done.stderr
    assert (exchange / COURSE_ID / "outbound" / ASSIGNMENT / NOTEBOOK).is_file()

    student_flags = [f"--course={COURSE_ID}", f"--Exchange.root={exchange}"]
    inbound = exchange / COURSE_ID / "inbound"
    for student, user in unix_students.items():
        home = root / f"home_{student}"  # no nbgrader_config.py here: students only know the exchange
        home.mkdir()
        done = nbgrader(home, "fetch_assignment", ASSIGNMENT, *student_flags, home=home)
        assert done.returncode == 0, done.stdout + done.stderr
        fetched = home / ASSIGNMENT / NOTEBOOK
        nbformat.write(_answer(nbformat.read(fetched, as_version=4), student), fetched)
        before = set(inbound.iterdir())
        done = nbgrader(home, "submit", ASSIGNMENT, *student_flags, f"--CourseDirectory.student_id={user}",
                        home=home)
        assert done.returncode == 0, done.stdout + done.stderr
        # This process is root: hand the new folder to the student, as their own submit would have made it.
        entry = pwd.getpwnam(user)
        for folder, _, files in os.walk(*(set(inbound.iterdir()) - before)):
            for path in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
    # A folder named after alice but written by root (anyone else): never collected as alice's.
    forged = inbound / f"{unix_students['alice']}+{ASSIGNMENT}+2999-01-01 00:00:00.000000 UTC+forged"
    shutil.copytree(exchange / COURSE_ID / "outbound" / ASSIGNMENT, forged)

    done = grade(course, "collect", ASSIGNMENT, "--exchange")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Collected 2 new submission(s) of {ASSIGNMENT} from the exchange" in done.stdout
    assert f"claims to be {unix_students['alice']}'s submission but was written by root" in done.stdout
    for student, user in unix_students.items():
        folder = course / "submitted" / user / ASSIGNMENT
        assert (folder / "timestamp.txt").is_file()
        cells = nbformat.read(folder / NOTEBOOK, as_version=4).cells
        assert any(c.source == ANSWERS[student][0] for c in cells), f"{student}'s own answer was not collected"

    flags = sandbox_flags()
    done = grade(course, "autograde", ASSIGNMENT, "--timeout=20", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _scores(course) == {user: ANSWERS[s][2] for s, user in unix_students.items()}, done.stdout
    assert f"{unix_students['alice']}  3/3 autograded" in done.stdout
    assert f"{unix_students['bob']}    1/3 autograded" in done.stdout
    if not flags:
        assert "(sandboxed, fast mode)" in done.stdout


def test_collect_from_a_missing_or_empty_exchange_says_what_to_fix(template, base):
    root = base / "exchange_bad"
    missing = root / "no_exchange_here"
    course = _course(template, root, missing)
    done = grade(course, "collect", ASSIGNMENT, "--exchange")
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(missing) in done.stderr  # nbgrader's reason, with the folder it looked in
    assert f"{course / 'nbgrader_config.py'}" in done.stderr and "c.Exchange.root" in done.stderr
    assert "--from FOLDER" in done.stderr
    assert not (course / "submitted").exists()

    missing.mkdir()  # the exchange exists, but nothing was released to it
    done = grade(course, "collect", ASSIGNMENT, "--exchange")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{missing / COURSE_ID / 'inbound'}" in done.stderr
    assert f"python -m grading release {ASSIGNMENT} --exchange" in done.stderr


# --- grading as an ordinary user -------------------------------------------------------------

def _as_nobody() -> list[str]:
    """The command prefix that runs a command as uid 65534, or a skip when this box cannot."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root; run this file as root (as the course box does)")
    if shutil.which("setpriv"):
        prefix = [shutil.which("setpriv"), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    elif shutil.which("runuser"):
        prefix = [shutil.which("runuser"), "-u", "nobody", "--"]
    else:
        pytest.skip("neither setpriv nor runuser (util-linux) is installed")
    from grading.sandbox_kernel import python_paths

    installation = python_paths(sys.executable)  # the venv and the Python it was made from
    # A Python that cannot read its own installation may still start (on another stdlib): list it.
    # ... and the course itself: helpers and grading are imported from this checkout (editable install).
    probe = [sys.executable, "-c", f"import os, nbgrader, helpers, grading; [os.listdir(p) for p in {[str(p) for p in installation]!r}]"]
    if _run([*prefix, *probe], REPO, _nobody_env(Path("/tmp"))).returncode == 0:
        return prefix
    # The course's Python can live in root's private home (pyenv under /root on the course box).
    # Show the ordinary user that installation only, in a private mount namespace: what the grader
    # of a normal machine, with their own environment, would see. Nothing else of /root is visible.
    # The checkout can live there too (a clone in root's home, mode 0700).
    hidden = [p for p in [*installation, REPO] if Path("/root") in p.parents]
    if not (BWRAP and hidden):
        pytest.skip(f"uid {NOBODY} cannot read the Python installation {[str(p) for p in installation]} "
                    f"or the course checkout {REPO} (a private home folder?); grading as an ordinary user "
                    "needs both readable by that user")
    wrap = [BWRAP, "--die-with-parent", "--dev-bind", "/", "/", "--perms", "0755", "--tmpfs", "/root"]
    for p in hidden:
        for d in reversed(p.parents):
            if Path("/root") in d.parents:  # bwrap would make these 0700
                wrap += ["--perms", "0755", "--dir", str(d)]
        wrap += ["--ro-bind", str(p), str(p)]
    prefix = [*wrap, "--", *prefix]
    done = _run([*prefix, *probe], REPO, _nobody_env(Path("/tmp")))
    if done.returncode != 0:
        pytest.skip(f"uid {NOBODY} cannot run {sys.executable} with this checkout's helpers and grading "
                    f"(is {REPO} in a private home folder?): {done.stderr.strip()[-300:]}")
    return prefix


def _nobody_env(home: Path, path_first: Path | None = None) -> dict:
    """A fresh environment for the ordinary user: its own HOME, none of root's settings."""
    path = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
    return {"HOME": str(home), "USER": "nobody", "LOGNAME": "nobody", "LANG": "C.UTF-8",
            "PATH": f"{path_first}:{path}" if path_first else path,
            "COURSE_FAST": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "COURSE_GRADING_SECRET": support.SECRET, **({"COURSE_DATA_MIRROR": str(support.SHARED_DATA)}
                                                        if support.SHARED_DATA.is_dir() else {})}


def _nobody_course(template: Path, root: Path) -> Path:
    """A released course with alice's submission, owned by uid 65534, plus a writable HOME."""
    course = _course(template, root)
    folder = course / "submitted" / "alice" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(_answer(nbformat.read(course / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4), "alice"),
                   folder / NOTEBOOK)
    (root / "home").mkdir()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), NOBODY, NOBODY)
    return course


def _grade_as(prefix: list[str], env: dict, course: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([*prefix, sys.executable, "-m", "grading", *args, f"--course-dir={course}"], REPO, env)


def _userns_works(prefix: list[str], env: dict) -> bool:
    """Can the ordinary user make the unprivileged user namespace the sandbox uses? (bwrap itself, not our code)"""
    if not BWRAP:
        return False
    probe = [BWRAP, "--unshare-user", "--disable-userns", "--ro-bind", "/", "/", "--", "true"]
    return _run([*prefix, *probe], REPO, env).returncode == 0


def _assert_graded_unsandboxed(prefix, env, course, refused: subprocess.CompletedProcess):
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Cannot sandbox the kernels" in refused.stderr and "--no-sandbox" in refused.stderr, refused.stderr
    assert not (course / "autograded" / "alice").exists()
    done = _grade_as(prefix, env, course, "autograde", ASSIGNMENT, "--timeout=20", "--no-sandbox")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT sandboxed" in done.stdout
    assert _scores(course) == {"alice": 3.0}
    who = _outputs(course, "alice").split("WHO ")[1].split()
    assert who[0] != "sandbox" and who[1] == str(NOBODY), who  # ran unsandboxed, with the grader's uid


def test_ordinary_user_grades_sandboxed_or_is_told_to_use_no_sandbox(template, base):
    prefix = _as_nobody()
    root = base / "nonroot"
    root.mkdir()
    course = _nobody_course(template, root)
    env = _nobody_env(root / "home")
    done = _grade_as(prefix, env, course, "autograde", ASSIGNMENT, "--timeout=20")
    if _userns_works(prefix, env):  # this box: unprivileged user namespaces are allowed
        assert done.returncode == 0, done.stdout + done.stderr
        assert "(sandboxed, fast mode)" in done.stdout
        assert _scores(course) == {"alice": 3.0}, done.stdout
        assert "WHO sandbox 65534" in _outputs(course, "alice")  # in the sandbox, as the grader's uid
        assert (course / "autograded" / "alice" / ASSIGNMENT / NOTEBOOK).stat().st_uid == NOBODY
    else:
        _assert_graded_unsandboxed(prefix, env, course, done)


def test_ordinary_user_without_user_namespaces_is_refused_then_no_sandbox_grades(template, base):
    """Where bwrap cannot make a user namespace (as on hosts that forbid them), grading stops and names the way out."""
    prefix = _as_nobody()
    root = base / "nonroot_no_userns"
    root.mkdir()
    fake = root / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    (fake / "bwrap").chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    course = _nobody_course(template, root)
    env = _nobody_env(root / "home", path_first=fake)
    refused = _grade_as(prefix, env, course, "autograde", ASSIGNMENT, "--timeout=20")
    assert "bwrap could not start a sandbox here (bwrap: setting up uid map: Permission denied)" in refused.stderr
    _assert_graded_unsandboxed(prefix, env, course, refused)
