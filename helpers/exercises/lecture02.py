"""Checkers for the exercises of lecture 02 (lectures/02_rnn_activations.ipynb).

Each one computes the right answer with PyTorch's own modules and prints ``correct``, ``not yet: <hint>`` or
``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.exercises import check
from helpers.runtime import set_seed

# Exercise 1's RNN: one input, two hidden units; the notebook prints these for the student.
EX1_W_XH = [[1.0], [-0.5]]
EX1_W_HH = [[0.5, -1.0], [0.25, 0.5]]
EX1_B_H = [0.0, 0.1]
EX1_X = [1.0, -1.0]  # x^(1), x^(2)


def check_exercise_1(answer) -> None:
    """Lecture 02, exercise 1: h^(2) of a two-unit RNN, computed by hand."""
    rnn = nn.RNN(1, 2, batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(EX1_W_XH))
        rnn.weight_hh_l0.copy_(torch.tensor(EX1_W_HH))
        rnn.bias_ih_l0.copy_(torch.tensor(EX1_B_H))
        rnn.bias_hh_l0.zero_()
        expected = rnn(torch.tensor(EX1_X).view(1, 2, 1))[0][0, 1].tolist()
    check(answer, expected, "h^(1) = tanh(W_xh x^(1) + b_h); then h^(2) = tanh(W_xh x^(2) + W_hh h^(1) + b_h).")


def check_exercise_2(answer) -> None:
    """Lecture 02, exercise 2: the number of parameters of ``nn.RNN(10, 20, num_layers=2)``."""
    expected = sum(p.numel() for p in nn.RNN(10, 20, num_layers=2).parameters())
    check(answer, expected, "Layer 1: 20*10 + 20*20 + 2*20. Layer 2 reads 20 features, not 10.")


def check_exercise_3(answer) -> None:
    """Lecture 02, exercise 3: the share of zeros in a one-hot batch over 50,000 words."""
    expected = (F.one_hot(torch.tensor([0]), 50_000) == 0).double().mean().item()
    check(answer, expected, "Each one-hot vector has one 1 among V entries.")


def check_exercise_4(answer) -> None:
    """Lecture 02, exercise 4: which network trains all steps at once under teacher forcing."""
    check(answer, "jordan", "Which one feeds back something that is known during training?")


def check_exercise_5(answer) -> None:
    """Lecture 02, exercise 5 (predict): h^(50) of ``nn.RNN(1, 1)`` with all weights 1, ReLU and tanh."""
    measured = []
    for nonlinearity in ("relu", "tanh"):
        rnn = nn.RNN(1, 1, nonlinearity=nonlinearity, batch_first=True)
        with torch.no_grad():
            for p in rnn.parameters():
                p.fill_(1.0 if p.dim() == 2 else 0.0)  # W_xh = W_hh = 1, both biases 0
            measured.append(rnn(torch.ones(1, 50, 1))[0][0, -1, 0].item())
    check(answer, measured, f"measured [{measured[0]:.3f}, {measured[1]:.3f}]. With ReLU, h^(t) = h^(t-1) + 1 while "
          "it stays positive; tanh never exceeds 1, so h settles where h = tanh(1 + h).", tol=1e-3)


def check_exercise_6(answer) -> None:
    """Lecture 02, exercise 6 (debug): a corrected ``rnn_forward`` that matches ``nn.RNN``."""
    if answer is None:
        check(None, True)
        return
    set_seed(0)
    rnn = nn.RNN(3, 4, batch_first=True)
    X = torch.randn(2, 5, 3)
    with torch.no_grad():
        expected = rnn(X)[0]
        try:
            got = answer(X, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0)
        except Exception as error:  # a student's function may fail in any way: say so, never raise
            check(f"{type(error).__name__}", "states", f"calling your function failed: "
                         f"{type(error).__name__}: {error}")
            return
    check(got, expected, "compare with rnn_forward in section 4: a batch of row vectors needs W.T on the right "
          "of every product. A square W_hh runs without an error either way.", tol=1e-5)


def check_exercise_7(answer) -> None:
    """Lecture 02, exercise 7 (design): two sequences that only the recurrence tells apart at the last step."""
    if answer is None:
        check(None, True)
        return
    try:
        xa, xb = (torch.as_tensor(a, dtype=torch.float32).reshape(1, 5, 1) for a in answer)
    except (RuntimeError, TypeError, ValueError):
        check(str(answer), "two lists of 5 numbers", "answer (sequence_a, sequence_b), two lists of 5 numbers.")
        return
    set_seed(0)
    rnn = nn.RNN(1, 4, batch_first=True)
    feed_forward = copy.deepcopy(rnn)
    with torch.no_grad():
        feed_forward.weight_hh_l0.zero_()  # no recurrence: each step sees only its own input
        last = lambda m, x: m(x)[0][0, -1]
        gap_rnn = (last(rnn, xa) - last(rnn, xb)).abs().max().item()
        gap_ff = (last(feed_forward, xa) - last(feed_forward, xb)).abs().max().item()
    outcome = {"the sequences differ at step 1 and only there":
               bool(xa[0, 0] != xb[0, 0]) and torch.equal(xa[0, 1:], xb[0, 1:]),
               "the RNN's last states differ (by > 1e-3)": gap_rnn > 1e-3,
               "with W_hh = 0 the last states are equal": gap_ff == 0.0}
    check(outcome, {k: True for k in outcome}, f"measured last-state gaps: RNN {gap_rnn:.2g}, W_hh = 0 {gap_ff:.2g}. "
          "Change one thing only, and make the change large enough to survive four steps of W_hh.")
