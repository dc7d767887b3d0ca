"""One bad submission never stops the run, and the summary tells the truth (issue: grades are evidence).

A class of the 3-point mini assignment, graded with the real command, where each bad student tries
one way to break the run for everyone or to lie to the instructor:

* ``bytes``: undecodable bytes and terminal escape sequences on the kernel's stderr and stdout;
* ``liar``: fake nbgrader log lines on stderr claiming that the honest student failed;
* ``schema``: a notebook whose nbgrader metadata has an unknown ``schema_version``;
* ``stubborn``: a kernel that ignores SIGINT and loops, so the per-cell interrupt does nothing.

The honest student is graded exactly; each bad one is reported against itself alone; no escape
sequence reaches the summary; the run ends within the deadline the instructor set.
"""
from __future__ import annotations

import re
import time

import nbformat
import pytest

import grading_support as support
from mini_assignment import fill_answers
from test_grading_scale import RIGHT, _copy, _submit, base, grade, template  # noqa: F401 - fixtures

ESCAPES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

BYTES = ("import os, sys\n"
         "os.write(2, b'\\xff\\xfe\\x1b[2J\\x1b]0;pwned\\x07 broken \\x80 bytes\\n')\n"
         "sys.stdout.write('\\x1b[31mred\\x1b[0m\\r\\n')\n" + RIGHT[0])
LIAR = ("import sys\n"
        "print('[AutogradeApp | ERROR] There was an error processing assignment: submitted/honest/mini', file=sys.stderr)\n"
        "print('nbformat.reader.NotJSONError: Notebook does not appear to be JSON', file=sys.stderr)\n"
        "print(\"Creating/updating student with ID 'honest'\", file=sys.stderr)\n" + RIGHT[0])
STUBBORN = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    pass\n" + RIGHT[0])


@pytest.fixture(scope="module")
def run(template, base):
    course = _copy(template, base / "bad")
    release = course / "assignments" / "mini" / "mini.ipynb"
    answers = {"honest": RIGHT, "bytes": (BYTES, RIGHT[1]), "liar": (LIAR, RIGHT[1]), "schema": RIGHT,
               "stubborn": (STUBBORN, RIGHT[1])}
    for student, (add, mul) in answers.items():
        nb = fill_answers(nbformat.read(release, as_version=4), add, mul)
        if student == "schema":
            for cell in nb.cells:
                if "nbgrader" in cell.metadata:
                    cell.metadata["nbgrader"]["schema_version"] = 99
        _submit(course, student, nb)
    start = time.monotonic()
    done = grade(course, "--timeout=10", "--deadline=150", "--workers=2")
    return course, done, time.monotonic() - start


def _line(summary: str, student: str) -> str:
    return next(line for line in summary.splitlines() if line.strip().startswith(student + " "))


def test_the_honest_student_is_graded_exactly_whatever_the_others_printed(run):
    _, done, _ = run
    assert re.search(r"honest +3/3 autograded", done.stdout), done.stdout + done.stderr
    assert re.search(r"liar +3/3 autograded", done.stdout), done.stdout  # its lies changed nothing, its answers count


def test_no_terminal_control_sequence_reaches_the_summary(run):
    _, done, _ = run
    assert not ESCAPES.search(done.stdout.replace("\n", "")), repr(done.stdout[-2000:])
    assert re.search(r"bytes +3/3 autograded", done.stdout), done.stdout


def test_each_bad_submission_is_reported_against_itself_alone(run):
    _, done, seconds = run
    summary = done.stdout[done.stdout.index("Autograde summary"):]
    # An unknown schema_version is nbgrader metadata the student's copy must not decide: graded or
    # FAILED with a reason, but never taking anyone else down.
    assert _line(summary, "schema"), summary
    course = run[0]
    log = "\n".join(p.read_text(errors="replace") for p in sorted((course / "autograded" / ".logs").glob("*.log")))
    stubborn = support.summary_block(done.stdout, "stubborn")
    # It ignored the interrupt at the cell limit: that cell is skipped in a fresh kernel, the rest is graded.
    assert "1/3 autograded" in stubborn and "ignored the interrupt" in stubborn, stubborn + log[log.find("== stubborn"):][:3000]
    assert seconds < 150 + 120, f"the run took {seconds:.0f} s with a 150 s deadline"
    failed = [s for s in ("honest", "bytes", "liar") if "FAILED" in _line(summary, s)]
    assert not failed, summary
