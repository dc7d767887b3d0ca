"""Lecture 02's exercise checkers (helpers.exercises.lecture02): right answers pass, each plausible wrong one fails."""
import math

import torch

from helpers.exercises import lecture02 as ex
from exercise_support import checker_tests


def rnn_forward(X, W_xh, W_hh, b_h, transpose_hh=True):
    h = X.new_zeros(X.shape[0], W_hh.shape[0])
    states = []
    for t in range(X.shape[1]):
        h = torch.tanh(X[:, t] @ W_xh.T + h @ (W_hh.T if transpose_hh else W_hh) + b_h)
        states.append(h)
    return torch.stack(states, dim=1)


def by_hand():
    h1 = [math.tanh(1.0), math.tanh(-0.5 + 0.1)]
    return [math.tanh(-1.0 + 0.5 * h1[0] - 1.0 * h1[1]), math.tanh(0.5 + 0.25 * h1[0] + 0.5 * h1[1] + 0.1)]


def tanh_fixed_point():
    h = 0.0
    for _ in range(50):
        h = math.tanh(1.0 + h)
    return h


RIGHT = {1: by_hand(), 2: 2 * (20 * 20 + 2 * 20) + 20 * 10 + 20 * 20, 3: 1 - 1 / 50_000, 4: "jordan",
         5: [50.0, tanh_fixed_point()], 6: rnn_forward, 7: ([3.0, 0, 0, 0, 0], [-3.0, 0, 0, 0, 0])}

WRONG = {
    1: {"h^(1), not h^(2)": [math.tanh(1.0), math.tanh(-0.4)], "W_hh transposed": [
        math.tanh(-1.0 + 0.5 * math.tanh(1.0) + 0.25 * math.tanh(-0.4)),
        math.tanh(0.5 - 1.0 * math.tanh(1.0) + 0.5 * math.tanh(-0.4) + 0.1)]},
    2: {"layer 2 given layer 1's input size": 2 * (20 * 10 + 20 * 20 + 2 * 20), "one bias vector": 2 * 20 * 20 + 20 * 10 + 2 * 20},
    3: {"the share of ones": 1 / 50_000},
    4: {"elman": "elman"},
    5: {"as if tanh did not saturate": [50.0, 50.0], "as if ReLU saturated too": [1.0, tanh_fixed_point()]},
    6: {"the planted bug": lambda *a: rnn_forward(*a, transpose_hh=False), "raises": lambda *a: 1 / 0},
    7: {"differ at every step": ([1.0] * 5, [0.0] * 5), "identical": ([1.0] * 5, [1.0] * 5),
        "differ at the last step": ([0.0] * 5, [0.0] * 4 + [1.0]), "not numbers": ("abc", "def")},
}


test_unanswered_and_right, test_wrong_answer_fails = checker_tests(ex, RIGHT, WRONG)
