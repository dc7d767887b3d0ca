"""Checkers for lecture 09's exercises (linear RNNs, parallel scans and state-space models).

Each ``check_exercise_N`` prints ``correct``, ``not yet: <hint>`` or ``not answered yet`` and returns True only for a
right answer. Expected values are computed here, from the lecture's helpers, never typed in.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from helpers.exercises import check
from helpers.linear_rnn import MinGRU, cumprod_scan, linear_attention_parallel
from helpers.models import count_parameters
from helpers.ssm import zoh


def _loop_reverse(a, b):
    h, out = torch.zeros_like(b[:, -1]), []
    for t in reversed(range(a.shape[1])):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out[::-1], dim=1)


def _run(fn, *args):
    """``fn(*args)``, or None (after saying what went wrong) if it raises."""
    try:
        return fn(*args)
    except Exception as error:  # a student's function may fail in any way; say how, do not stop the notebook
        print(f"your function raised {type(error).__name__}: {error}")
        return None


def check_exercise_1(reverse_scan) -> bool:
    """Lecture 09, exercise 1: ``reverse_scan(a, b)`` computes ``h_t = a_t h_{t+1} + b_t`` (zero after the end)."""
    if reverse_scan is None:
        return check(None, 0)
    g = torch.Generator().manual_seed(9)
    for T in (1, 2, 7, 64, 100):
        a = torch.rand(2, T, 3, generator=g, dtype=torch.float64)
        b = torch.randn(2, T, 3, generator=g, dtype=torch.float64)
        answer = _run(reverse_scan, a, b)
        ok = isinstance(answer, torch.Tensor) and answer.shape == a.shape
        if not ok or not torch.allclose(answer.double(), _loop_reverse(a, b), atol=1e-10):
            return check(False, True, f"wrong for seq_len={T}. Read the sequence backwards: flip a and b along dim 1, "
                                      "scan, and flip the states back.")
    return check(True, True)


def check_exercise_2(answer) -> bool:
    """Lecture 09, exercise 2: the first step (counting from 1) where ``cumprod_scan`` with a = 0.99, b = 1 in float32
    stops being finite; within 1%."""
    T = 20_000
    h = cumprod_scan(torch.full((1, T, 1), 0.99), torch.ones(1, T, 1))
    expected = int((~torch.isfinite(h[0, :, 0])).nonzero()[0]) + 1
    if answer is None:
        return check(None, expected)
    return check(answer, expected, "which overflows first: 1 / A_t alone, or the running sum of 1 / A_s, which is "
                                   "about 100 times larger? float32 ends near 3.4e38.", tol=0.01 * expected)


def check_exercise_3(answer) -> bool:
    """Lecture 09, exercise 3: parameters of ``MinGRU(128, 128)`` and ``nn.GRU(128, 128)``, as a dict."""
    expected = {"minGRU": count_parameters(MinGRU(128, 128)), "GRU": count_parameters(nn.GRU(128, 128))}
    return check(answer, expected, "count weights and biases of every linear map; nn.GRU has three gate blocks, each "
                                   "with an input and a recurrent weight matrix and two bias vectors.")


def check_exercise_4(step) -> bool:
    """Lecture 09, exercise 4: a fixed ``step(q_t, k_t, v_t, state) -> (y_t, state)`` of causal linear attention."""
    if step is None:
        return check(None, 0)
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 12, 8, generator=g, dtype=torch.float64) for _ in range(3))
    state, out = None, []
    for t in range(q.shape[1]):
        result = _run(step, q[:, t], k[:, t], v[:, t], state)
        if not (isinstance(result, tuple) and len(result) == 2):
            return check(False, True, "step must return (y_t, new_state)")
        y, state = result
        out.append(y)
    answer = _run(torch.stack, out, 1)
    ok = (isinstance(answer, torch.Tensor) and answer.shape == v.shape and
          torch.allclose(answer.double(), linear_attention_parallel(q, k, v), atol=1e-8))
    return check(ok, True, "in the parallel form, row t of the masked score matrix includes s = t: token t attends to "
                           "itself. When does the state take in token t?")


def check_exercise_5(zoh_by_hand) -> bool:
    """Lecture 09, exercise 5: ``zoh_by_hand(A, B, dt) -> (A_bar, B_bar)`` for a diagonal (complex) A."""
    if zoh_by_hand is None:
        return check(None, 0)
    g = torch.Generator().manual_seed(5)
    A = torch.complex(-torch.rand(4, 3, generator=g, dtype=torch.float64) - 0.1,
                      torch.randn(4, 3, generator=g, dtype=torch.float64))
    B = torch.randn(4, 3, generator=g, dtype=torch.cdouble)
    dt = torch.rand(4, 1, generator=g, dtype=torch.float64) * 0.5
    answer = _run(zoh_by_hand, A, B, dt)
    expected = zoh(A, B, dt)
    ok = isinstance(answer, tuple) and len(answer) == 2 and all(
        isinstance(x, torch.Tensor) and x.shape == e.shape and torch.allclose(x, e) for x, e in zip(answer, expected))
    return check(ok, True, "A_bar = exp(dt A); B_bar integrates exp(s A) B over the step: (exp(dt A) - 1) / A * B. "
                           "dt * B is Euler's rule, exact only as dt -> 0.")


@torch.no_grad()
def delta_ratio(model, task) -> float:
    """Mean dt of the first block's selective SSM on symbols divided by its mean dt on noise (validation inputs)."""
    x = task.val[0].to(model.head.weight.device)
    block = model.blocks[0]
    dt, _, _ = block.mixer.selection(block.mixer_input(model.embed(x)))
    dt = dt.mean(-1)[:, :task.seq_len]  # over channels; the noise and symbol positions only
    symbols = x[:, :task.seq_len] > 0
    return float(dt[symbols].mean() / dt[~symbols].mean())


def check_exercise_6(answer, model, task) -> bool:
    """Lecture 09, exercise 6: ``delta_ratio`` of the trained selective model (mean dt on symbols / on noise)."""
    return check(answer, delta_ratio(model, task), "feed the validation inputs through the embedding and the first "
                                                   "block's mixer_input, then mixer.selection; average dt over "
                                                   "channels, then over symbol and over noise positions.")


def check_exercise_7(answer, model, context: int = 4096) -> bool:
    """Lecture 09, exercise 7: bytes of a float32 KV cache of ``model`` (a CharTransformer) after ``context`` tokens."""
    expected = 2 * model.config["n_layer"] * context * model.config["n_embd"] * 4
    return check(answer, expected, "every layer keeps a key and a value vector of n_embd floats per token (all heads "
                                   "together); a float32 is 4 bytes.")
