"""Checkers for the exercises of lecture 01 (lectures/01_sequential_data.ipynb).

Each one computes the right answer itself, with PyTorch, and prints ``correct``, ``not yet: <hint>`` or
``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import collections
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.exercises import check

PATTERNS = ("many-to-one", "one-to-many", "synchronized many-to-many", "delayed many-to-many")


def check_exercise_1(answer) -> None:
    """Lecture 01, exercise 1: the shape of a one-hot batch of 64 sequences of 25 characters, 80 symbols."""
    expected = tuple(F.one_hot(torch.zeros(64, 25, dtype=torch.long), 80).shape)
    check(answer, expected, "(batch_size, seq_len, vocab_size).")


def check_exercise_2(answer) -> None:
    """Lecture 01, exercise 2: the shape of ``weight_ih_l0`` of ``nn.RNN(80, 128)``."""
    expected = tuple(nn.RNN(80, 128, batch_first=True).weight_ih_l0.shape)
    check(answer, expected, "PyTorch stores W_xh as (hidden_size, input_size).")


def check_exercise_3(answer) -> None:
    """Lecture 01, exercise 3: the number of parameters of ``nn.RNN(80, 128)``."""
    expected = sum(p.numel() for p in nn.RNN(80, 128).parameters())
    check(answer, expected, "input*hidden + hidden*hidden + 2*hidden.")


def check_exercise_4(answer) -> None:
    """Lecture 01, exercise 4: the input/output pattern of four tasks."""
    expected = {"spam filter": "many-to-one", "part-of-speech tag for each word": "synchronized many-to-many",
                "melody from a chosen genre": "one-to-many", "German to English": "delayed many-to-many"}
    check(answer, expected, "Count the inputs and outputs, and ask whether outputs must wait for the whole input.")


def lag_autocorr(x: torch.Tensor, k: int) -> float:
    """The lag-``k`` autocorrelation r_k of a series (section 1.2)."""
    x = x - x.mean()
    return ((x[: len(x) - k] * x[k:]).sum() / (x * x).sum()).item()


def check_exercise_5(answer) -> None:
    """Lecture 01, exercise 5 (predict): r_12 of the monthly series after shuffling whole years."""
    g = torch.Generator().manual_seed(0)
    months = torch.arange(240, dtype=torch.float64)
    y = 10 + 0.02 * months + 3 * torch.sin(2 * math.pi * months / 12) + 0.8 * torch.randn(
        240, dtype=torch.float64, generator=g)
    years_shuffled = y.view(20, 12)[torch.randperm(20, generator=g)].reshape(-1)  # months kept in order
    r12 = lag_autocorr(years_shuffled, 12)
    measured = "high" if r12 > 0.5 else "near zero" if abs(r12) < 0.2 else f"{r12:.2f}"
    check(answer, measured, f"measured r_12 = {r12:.2f} after shuffling whole years (original: "
          f"{lag_autocorr(y, 12):.2f}). Twelve months back from a January, which month is it, in any year?")


def check_exercise_6(answer) -> None:
    """Lecture 01, exercise 6 (debug): a train/test split of a series that tests a forecaster on the future."""
    if answer is None:
        check(None, True)
        return
    y = torch.arange(240, dtype=torch.float64)  # each value is its own month index, so positions can be read back
    try:
        train, test = answer(y)
        outcome = {"every test month comes after every training month": bool(train.max() < test.min()),
                   "the test part is the last 20%": len(test) == 48 and len(train) == 192,
                   "no month lost, repeated or reordered": torch.equal(torch.cat([train, test]), y)}
    except Exception as error:  # a student's function may fail in any way: say so, never raise
        check(f"{type(error).__name__}: {error}", "a (train, test) pair",
                     f"calling your function on a series of 240 months failed: {type(error).__name__}: {error}")
        return
    check(outcome, {k: True for k in outcome}, "a forecaster is tested on the future: which months can it have "
          "seen when it forecasts month t?")


def information_bits(symbols, context: int) -> float:
    """H(next) - H(next | the ``context`` symbols before it), in bits, from counts."""
    n = len(symbols) - context
    nexts = collections.Counter(symbols[context:])
    joint = collections.Counter(tuple(symbols[i - context: i + 1]) for i in range(context, len(symbols)))
    contexts = collections.Counter(tuple(symbols[i - context: i]) for i in range(context, len(symbols)))
    h_next = -sum(c / n * math.log2(c / n) for c in nexts.values())
    h_cond = -sum(c / n * math.log2(c / contexts[key[:-1]]) for key, c in joint.items())
    return h_next - h_cond


def check_exercise_7(answer) -> None:
    """Lecture 01, exercise 7 (design): a sequence whose order one symbol of context misses and two catch."""
    if answer is None:
        check(None, True)
        return
    try:
        symbols = list(answer)
        hash(tuple(symbols))
    except TypeError:
        check(str(type(answer)), "a list of symbols", "give a list (or a string) of symbols.")
        return
    if len(symbols) < 1000 or len(set(symbols)) > 10:
        check(f"{len(symbols)} symbols, {len(set(symbols))} different", "at least 1000, at most 10 different",
              "give at least 1000 symbols from at most 10 different ones.")
        return
    one, two = information_bits(symbols, 1), information_bits(symbols, 2)
    outcome = {"the previous symbol tells < 0.02 bits": one < 0.02, "the previous two tell >= 0.3 bits": two >= 0.3}
    check(outcome, {k: True for k in outcome}, f"measured {one:.3f} bits from one symbol, {two:.3f} from two. "
          "Try a sequence in which each symbol depends on the one two steps back, and not on its neighbour.")
