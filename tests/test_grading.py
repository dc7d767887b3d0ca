"""The grading cycle for real: release, autograde, feedback and export on a temporary course with the lab.

One autograde run grades seven students at once (it is the slow part); the tests read the scores
back through nbgrader's Gradebook:

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
import shutil
from pathlib import Path

import nbformat
import pytest

import grading_support as support
from grading_support import LAB as ASSIGNMENT
from grading_support import LAB_MANUAL as MANUAL
from grading_support import LAB_NOTEBOOK as NOTEBOOK
from grading_support import LAB_POINTS as AUTO_POINTS
from grading_support import REPO, cell, run_cli, sandbox_flags, solution_source

TIMEOUT = 20  # seconds per cell while grading these submissions (the course default is 60)

pytestmark = pytest.mark.timeout(1800)  # the first test also pays for training the reference and grading seven notebooks


@pytest.fixture(scope="module")
def graded(shared_tmp, lab_reference):
    """A course with the lab released, seven submissions, and one autograde run over all of them."""
    course = support.lab_course(shared_tmp / "grading")
    solved = nbformat.read(lab_reference / NOTEBOOK, as_version=4)
    blank = support.released(course, ASSIGNMENT)
    support.submit(course, "alice", ASSIGNMENT, solved, checkpoints=lab_reference)
    support.submit(course, "bob", ASSIGNMENT, blank)

    carol = support.released(course, ASSIGNMENT)
    cell(carol, "vocab_answer").source = solution_source("vocab_answer")
    cell(carol, "gru_answer").source = solution_source("gru_answer")
    cell(carol, "batches_answer").source = (  # targets not shifted: a classic mistake
        "def make_batches(ids, batch_size, seq_len):\n"
        "    L = (len(ids) - 1) // batch_size // seq_len * seq_len\n"
        "    x = ids[: batch_size * L].view(batch_size, L)\n"
        "    return [(x[:, k: k + seq_len], x[:, k: k + seq_len]) for k in range(0, L, seq_len)]\n")
    support.submit(course, "carol", ASSIGNMENT, carol, checkpoints=lab_reference)

    dave = nbformat.read(lab_reference / NOTEBOOK, as_version=4)
    cell(dave, "batches_answer").source = "while True:\n    pass\n\n" + cell(dave, "batches_answer").source
    support.submit(course, "dave", ASSIGNMENT, dave, checkpoints=lab_reference)

    erin = nbformat.read(lab_reference / NOTEBOOK, as_version=4)
    cell(erin, "vocab_answer").source = cell(erin, "vocab_answer").source.replace(
        'return "".join(self.itos[int(i)] for i in ids)', 'return ""')
    cell(erin, "vocab_tests").source = 'print("Part A: visible tests passed")\n'
    support.submit(course, "erin", ASSIGNMENT, erin, checkpoints=lab_reference)

    frank = nbformat.read(lab_reference / NOTEBOOK, as_version=4)
    frank.cells.remove(cell(frank, "batches_tests"))
    support.submit(course, "frank", ASSIGNMENT, frank, checkpoints=lab_reference)

    support.submit(course, "grace", ASSIGNMENT, raw=(lab_reference / NOTEBOOK).read_text()[:5000])  # cut off mid-file
    return course, support.autograde(course, ASSIGNMENT, f"--timeout={TIMEOUT}", "--workers=2")


def scores(course: Path, student: str) -> dict[str, float]:
    return support.scores(course, ASSIGNMENT)[student]


def auto(course: Path, student: str) -> float:
    return support.auto_total(scores(course, student))


def test_reference_gets_full_autograded_marks(graded):
    course, result = graded
    got = scores(course, "alice")
    assert {k: got[k] for k in AUTO_POINTS} == AUTO_POINTS, result.stdout
    assert "80/80 autograded, 3 part(s) to grade by hand" in support.summary_block(result.stdout, "alice")
    if not sandbox_flags():  # the sandbox works here, so grading must have used it
        assert "(sandboxed, fast mode)" in result.stdout


def test_untouched_release_gets_zero_without_crashing(graded):
    course, result = graded
    assert scores(course, "bob") == dict.fromkeys([*AUTO_POINTS, *MANUAL], 0.0)
    assert (course / "autograded" / "bob" / ASSIGNMENT / NOTEBOOK).is_file()
    assert "0/80 autograded" in support.summary_block(result.stdout, "bob")


def test_partly_correct_submission_gets_exactly_what_it_earned(graded):
    course, _ = graded
    got = scores(course, "carol")
    assert {k: got[k] for k in AUTO_POINTS} == {
        "vocab_tests": 10, "batches_tests": 0, "gru_shape_tests": 5, "gru_match_tests": 15,
        "model_tests": 0, "train_tests": 15, "eval_tests": 0}


def test_infinite_loop_hits_the_cell_timeout_and_the_rest_is_graded(graded):
    course, result = graded
    loop = cell(support.graded_notebook(course, "dave", ASSIGNMENT), "batches_answer")
    assert any(o.get("ename") == "CellTimeoutError" for o in loop.outputs), loop.outputs
    assert auto(course, "dave") == 70 and scores(course, "dave")["batches_tests"] == 0
    assert "batches_answer: stopped at the 20 s limit per cell" in support.summary_block(result.stdout, "dave")


def test_edited_test_cell_is_restored(graded):
    course, result = graded
    master = cell(nbformat.read(support.LAB_SOURCE, as_version=4), "vocab_tests").source
    assert cell(support.graded_notebook(course, "erin", ASSIGNMENT), "vocab_tests").source == master
    assert scores(course, "erin")["vocab_tests"] == 0  # the grader's check caught the broken decode
    assert auto(course, "erin") == 70
    assert "edited test/read-only cells, restored before grading: vocab_tests" in result.stdout


def test_deleted_test_cell_is_restored_and_graded(graded):
    course, result = graded
    assert "assert len(batches) == 6" in cell(support.graded_notebook(course, "frank", ASSIGNMENT), "batches_tests").source
    assert scores(course, "frank")["batches_tests"] == 10 and auto(course, "frank") == 80
    assert "deleted test cells, put back and graded: batches_tests" in result.stdout


def test_invalid_json_fails_alone_with_a_clear_message(graded):
    course, result = graded
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in support.summary_block(result.stdout, "grace") and "not valid JSON" in result.stdout
    assert "6 graded, 1 failed, 0 skipped." in result.stdout
    assert "need your attention" in result.stdout


def test_feedback_for_every_graded_student_and_grades_csv(graded):
    course, _ = graded
    # Hidden checks stay hidden, and feedback holds the HTML only (no checkpoints or other files handed in).
    hidden = support.hidden_lines(REPO / "solutions" / ASSIGNMENT / "checks.py",
                                  course / "assignments" / ASSIGNMENT / NOTEBOOK)
    assert len(hidden) > 50
    pages, said = support.feedback_pages(course, ASSIGNMENT, hidden)
    assert set(pages) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert "Feedback HTML for 6 of 6 graded student(s)" in said
    carol = html_module.unescape((course / "feedback" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
    assert "failed - make_batches on random ids: make_batches on" in carol and "batch 0 targets" in carol

    result = run_cli(course, "export", f"--to={course / 'grades.csv'}")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
    assert float(rows["alice"][ASSIGNMENT]) == 80 and float(rows["alice"]["max_total"]) == 100
    assert float(rows["carol"][ASSIGNMENT]) == 45 and float(rows["grace"]["total"]) == 0
    assert rows["carol"]["last_name"] == "carol"  # no class list: named by id
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
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "solutions" / ASSIGNMENT / "grading.toml", tmp_path / "solutions" / ASSIGNMENT)
    inbox = tmp_path / "inbox"
    (inbox / "s1" / "checkpoints").mkdir(parents=True)
    (inbox / "s1" / NOTEBOOK).write_text("{}")
    (inbox / "s1" / "checkpoints" / "rnn.pt").write_bytes(b"x")
    (inbox / "s2").mkdir()
    (inbox / "s2" / "sherlock_rnn_vs_gru (1).ipynb").write_text("{}")
    (inbox / "s3" / "checkpoints").mkdir(parents=True)  # checkpoints, but the notebook was forgotten
    (inbox / "s3" / "checkpoints" / "gru.pt").write_bytes(b"x")
    (inbox / "bad name").mkdir()
    result = run_cli(tmp_path, "collect", ASSIGNMENT, f"--from={inbox}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "submitted" / "s1" / ASSIGNMENT / "checkpoints" / "rnn.pt").is_file()
    assert (tmp_path / "submitted" / "s2" / ASSIGNMENT / NOTEBOOK).is_file()
    # Kept, so that autograde reports the student (FAILED, 0) and grades.csv lists them.
    assert (tmp_path / "submitted" / "s3" / ASSIGNMENT / "checkpoints" / "gru.pt").is_file()
    assert "s3: expected sherlock_rnn_vs_gru.ipynb, found no notebook; collected anyway" in result.stdout
    assert "Collected 3 submission(s)" in result.stdout
    assert "'bad name': not usable as a student id" in result.stdout
    assert "s2: handed in: the notebook only (no checkpoints/*.pt)" in result.stdout


def test_grade_stops_before_feedback_while_written_parts_wait_for_a_human(graded):
    """`make grade` must not hand out feedback or grades with the hand-graded points at 0."""
    course, _ = graded
    shutil.rmtree(course / "feedback", ignore_errors=True)
    (course / "grades.csv").unlink(missing_ok=True)
    result = run_cli(course, "grade", ASSIGNMENT, *sandbox_flags())
    assert "Not generating feedback or grades yet" in result.stdout, result.stdout + result.stderr
    assert "Manual Grading" in result.stdout and "make feedback export" in result.stdout
    assert not (course / "feedback").exists() and not (course / "grades.csv").exists()


def test_a_rerun_reports_an_unchanged_failed_submission_without_running_it_again(graded):
    """A submission that failed (here: not JSON; in class: one that used up its whole deadline) is not run again
    by a rerun until the student hands in something else, or the instructor asks with --retry-failed."""
    course, _ = graded
    record = course / "autograded" / ".logs" / "failed" / ASSIGNMENT / "grace.json"
    assert "not valid JSON" in json.loads(record.read_text())["reason"]

    again = support.autograde(course, ASSIGNMENT, "--student=grace")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "not run again, as the submission is unchanged (--retry-failed runs it)" in again.stdout
    assert "Autograding" not in again.stdout  # nothing executed
    assert "0 graded, 1 failed, 0 skipped." in again.stdout

    retried = support.autograde(course, ASSIGNMENT, "--student=grace", "--retry-failed")
    assert retried.returncode == 1 and "Autograding 1 submission(s)" in retried.stdout, retried.stdout
    assert "not valid JSON" in retried.stdout

    # She hands in again (the untouched release this time): graded, and the record of the failure goes.
    shutil.copy(course / "assignments" / ASSIGNMENT / NOTEBOOK, course / "submitted" / "grace" / ASSIGNMENT / NOTEBOOK)
    handed_in_again = support.autograde(course, ASSIGNMENT, "--student=grace", f"--timeout={TIMEOUT}")
    assert handed_in_again.returncode == 0, handed_in_again.stdout + handed_in_again.stderr
    assert "1 graded, 0 failed, 0 skipped." in handed_in_again.stdout
    assert not record.exists()


def test_collect_names_students_from_the_class_list_and_keeps_a_hand_in_time(mini_course, tmp_path):
    """Formgrader shows each student's name (roster.csv, else the id) and a submission time, never "None"."""
    from nbgrader.api import Gradebook

    course = mini_course()
    (course / "roster.csv").write_text("id,first_name,last_name,email\nana,Ana,Lima,ana@example.org\n")
    inbox = tmp_path / "inbox"
    for student in ("ana", "ben"):
        (inbox / student).mkdir(parents=True)
        nbformat.write(support.released(course, "mini"), inbox / student / "mini.ipynb")
    done = run_cli(course, "collect", "mini", f"--from={inbox}")
    assert done.returncode == 0, done.stdout + done.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", support.COURSE_ID) as gb:
        names = {s.id: (s.last_name, s.first_name) for s in gb.students}
    assert names == {"ana": ("Lima", "Ana"), "ben": ("ben", "")}
    stamp = (course / "submitted" / "ben" / "mini" / "timestamp.txt").read_text()
    from nbgrader.utils import parse_utc

    assert parse_utc(stamp).year >= 2024


def test_grades_csv_has_one_row_per_student_with_every_lab(tmp_path):
    from grading.export import wide

    rows = [{"assignment": "lab1", "student_id": "ana", "last_name": "Lima", "first_name": "Ana", "email": "",
             "score": "7"},
            {"assignment": "lab2", "student_id": "ana", "last_name": "Lima", "first_name": "Ana", "email": "",
             "score": "3.5"},
            {"assignment": "lab2", "student_id": "ben", "last_name": "ben", "first_name": "", "email": "", "score": ""}]
    table = wide(rows, {"lab1": 10.0, "lab2": 5.0})
    assert [(r["student_id"], r["lab1"], r["lab2"], r["total"], r["max_total"]) for r in table] == [
        ("ana", 7.0, 3.5, 10.5, 15.0), ("ben", 0.0, 0.0, 0.0, 15.0)]
