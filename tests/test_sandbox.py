"""Sandboxed autograding (grading.sandbox): hostile submissions are contained, honest ones graded exactly.

Everything here runs the real course command (``python -m grading``, which runs the real
``nbgrader``) on a temporary course directory with a fresh gradebook. The course holds a small
assignment with solutions in ``solutions/`` and its hidden checks in ``checks.py`` beside it, released with nbgrader. Each
hostile student attacks in one answer cell and answers the other question honestly, so
"contained" is checked as exact scores: the attack earns nothing, the honest part still counts.

A control run grades the same attacks with ``--no-sandbox`` and shows that they do succeed
there (the solution is found and used, another student's answer is copied, the course's files
are written and its gradebook opened for writing), so the sandboxed assertions cannot pass by accident.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

import grading_support as support
from mini_assignment import CHECKS, fill_answers, source_notebook

REPO = support.REPO
ASSIGNMENT = "sbx"
NOTEBOOK = "work"
TIMEOUT = 8  # per-cell time limit for these runs (s)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox needs Linux")


@pytest.fixture(scope="module")
def sandbox_works():
    """On Linux the sandbox is part of the course: a missing bwrap fails, it is not skipped."""
    from grading import sandbox

    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as err:
        pytest.fail(f"{err}\n(make sandbox-deps installs bubblewrap)")

# --- the assignment -----------------------------------------------------------------------

HONEST_ADD = "def add(a, b):\n    return a + b"
HONEST_MUL = "def mul(a, b):\n    return a * b"

# Walks the file system for notebooks with solutions and for hidden checks, prints what it found and
# runs the solution code it finds (which would define a correct add()).
SNOOP = textwrap.dedent('''
    import json, os
    PRUNE = {"proc", "sys", "dev", "usr", "site-packages", "lib", "lib64", "include", ".git", "node_modules"}
    SOLUTION, HIDDEN = "### BEGIN " + "SOLUTION", "C" + "HECKS = ["  # not its own text
    found = []
    for top in TOPS:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in PRUNE]
            for name in filenames:
                if name.endswith((".ipynb", ".py")):
                    path = os.path.join(dirpath, name)
                    try:
                        text = open(path).read()
                    except OSError:
                        continue
                    if SOLUTION in text or HIDDEN in text:
                        found.append(path)
    print("SNOOP FOUND", len(found), found[:5])
    for path in found:
        try:
            cells = json.load(open(path))["cells"]
        except Exception:
            continue
        for cell in cells:
            src = "".join(cell["source"])
            if SOLUTION in src and cell["cell_type"] == "code":
                try:
                    exec(src)
                    print("SNOOP USED", path)
                except Exception:
                    pass
''')

# Reads another student's submission (submitted/, autograded/, feedback/) and copies its answer.
PEEK = textwrap.dedent('''
    import json, os
    course = COURSE_ROOT or os.path.abspath("../../..")
    assignment, notebook = os.path.basename(os.getcwd()), VICTIM_NOTEBOOK
    read = []
    for part in ["submitted", "autograded", "feedback"]:
        path = os.path.join(course, part, "honest_full", assignment, notebook)
        try:
            cells = json.load(open(path))["cells"]
        except (OSError, ValueError):
            continue
        read.append(path)
        for cell in cells:  # run the victim's answers
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                try:
                    exec("".join(cell["source"]))
                except Exception:
                    pass
    print("PEEK READ", read)
''')

# Tries to write to every *.db file it can find. Inside this test's own course it really writes
# (extra credit into the gradebook, bytes into sentinel.db); anywhere else it only opens the file
# for writing and lists it, so a broken sandbox never damages the machine's databases.
DBWRITER = textwrap.dedent('''
    import os, sqlite3
    PRUNE = {"proc", "sys", "dev", "usr", "site-packages", "lib", "lib64", "include", ".git", "node_modules"}
    course = COURSE_ROOT or os.path.abspath("../../..")  # the control run is told where the real course is
    dbs = {os.path.join(course, "gradebook.db")}
    for top in TOPS:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in PRUNE]
            dbs.update(os.path.abspath(os.path.join(dirpath, n)) for n in filenames if n.endswith(".db"))
    changed = []
    for path in sorted(dbs):
        try:
            if not path.startswith(course + os.sep):
                open(path, "r+b").close()  # writable: that alone is the breach
            elif os.path.basename(path) == "sentinel.db":
                with open(path, "ab") as f:
                    f.write(b"pwned")
            elif COURSE_ROOT:  # control run: the grader is writing this gradebook now; opening it is the breach
                open(path, "r+b").close()
            else:
                con = sqlite3.connect(path, timeout=2)
                con.execute("UPDATE grade SET extra_credit = 100")
                con.commit()
                con.close()
            changed.append(path)
        except Exception:
            pass
    print("DB CHANGED", changed)
''')

# Fills memory: one 50 GB allocation, then 64 MB chunks of touched pages until refused.
# (Guard: it only runs where an address-space limit is set, never against the whole machine.)
MEMHOG = textwrap.dedent('''
    import resource
    limit = resource.getrlimit(resource.RLIMIT_DATA)[1]
    assert 0 < limit <= 8 * 2**30, "refusing to fill memory without a data limit"
    try:
        huge = bytearray(50 * 2**30)
        print("MEMHOG GOT 50 GB")
    except MemoryError:
        print("MEMHOG 50 GB refused")
    chunks = []
    try:
        while True:
            chunks.append(b"x" * (64 * 2**20))
    except MemoryError:
        print("MEMHOG refused after", len(chunks) * 64, "MB")
    del chunks
''')

# Forks without end: every process keeps forking. (Guard: only under a process limit, as non-root.)
FORKBOMB = textwrap.dedent('''
    import os, resource
    limit = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    assert os.getuid() != 0 and 0 < limit <= 512, "refusing to fork without a process limit"
    print("FORKBOMB under RLIMIT_NPROC", limit, flush=True)
    while True:
        try:
            os.fork()
        except OSError:
            pass
''')

# student -> (add cell, mul cell, expected score sandboxed)
STUDENTS = {
    "honest_full": (HONEST_ADD, HONEST_MUL, 3.0),
    "honest_partial": ("def add(a, b):\n    return 3", HONEST_MUL, 1.0),  # visible test only
    "snoop": (SNOOP, HONEST_MUL, 1.0),
    "peek": (PEEK, HONEST_MUL, 1.0),
    "zz_dbwriter": (DBWRITER + "\n" + HONEST_ADD.replace("a + b", "0"), HONEST_MUL, 1.0),
    "memhog": (MEMHOG, HONEST_MUL, 1.0),
    "forkbomb": (FORKBOMB, HONEST_MUL, 1.0),
    "zzz_honest": (HONEST_ADD, HONEST_MUL, 3.0),  # graded after every attack
}
CONTROL = ("honest_full", "snoop", "peek", "zz_dbwriter")  # graded with --no-sandbox
# Where the snoop and the db writer search. Sandboxed: the whole file system they can see.
# Unsandboxed (control run): only this test's own course - they would otherwise find and
# rewrite every *.db on the machine, other courses' gradebooks included.
TOPS_SANDBOXED = ["/", "../../..", "~"]
TOPS_CONTROL = ["../../.."]

SANDBOX_ENV = {  # low limits for the test machine (the defaults are in grading.sandbox.SandboxConfig)
    "COURSE_SANDBOX_MEMORY_MB": "1024",  # a Python 3.13 kernel importing torch needs more than 768 MB
    "COURSE_SANDBOX_NPROC": "48",
    "COURSE_SANDBOX_WALL_SECONDS": "120",
    "COURSE_SANDBOX_CPU_SECONDS": "120",
    "COURSE_SANDBOX_THREADS": "1",
}


def _grade(course: Path, step: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return support.run_cli(course, step, *args, timeout=2400, **(env or {}))


def _attack_prelude(tops: list[str], notebook: str, course_root: str = "") -> str:
    """Where the attacks search (TOPS), the course they aim at and the victim's notebook, set before the attack code."""
    return (f"import os\nTOPS = [os.path.expanduser(p) for p in {tops!r}]\n"
            f"VICTIM_NOTEBOOK = {notebook!r}\nCOURSE_ROOT = {course_root!r}\n")


