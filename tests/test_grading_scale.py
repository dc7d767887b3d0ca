"""Grading a class at scale, for real, on the 3-point mini assignment (tests/mini_assignment.py).

* ``--workers 2`` writes the same gradebook (scores, comments), the same autograded notebooks and
  the same feedback as ``--workers 1``, and the same scores and comments as plain serial
  ``nbgrader autograde``; SQLite never says "database is locked", even with two runs at once.
* A hostile submission that runs past ``--deadline`` is stopped and reported alone.
* A real PostgreSQL server, started here on loopback, takes two concurrent autograde runs.
* A real Dask scheduler with two worker processes on loopback grades the class; one worker is
  killed in the middle, its student is graded again elsewhere, none is lost or counted twice.

Kernels run sandboxed when grading.sandbox works here, otherwise with --no-sandbox.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
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
RIGHT = ("def add(a, b):\n    return a + b", "def mul(a, b):\n    return a * b")
EXPECTED = {"alice": 3.0, "bob": 1.0, "carl": 3.0}  # dan: not valid JSON -> FAILED

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox and these servers need Linux"),
              pytest.mark.scale, pytest.mark.timeout(900)]


_env = support.env


def grade(course: Path, *args: str, db: str | None = None, wait: bool = True, **env: str):
    """The instructors' CLI, ``python -m grading autograde``, on a temporary course."""
    return support.run_cli(course, "autograde", ASSIGNMENT, *args, *sandbox_flags(), db=db, wait=wait, **env)


def _cli(course: Path, step: str, *args: str, db: str | None = None) -> subprocess.CompletedProcess:
    return support.run_cli(course, step, ASSIGNMENT, *args, db=db)


@pytest.fixture(scope="module")
def base(module_folder):
    return module_folder


def _source_course(folder: Path) -> Path:
    return support.new_course(folder, ASSIGNMENT, source_notebook("Grading-at-scale test assignment"), CHECKS,
                              release=False)


@pytest.fixture(scope="module")
def template(base) -> Path:
    """A course with the assignment released (SQLite gradebook), no submissions yet."""
    course = _source_course(base / "template")
    done = _cli(course, "release")
    assert done.returncode == 0, done.stdout + done.stderr
    return course


def _submit(course: Path, student: str, nb=None, raw: str | None = None) -> None:
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    if raw is not None:
        (target / NOTEBOOK).write_text(raw)
    else:
        nbformat.write(nb, target / NOTEBOOK)


def _class(course: Path, students=("alice", "bob", "carl", "dan")) -> Path:
    release = course / "assignments" / ASSIGNMENT / NOTEBOOK
    for student in students:
        nb = nbformat.read(release, as_version=4)
        if student == "bob":  # passes add(1, 2) only: 1 point
            fill_answers(nb, "def add(a, b):\n    return 3", RIGHT[1])
        elif student == "dan":  # cut off mid-file
            _submit(course, student, raw=release.read_text()[:200])
            continue
        elif student.startswith("sleepy"):  # stays under the per-cell limit, not under the deadline
            fill_answers(nb, "import time\ntime.sleep(3000)\n" + RIGHT[0], RIGHT[1])
        else:
            fill_answers(nb, *RIGHT)
            if student == "carl":  # deleted a test cell: nbgrader puts it back and grades it
                nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_mul"]
        _submit(course, student, nb)
    return course


def _copy(template: Path, folder: Path) -> Path:
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("autograded", "submitted", "feedback"))
    return folder


