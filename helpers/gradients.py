"""Gradients through time: Jacobian norms, truncated BPTT and its cost.

Taught in lectures 03 (backpropagation through time) and 04 (LSTM and GRU gates). The functions that
run a recurrent module take one sequence ``x`` of shape ``(seq_len, input_size)`` (no batch dimension)
and run on the module's device and dtype.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext

import torch
from torch import nn

from helpers.checks import check_int
from helpers.models import detach_state

__all__ = ["bptt_cost", "input_grad_norms", "jacobian_norms", "set_spectral_radius", "spectral_radius"]

_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)


# --- one step of any recurrent module ----------------------------------------------------------

def _check_module(cell):
    """Reject modules whose state is not one (h,) or (h, c) pair per sequence."""
    if isinstance(cell, nn.RNNBase):
        if cell.num_layers != 1 or cell.bidirectional:
            raise ValueError(
                f"{type(cell).__name__} has num_layers={cell.num_layers}, bidirectional={cell.bidirectional}: "
                "these helpers follow one state through time; pass a module with num_layers=1, bidirectional=False."
            )
        if getattr(cell, "proj_size", 0):
            raise ValueError("LSTM with proj_size > 0 is not supported here; build it with proj_size=0.")
    elif not isinstance(cell, _CELLS) and not callable(cell):
        raise TypeError(
            f"expected nn.RNN/GRU/LSTM, an nn.*Cell or a step function, got {type(cell).__name__}."
        )


def _is_lstm(cell) -> bool:
    return isinstance(cell, (nn.LSTM, nn.LSTMCell))


def _zero_state(cell, batch_size: int, like: torch.Tensor) -> tuple:
    """Zeros for (h,) or (h, c), each of shape (batch_size, hidden_size), with the dtype and device of `like`."""
    if not isinstance(cell, (nn.RNNBase, *_CELLS)):
        raise ValueError("a step function has no known hidden_size: pass its initial `state` explicitly.")
    h = like.new_zeros(batch_size, cell.hidden_size)
    return (h, h.clone()) if _is_lstm(cell) else (h,)


def _run_layer(rnn: nn.RNNBase, x: torch.Tensor, state: tuple) -> tuple:
    """A one-layer nn.RNN/GRU/LSTM over x (B, seq_len, input_size) from a state tuple of (B, hidden_size) tensors."""
    layered = tuple(s.unsqueeze(0) for s in state)  # PyTorch wants (num_layers, B, hidden_size)
    out, new = rnn(x if rnn.batch_first else x.transpose(0, 1), layered if _is_lstm(rnn) else layered[0])
    new = new if _is_lstm(rnn) else (new,)
    return (out if rnn.batch_first else out.transpose(0, 1)), tuple(s.squeeze(0) for s in new)


def _step(cell, x_t: torch.Tensor, state: tuple) -> tuple:
    """One time step: x_t (B, input_size), state a tuple of (B, hidden_size) tensors -> new state tuple."""
    if isinstance(cell, nn.RNNBase):
        return _run_layer(cell, x_t.unsqueeze(1), state)[1]
    if isinstance(cell, nn.LSTMCell):
        return tuple(cell(x_t, state))
    if isinstance(cell, _CELLS):
        return (cell(x_t, state[0]),)
    new = cell(x_t, state)  # a user step function: (x_t, state tuple) -> state tuple
    return tuple(new) if isinstance(new, (tuple, list)) else (new,)


def _as_sequence(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x must be one sequence of shape (seq_len, input_size), got {shape}; "
            "for a batch, pass one row, e.g. x[0]."
        )
    return x


def _to_module(cell, x: torch.Tensor) -> torch.Tensor:
    """x detached and moved to the dtype and device of the module's parameters."""
    param = next(cell.parameters(), None) if isinstance(cell, nn.Module) else None
    x = x.detach()
    return x if param is None else x.to(dtype=param.dtype, device=param.device)


# --- spectral radius ---------------------------------------------------------------------------

def spectral_radius(W: torch.Tensor) -> float:
    """The largest |eigenvalue| of a square matrix.

    Used in lectures 03 and 04.
    """
    return torch.linalg.eigvals(W.detach().double()).abs().max().item()


@torch.no_grad()
def set_spectral_radius(rnn: nn.Module, radius: float) -> nn.Module:
    """Rescale a vanilla RNN's W_hh in place so that its spectral radius is `radius`; returns the RNN.

    Used in lectures 03 and 04, and the lab rnn_by_hand.
    """
    if not isinstance(rnn, (nn.RNN, nn.RNNCell)):
        raise TypeError(f"set_spectral_radius needs an nn.RNN or nn.RNNCell, got {type(rnn).__name__}.")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}.")
    W = rnn.weight_hh_l0 if isinstance(rnn, nn.RNN) else rnn.weight_hh
    W.mul_(radius / spectral_radius(W))
    return rnn


# --- Jacobians through time ----------------------------------------------------------------------

