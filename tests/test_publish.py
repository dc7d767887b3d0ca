"""`python -m grading publish`: the student edition holds the course students need and no solution."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", "publish", *args, f"--course-dir={REPO}"],
                          capture_output=True, text=True, timeout=120)


def test_the_student_edition_has_lectures_lab_and_helpers_but_no_solutions(tmp_path):
    target = tmp_path / "students"
    done = publish(f"--to={target}")
    assert done.returncode == 0, done.stdout + done.stderr
    tops = {p.name for p in target.iterdir()}
    assert {"README.md", "lectures", "assignments", "helpers", "Makefile", "pyproject.toml"} <= tops
    assert not tops & {"solutions", "grading", "tests", "benchmarks", "nbgrader_config.py", ".ci"}
    assert (target / "assignments" / "sherlock_rnn_vs_gru" / "sherlock_rnn_vs_gru.ipynb").is_file()
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path


def test_publish_refuses_a_folder_that_is_not_empty_or_inside_the_course(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    done = publish(f"--to={tmp_path}")
    assert done.returncode == 2 and "is not empty" in done.stderr
    done = publish(f"--to={REPO / 'lectures'}")
    assert done.returncode == 2 and "inside the course" in done.stderr
