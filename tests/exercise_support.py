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