def _gradebook(url: str) -> dict:
    """Every submission's grades and comments, as plain data."""
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()
    out = {}
    with Gradebook(url, COURSE_ID) as gb:
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            for nb in sub.notebooks:
                out[sub.student.id] = {
                    "grades": sorted((g.cell.name, g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades),
                    "comments": sorted((c.cell.name, c.auto_comment, c.manual_comment) for c in nb.comments),
                }
    return out


def _sqlite(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def _scores(url: str) -> dict[str, float]:
    return {s: sum(g[1] or 0 for g in v["grades"]) for s, v in _gradebook(url).items()}


def _notebook(course: Path, student: str) -> dict:
    """The autograded notebook without cell ids (nbgrader gives a cell it puts back a random one)."""
    nb = json.loads((course / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text())
    for cell in nb["cells"]:
        cell.pop("id", None)
    return nb


def _feedback(course: Path, student: str) -> str:
    html = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    html = re.sub(r'id="[^"]*"|cell-id=[\w-]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', "", html)
    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "", html)  # timestamps


def _summary_lines(stdout: str) -> list[str]:
    return [ln for ln in stdout.split("Autograde summary", 1)[-1].splitlines()[1:] if ln.strip()]


@pytest.fixture(scope="module")
def one_and_two(template, base):
    """The same class graded with --workers 1 and with --workers 2."""
    runs = {}
    for workers in (1, 2):
        course = _class(_copy(template, base / f"workers{workers}"))
        runs[workers] = (course, grade(course, f"--workers={workers}"))
    return runs


def test_two_workers_grade_exactly_like_one(one_and_two):
    (c1, r1), (c2, r2) = one_and_two[1], one_and_two[2]
    for result in (r1, r2):
        assert result.returncode == 1, result.stdout + result.stderr  # dan could not be graded
        assert "database is locked" not in result.stdout + result.stderr
    assert "2 at a time" in r2.stdout and "one at a time" in r1.stdout
    assert _summary_lines(r1.stdout) == _summary_lines(r2.stdout)
    assert "3 graded, 1 failed, 0 skipped." in r2.stdout
    assert re.search(r"dan +FAILED\n +- the notebook is not valid JSON", r2.stdout), r2.stdout
    assert re.search(r"carl +3/3 autograded\n +- deleted test cells, put back and graded: test_mul", r2.stdout)
    book1, book2 = _gradebook(_sqlite(c1)), _gradebook(_sqlite(c2))
    assert book1 == book2
    assert _scores(_sqlite(c2)) == {**EXPECTED, "dan": 0.0}
    assert book2["dan"]["grades"][0][1] is None  # in the gradebook, ungraded, as nbgrader leaves it
    for student in EXPECTED:
        assert _notebook(c1, student) == _notebook(c2, student), student
    for course in (c1, c2):
        done = _cli(course, "feedback")
        assert "Feedback HTML for 3 of 3" in done.stdout, done.stdout + done.stderr
    for student in EXPECTED:
        assert _feedback(c1, student) == _feedback(c2, student), student
    logs = "".join(p.read_text() for c in (c1, c2) for p in (c / "autograded" / ".logs").glob("*.log"))
    assert "database is locked" not in logs


def test_same_scores_and_comments_as_plain_nbgrader(one_and_two, template, base):
    """Plain serial `nbgrader autograde` in the course folder (it goes through the same grader) records what the
    parallel run recorded."""
    course = _class(_copy(template, base / "plain"))
    done = support.nbgrader(course, "autograde", ASSIGNMENT, *(["--GradeInSandbox.sandbox=False"] if sandbox_flags() else []),
                            "--GradeInSandbox.fast=True")
    assert "There was an error processing assignment" in done.stdout + done.stderr  # dan, and only dan
    plain, ours = _gradebook(_sqlite(course)), _gradebook(_sqlite(one_and_two[2][0]))
    assert plain == ours


def test_hostile_submission_is_stopped_at_the_deadline_alone(template, base):
    course = _class(_copy(template, base / "deadline"), students=("alice", "sleepy"))
    first = grade(course, "--workers=1", "--student=alice")  # how long an honest one takes on this box now
    assert first.returncode == 0, first.stdout + first.stderr
    log = "".join(p.read_text() for p in (course / "autograded" / ".logs").glob("*.log"))
    honest = float(re.search(r"== alice: graded in ([\d.]+) s", log)[1])
    deadline = max(20, round(3 * honest))
    start = time.perf_counter()
    result = grade(course, "--workers=2", "--force", f"--deadline={deadline}", "--timeout=3000")
    wall = time.perf_counter() - start
    assert result.returncode == 0, result.stdout + result.stderr
    # the deadline stops add's cell; nothing after it runs, so no part is asked (fail closed, and said)
    block = support.summary_block(result.stdout, "sleepy")
    assert "0/3 autograded" in block and f"the {deadline} s deadline for this notebook passed while" in block, block
    assert "limit per cell" not in block, block  # the deadline, not the per-cell limit, stopped it
    assert re.search(r"alice +3/3 autograded", result.stdout), result.stdout
    assert wall < deadline + 300, wall  # bounded by the deadline, not by the 3000 s the submission asked for
    time.sleep(2)
    leftovers = [p.parent.name for p in Path("/proc").glob("[0-9]*/cwd") if "/autograded/sleepy/" in _readlink(p)]
    assert not leftovers, "processes of the stopped task outlived it: " + " ".join(leftovers)


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path) + "/"
    except OSError:
        return ""


def test_two_runs_at_once_share_one_sqlite_gradebook(template, base):
    course = _class(_copy(template, base / "sqlite2"), students=("alice", "bob", "carl"))
    first = grade(course, "--workers=1", "--student=alice", "--student=bob", wait=False)
    second = grade(course, "--workers=1", "--student=carl", wait=False)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert not any("database is locked" in out for out in outputs)
    assert _scores(_sqlite(course)) == EXPECTED


# --- PostgreSQL ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runner = shutil.which("runuser")
    return [runner, "-u", "postgres", "--", *cmd] if runner else ["setpriv", "--reuid=postgres", "--regid=postgres",
                                                                   "--init-groups", *cmd]


@pytest.fixture(scope="module")
def postgres(base):
    """A real PostgreSQL server on 127.0.0.1 with an empty database `gradebook`; yields its URL."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) + \
        [Path(p) for p in filter(None, [shutil.which("initdb")])]
    if not bins:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    bindir = bins[-1].parent
    folder = base / "postgres"
    folder.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = _free_port()
    done = subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                                        "--auth=trust", "-E", "UTF8"]), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=50"
    done = subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-o", options,
                                        "-l", str(folder / "log"), "-w", "start"]), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + (folder / "log").read_text()
    try:
        try:  # the driver SQLAlchemy uses for postgresql:// URLs
            import psycopg
        except ImportError:
            pytest.fail("psycopg (3) is not installed: pip install -e '.[grading]' (it brings psycopg[binary])")
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]),
                       capture_output=True)


def test_postgresql_gradebook_takes_concurrent_runs(postgres, base):
    course = _source_course(base / "pg")
    done = _cli(course, "release", db=postgres)
    assert done.returncode == 0, done.stdout + done.stderr
    _class(course, students=("alice", "bob", "carl", "erin"))
    runs = [grade(course, "--workers=2", "--student=alice", "--student=bob", db=postgres, wait=False),
            grade(course, "--workers=1", "--student=carl", "--student=erin", db=postgres, wait=False)]
    outputs = [p.communicate(timeout=600)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    assert "gradebook written by one process (postgresql)" in outputs[0]
    assert _scores(postgres) == {**EXPECTED, "erin": 3.0}
    assert not (course / "gradebook.db").exists()  # nothing fell back to SQLite


# --- A Dask cluster with a worker killed mid-run --------------------------------------------------

def _grading(pid: int) -> bool:
    """Whether the worker process pid is grading a submission now: it has started a kernel or a judge (an idle
    worker, with no nanny, has no child process)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid and \
                    any(k in (stat.parent / "cmdline").read_bytes() for k in (b"kernel", b"judge", b"bwrap")):
                return True
        except (OSError, IndexError, ValueError):
            pass
    return False


@pytest.fixture()
def dask_cluster(base):
    """`dask scheduler` and two `dask worker` processes (one thread each, no nanny) on 127.0.0.1."""
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", ":0"], cwd=REPO, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                       "--no-nanny", "--no-dashboard"], cwd=REPO, env=_env(PYTHONPATH=str(REPO)),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=120)
    yield address, procs[1:]
    for p in reversed(procs):
        p.kill()
        p.wait()


def test_dask_cluster_survives_a_killed_worker(dask_cluster, template, base):
    address, workers = dask_cluster
    students = ("alice", "bob", "carl", "erin")
    course = _class(_copy(template, base / "dask"), students=students)
    run = grade(course, f"--scheduler={address}", wait=False)
    deadline = time.time() + 300
    victim = None
    while victim is None and time.time() < deadline:  # kill the first worker seen grading a submission
        victim = next((w for w in workers if _grading(w.pid)), None)
        time.sleep(0.2)
    assert victim is not None, "no worker started grading"
    victim.send_signal(signal.SIGKILL)
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    assert "on the Dask cluster at " + address in output
    assert "4 graded, 0 failed, 0 skipped." in output
    assert _scores(_sqlite(course)) == {**EXPECTED, "erin": 3.0}
    for student in students:  # each reported once, and graded once in the end
        assert len(re.findall(rf"\] {student}: graded in", output)) == 1, output
    survivor = next(w for w in workers if w is not victim)
    log = "".join(p.read_text() for p in (course / "autograded" / ".logs").glob("*.log"))
    hosts = re.findall(r"== (\w+): graded in [\d.]+ s \(CPU [\d.]+ s\) on [^:]+:(\d+) ==", log)
    assert sorted(s for s, _ in hosts) == sorted(students)
    assert {int(pid) for _, pid in hosts} == {survivor.pid}  # the killed worker's student was graded elsewhere