def _release(root: Path) -> Path:
    """A course with the assignment in solutions/ and its nbgrader release in assignments/."""
    return support.new_course(root / "course", ASSIGNMENT, source_notebook("Sandbox test assignment"), CHECKS,
                              name=NOTEBOOK)


def _make_course(template: Path, root: Path, students, tops: list[str], aim_at_course: bool = False) -> Path:
    """A copy of the released course (with its own gradebook) and one submission per student."""
    course = root / "course"
    shutil.copytree(template, course)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    for student in students:
        add, mul, _ = STUDENTS[student]
        add = _attack_prelude(tops, f"{NOTEBOOK}.ipynb", str(course) if aim_at_course else "") + add
        sub = fill_answers(nbformat.from_dict(json.loads(json.dumps(release))), add, mul)
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(sub, folder / f"{NOTEBOOK}.ipynb")
    (course / "sentinel.db").write_bytes(b"not a gradebook\n")
    return course


def _scores(course: Path) -> dict[str, tuple[float, float]]:
    """(score, extra credit) per student, read back from the gradebook."""
    con = sqlite3.connect(course / "gradebook.db")
    rows = con.execute(
        "SELECT submitted_assignment.student_id, grade.auto_score, grade.manual_score, grade.extra_credit "
        "FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
        "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id").fetchall()
    con.close()
    out: dict[str, list[float]] = {}
    for student, auto, manual, extra in rows:
        score = manual if manual is not None else (auto or 0.0)
        s = out.setdefault(student, [0.0, 0.0])
        s[0] += score
        s[1] += extra or 0.0
    return {k: (v[0], v[1]) for k, v in out.items()}


