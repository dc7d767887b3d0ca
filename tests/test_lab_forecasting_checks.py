"""The forecasting lab's hidden checks for parts B-D, in-process and in seconds (no kernel, no sandbox).

The reference answers (the solution notebook's cells) pass every check on several submissions'
inputs; each planted mistake fails its own check, with a message that says what is wrong, and no
other. The whole grading path, Part E's re-measured checkpoint included, is tests/test_lab_forecasting.py.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from grading import probe
from grading.spec import Context, Fail, check_seed, load_checks
from grading_support import REPO, cell

SOURCE = REPO / "solutions" / "forecasting" / "forecasting.ipynb"
CHECKS = [c for c in load_checks(REPO / "solutions" / "forecasting" / "checks.py") if c.cell != "train_tests"]
ANSWERS = ("walk_answer", "scale_answer", "baselines_answer")


def _answers(**replace) -> dict:
    """The notebook's answer cells for parts B-D run in a fresh namespace; replace = {grade_id: (old, new)}."""
    nb = nbformat.read(SOURCE, as_version=4)
    ns: dict = {}
    exec("import math\nimport torch", ns)
    for grade_id in ANSWERS:
        text = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n?", "", cell(nb, grade_id).source, flags=re.M)
        if grade_id in replace:
            old, new = replace[grade_id]
            assert old in text, (grade_id, old)
            text = text.replace(old, new, 1)
        exec(text, ns)
    return ns


class _Notebook:
    def __init__(self, ns):
        self._ns = ns

    def __getattr__(self, name):
        return self._ns[name] if name in self._ns else probe.Missing(name)


def _grade(ns, seed: int) -> dict[str, str | None]:
    """check name -> None (passed) or the failure message, as the judge would give them."""
    out = {}
    for check in CHECKS:
        ctx = Context(seed=check_seed(seed, check), fast=True)
        inputs = check.draw(ctx)
        scope = {"attempt": probe.attempt, "Missing": probe.Missing, "Raised": probe.Raised}
        exec(check.ask_source(), scope)
        answer = probe.decode(*probe.encode(scope["ask"](_Notebook(ns), inputs)))  # only plain data crosses
        try:
            check.judge(inputs, answer, ctx)
            out[check.name] = None
        except Fail as err:
            out[check.name] = str(err)
    return out


@pytest.mark.parametrize("seed", [1, 22, 333])
def test_the_reference_answers_pass_every_check(seed):
    assert _grade(_answers(), seed) == dict.fromkeys([c.name for c in CHECKS])


MISTAKES = {  # name: (cell, old, new, the check it fails, what its message says)
    "training targets reach the cut": ("walk_answer", "range(window, cut - horizon + 1)", "range(window, cut)",
                                       "walk_forward", "the test period leaks into training"),
    "no ValueError": ("walk_answer", "    if test_size < horizon:\n", "    if False:\n", "walk_forward", "should raise ValueError"),
    "training from position 0": ("walk_answer", "range(window, cut - horizon + 1)", "range(0, cut - horizon + 1)",
                                 "walk_forward", "before the series has"),
    "statistics of the whole series": ("scale_answer", "train = values[:train_end].double()", "train = values.double()",
                                       "standardize", "use values[:train_end] only"),
    "population std": ("scale_answer", "float(train.std())", "float(train.std(correction=0))", "standardize",
                       "divide by n - 1"),
    "naive from the first value": ("baselines_answer", "return X[:, -1:].repeat(1, horizon)",
                                   "return X[:, :1].repeat(1, horizon)", "naive_forecast", "differs from the reference"),
    "lecture 07's one-year drift": ("baselines_answer",
                                    "drift = (X[:, period:] - X[:, :-period]).mean(dim=1, keepdim=True)",
                                    "drift = X[:, -1:] - X[:, -1 - period:-period]", "seasonal_naive_drift",
                                    "differs from the reference"),
    "one period of drift at every horizon": ("baselines_answer", "return X[:, columns] + periods * drift",
                                             "return X[:, columns] + drift", "seasonal_naive_drift",
                                             "differs from the reference"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_planted_mistake_fails_its_own_check_only(mistake):
    grade_id, old, new, check_prefix, message = MISTAKES[mistake]
    got = _grade(_answers(**{grade_id: (old, new)}), seed=7)
    failed = {name: msg for name, msg in got.items() if msg is not None}
    assert list(failed) == [c.name for c in CHECKS if c.name.startswith(check_prefix)], failed
    assert message in next(iter(failed.values())), failed
