"""The grading cycle for real: release, autograde, feedback and export with nbgrader on a temporary course.

One autograde run grades seven students at once (it is the slow part), and the tests read the
scores back through nbgrader's Gradebook:

    alice  the reference solution with its checkpoints          -> 80/80
    bob    the untouched release                                -> 0, no crash
    carol  parts A and C right, part B wrong                     -> exactly 30
    dave   the reference with an infinite loop in part B         -> timeout there, 70
    erin   breaks Vocab.decode and rewrites its test to pass     -> test restored, 70
    frank  the reference with the part B test cell deleted       -> test put back and graded, 80
    grace  a notebook that is not valid JSON                     -> a clear error for her alone

Kernels run sandboxed when grading.sandbox works here, otherwise with --no-sandbox.
"""
from __future__ import annotations

import csv
import html as html_module
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading_support import LAB as ASSIGNMENT
from grading_support import LAB_NOTEBOOK as NOTEBOOK
from grading_support import LAB_POINTS as AUTO_POINTS
from grading_support import LAB_SOURCE as SOURCE
from grading_support import REPO, run_reference, sandbox_flags

TIMEOUT = 20  # seconds per cell while grading these submissions (the course default is 60)
MANUAL = ("samples", "curves", "comparison")

pytestmark = pytest.mark.timeout(900)  # the first test also pays for training the reference and grading seven notebooks


