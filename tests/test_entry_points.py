"""Every way into nbgrader's autograding goes through the course's grader, or refuses and names the command.

Plain ``nbgrader autograde`` and ``generate_feedback`` run from the course folder, and Formgrader's
Autograde and Generate Feedback buttons (the REST calls the buttons make, on a real Jupyter server
started in the course folder as `make lab` does): each grades in the sandbox with the hidden checks
in the judge, exactly as ``python -m grading`` does. Where the sandbox cannot run, they grade nothing
and say to use `make grade`.
"""
from __future__ import annotations

import json

import nbformat
import pytest

import grading_support as support
from mini_assignment import ASSIGNMENT, CHECKS, RIGHT, fill_answers

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(bool(support.sandbox_flags()), reason="the sandbox does not work here (test_sandbox says why)")]
FAKE_BWRAP = "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
QUESTION_CODE = [ln.strip() for ln in CHECKS.splitlines() if ln.strip().startswith(("return [attempt", "equal(got"))]


@pytest.fixture()
def course(mini_course):
    course = mini_course()
    release = support.released(course, ASSIGNMENT)
    support.submit(course, "alice", ASSIGNMENT, fill_answers(nbformat.from_dict(json.loads(json.dumps(release))), *RIGHT))
    support.submit(course, "bob", ASSIGNMENT, fill_answers(release, "def add(a, b):\n    return 3", RIGHT[1]))
    return course


@pytest.fixture()
def no_bwrap(tmp_path):
    """A folder to put first on PATH, whose bwrap fails as it does where user namespaces are off."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "bwrap").write_text(FAKE_BWRAP)
    (folder / "bwrap").chmod(0o755)
    return folder


def graded_by_the_judge(course, student) -> bool:
    nb = support.graded_notebook(course, student, ASSIGNMENT)
    return "Hidden checks, on inputs drawn for this submission" in json.dumps(support.cell(nb, "test_add").outputs)


def test_plain_nbgrader_autograde_and_feedback_go_through_the_grader(course):
    done = support.nbgrader(course, "autograde", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    totals = {s: sum(v.values()) for s, v in support.scores(course, ASSIGNMENT).items()}
    assert totals == {"alice": 3, "bob": 1}
    assert graded_by_the_judge(course, "alice") and graded_by_the_judge(course, "bob")
    done = support.nbgrader(course, "generate_feedback", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (course / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "failed - add on random integers" in page
    assert not [ln for ln in QUESTION_CODE if ln in page]


def test_plain_nbgrader_refuses_without_the_sandbox_and_names_the_command(course, no_bwrap):
    done = support.nbgrader(course, "autograde", ASSIGNMENT, PATH=f"{no_bwrap}:{support.env()['PATH']}")
    assert done.returncode != 0
    assert "make grade ASSIGNMENT=mini" in done.stdout + done.stderr
    assert not (course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


def test_formgrader_buttons_grade_in_the_sandbox_whatever_the_server_was_started_with(course, tmp_path):
    with support.jupyter_server(course, tmp_path / "home", app="server", COURSE_FAST="0") as server:
        result = support.api(server, "POST", f"/formgrader/api/submission/{ASSIGNMENT}/bob/autograde")
        assert result["success"], result
        assert support.scores(course, ASSIGNMENT)["bob"] == {"test_add": 0.0, "test_mul": 1.0}
        assert graded_by_the_judge(course, "bob")
        result = support.api(server, "POST", f"/formgrader/api/assignment/{ASSIGNMENT}/bob/generate_feedback")
        assert result["success"], result
    page = (course / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "failed - add on random integers" in page and not [ln for ln in QUESTION_CODE if ln in page]


def test_formgrader_autograde_refuses_without_the_sandbox(course, tmp_path, no_bwrap):
    with support.jupyter_server(course, tmp_path / "home", app="server", path_first=no_bwrap) as server:
        result = support.api(server, "POST", f"/formgrader/api/submission/{ASSIGNMENT}/alice/autograde")
    assert not result["success"]
    assert "make grade ASSIGNMENT=mini" in result.get("log", "") + result.get("error", "")
    assert not (course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
