"""The forecasting lab (lecture 07) graded for real: one autograde run over a class of submissions.

The real course commands release the lab, grade every submission below in one run (fast mode,
sandboxed where the sandbox works here) and write feedback; scores are read back through nbgrader's
Gradebook. Autograded parts: B walk_forward 20, C standardize 10, D baselines 20 (naive 5, seasonal
naive with drift 15), E the checkpoint re-measured by the judge 25 (validation against the baselines
20, the reported test MAE 5).

    alice        the reference solution with its fast-mode checkpoint        75
    bob          the untouched release                                        0
    carol        C from the whole series, D with lecture 07's one-year drift  50 (C 10, D's drift 15 lost)
    dave         B forgets the horizon (leaks), no checkpoint handed in      30 (B 20, E 25 lost)
    erin         test_mae measured on the validation months                   70 (E's test MAE 5 lost)
    frank        the reference written with magics, plots and star imports  75
    forged       untrained weights saved with the reference's history         55 and FLAGGED (E's 20)
    attacks_*    the blank release with test_tamper's families, in its three  0
                 ATTACK_GROUPS
"""
from __future__ import annotations

import html as html_module
import json
import re

import nbformat
import pytest

import grading_support as support
from grading_support import REPO, cell, solution_source
from test_tamper import ATTACK_GROUPS, attack_group

pytestmark = [pytest.mark.scale, pytest.mark.timeout(3600)]

LAB = "forecasting"
NOTEBOOK = f"{LAB}.ipynb"
SOURCE = REPO / "solutions" / LAB / NOTEBOOK
POINTS = {"walk_tests": 20, "scale_tests": 10, "baselines_tests": 20, "train_tests": 25}
MANUAL = ("differencing", "figure", "verdict")


def answer(grade_id: str, old: str = "", new: str = "") -> str:
    """The reference answer of a cell, with old replaced by new (a planted, honest mistake)."""
    text = solution_source(grade_id, SOURCE)
    assert old in text, (grade_id, old)
    return text.replace(old, new, 1)


MISTAKES = {
    "carol": {"scale_answer": ("train = values[:train_end].double()", "train = values.double()"),
              "baselines_answer": ("drift = (X[:, period:] - X[:, :-period]).mean(dim=1, keepdim=True)",
                                   "drift = X[:, -1:] - X[:, -1 - period:-period]")},
    "dave": {"walk_answer": ("range(window, cut - horizon + 1)", "range(window, cut)")},
    "erin": {"evaluate_answer": ("test_mae = mae(task.predict(model, X_test), Y_test)",
                                 "test_mae = mae(task.predict(model, X_val), Y_val)")},
}
PLOT = "plt.figure()\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('my own check')\nplt.show()\n"
ORDINARY = {  # frank: ordinary things honest students write, in their answer cells
    "walk_answer": "%matplotlib inline\n" + PLOT,
    "scale_answer": "from numpy import *\n",  # min, max, abs, round and sum are numpy's from here on
    "baselines_answer": "%load_ext autoreload\n%autoreload 2\n",
    "model_answer": "%%time\n",
}
# and a last cell whose star imports replace naive and seasonal_naive_drift: graded as they stood after their tests
LAST_CELL = "from math import *\nfrom helpers.forecasting import *\n" + PLOT
EXPECTED = {
    "alice": POINTS,
    "carol": {**POINTS, "scale_tests": 0, "baselines_tests": 5},
    "dave": {**POINTS, "walk_tests": 0, "train_tests": 0},
    "erin": {**POINTS, "train_tests": 20},
    "frank": POINTS,
    "forged": {**POINTS, "train_tests": 5},
}