def _env() -> dict:
    env = dict(os.environ, COURSE_FAST="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    return env


def grade(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the instructors' CLI, ``python -m grading``, on the temporary course."""
    cmd = [sys.executable, "-m", "grading", *args, f"--course-dir={course}"]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)



def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _solution_source(grade_id: str) -> str:
    """A student's answer: the source cell without its solution markers."""
    source = _cell(nbformat.read(SOURCE, as_version=4), grade_id).source
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n?", "", source, flags=re.M)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The reference solution run top to bottom in fast mode: the notebook plus its checkpoints."""
    return run_reference(tmp_path_factory.mktemp("reference"), _env())


def _submit(course: Path, student: str, nb=None, *, checkpoints: Path | None = None, raw: str | None = None):
    target = course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    if raw is not None:
        (target / NOTEBOOK).write_text(raw)
    else:
        nbformat.write(nb, target / NOTEBOOK)
    if checkpoints is not None:
        shutil.copytree(checkpoints / "checkpoints", target / "checkpoints")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference):
    """A course with the lab released, seven submissions, and one autograde run over all of them."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
    release = grade(course, "release", ASSIGNMENT)
    assert release.returncode == 0, release.stdout + release.stderr

    solved = nbformat.read(reference / NOTEBOOK, as_version=4)
    blank = nbformat.read(course / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    _submit(course, "alice", solved, checkpoints=reference)
    _submit(course, "bob", blank)

    carol = nbformat.read(course / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    _cell(carol, "vocab_answer").source = _solution_source("vocab_answer")
    _cell(carol, "gru_answer").source = _solution_source("gru_answer")
    _cell(carol, "batches_answer").source = (  # targets not shifted: a classic mistake
        "def make_batches(ids, batch_size, seq_len):\n"
        "    L = (len(ids) - 1) // batch_size // seq_len * seq_len\n"
        "    x = ids[: batch_size * L].view(batch_size, L)\n"
        "    return [(x[:, k: k + seq_len], x[:, k: k + seq_len]) for k in range(0, L, seq_len)]\n")
    _submit(course, "carol", carol, checkpoints=reference)

    dave = nbformat.read(reference / NOTEBOOK, as_version=4)
    _cell(dave, "batches_answer").source = "while True:\n    pass\n\n" + _cell(dave, "batches_answer").source
    _submit(course, "dave", dave, checkpoints=reference)

    erin = nbformat.read(reference / NOTEBOOK, as_version=4)
    _cell(erin, "vocab_answer").source = _cell(erin, "vocab_answer").source.replace(
        'return "".join(self.itos[int(i)] for i in ids)', 'return ""')
    _cell(erin, "vocab_tests").source = 'print("Part A: visible tests passed")\n'
    _submit(course, "erin", erin, checkpoints=reference)

    frank = nbformat.read(reference / NOTEBOOK, as_version=4)
    frank.cells.remove(_cell(frank, "batches_tests"))
    _submit(course, "frank", frank, checkpoints=reference)

    _submit(course, "grace", raw=(reference / NOTEBOOK).read_text()[:5000])  # cut off mid-file

    result = grade(course, "autograde", ASSIGNMENT, f"--timeout={TIMEOUT}", *sandbox_flags())
    return course, result


def _scores(course: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()  # nbgrader's Gradebook runs the `alembic` command
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        grades = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).grades
        return {g.cell.name: g.score for g in grades}


def _auto(course: Path, student: str) -> float:
    return sum(v for k, v in _scores(course, student).items() if k in AUTO_POINTS)


def _graded_nb(course: Path, student: str):
    return nbformat.read(course / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)


def test_reference_gets_full_autograded_marks(graded):
    course, result = graded
    scores = _scores(course, "alice")
    assert {k: scores[k] for k in AUTO_POINTS} == AUTO_POINTS, result.stdout
    assert "alice  80/80 autograded, 3 part(s) to grade by hand" in result.stdout
    if not sandbox_flags():  # the sandbox works here, so grading must have used it
        assert "(sandboxed)" in result.stdout


def test_untouched_release_gets_zero_without_crashing(graded):
    course, result = graded
    assert _scores(course, "bob") == dict.fromkeys([*AUTO_POINTS, *MANUAL], 0.0)
    assert (course / "autograded" / "bob" / ASSIGNMENT / NOTEBOOK).is_file()
    assert "bob    0/80 autograded" in result.stdout


def test_partly_correct_submission_gets_exactly_what_it_earned(graded):
    course, _ = graded
    scores = _scores(course, "carol")
    assert {k: scores[k] for k in AUTO_POINTS} == {
        "vocab_tests": 10, "batches_tests": 0, "gru_shape_tests": 5, "gru_match_tests": 15,
        "model_tests": 0, "train_tests": 0, "eval_tests": 0}


def test_infinite_loop_hits_the_cell_timeout_and_the_rest_is_graded(graded):
    course, result = graded
    cell = _cell(_graded_nb(course, "dave"), "batches_answer")
    assert any(o.get("ename") == "CellTimeoutError" for o in cell.outputs), cell.outputs
    assert _auto(course, "dave") == 70
    assert _scores(course, "dave")["batches_tests"] == 0
    assert "batches_answer: stopped at the per-cell time limit" in result.stdout


def test_edited_test_cell_is_restored(graded):
    course, result = graded
    master = _cell(nbformat.read(SOURCE, as_version=4), "vocab_tests").source  # hidden tests included
    assert _cell(_graded_nb(course, "erin"), "vocab_tests").source == master
    assert _scores(course, "erin")["vocab_tests"] == 0  # the real test caught the broken decode
    assert _auto(course, "erin") == 70
    assert "edited test/read-only cells, restored before grading: vocab_tests" in result.stdout


def test_deleted_test_cell_is_restored_and_graded(graded):
    course, result = graded
    graded_nb = _graded_nb(course, "frank")
    assert "assert len(batches) == 6" in _cell(graded_nb, "batches_tests").source
    assert _scores(course, "frank")["batches_tests"] == 10
    assert _auto(course, "frank") == 80
    assert "deleted test cells, put back and graded: batches_tests" in result.stdout


def test_invalid_json_fails_alone_with_a_clear_message(graded):
    course, result = graded
    assert result.returncode == 1, result.stdout + result.stderr
    assert "grace  FAILED" in result.stdout
    assert "not valid JSON" in result.stdout
    assert "6 graded, 1 failed, 0 skipped." in result.stdout
    assert "need your attention" in result.stdout


def _hidden_test_lines() -> list[str]:
    """Distinctive lines of the lab's hidden tests (the ones a student could recognise)."""
    lines, inside = [], False
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    released = (REPO / "assignments" / ASSIGNMENT / NOTEBOOK).read_text()
    return [line for line in lines if json.dumps(line)[1:-1] not in released]  # also shown to students


