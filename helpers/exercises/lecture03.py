"""Checkers for the exercises of lecture 03 (lectures/03_backprop_through_time.ipynb).

Each one computes the right answer itself (with ``helpers.gradients``, the tools the lecture teaches) and prints
``correct``, ``not yet: <hint>`` or ``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import torch
from torch import nn

from helpers.exercises import check
from helpers.gradients import input_grad_norms, jacobian_norms, set_spectral_radius, spectral_radius
from helpers.runtime import set_seed

# Exercise 6: a spectral radius clearly below 1, and powers that at least double what one step does.
EX6_MAX_RADIUS = 0.9
EX6_GROWTH = 2.0
EX6_MAX_POWER = 50


def check_exercise_1(answer) -> None:
    """Lecture 03, exercise 1: the first step at which ‖∂h_t/∂h_0‖ < 0.01 for an orthogonal W_hh at ρ = 0.9."""
    rnn = nn.RNN(1, 8, bias=False).double()
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l0)
    set_spectral_radius(rnn, 0.9)
    n = jacobian_norms(rnn, torch.zeros(200, 1, dtype=torch.float64))
    expected = int((n < 0.01).nonzero()[0]) + 1
    check(answer, expected, "with zero inputs and state, tanh' = 1 and ‖∂h_t/∂h_0‖ = 0.9^t; "
                            "find the smallest integer t with 0.9^t < 0.01.")


def check_exercise_2(answer) -> None:
    """Lecture 03, exercise 2: g = (3, -4, 12) clipped by norm and by value at 1.3."""
    g = torch.tensor([3.0, -4.0, 12.0])
    by_norm, by_value = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(3))
    by_norm.grad, by_value.grad = g.clone(), g.clone()
    nn.utils.clip_grad_norm_([by_norm], max_norm=1.3)
    nn.utils.clip_grad_value_([by_value], clip_value=1.3)
    check(answer, [by_norm.grad.tolist(), by_value.grad.tolist()], "by norm: multiply g by 1.3 / ‖g‖ (‖g‖ = 13); "
          "by value: clamp each entry to [-1.3, 1.3]. Give [[...], [...]].", tol=1e-4)


def check_exercise_3(answer) -> None:
    """Lecture 03, exercise 3: how many of 100 inputs get a gradient with truncation every 30 steps."""
    set_seed(0)
    grads = input_grad_norms(nn.RNN(2, 4).double(), torch.randn(100, 2, dtype=torch.float64), k=30)
    expected = int((grads > 0).sum())
    check(answer, expected, "the chunks start at steps 0, 30, 60, 90; only the chunk holding "
                            "the last step passes gradient back.")


def check_exercise_4(answer) -> None:
    """Lecture 03, exercise 4 (predict): ‖∂h_5/∂h_0‖ against 0.7^5 for a random and an orthogonal W_hh."""
    measured = {}
    for kind in ("random W_hh", "orthogonal W_hh"):
        set_seed(0)
        rnn = nn.RNN(1, 16, bias=False).double()
        if kind == "orthogonal W_hh":
            with torch.no_grad():
                nn.init.orthogonal_(rnn.weight_hh_l0)
        set_spectral_radius(rnn, 0.7)
        ratio = jacobian_norms(rnn, torch.zeros(5, 1, dtype=torch.float64))[-1].item() / 0.7 ** 5
        measured[kind] = "above" if ratio > 1 + 1e-9 else "below" if ratio < 1 - 1e-9 else "equal"
    check(answer, measured, "with zero inputs and state the Jacobian is exactly W_hh^5. Which of the two "
                            "matrices is normal, and what can a non-normal one do for a few steps (section 2.1)?")


def check_exercise_5(answer) -> None:
    """Lecture 03, exercise 5 (debug): truncated BPTT that really stops the gradient at chunk boundaries."""
    if answer is None:
        check(None, True)
        return
    set_seed(0)
    gru = nn.GRU(1, 16).double()
    x = torch.randn(40, 1, dtype=torch.float64)
    expected = input_grad_norms(gru, x, k=10)
    try:
        got = torch.as_tensor(answer(gru, x, 10))
        outcome = {"no gradient before the last chunk": bool((got[:-10] == 0).all()),
                   "the last chunk's gradients are right": torch.allclose(got[-10:], expected[-10:])}
    except Exception as error:  # a student's function may fail in any way: say so, never raise
        check(type(error).__name__, "gradients", f"calling your function failed: {type(error).__name__}: {error}")
        return
    check(outcome, {k: True for k in outcome}, "truncation means the backward pass stops at each chunk boundary; "
                                               "what must happen to the carried state there?")


def power_norms(W: torch.Tensor, n_max: int = EX6_MAX_POWER) -> torch.Tensor:
    """‖W^n‖₂ for n = 1, ..., n_max (float64)."""
    W = W.double()
    norms, P = [], torch.eye(W.shape[0], dtype=torch.float64)
    for _ in range(n_max):
        P = P @ W
        norms.append(torch.linalg.matrix_norm(P, ord=2))
    return torch.stack(norms)


def check_exercise_6(answer) -> None:
    """Lecture 03, exercise 6 (design): a 2 x 2 W with ρ(W) ≤ 0.9 whose powers grow across steps.

    Growth means ‖W^n‖₂ ≥ 2 ‖W‖₂ for some n ≤ 50: a later power larger than one step. That rules out every
    matrix whose powers do not grow, however large W itself is: nilpotent ones (W² = 0), normal ones
    (‖W^n‖ = ρ^n), and triangular ones with a large corner but a small ρ, whose largest power is W itself.
    """
    if answer is None:
        check(None, True)
        return
    try:
        W = torch.as_tensor(answer, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        check(str(answer), "a 2 x 2 matrix", "give a 2 x 2 matrix as a nested list [[a, b], [c, d]].")
        return
    if W.shape != (2, 2):
        check(tuple(W.shape), (2, 2), "give a 2 x 2 matrix as a nested list [[a, b], [c, d]].")
        return
    if not torch.isfinite(W).all() or W.abs().max() > 1e100:  # W^50 of larger entries can overflow float64
        check("not finite", "finite", "every entry must be a finite number of size at most 1e100.")
        return
    rho, norms = spectral_radius(W), power_norms(W)
    growth = (norms / norms[0]).nan_to_num(0.0) if norms[0] > 0 else torch.zeros_like(norms)
    peak = int(growth.argmax()) + 1
    # a defective W (a repeated eigenvalue) has eigenvalues accurate to about 1e-8 only
    outcome = {f"spectral radius <= {EX6_MAX_RADIUS}": rho <= EX6_MAX_RADIUS + 1e-6,
               f"‖W^n‖ >= {EX6_GROWTH:g} ‖W‖ for some n <= {EX6_MAX_POWER}": bool(growth.max() >= EX6_GROWTH)}
    check(outcome, {k: True for k in outcome},
          f"measured ρ = {rho:.3g}, ‖W‖₂ = {norms[0]:.3g}, largest ‖W^n‖₂ / ‖W‖₂ = {growth.max():.3g} (at n = {peak}). "
          "A large W is one large step, not growth: the powers must become larger than W itself. For a "
          "triangular W with both eigenvalues λ, the corner of W^n is n λ^(n-1) times the corner of W.")
