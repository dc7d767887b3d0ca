"""grading.probe: answers come back from a student's kernel as plain data, and nothing else."""
import math

import numpy as np
import pytest
import torch

from grading.probe import Missing, Raised, TooLarge, Unsupported, attempt, decode, encode, raised


def round_trip(value):
    return decode(*encode(value))


def test_plain_data_round_trips_with_tensors_tuples_and_dicts():
    value = {"ints": [1, -2, 2**70], "floats": [0.5, math.inf], "pair": (torch.arange(6).view(2, 3), "x"),
             3: None, "flag": True, "nested": [[{"k": torch.ones(2, dtype=torch.float64)}]]}
    got = round_trip(value)
    assert got["ints"] == [1, -2, 2**70] and got["floats"] == [0.5, math.inf] and got[3] is None and got["flag"] is True
    assert isinstance(got["pair"], tuple) and torch.equal(got["pair"][0], torch.arange(6).view(2, 3))
    assert got["nested"][0][0]["k"].dtype == torch.float64
    assert math.isnan(round_trip(float("nan")))


def test_subclasses_come_back_as_their_plain_values():
    class Always(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class Loud(str):
        def __str__(self):
            return "something else"

    got = round_trip([Always(0), Loud("abc"), torch.nn.Parameter(torch.ones(2))])
    assert type(got[0]) is int and got[0] == 0 and got[0] != 5
    assert type(got[1]) is str and got[1] == "abc"
    assert type(got[2]) is torch.Tensor and not got[2].requires_grad


def test_objects_are_unsupported_and_never_compared():
    class Anything:
        def __eq__(self, other):
            return True

    got = round_trip([Anything(), object(), np.array([object()], dtype=object)])
    assert all(isinstance(g, Unsupported) for g in got)
    assert not got[0].builtin and got[0].name == ""  # a notebook's class name is never carried
    assert got[1].builtin and got[1].name == "object"


def test_numpy_values_become_tensors_and_numbers():
    got = round_trip([np.arange(4, dtype=np.int32), np.float32(1.5), np.int64(3)])
    assert torch.equal(got[0], torch.arange(4, dtype=torch.int32)) and got[1] == 1.5 and got[2] == 3


def test_exceptions_keep_builtin_names_only():
    class Mine(ValueError):
        pass

    got = round_trip([attempt(int, "x"), attempt(lambda: (_ for _ in ()).throw(Mine("secret"))), Missing("f")])
    assert isinstance(got[0], Raised) and got[0].builtin and got[0].name == "ValueError"
    assert isinstance(got[1], Raised) and not got[1].builtin and got[1].name == ""
    assert isinstance(got[2], Missing) and got[2].name == "f"
    assert attempt(Missing("g")).name == "g"  # calling a missing name is the missing name


def test_a_raising_str_is_the_students_business():
    class Rude(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert raised(Rude()).message == ""


def test_size_and_depth_are_bounded():
    with pytest.raises(TooLarge):
        encode(torch.zeros(20_000_000))  # 80 MB
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TooLarge):
        encode(deep)


@pytest.mark.parametrize("text", [b"not json", b'{"$nothing": 1}', b'{"$tensor": "t9"}', b"[" * 100 + b"]" * 100])
def test_malformed_answers_are_refused(text):
    with pytest.raises(ValueError):
        decode(text, b"")