def _copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def _forge(reference, target) -> None:
    """Untrained weights of the right shapes, saved with the reference's (good) training history."""
    import torch

    path = reference / "checkpoints" / "fast" / "forecaster.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    torch.manual_seed(123)
    ckpt["model"] = {k: (torch.rand_like(v) - 0.5) * 0.2 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["best"] = None
    out = target / "checkpoints" / "fast" / "forecaster.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out)


@pytest.fixture(scope="module")
def reference(module_folder):
    return support.run_reference(module_folder / "reference", support.env(), source=SOURCE,
                                 checkpoints=("forecaster.pt",))


@pytest.fixture(scope="module")
def graded(module_folder, reference):
    """The lab released, every submission of the module docstring, one autograde run."""
    course = support.lab_course(module_folder / "course", lab=LAB)
    solved = nbformat.read(reference / NOTEBOOK, as_version=4)
    blank = support.released(course, LAB)
    support.submit(course, "alice", LAB, solved, checkpoints=reference)
    support.submit(course, "bob", LAB, blank)
    for student, mistakes in MISTAKES.items():
        nb = _copy(blank)  # a student's own copy of the release, answered cell by cell
        for grade_id in ("difference_answer", "walk_answer", "scale_answer", "baselines_answer", "model_answer",
                         "evaluate_answer"):
            cell(nb, grade_id).source = answer(grade_id, *mistakes.get(grade_id, ("", "")))
        support.submit(course, student, LAB, nb, checkpoints=None if student == "dave" else reference)
    frank = _copy(solved)
    for grade_id, prefix in ORDINARY.items():
        cell(frank, grade_id).source = prefix + cell(frank, grade_id).source
    frank.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    support.submit(course, "frank", LAB, frank, checkpoints=reference)
    _forge(reference, support.submit(course, "forged", LAB, solved))
    for group in ATTACK_GROUPS:
        support.submit(course, group, LAB, attack_group(blank, group))
    # 10 notebooks: about 8 CPU seconds each, but minutes of wall time on a loaded 2-core box
    done = support.run_cli(course, "autograde", LAB, "--timeout=60", "--workers=2", *support.sandbox_flags(), timeout=3000)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return course, done


def _auto(course, student) -> dict:
    return {k: v for k, v in support.scores(course, LAB)[student].items() if k in POINTS}


def test_reference_gets_every_autograded_point(graded):
    course, done = graded
    block = support.summary_block(done.stdout, "alice")
    assert _auto(course, "alice") == POINTS, block
    assert "75/75 autograded, 3 part(s) to grade by hand" in block and "FLAGGED" not in block


def test_blank_release_scores_zero(graded):
    course, done = graded
    assert support.scores(course, LAB)["bob"] == dict.fromkeys([*POINTS, *MANUAL], 0.0), support.summary_block(done.stdout, "bob")


@pytest.mark.parametrize("student", ["carol", "dave", "erin", "frank"])
def test_honest_submissions_are_graded_exactly_and_never_flagged(graded, student):
    course, done = graded
    block = support.summary_block(done.stdout, student)
    assert _auto(course, student) == EXPECTED[student], block
    support.assert_unflagged(done.stdout, student)


@pytest.mark.parametrize("attack", ATTACK_GROUPS)
def test_a_blank_notebook_with_an_attack_scores_zero(graded, attack):
    course, done = graded
    assert support.auto_total(support.scores(course, LAB)[attack], MANUAL) == 0, support.summary_block(done.stdout, attack)


def test_forged_training_is_flagged_and_loses_only_its_check(graded):
    course, done = graded
    block = support.summary_block(done.stdout, "forged")
    assert _auto(course, "forged") == EXPECTED["forged"], block
    support.assert_flagged(done.stdout, "forged", "history claims")


def test_feedback_teaches_and_shows_no_hidden_line(graded):
    course, _ = graded
    hidden = support.hidden_lines(REPO / "solutions" / LAB / "checks.py", course / "assignments" / LAB / f"{LAB}.ipynb")
    assert len(hidden) > 40
    pages, _ = support.feedback_pages(course, LAB, hidden)
    pages = {name: html_module.unescape(page) for name, page in pages.items()}
    assert {"alice", "bob", "carol", "dave", "erin", "frank", "forged"} <= set(pages)
    assert re.search(r"training example\(s\) have targets at or after position \d+, where the test period starts",
                     pages["dave"])
    assert "no checkpoints/fast/forecaster.pt was handed in" in pages["dave"]
    assert "use values[:train_end] only" in pages["carol"]
    assert "test_mae differs by" in pages["erin"]


def test_checks_are_never_released():
    assert not (REPO / "assignments" / LAB / "checks.py").exists()
    release = nbformat.read(REPO / "assignments" / LAB / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN" not in text and "_reference_walk" not in text
    assert "Before you hand in" in text and "checkpoints/fast" in release.cells[-1].source