def jacobian_norms(cell, x: torch.Tensor, state=None, wrt: str = "h", ord=2) -> torch.Tensor:
    """‖∂s_t/∂s_0‖ for t = 1..seq_len (s = h, c or the whole state), as a product of one-step Jacobians.

    Used in lectures 03 and 04.
    """
    _check_module(cell)
    x = _to_module(cell, _as_sequence(x))
    state = _zero_state(cell, 1, x) if state is None else tuple(
        s.detach().reshape(1, -1).to(x) for s in (state if isinstance(state, (tuple, list)) else (state,))
    )
    hidden_size = state[0].shape[1]
    blocks = {"h": slice(0, hidden_size), "c": slice(hidden_size, 2 * hidden_size), "state": slice(None)}
    if wrt not in blocks or (wrt == "c" and len(state) < 2):
        raise ValueError(f"wrt={wrt!r}: use 'h', 'state', or 'c' (LSTM only).")
    n = sum(s.shape[1] for s in state)
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    J = eye.clone()  # ∂s_0/∂s_0
    norms = []
    for x_t in x:
        # n identical copies of the state as a batch: row i of the output picks ∂out_i/∂s in one backward
        leaves = tuple(s.expand(n, -1).clone().requires_grad_(True) for s in state)
        with torch.enable_grad():
            new = _step(cell, x_t.expand(n, -1), leaves)
            out = torch.cat(new, dim=1)
            grads = torch.autograd.grad(out, leaves, grad_outputs=eye, allow_unused=True)
        D = torch.cat([torch.zeros_like(l) if g is None else g for g, l in zip(grads, leaves)], dim=1)
        J = D @ J  # ∂s_t/∂s_0 = (∂s_t/∂s_{t-1}) (∂s_{t-1}/∂s_0)
        block = J[blocks[wrt], blocks[wrt]]
        norms.append(torch.linalg.matrix_norm(block, ord=ord))
        state = tuple(s[:1].detach() for s in new)
    return torch.stack(norms)


def _run(cell, x: torch.Tensor, state: tuple) -> tuple:
    """Run a chunk (seq_len, input_size) from `state`; returns (outputs (seq_len, hidden_size), state)."""
    if isinstance(cell, nn.RNNBase):
        out, new = _run_layer(cell, x.unsqueeze(0), state)
        return out[0], new
    outs = []
    for x_t in x:
        state = _step(cell, x_t.unsqueeze(0), state)
        outs.append(state[0][0])
    return torch.stack(outs), state


def _chunks(seq_len: int, k):
    check_int("k (steps between detaches)", k, optional=True, hint=" (None: full BPTT)")
    k = seq_len if k is None else k
    return [(s, min(s + k, seq_len)) for s in range(0, seq_len, k)]


def input_grad_norms(cell, x: torch.Tensor, k=None) -> torch.Tensor:
    """‖∂L/∂x_t‖ for L = sum of the last output, with the state detached every k steps (k=None: full BPTT).

    Used in lecture 03.
    """
    _check_module(cell)
    x = _to_module(cell, _as_sequence(x)).requires_grad_(True)
    state = _zero_state(cell, 1, x)
    for start, stop in _chunks(x.shape[0], k):
        state = detach_state(state)  # truncation: no gradient flows into earlier chunks
        out, state = _run(cell, x[start:stop], state)
    out[-1].sum().backward()
    return x.grad.norm(dim=1)


def _graph_nodes(tensor: torch.Tensor) -> int:
    """Number of autograd nodes reachable from `tensor`."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(f for f, _ in node.next_functions)
    return len(seen)


def _forward_backward(cell, x: torch.Tensor, k, measure: bool = False) -> tuple:
    """One pass over x in chunks of k steps (a loss and a backward per chunk); returns (peak bytes, peak nodes)."""
    peak_bytes, peak_nodes = 0, 0
    state = _zero_state(cell, 1, x)
    for start, stop in _chunks(x.shape[0], k):
        saved = {}

        def pack(t):
            saved[(t.data_ptr(), t.nelement(), t.dtype)] = t.nelement() * t.element_size()  # count shared storage once
            return t

        hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t) if measure else nullcontext()
        with hooks:
            out, state = _run(cell, x[start:stop], detach_state(state))
            loss = out.pow(2).mean()
        if measure:
            peak_bytes, peak_nodes = max(peak_bytes, sum(saved.values())), max(peak_nodes, _graph_nodes(loss))
        loss.backward()
    return peak_bytes, peak_nodes


def bptt_cost(cell, x: torch.Tensor, k=None, repeats: int = 1) -> dict:
    """Seconds (best of repeats), peak saved-activation MB and graph nodes of BPTT over x, detaching every k steps.

    Used in lecture 03.
    """
    _check_module(cell)
    x = _to_module(cell, _as_sequence(x))
    peak_bytes, peak_nodes = _forward_backward(cell, x, k, measure=True)  # also a warm-up for the timing
    best = math.inf
    for _ in range(max(1, repeats)):
        start_time = time.perf_counter()
        _forward_backward(cell, x, k)
        best = min(best, time.perf_counter() - start_time)
    if isinstance(cell, nn.Module):
        cell.zero_grad(set_to_none=True)
    return {"seconds": best, "saved_MB": peak_bytes / 2**20, "graph_nodes": peak_nodes}
