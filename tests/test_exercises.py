"""helpers.exercises: the checker every lecture's exercises use."""
import torch

from helpers.exercises import check, matches


def test_unanswered_and_correct(capsys):
    assert not check(None, 3, "think")
    assert capsys.readouterr().out.strip() == "not answered yet"
    assert check(3, 3, "think")
    assert capsys.readouterr().out.strip() == "correct"


def test_wrong_answers_get_the_hint(capsys):
    assert not check([1, 2], [1, 3], "second entry")
    assert capsys.readouterr().out.strip() == "not yet: second entry"
    assert not check("abc", 3, "a number")
    assert not check((32, 16), (32, 10, 1000), "shape")


def test_dicts_count_the_right_entries(capsys):
    expected = {"spam filter": "many-to-one", "translation": "delayed many-to-many"}
    assert not check({"spam filter": "Many-to-one", "translation": "one-to-many"}, expected, "count outputs")
    assert capsys.readouterr().out.strip() == "not yet: 1 of 2 right. count outputs"


def test_numbers_ints_exact_floats_close():
    assert matches(16288, 16288) and not matches(16288.5, 16288)
    assert matches(0.3001, 0.3) and not matches(0.31, 0.3)
    assert matches([[0.3, -0.4]], torch.tensor([[0.3, -0.4]]), tol=1e-6)
    assert not matches(3.0000001, 3.0, tol=1e-9)
    assert matches(True, True) and not matches(1, True)
