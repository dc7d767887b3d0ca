"""Linear recurrences trained in parallel: the scans, minGRU and minLSTM, and causal linear attention (lecture 09).

``h_t = a_t * h_{t-1} + b_t`` is linear in ``h``. Two steps in a row are again one step of that form, so the
pairs ``(a_t, b_t)`` compose associatively and a parallel scan computes every ``h_t`` in ``log2(T)`` rounds of
whole-tensor operations instead of ``T`` steps of a Python loop. Time runs along dim 1: ``[batch, seq_len, ...]``.

minGRU and minLSTM (Feng et al., 2024, *Were RNNs All We Needed?*) compute their gates from ``x_t`` alone, which
makes the GRU and the LSTM such linear recurrences. Causal linear attention (Katharopoulos et al., 2020) is one
too, with a matrix-valued state.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import check_int, check_number

SCAN_MODES = ("log", "scan", "sequential")
CELLS = ("mingru", "minlstm")


# --- the scans ------------------------------------------------------------------------------------

def _check_scan(a, b, h0, names=("a", "b", "h0")):
    """Raise a ValueError that says what to pass unless a and b are [batch, seq_len, ...] alike and h0 fits."""
    for name, t in zip(names, (a, b)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a tensor [batch, seq_len, ...], got {type(t).__name__}")
    if a.dim() < 2:
        raise ValueError(f"{names[0]} and {names[1]} must be [batch, seq_len, ...] (time along dim 1), got shape "
                         f"{tuple(a.shape)}; for one sequence use x[None]")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)} must have the same shape "
                         f"[batch, seq_len, ...]; broadcast first, e.g. {names[0]}.expand_as({names[1]})")
    if a.dtype != b.dtype:
        raise ValueError(f"{names[0]} is {a.dtype} but {names[1]} is {b.dtype}; convert one, e.g. a.to(b.dtype)")
    if a.shape[1] == 0:
        raise ValueError(f"seq_len is 0 in {tuple(a.shape)}: a scan needs at least one step")
    if h0 is not None:
        state = (a.shape[0],) + tuple(a.shape[2:])
        if not isinstance(h0, torch.Tensor) or tuple(h0.shape) != state:
            got = tuple(h0.shape) if isinstance(h0, torch.Tensor) else type(h0).__name__
            raise ValueError(f"{names[2]} must be the state before step 1, shape [batch, ...] = {state}, got {got}")


def scan_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The definition, one step at a time: ``h_t = a_t * h_{t-1} + b_t`` from ``h0`` (zeros if None) -> all h_t.

    Used in lecture 09.
    """
    _check_scan(a, b, h0)
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    out = []
    # unbind once: indexing a[:, t] in the loop would make autograd build a full-size gradient per step
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out, dim=1)


def combine(first, second):
    """Two steps as one: applying ``(a1, b1)`` then ``(a2, b2)`` maps h to ``a2 a1 h + (a2 b1 + b2)``.

    Used by the scans of this module (lecture 09).
    """
    (a1, b1), (a2, b2) = first, second
    return a2 * a1, a2 * b1 + b2


def _fold_h0(a, b, h0):
    """The starting state folded into the first step: ``b_1 <- a_1 h0 + b_1``, so the scan can start from zeros."""
    if h0 is None:
        return b
    return torch.cat([a[:, :1] * h0.unsqueeze(1) + b[:, :1], b[:, 1:]], dim=1)


def hillis_steele_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Hillis-Steele scan of ``h_t = a_t * h_{t-1} + b_t``: ceil(log2 T) rounds of whole-tensor operations.

    After the round with offset ``d``, position t holds the steps ``t-2d+1 .. t`` composed into one; when ``d``
    reaches T, position t holds steps ``1 .. t`` applied to a zero state: ``h_t`` itself. Every round touches all
    T positions, so the work is O(T log T).

    Used in lecture 09.
    """
    _check_scan(a, b, h0)
    b = _fold_h0(a, b, h0)
    d = 1
    while d < a.shape[1]:
        # step t absorbs the block ending at t - d; out-of-place, so autograd can differentiate every round
        a_new, b_new = combine((a[:, :-d], b[:, :-d]), (a[:, d:], b[:, d:]))
        a, b = torch.cat([a[:, :d], a_new], dim=1), torch.cat([b[:, :d], b_new], dim=1)
        d *= 2
    return b


def blelloch_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Work-efficient (Blelloch-style) scan: O(T) work in 2 log2(T) rounds; the scan the models use.

    Combine neighbouring steps in pairs, scan the half-length sequence of pairs (that gives every second state),
    then fill in the states in between with one more step each.

    Used in lecture 09.
    """
    _check_scan(a, b, h0)
    return _pairwise_scan(a, _fold_h0(a, b, h0))