def _outputs(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    return "\n".join(o.get("text", "") + " ".join(o.get("traceback", []))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _processes_in(course: Path) -> list[int]:
    """PIDs of processes working inside the course, or inside the private folder where autograde
    grades one of this test's submissions (/tmp/rnn-grade-*/autograded/<student>/sbx): a sandbox's."""
    private = re.compile(rf"/rnn-grade-[^/]+/autograded/[^/]+/{re.escape(ASSIGNMENT)}(/|$)")
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = os.readlink(proc / "cwd")
                if str(course) in cwd or private.search(cwd):
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def template(shared_tmp) -> Path:
    return _release(shared_tmp / "sandbox-template")


@pytest.fixture(scope="module")
def sandboxed_run(sandbox_works, template, tmp_path_factory):
    """Grade every student in one sandboxed run, counting the sandbox's processes meanwhile."""
    course = _make_course(template, tmp_path_factory.mktemp("sandboxed"), list(STUDENTS), TOPS_SANDBOXED)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], len(_processes_in(course)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    done = _grade(course, "autograde", ASSIGNMENT, f"--timeout={TIMEOUT}", "--workers=2", env=SANDBOX_ENV)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    log = "\n".join(p.read_text() for p in (course / "autograded" / ".logs").glob("autograde-*.log"))
    return course, done, log, peak[0], seconds


def test_every_student_gets_exactly_the_score_earned(sandboxed_run):
    course, done, log, _, _ = sandboxed_run
    summary = done.stdout + done.stderr
    assert "(sandboxed, fast mode)" in summary, summary
    scores = _scores(course)
    for student, (_, _, expected) in STUDENTS.items():
        if student == "forkbomb":
            continue  # see test_fork_bomb_fails_alone
        assert student in scores, f"{student} missing from the gradebook\n{summary}"
        assert scores[student] == (expected, 0.0), (student, scores[student], summary[-4000:])


def test_snooping_for_solutions_finds_nothing(sandboxed_run):
    course = sandboxed_run[0]
    out = _outputs(course, "snoop")
    assert "SNOOP FOUND 0 []" in out, out
    assert "SNOOP USED" not in out


def test_reading_another_submission_fails(sandboxed_run):
    course = sandboxed_run[0]
    assert "PEEK READ []" in _outputs(course, "peek")


def test_gradebook_and_db_files_cannot_be_written(sandboxed_run):
    course = sandboxed_run[0]
    out = _outputs(course, "zz_dbwriter")
    assert "DB CHANGED []" in out, out
    assert (course / "sentinel.db").read_bytes() == b"not a gradebook\n"
    assert all(extra == 0.0 for _, extra in _scores(course).values())


def test_memory_hog_fails_alone(sandboxed_run):
    course = sandboxed_run[0]
    out = _outputs(course, "memhog")
    assert "MEMHOG 50 GB refused" in out and "MEMHOG refused after" in out, out
    mb = int(out.split("MEMHOG refused after")[1].split()[0])
    assert mb <= int(SANDBOX_ENV["COURSE_SANDBOX_MEMORY_MB"])


def test_fork_bomb_fails_alone(sandboxed_run):
    """The bomb hits the process limit, its sandbox is torn down, and nothing outlives the run.

    Its own notebook may or may not be graded (the bomb keeps the kernel busy past the
    interrupt); it never earns more than its honest answer, and every other student is graded
    exactly (test_every_student_gets_exactly_the_score_earned).
    """
    course, done, log, peak, _ = sandboxed_run
    nproc = int(SANDBOX_ENV["COURSE_SANDBOX_NPROC"])
    graded = course / "autograded" / "forkbomb" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if graded.is_file():
        assert f"FORKBOMB under RLIMIT_NPROC {nproc}" in _outputs(course, "forkbomb")
    # The bomb did run (many processes at once), and never beyond the limit. Outside the
    # sandbox only the launcher and bwrap's monitor share its working directory.
    assert nproc // 2 < peak <= nproc + 3, peak
    assert _processes_in(course) == [], "sandbox processes outlived the grading run"
    assert _scores(course).get("forkbomb", (0.0, 0.0)) in {(0.0, 0.0), (1.0, 0.0)}


def test_feedback_for_every_graded_student(sandboxed_run):
    course = sandboxed_run[0]
    done = _grade(course, "feedback", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    graded = [s for s in STUDENTS if (course / "autograded" / s / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()]
    assert set(STUDENTS) - set(graded) <= {"forkbomb"}
    for student in graded:
        html = course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
        assert html.is_file(), student


def test_attacks_succeed_without_the_sandbox(template, tmp_path):
    """Control: the same attacks, graded with --no-sandbox, do get what they were after."""
    # autograde grades each submission in a private folder of its own, so the attacks are told
    # where the real course is (its absolute path): what the sandbox hides, and nothing else does.
    course = _make_course(template, tmp_path, CONTROL, [str(tmp_path / "course")], aim_at_course=True)
    done = _grade(course, "autograde", ASSIGNMENT, f"--timeout={TIMEOUT}", "--no-sandbox")
    assert "NOT sandboxed" in done.stdout, done.stdout + done.stderr
    scores = _scores(course)
    assert scores["snoop"][0] == 3.0 and "SNOOP USED" in _outputs(course, "snoop")
    assert scores["peek"][0] == 3.0
    # The db writer reaches the course's own files: it appends to sentinel.db and could open the gradebook for
    # writing (it leaves the gradebook alone here, because the grader writes it after every submission has run).
    assert (course / "sentinel.db").read_bytes() == b"not a gradebook\npwned"
    assert str(course / "gradebook.db") in _outputs(course, "zz_dbwriter")


def test_check_refuses_without_bwrap(monkeypatch):
    from grading import sandbox

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k))
    with pytest.raises(sandbox.SandboxUnavailable) as err:
        sandbox.check()
    assert "--no-sandbox" in str(err.value) and "bubblewrap" in str(err.value)


def test_check_refuses_off_linux(monkeypatch):
    from grading import sandbox

    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(sandbox.SandboxUnavailable, match="--no-sandbox"):
        sandbox.check()


def test_grading_refuses_to_start_without_bwrap(tmp_path, monkeypatch, capsys):
    """The grading command itself stops, says why, and names the opt-out flag."""
    from grading import __main__ as grade

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k))
    code = grade.main(["autograde", ASSIGNMENT, f"--course-dir={course}"])
    err = capsys.readouterr().err
    assert code != 0 and "--no-sandbox" in err and "bubblewrap" in err, err
    assert not (course / "autograded").exists() or not any((course / "autograded").glob(f"*/{ASSIGNMENT}"))


