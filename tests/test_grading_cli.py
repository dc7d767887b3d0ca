"""`python -m grading`'s `all`: which labs each step means by it, and the steps that refuse it."""

import pytest

from grading.__main__ import labs, main
from grading.course import Course


@pytest.fixture()
def course(tmp_path) -> Course:
    """Three lab sources; a and b released; only b handed in (by s1)."""
    for lab in ("a", "b", "c"):
        (tmp_path / "solutions" / lab).mkdir(parents=True)
        (tmp_path / "solutions" / lab / f"{lab}.ipynb").write_text("{}")
    for lab in ("a", "b"):
        (tmp_path / "assignments" / lab).mkdir(parents=True)
    (tmp_path / "submitted" / "s1" / "b").mkdir(parents=True)
    (tmp_path / "nbgrader_config.py").write_text("")
    return Course(tmp_path, f"sqlite:///{tmp_path / 'gradebook.db'}")


def test_all_means_every_source_every_release_or_every_lab_handed_in(course):
    assert labs(course, "release") == ["a", "b", "c"]
    assert labs(course, "collect") == ["a", "b"]
    assert labs(course, "autograde") == labs(course, "feedback") == ["b"]


@pytest.mark.parametrize("step", ["collect", "publish"])
def test_steps_that_work_on_one_lab_refuse_all_and_say_what_to_do(course, step, capsys):
    assert main([step, "all", f"--course-dir={course.root}"]) == 2
    err = capsys.readouterr().err
    assert f"{step} works on one lab at a time" in err
    assert ("collect --exchange takes all" in err) == (step == "collect")
