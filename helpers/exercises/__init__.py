"""Checked exercises: compare a student's answer with the computed one and print what to do next.

``check`` and ``matches`` are used by the exercises of every lecture, from lecture 01 on. Each
lecture's own checkers live beside them in ``helpers.exercises.lectureNN`` (one module per lecture),
so the notebooks import them and the tests call them directly.
"""
from __future__ import annotations

import math

import torch


def matches(answer, expected, tol: float | None = None) -> bool:
    """True if ``answer`` equals ``expected``: strings ignoring case, ints exactly, other numbers within a tolerance.

    Sequences, tensors and dicts compare element by element. ``tol`` is an absolute tolerance;
    without it, floats may differ by 0.1% (or 1e-4 near zero).
    """
    if isinstance(expected, torch.Tensor):
        expected = expected.tolist()
    if isinstance(answer, torch.Tensor):
        answer = answer.tolist()
    if isinstance(expected, dict):
        return isinstance(answer, dict) and answer.keys() == expected.keys() and all(
            matches(answer[k], v, tol) for k, v in expected.items())
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(expected, (tuple, list)):
        try:
            return len(answer) == len(expected) and all(matches(a, e, tol) for a, e in zip(answer, expected))
        except TypeError:
            return False
    if isinstance(expected, bool) or isinstance(answer, bool):
        return answer is expected
    try:
        if tol is not None:
            return abs(float(answer) - float(expected)) <= tol
        if isinstance(expected, int):  # counts and sizes must be exact
            return float(answer) == expected
        return math.isclose(float(answer), float(expected), rel_tol=1e-3, abs_tol=1e-4)
    except (TypeError, ValueError, OverflowError):
        return False


def check(answer, expected, hint: str = "", tol: float | None = None) -> bool:
    """Print ``correct``, ``not yet: <hint>`` or ``not answered yet``; never raises, so students can keep trying."""
    if answer is None:
        print("not answered yet")
        return False
    if matches(answer, expected, tol):
        print("correct")
        return True
    if isinstance(expected, dict) and isinstance(answer, dict):
        right = sum(matches(answer.get(k), v, tol) for k, v in expected.items())
        print(f"not yet: {right} of {len(expected)} right. {hint}".rstrip())
    else:
        print(f"not yet: {hint}".rstrip())
    return False