def _pairwise_scan(a, b):
    T = a.shape[1]
    if T == 1:
        return b
    if T % 2:  # an odd length gets one identity step (a = 1, b = 0) at the end
        a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)
        b = torch.cat([b, torch.zeros_like(b[:, :1])], dim=1)
    a_first, a_second, b_first, b_second = a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]
    h_second = _pairwise_scan(*combine((a_first, b_first), (a_second, b_second)))  # h at steps 2, 4, 6, ...
    h_before = torch.cat([torch.zeros_like(h_second[:, :1]), h_second[:, :-1]], dim=1)  # h at steps 0, 2, 4, ...
    h_first = a_first * h_before + b_first  # h at steps 1, 3, 5, ...
    return torch.stack([h_first, h_second], dim=2).flatten(1, 2)[:, :T]  # interleave them again


def cumprod_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The closed form ``h_t = A_t * sum_{s<=t} b_s / A_s`` with ``A_t = a_1 ... a_t``: exact maths, fragile numbers.

    ``A_t`` shrinks geometrically when |a| < 1: it underflows to 0 after some hundreds of steps in float32,
    then ``b_s / A_s`` overflows to inf and ``0 * inf`` is NaN. ``log_scan`` does the same sums in log space.

    Used in lecture 09.
    """
    _check_scan(a, b, None)
    A = torch.cumprod(a, dim=1)
    return A * torch.cumsum(b / A, dim=1)


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor | None = None) -> torch.Tensor:
    """The closed form in log space (Heinsen, 2023), for positive a, b: ``log h_t = a*_t + logcumsumexp(log b - a*)``.

    ``a*_t = sum_{s<=t} log a_s`` is a sum of logs, never a vanishing product; ``logcumsumexp`` adds terms of very
    different sizes safely. Returns ``h`` (not its log). A zero state is ``log_h0=None``.

    Used in lecture 09.
    """
    _check_scan(log_a, log_b, log_h0, names=("log_a", "log_b", "log_h0"))
    if log_a.is_complex() or not log_a.is_floating_point():
        raise ValueError(f"log_scan takes real floating-point logs, got {log_a.dtype}; for signed values use "
                         "blelloch_scan")
    if log_h0 is not None:  # h_1 = a_1 h0 + b_1, written in logs
        first = torch.logaddexp(log_a[:, :1] + log_h0.unsqueeze(1), log_b[:, :1])
        log_b = torch.cat([first, log_b[:, 1:]], dim=1)
    a_star = torch.cumsum(log_a, dim=1)
    return torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))


# --- minGRU and minLSTM ------------------------------------------------------------------------------

def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation for candidate states: x + 1/2 for x >= 0, sigmoid(x) below (continuous at 0).

    Used by MinGRU and MinLSTM (lecture 09).
    """
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without taking the log of a tiny sigmoid.

    Used by MinGRU and MinLSTM (lecture 09).
    """
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def _check_mode(mode):
    if mode not in SCAN_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, SCAN_MODES))}, got {mode!r}")


def _check_input(cell, x, h0, input_size, hidden_size):
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != input_size or x.shape[1] == 0:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{cell} expects x of shape [batch, seq_len >= 1, input_size={input_size}], got {got}")
    if h0 is not None and (not isinstance(h0, torch.Tensor) or tuple(h0.shape) != (x.shape[0], hidden_size)):
        got = tuple(h0.shape) if isinstance(h0, torch.Tensor) else type(h0).__name__
        raise ValueError(f"h0 must be [batch, hidden_size] = {(x.shape[0], hidden_size)}, got {got}")


class _MinRNN(nn.Module):
    """What minGRU and minLSTM share: sizes, the three modes, and the sequential loop over ``step``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, mode: str = "log") -> torch.Tensor:
        """``x`` [B, T, input_size] -> every state [B, T, hidden_size]. ``h0`` (positive) defaults to zeros.

        ``mode``: "log" (the paper's log-space scan), "scan" (``blelloch_scan``) or "sequential" (``step`` in a loop).
        """
        _check_mode(mode)
        _check_input(type(self).__name__, x, h0, self.input_size, self.hidden_size)
        if mode == "sequential":
            h = torch.zeros_like(x[:, 0, :1]).expand(-1, self.hidden_size) if h0 is None else h0
            out = []
            for t in range(x.shape[1]):
                h = self.step(x[:, t], h)
                out.append(h)
            return torch.stack(out, dim=1)
        if mode == "scan":
            return blelloch_scan(*self.coefficients(x), h0)
        log_a, log_b = self.log_coefficients(x)
        return log_scan(log_a, log_b, None if h0 is None else torch.log(h0))


