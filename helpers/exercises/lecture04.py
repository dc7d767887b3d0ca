"""Checkers for the exercises of lecture 04 (lectures/04_lstm_gru_gates.ipynb).

Each one computes the right answer itself (PyTorch's modules and ``helpers.gradients``) and prints ``correct``,
``not yet: <hint>`` or ``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from helpers.exercises import check
from helpers.gates import gate_weights
from helpers.gradients import jacobian_norms
from helpers.runtime import set_seed


def check_exercise_1(answer) -> None:
    """Lecture 04, exercise 1: the parameters of a two-layer bidirectional ``nn.LSTM(100, 256)``."""
    module = nn.LSTM(100, 256, num_layers=2, bidirectional=True)
    check(answer, sum(p.numel() for p in module.parameters()),
          "4 gates x 2 directions x [h(d + h) + 2h] per layer; the second layer has d = 2 * 256.")


def check_exercise_2(answer) -> None:
    """Lecture 04, exercise 2: ‖∂h_20/∂h_0‖ of a GRU whose update gate is stuck at z = 1."""
    set_seed(0)
    gru = nn.GRU(4, 16).double()
    with torch.no_grad():
        gru.bias_ih_l0[16:32] = 30.0  # the z block of (r, z, n): z = sigmoid(30 + ...) ≈ 1
    n = jacobian_norms(gru, torch.randn(20, 4, dtype=torch.float64))
    check(answer, n[-1].item(), "with z = 1, h_t = (1 - z) n_t + z h_{t-1} = h_{t-1}: "
                                "what is the Jacobian of the identity map?", tol=1e-3)


def check_exercise_3(answer) -> None:
    """Lecture 04, exercise 3: ‖∂c_10/∂c_0‖ of an LSTM with f = 0.9 and i = 0."""
    set_seed(0)
    lstm = nn.LSTM(4, 8).double()
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
        lstm.bias_ih_l0[:8] = -40.0  # input gate closed: i ≈ 0
        lstm.bias_ih_l0[8:16] = math.log(9)  # forget gate: sigmoid(log 9) = 0.9
    n = jacobian_norms(lstm, torch.randn(10, 4, dtype=torch.float64), wrt="c")
    check(answer, n[-1].item(), "c_t = f c_{t-1} + i g with f = 0.9 and i = 0: each step multiplies by 0.9.",
          tol=1e-6)


def check_exercise_4(answer) -> None:
    """Lecture 04, exercise 4 (predict): input steps that reach step 3 of a stacked bidirectional LSTM."""
    set_seed(0)
    stacked = nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(1, 7, 5, dtype=torch.float64, requires_grad=True)
    out, _ = stacked(x)
    counts = {}
    for name, half in [("forward", slice(0, 4)), ("backward", slice(4, 8))]:
        grad, = torch.autograd.grad(out[0, 3, half].sum(), x, retain_graph=True)
        counts[name] = int((grad[0].abs().amax(1) > 0).sum())
    check(answer, counts, "layer 2 reads both halves of layer 1's output at every step it visits; "
                          "what has layer 1's backward half at step 3 already read?")


def check_exercise_5(answer) -> None:
    """Lecture 04, exercise 5 (debug): ``set_forget_bias`` that sets the forget gate's bias, and only it."""
    if answer is None:
        check(None, True)
        return
    set_seed(0)
    lstm = nn.LSTM(3, 6)
    bias = lambda p, g: (p[f"b_i{g}"] + p[f"b_h{g}"]).detach().clone()
    before = {g: bias(gate_weights(lstm), g) for g in "ifgo"}
    try:
        answer(lstm, 3.0)
    except Exception as error:  # a student's function may fail in any way: say so, never raise
        check(type(error).__name__, "no error", f"calling your function failed: {type(error).__name__}: {error}")
        return
    after = {g: bias(gate_weights(lstm), g) for g in "ifgo"}
    outcome = {"forget-gate bias is 3": torch.allclose(after["f"], torch.full((6,), 3.0)),
               "the other gates' biases are unchanged": all(torch.equal(after[g], before[g]) for g in "igo")}
    check(outcome, {k: True for k in outcome}, "PyTorch stacks the LSTM's gates in the order i, f, g, o; "
                                               "which rows of bias_ih_l0 belong to f?")


def check_exercise_6(answer) -> None:
    """Lecture 04, exercise 6 (design): a forget bias and length where the LSTM's cell path keeps its gradient."""
    if answer is None:
        check(None, True)
        return
    try:
        bias, T = float(answer["forget_bias"]), int(answer["seq_len"])
    except (KeyError, TypeError, ValueError):
        check(str(answer), "a dict", 'answer {"forget_bias": ..., "seq_len": ...} with two numbers.')
        return
    if not 50 <= T <= 400:
        check(f"seq_len {T}", "seq_len between 50 and 400", "seq_len must be between 50 and 400.")
        return
    x = torch.randn(T, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    set_seed(0)
    lstm, rnn = nn.LSTM(4, 16).double(), nn.RNN(4, 16).double()
    with torch.no_grad():
        lstm.bias_ih_l0[16:32], lstm.bias_hh_l0[16:32] = bias, 0.0
    c_norm = jacobian_norms(lstm, x, wrt="c")[-1].item()
    h_norm = jacobian_norms(rnn, x)[-1].item()
    outcome = {"LSTM: |dc_T/dc_0| >= 0.1": c_norm >= 0.1, "RNN: |dh_T/dh_0| < 1e-3": h_norm < 1e-3}
    check(outcome, {k: True for k in outcome}, f"measured |dc_T/dc_0| = {c_norm:.2g} and |dh_T/dh_0| = {h_norm:.2g}. "
          "Each step multiplies the cell gradient by about f = sigmoid(bias); how large must f be to survive T steps?")

