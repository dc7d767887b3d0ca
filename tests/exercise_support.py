"""What the exercise checkers of ``helpers.exercises.lectureNN`` print, for their tests."""
import contextlib
import io


def verdict(checker, *args, **kwargs) -> str:
    """The one line a checker prints: ``correct``, ``not yet: <hint>`` or ``not answered yet``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        returned = checker(*args, **kwargs)
    assert returned is None, "a checker prints its verdict and returns None (a notebook would show the value)"
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, f"a checker prints one line, got {lines}"
    return lines[0]


def rejected(checker, *args, **kwargs) -> bool:
    """True when the checker says ``not yet: <a hint>`` (a wrong answer must get a hint, never ``correct``)."""
    line = verdict(checker, *args, **kwargs)
    assert line != "not answered yet", "a wrong answer is an answer"
    return line.startswith("not yet: ") and len(line) > len("not yet: ")


def checker_tests(module, right: dict, wrong: dict):
    """The two tests every lecture's table of answers gets: each checker says ``not answered yet`` to None and
    ``correct`` to right[n], and rejects each of wrong[n]'s answers (name -> answer) with a hint.

    A test file binds them to module-level names, where pytest finds them:
    ``test_unanswered_and_right, test_wrong_answer_fails = checker_tests(ex, RIGHT, WRONG)``."""
    import pytest

    @pytest.mark.parametrize("number", right)
    def test_unanswered_and_right(number):
        checker = getattr(module, f"check_exercise_{number}")
        assert verdict(checker, None) == "not answered yet"
        assert verdict(checker, right[number]) == "correct"

    @pytest.mark.parametrize("number, why", [(n, why) for n, answers in wrong.items() for why in answers])
    def test_wrong_answer_fails(number, why):
        assert rejected(getattr(module, f"check_exercise_{number}"), wrong[number][why]), why

    return test_unanswered_and_right, test_wrong_answer_fails