class MinGRU(_MinRNN):
    """minGRU: ``z_t = sigmoid(W_z x_t)``, ``h~_t = g(W_h x_t)``, ``h_t = (1 - z_t) h_{t-1} + z_t h~_t``.

    Used in lecture 09.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.linear_z = nn.Linear(input_size, hidden_size)  # update gate
        self.linear_h = nn.Linear(input_size, hidden_size)  # candidate state

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step of the paper's sequential form: ``x_t`` [B, input_size], ``h`` [B, hidden_size]."""
        z = torch.sigmoid(self.linear_z(x_t))  # update gate: it reads x_t only, never h
        h_tilde = g(self.linear_h(x_t))  # candidate state, positive
        return (1 - z) * h + z * h_tilde

    def coefficients(self, x):
        """``(a, b)`` of the linear recurrence: ``a = 1 - z``, ``b = z * h~``."""
        z = torch.sigmoid(self.linear_z(x))
        return 1 - z, z * g(self.linear_h(x))

    def log_coefficients(self, x):
        """``(log a, log b)``, stably: ``log(1 - sigmoid(k)) = -softplus(k)``, ``log sigmoid(k) = -softplus(-k)``."""
        k = self.linear_z(x)
        return -F.softplus(k), -F.softplus(-k) + log_g(self.linear_h(x))


class MinLSTM(_MinRNN):
    """minLSTM: forget and input gates from ``x_t``, normalised to sum to 1: ``h_t = f'_t h_{t-1} + i'_t h~_t``.

    Used in lecture 09.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.linear_f = nn.Linear(input_size, hidden_size)  # forget gate
        self.linear_i = nn.Linear(input_size, hidden_size)  # input gate
        self.linear_h = nn.Linear(input_size, hidden_size)  # candidate state

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step of the paper's sequential form: ``x_t`` [B, input_size], ``h`` [B, hidden_size]."""
        f = torch.sigmoid(self.linear_f(x_t))  # forget gate
        i = torch.sigmoid(self.linear_i(x_t))  # input gate
        f, i = f / (f + i), i / (f + i)  # normalised, so the state stays on the scale of h~ (no cell state needed)
        return f * h + i * g(self.linear_h(x_t))

    def coefficients(self, x):
        f, i = torch.sigmoid(self.linear_f(x)), torch.sigmoid(self.linear_i(x))
        return f / (f + i), i / (f + i) * g(self.linear_h(x))

    def log_coefficients(self, x):
        """log f' = -softplus(log i - log f), log i' = -softplus(log f - log i); log sigmoid(k) = -softplus(-k)."""
        diff = F.softplus(-self.linear_f(x)) - F.softplus(-self.linear_i(x))  # log i - log f
        return -F.softplus(diff), -F.softplus(-diff) + log_g(self.linear_h(x))


