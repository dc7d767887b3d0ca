"""Lecture 03's exercise checkers (helpers.exercises.lecture03): right answers pass, each plausible wrong one fails.

Exercise 6 asks for a matrix with spectral radius <= 0.9 whose powers grow across steps. Its wrong answers are the
whole class of matrices whose powers do not grow (issue 26 found a nilpotent one accepted): nilpotent, normal,
large in one step only, growing too little, or with a spectral radius that is not below 1.
"""
import pytest
import torch

from helpers.exercises import lecture03 as ex
from exercise_support import checker_tests, verdict


def truncated(rnn, x, k, detach=True):
    x = x.clone().requires_grad_(True)
    h = torch.zeros(1, rnn.hidden_size, dtype=x.dtype)
    for start in range(0, len(x), k):
        out, h = rnn(x[start:start + k], h.detach() if detach else h)
    out[-1].sum().backward()
    return x.grad.norm(dim=1)


RIGHT = {1: 44, 2: [[0.3, -0.4, 1.2], [1.3, -1.3, 1.3]], 3: 10,
         4: {"random W_hh": "above", "orthogonal W_hh": "equal"}, 5: truncated, 6: [[0.9, 1.0], [0.0, 0.9]]}

WRONG = {
    1: {"floor instead of the first t below 0.01": 43},
    2: {"forgot to clip by norm": [[3.0, -4.0, 12.0], [1.3, -1.3, 1.3]], "the two swapped": [[1.3, -1.3, 1.3], [0.3, -0.4, 1.2]]},
    3: {"the chunk length": 30, "every input": 100},
    4: {"as if rho bounded every step": {"random W_hh": "below", "orthogonal W_hh": "equal"}},
    5: {"the planted missing detach": lambda rnn, x, k: truncated(rnn, x, k, detach=False),
        "all gradients zero": lambda rnn, x, k: torch.zeros(len(x), dtype=x.dtype), "raises": lambda *a: None + 1},
    6: {"nilpotent (issue 26)": [[0.0, 100.0], [0.0, 0.0]],
        "nilpotent, lower triangle": [[0.0, 0.0], [50.0, 0.0]],
        "nilpotent, not triangular": [[10.0, -10.0], [10.0, -10.0]],
        "large in one step, rho 0.5 (the old worked solution)": [[0.5, 100.0], [0.0, 0.5]],
        "large in one step, rho 0.9, eigenvalues of opposite sign": [[0.9, 5.0], [0.0, -0.9]],
        "normal: a multiple of the identity": [[0.5, 0.0], [0.0, 0.5]],
        "normal: a scaled rotation": [[0.0, 0.9], [-0.9, 0.0]],
        "normal: symmetric": [[0.5, 0.4], [0.4, 0.5]],
        "grows, but less than twofold": [[0.85, 1.0], [0.0, 0.85]],
        "spectral radius 0.99, above 0.9": [[0.99, 1.0], [0.0, 0.99]],
        "spectral radius 1": [[1.0, 1.0], [0.0, 1.0]],
        "zero": [[0.0, 0.0], [0.0, 0.0]],
        "not 2 x 2": [[0.9, 1.0, 0.0]],
        "not a matrix": "[[0.9, 1], [0, 0.9]]",
        "not finite": [[float("nan"), 1.0], [0.0, 0.9]],
        "too large to power": [[0.9, 1e200], [0.0, 0.9]]},
}


test_unanswered_and_right, test_wrong_answer_fails = checker_tests(ex, RIGHT, WRONG)


@pytest.mark.parametrize("matrix", [[[0.9, 1.0], [0.0, 0.9]], [[0.9, 1e6], [0.0, 0.9]], [[0.9, 0.0], [3.0, 0.88]],
                                    [[-4.1, 5.0], [-5.0, 5.9]]])
def test_exercise_6_accepts_every_matrix_whose_powers_double(matrix):
    W = torch.tensor(matrix, dtype=torch.float64)
    norms = ex.power_norms(W)
    assert float(norms.max() / norms[0]) >= 2 and max(abs(torch.linalg.eigvals(W))) <= 0.9 + 1e-6  # the stand-in is right
    assert verdict(ex.check_exercise_6, matrix) == "correct"