def test_feedback_for_every_graded_student_and_grades_csv(graded):
    course, _ = graded
    result = grade(course, "feedback", ASSIGNMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    for student in ("alice", "bob", "carol", "dave", "erin", "frank"):
        html = course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert html.is_file(), student
    assert "Feedback HTML for 6 of 6 graded student(s)" in result.stdout
    # Hidden tests stay hidden: no line of any hidden test region appears in any feedback file,
    # and feedback holds the HTML only (no checkpoints or other files of the submission).
    hidden = _hidden_test_lines()
    assert len(hidden) >= 5
    for path in (course / "feedback").rglob("*"):
        if path.is_file():
            assert path.suffix == ".html", path
            text = html_module.unescape(path.read_text())
            leaked = [line for line in hidden if line in text]
            assert not leaked, f"{path.relative_to(course)} shows hidden tests: {leaked[:3]}"
            assert "hidden tests: not shown in feedback" in text

    result = grade(course, "export", ASSIGNMENT, f"--to={course / 'grades.csv'}")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
    assert float(rows["alice"]["score"]) == 80 and float(rows["alice"]["max_score"]) == 100
    assert float(rows["carol"]["score"]) == 30 and float(rows["grace"]["score"]) == 0
    assert "still have parts to grade by hand" in result.stdout


def test_autograde_refuses_without_a_sandbox(tmp_path, monkeypatch, capsys):
    from grading import __main__ as grading
    from grading import sandbox

    def unavailable():
        raise sandbox.SandboxUnavailable("test: no user namespaces")

    monkeypatch.setattr(sandbox, "check", unavailable)
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    assert grading.main(["autograde", ASSIGNMENT, f"--course-dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "no user namespaces" in err and "--no-sandbox" in err


def test_collect_copies_a_folder_of_submissions(tmp_path):
    shutil.copy(REPO / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    inbox = tmp_path / "inbox"
    (inbox / "s1" / "checkpoints").mkdir(parents=True)
    (inbox / "s1" / NOTEBOOK).write_text("{}")
    (inbox / "s1" / "checkpoints" / "rnn.pt").write_bytes(b"x")
    (inbox / "s2").mkdir()
    (inbox / "s2" / "sherlock_rnn_vs_gru (1).ipynb").write_text("{}")
    (inbox / "s3" / "checkpoints").mkdir(parents=True)  # checkpoints, but the notebook was forgotten
    (inbox / "s3" / "checkpoints" / "gru.pt").write_bytes(b"x")
    (inbox / "bad name").mkdir()
    result = grade(tmp_path, "collect", ASSIGNMENT, f"--from={inbox}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "submitted" / "s1" / ASSIGNMENT / "checkpoints" / "rnn.pt").is_file()
    assert (tmp_path / "submitted" / "s2" / ASSIGNMENT / NOTEBOOK).is_file()
    # Kept, so that autograde reports the student (FAILED, 0) and grades.csv lists them.
    assert (tmp_path / "submitted" / "s3" / ASSIGNMENT / "checkpoints" / "gru.pt").is_file()
    assert "s3: expected sherlock_rnn_vs_gru.ipynb, found no notebook; collected anyway" in result.stdout
    assert "Collected 3 submission(s)" in result.stdout
    assert "'bad name': not usable as a student id" in result.stdout
    assert "s2: no checkpoints/*.pt submitted" in result.stdout


def test_grade_stops_before_feedback_while_written_parts_wait_for_a_human(graded):
    """`make grade` must not hand out feedback or grades with the hand-graded points at 0."""
    course, _ = graded
    shutil.rmtree(course / "feedback", ignore_errors=True)
    (course / "grades.csv").unlink(missing_ok=True)
    result = grade(course, "grade", ASSIGNMENT, *sandbox_flags())
    assert "Not generating feedback or grades yet" in result.stdout, result.stdout + result.stderr
    assert "Manual Grading" in result.stdout and "make feedback export" in result.stdout
    assert not (course / "feedback").exists() and not (course / "grades.csv").exists()


def test_a_rerun_reports_an_unchanged_failed_submission_without_running_it_again(graded):
    """A submission that failed (here: not JSON; in class: one that used up its whole deadline) is not run again
    by a rerun until the student hands in something else, or the instructor asks with --retry-failed."""
    course, _ = graded
    record = course / "autograded" / ".logs" / "failed" / ASSIGNMENT / "grace.json"
    assert "not valid JSON" in json.loads(record.read_text())["reason"]

    again = grade(course, "autograde", ASSIGNMENT, "--student=grace", *sandbox_flags())
    assert again.returncode == 1, again.stdout + again.stderr
    assert "not run again, as the submission is unchanged (--retry-failed runs it)" in again.stdout
    assert "Autograding" not in again.stdout  # nothing executed
    assert "0 graded, 1 failed, 0 skipped." in again.stdout

    retried = grade(course, "autograde", ASSIGNMENT, "--student=grace", "--retry-failed", *sandbox_flags())
    assert retried.returncode == 1 and "Autograding 1 submission(s)" in retried.stdout, retried.stdout
    assert "not valid JSON" in retried.stdout

    # She hands in again (the untouched release this time): graded, and the record of the failure goes.
    shutil.copy(course / "assignments" / ASSIGNMENT / NOTEBOOK, course / "submitted" / "grace" / ASSIGNMENT / NOTEBOOK)
    handed_in_again = grade(course, "autograde", ASSIGNMENT, "--student=grace", f"--timeout={TIMEOUT}", *sandbox_flags())
    assert handed_in_again.returncode == 0, handed_in_again.stdout + handed_in_again.stderr
    assert "1 graded, 0 failed, 0 skipped." in handed_in_again.stdout
    assert not record.exists()