class MinRNNLM(nn.Module):
    """Character LM: embedding -> ``num_layers`` x [x + minRNN(norm(x)), x + MLP(norm(x))] -> norm -> head.

    The block layout of the paper's language models (a pre-norm residual block, as in a Transformer with the
    attention replaced by the recurrence). ``forward(x, hidden)`` returns ``(logits, hidden)`` like ``CharRNN``,
    with ``hidden`` [num_layers, B, n_embd] the last state of every layer, so ``CharLMTask`` carries it between
    chunks. ``self.mode`` picks the scan ("log", "scan" or "sequential"; the results agree).

    Used in lecture 09.
    """

    def __init__(self, vocab_size: int, n_embd: int = 128, num_layers: int = 2, cell: str = "mingru",
                 dropout: float = 0.0, mlp_ratio: int = 4, mode: str = "log"):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("n_embd", n_embd), ("num_layers", num_layers),
                            ("mlp_ratio", mlp_ratio)]:
            check_int(name, value)
        if cell not in CELLS:
            raise ValueError(f"cell must be 'mingru' or 'minlstm', got {cell!r}")
        check_number("dropout", dropout, at_least=0, below=1)
        _check_mode(mode)
        self.config = dict(vocab_size=vocab_size, n_embd=n_embd, num_layers=num_layers, cell=cell, dropout=dropout,
                           mlp_ratio=mlp_ratio)
        self.mode, self.num_layers, self.n_embd = mode, num_layers, n_embd
        rnn = MinGRU if cell == "mingru" else MinLSTM
        self.embed = nn.Embedding(vocab_size, n_embd)
        self.norms1 = nn.ModuleList(nn.LayerNorm(n_embd) for _ in range(num_layers))
        self.rnns = nn.ModuleList(rnn(n_embd, n_embd) for _ in range(num_layers))
        self.norms2 = nn.ModuleList(nn.LayerNorm(n_embd) for _ in range(num_layers))
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(n_embd, mlp_ratio * n_embd), nn.GELU(),
                                                nn.Linear(mlp_ratio * n_embd, n_embd)) for _ in range(num_layers))
        self.drop = nn.Dropout(dropout)
        self.norm_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None = None, mode: str | None = None):
        """``x``: LongTensor [B, T] -> (logits [B, T, vocab_size], hidden [num_layers, B, n_embd])."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MinRNNLM expects a LongTensor [batch, time], got {got}; for one sequence use x[None]")
        if hidden is not None and tuple(hidden.shape) != (self.num_layers, x.shape[0], self.n_embd):
            expected = (self.num_layers, x.shape[0], self.n_embd)
            raise ValueError(f"hidden must be [num_layers, batch, n_embd] = {expected}, got {tuple(hidden.shape)}")
        h, last = self.drop(self.embed(x)), []
        for layer in range(self.num_layers):
            states = self.rnns[layer](self.norms1[layer](h), None if hidden is None else hidden[layer],
                                      mode=mode or self.mode)
            last.append(states[:, -1])
            h = h + self.drop(states)  # the recurrence mixes information along time
            h = h + self.drop(self.mlps[layer](self.norms2[layer](h)))  # each position thinks on its own
        return self.head(self.norm_f(h)), torch.stack(last)


# --- causal linear attention -----------------------------------------------------------------------

def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 (Katharopoulos et al.): positive, so the normaliser never vanishes.

    Used by the linear attention of this module (lecture 09).
    """
    return F.elu(x) + 1


def _check_qkv(q, k, v):
    if not all(isinstance(t, torch.Tensor) for t in (q, k, v)):
        raise ValueError("q, k and v must be tensors [..., seq_len, d]")
    if q.dim() < 2 or q.shape != k.shape or q.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must be [..., seq_len, d_k] alike and v "
                         f"{tuple(v.shape)} [..., seq_len, d_v]")


def linear_attention_parallel(q, k, v, eps: float = 1e-6) -> torch.Tensor:
    """Causal linear attention, all steps at once: ``(phi(Q) phi(K)^T * causal mask) V``, each row normalised.

    Shapes ``[..., T, d]``. The T x T score matrix makes it cost O(T^2 d), like softmax attention.

    Used in lecture 09.
    """
    _check_qkv(q, k, v)
    scores = (elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)).tril()  # step t sees s <= t only
    return (scores @ v) / (scores.sum(dim=-1, keepdim=True) + eps)


def linear_attention_step(q_t, k_t, v_t, state=None, eps: float = 1e-6):
    """One token of the recurrent form: ``S += phi(k) v^T``, ``z += phi(k)``, ``y = phi(q)^T S / phi(q)^T z``.

    ``q_t``, ``k_t`` [..., d_k], ``v_t`` [..., d_v]; ``state = (S [..., d_k, d_v], z [..., d_k])`` or None (zeros).
    The state has the same size at every step, so a token costs O(d_k d_v) however long the context.

    Used in lecture 09.
    """
    phi_q, phi_k = elu_feature_map(q_t), elu_feature_map(k_t)
    if state is None:
        S = torch.zeros(*phi_k.shape, v_t.shape[-1], dtype=v_t.dtype, device=v_t.device)
        z = torch.zeros_like(phi_k)
    else:
        S, z = state
    S = S + phi_k.unsqueeze(-1) * v_t.unsqueeze(-2)  # the outer product phi(k_t) v_t^T
    z = z + phi_k
    y = (phi_q.unsqueeze(-2) @ S).squeeze(-2) / ((phi_q * z).sum(-1, keepdim=True) + eps)
    return y, (S, z)


def linear_attention_recurrent(q, k, v, eps: float = 1e-6) -> torch.Tensor:
    """The same attention as ``linear_attention_parallel``, one token at a time through ``linear_attention_step``.

    Used in lecture 09.
    """
    _check_qkv(q, k, v)
    state, out = None, []
    for t in range(q.shape[-2]):
        y, state = linear_attention_step(q[..., t, :], k[..., t, :], v[..., t, :], state, eps)
        out.append(y)
    return torch.stack(out, dim=-2)