def test_launcher_refuses_a_course_root_as_working_directory(tmp_path):
    from grading import sandbox_kernel

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "gradebook.db").write_bytes(b"")
    with pytest.raises(SystemExit, match="course root"):
        sandbox_kernel._check_workdir(tmp_path / "a" / "b")


def test_sandbox_dies_with_the_grading_process(sandbox_works, tmp_path):
    """If nbgrader is killed mid-run, its sandboxed kernel and everything in it go too."""
    workdir = tmp_path / "autograded" / "s" / "a"
    workdir.mkdir(parents=True)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from jupyter_client.manager import KernelManager
        from grading import sandbox
        settings = sandbox.kernel_settings({str(tmp_path)!r})
        km = KernelManager(kernel_name=settings["kernel_name"], transport="ipc", ip=settings["ip"])
        km.start_kernel(cwd={str(workdir)!r})
        kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=120)
        kc.execute("import os, time\\nfor _ in range(3):\\n    os.fork() or time.sleep(600)")
        time.sleep(2)
        n = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                n += os.readlink(f"/proc/{{pid}}/cwd").startswith({str(workdir)!r})
            except OSError:
                pass
        print("started", n, flush=True)
        os._exit(0)  # no shutdown: like a grading run that was killed
    """).replace("time.sleep(2)", "__import__('time').sleep(2)")
    log = tmp_path / "grader.log"  # a file, not a pipe: a leftover kernel must not block the run
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT, timeout=180,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    words = log.read_text().split()
    assert "started" in words, log.read_text()
    assert int(words[words.index("started") + 1]) >= 5  # launcher, bwrap, kernel and its forks
    deadline = time.time() + 15
    while _processes_in(workdir) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_in(workdir) == []


LAB = support.LAB


def test_the_judge_sees_only_what_it_needs(sandbox_works, tmp_path):
    """The judge (a lab's checks) runs sandboxed too: no network, no course, no gradebook, as another uid."""
    from grading.judge import JudgeProcess

    course = support.new_course(tmp_path / "course", "mini", source_notebook(), CHECKS, release=False)
    (course / "gradebook.db").write_bytes(b"the gradebook")
    checks = tmp_path / "checks.py"
    checks.write_text(textwrap.dedent(f'''
        import os, socket
        from grading.spec import Check, Fail

        def judge(inputs, answer, ctx):
            seen = [p for p in ({str(course)!r}, {str(course / "gradebook.db")!r}, {str(REPO / "solutions")!r},
                                os.path.expanduser("~/.config/rnn-course")) if os.path.exists(p)]
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=2)
                net = "open"
            except OSError:
                net = "closed"
            raise Fail(f"SEEN {{seen}} NET {{net}} UID {{os.getuid()}}")

        CHECKS = [Check("c", "what the judge sees", 1, judge)]
        '''))
    from grading.sandbox import SandboxConfig

    judge = JudgeProcess(checks, SandboxConfig.from_env())
    try:
        judge.request({"op": "draw", "seed": 1, "fast": True, "cells": None, "folder": str(judge.folder / "q")}, 120)
        result = judge.request({"op": "judge", "answers": {}, "files": str(judge.folder / "files")}, 120)["results"][0]
    finally:
        judge.close()
    assert result["message"].startswith("SEEN [] NET closed"), result
    if os.geteuid() == 0:
        assert not result["message"].endswith("UID 0")


@pytest.mark.skipif(not (REPO / "assignments" / LAB / f"{LAB}.ipynb").is_file(), reason="lab not released yet")
def test_attacks_on_the_lab_are_contained(sandbox_works, tmp_path):
    """The real lab: attackers who answered part A keep exactly part A's marks, no more.

    Students (all sandboxed, one run): honest_full answers parts A (vocabulary) and C (GRU cell)
    with the reference code; snoop, peek and zz_dbwriter answer part A and put their attack in
    the GRU answer cell. The attacks would earn part C (the solution's GRU cell, or
    honest_full's) and extra credit if they got through. Expected marks are the points of the
    tests of those parts, read from the source notebook.
    """
    course = support.lab_course(support.shared_folder("rnn-sandbox-lab-"))
    answer = support.solution_source

    prelude = _attack_prelude(TOPS_SANDBOXED, f"{LAB}.ipynb")
    plan = {
        "honest_full": {"vocab_answer": answer("vocab_answer"), "gru_answer": answer("gru_answer")},
        "snoop": {"vocab_answer": answer("vocab_answer"), "gru_answer": prelude + SNOOP},
        "peek": {"vocab_answer": answer("vocab_answer"), "gru_answer": prelude + PEEK},
        "zz_dbwriter": {"vocab_answer": answer("vocab_answer"), "gru_answer": prelude + DBWRITER},
    }
    release = nbformat.read(course / "assignments" / LAB / f"{LAB}.ipynb", as_version=4)
    for student, answers in plan.items():
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    (course / "sentinel.db").write_bytes(b"not a gradebook\n")

    source = nbformat.read(course / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points", 0)
              for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")}
    part_a = points["vocab_tests"]
    part_c = points["gru_shape_tests"] + points["gru_match_tests"]

    # 120 s a cell: the attacks walk the file system, which takes longer than 30 s on a busy 2-core box
    done = _grade(course, "autograde", LAB, "--timeout=120", env=SANDBOX_ENV)
    assert "(sandboxed, fast mode)" in done.stdout, done.stdout + done.stderr
    scores = _scores(course)
    assert set(plan) <= set(scores), done.stdout[-3000:]
    assert scores["honest_full"] == (part_a + part_c, 0.0), (scores, done.stdout[-3000:])
    for student in ("snoop", "peek", "zz_dbwriter"):
        assert scores[student] == (part_a, 0.0), (student, scores, done.stdout[-3000:])
    assert all(extra == 0.0 for _, extra in scores.values())
    assert (course / "sentinel.db").read_bytes() == b"not a gradebook\n"
    nb = lambda s: _outputs_of(course / "autograded" / s / LAB / f"{LAB}.ipynb")  # noqa: E731
    for student, line in (("snoop", "SNOOP FOUND 0 []"), ("peek", "PEEK READ []"), ("zz_dbwriter", "DB CHANGED []")):
        assert line in nb(student), (student, nb(student)[-2000:])


def _outputs_of(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") + " ".join(o.get("traceback", []))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
