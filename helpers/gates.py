"""The gates of PyTorch's LSTM and GRU: per-gate weights, and one step of a one-unit cell by hand.

Taught in lecture 04 (LSTM and GRU gates).
"""
from __future__ import annotations

import math

from torch import nn

_GATES = {nn.LSTM: "ifgo", nn.GRU: "rzn", nn.RNN: ""}


def gate_weights(module: nn.RNNBase, suffix: str = "_l0") -> dict:
    """Split a PyTorch layer's stacked weights into per-gate tensors named as in its docs (W_ii, W_hf, b_in, ...).

    Used in lecture 04.
    """
    if type(module) not in _GATES:
        raise TypeError(f"gate_weights needs an nn.LSTM, nn.GRU or nn.RNN, got {type(module).__name__}.")
    if not hasattr(module, "weight_ih" + suffix):
        raise ValueError(f"{type(module).__name__} has no weights with suffix {suffix!r}; "
                         "use '_l0', '_l1', ... and '_reverse' for the backward direction (e.g. '_l0_reverse').")
    gates = _GATES[type(module)] or "h"
    p = {}
    for kind in ("weight", "bias"):
        if kind == "bias" and not module.bias:
            continue
        for src in ("i", "h"):
            blocks = getattr(module, f"{kind}_{src}h{suffix}").chunk(len(gates))
            for gate, block in zip(gates, blocks):
                p[f"{'W' if kind == 'weight' else 'b'}_{src}{gate}"] = block
    return p


# --- gates of a one-unit LSTM / GRU (for the gate explorer) ----------------------------------------

def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def lstm_gates(x, h_prev, c_prev, w_x, w_h, b) -> dict:
    """One step of a one-unit LSTM; w_x, w_h, b are dicts over gates 'i', 'f', 'g', 'o'; returns gates and c, h.

    Used in lecture 04.
    """
    z = {gate: w_x[gate] * x + w_h[gate] * h_prev + b[gate] for gate in "ifgo"}
    i, f, o = _sigmoid(z["i"]), _sigmoid(z["f"]), _sigmoid(z["o"])  # input, forget, output gates
    g = math.tanh(z["g"])  # candidate cell value
    c = f * c_prev + i * g  # the additive cell-state path
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * math.tanh(c)}


def gru_gates(x, h_prev, w_x, w_h, b, b_hn: float = 0.0) -> dict:
    """One step of a one-unit GRU as PyTorch computes it; b["n"] is b_in, and b_hn sits inside r * (W_hn h + b_hn).

    Used by the gate explorer of lecture 04 (``helpers.widgets.gate_explorer``).
    """
    r = _sigmoid(w_x["r"] * x + w_h["r"] * h_prev + b["r"])  # reset gate
    z = _sigmoid(w_x["z"] * x + w_h["z"] * h_prev + b["z"])  # update gate
    n = math.tanh(w_x["n"] * x + b["n"] + r * (w_h["n"] * h_prev + b_hn))  # candidate; r gates the recurrent term
    return {"r": r, "z": z, "n": n, "h": (1 - z) * n + z * h_prev}
