"""helpers.checks: one argument check for every module, with messages that name the fix."""
import numpy as np
import pytest

from helpers.checks import check_int, check_number


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_check_int_accepts_ints_in_range(value):
    check_int("n", value)
    check_int("n", None, optional=True)
    check_int("top_k", 5, maximum=5)


@pytest.mark.parametrize("value, kw, message", [
    (0, {}, "n must be a positive int, got 0"),
    (2.0, {}, "n must be a positive int, got 2.0"),
    (True, {}, "n must be a positive int, got True"),
    (None, {}, "n must be a positive int, got None"),
    (-1, dict(minimum=0), "n must be a non-negative int, got -1"),
    (1, dict(minimum=2, optional=True), "n must be an int >= 2 or None, got 1"),
    (6, dict(maximum=5, hint=" (the vocabulary size)"), r"n must be an int in 1..5 \(the vocabulary size\), got 6"),
])
def test_check_int_names_the_argument_and_what_fits(value, kw, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int("n", value, **kw)


@pytest.mark.parametrize("value, kw, message", [
    (0, dict(above=0), "x must be a positive number, got 0"),
    (float("nan"), dict(above=0), "x must be a positive number, got nan"),
    ("1", dict(above=0), "x must be a positive number, got '1'"),
    (-0.5, dict(at_least=0), "x must be a number >= 0, got -0.5"),
    (1.0, dict(at_least=0, below=1), r"x must be a number in \[0, 1\), got 1.0"),
    (2, dict(at_least=0, at_most=1, optional=True), r"x must be a number in \[0, 1\] or None, got 2"),
    (3, dict(below=2), "x must be a number < 2, got 3"),
])
def test_check_number_names_the_argument_and_what_fits(value, kw, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_number("x", value, **kw)


def test_check_number_accepts_numbers_in_range():
    check_number("lr", 1e-3, above=0)
    check_number("dropout", 0, at_least=0, below=1)
    check_number("clip", None, above=0, optional=True)
    check_number("x", np.float32(0.5), at_least=0, at_most=1)
