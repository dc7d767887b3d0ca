"""State-space models: a diagonal SSM (S4D) as a recurrence and as a convolution, and a selective SSM (lecture 09).

A continuous linear system ``x'(t) = A x(t) + B u(t)``, ``y(t) = C x(t) + D u(t)`` becomes a linear RNN once it is
discretised with a step ``dt`` (zero-order hold: ``u`` held constant over each step). With ``A`` diagonal every
state coordinate is its own scalar recurrence, so the model runs as a loop, as a parallel scan, or, because
``A``, ``B``, ``C`` do not change with time, as one long convolution computed with the FFT (S4D; Gu et al., 2022).
A selective SSM (Mamba; Gu and Dao, 2023) computes ``dt``, ``B`` and ``C`` from each input: it can choose what
to keep, but it is no longer a convolution, so it trains with the scan.

``SSMModel`` stacks either kind in a Mamba-style gated block; ``SelectiveCopyTask`` is a task only selection solves.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import check_int, check_number
from helpers.linear_rnn import blelloch_scan, scan_loop

SSM_MODES = ("scan", "recurrent", "conv")
MIXERS = ("s4d", "selective")


def zoh(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor):
    """Zero-order hold for a diagonal A: ``A_bar = exp(dt A)``, ``B_bar = (exp(dt A) - 1) / A * B``.

    Used in lecture 09.
    """
    dtA = dt * A
    A_bar = torch.exp(dtA)
    return A_bar, (A_bar - 1) / A * B


def _check_u(name, u, channels):
    if not isinstance(u, torch.Tensor) or u.dim() != 3 or u.shape[-1] != channels or u.shape[1] == 0:
        got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        raise ValueError(f"{name} expects u of shape [batch, seq_len >= 1, channels={channels}], got {got}")


def _check_mode(mode, allowed):
    if mode not in allowed:
        raise ValueError(f"mode must be one of {', '.join(map(repr, allowed))}, got {mode!r}")


def _check_state(state, shape):
    if state is not None and (not isinstance(state, torch.Tensor) or tuple(state.shape) != shape):
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state must be [batch, channels, d_state] = {shape}, got {got}")


class S4D(nn.Module):
    """Diagonal SSM, one per channel: ``d_state`` complex modes (each with its conjugate, so outputs are real).

    Continuous parameters, S4D-Lin initialisation: ``A_n = -1/2 + i pi n``, ``B = 1``, ``C`` random, and a step
    ``dt`` per channel, log-uniform in ``[dt_min, dt_max]``. ``forward(u, mode)`` with ``mode`` "conv" (FFT),
    "scan" or "recurrent" gives the same ``y``.

    Used in lecture 09.
    """

    def __init__(self, channels: int, d_state: int = 32, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        check_int("channels", channels)
        check_int("d_state", d_state)
        check_number("dt_min", dt_min, above=0)
        check_number("dt_max", dt_max, above=dt_min)
        self.channels, self.d_state = channels, d_state
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.full((channels, d_state), math.log(0.5)))  # Re A = -exp(.) < 0: stable
        self.A_imag = nn.Parameter(math.pi * torch.arange(d_state).float().repeat(channels, 1))
        self.B = nn.Parameter(torch.view_as_real(torch.ones(channels, d_state, dtype=torch.cfloat)).clone())
        self.C = nn.Parameter(torch.randn(channels, d_state, 2) * 0.5 ** 0.5)  # real and imaginary parts
        self.D = nn.Parameter(torch.randn(channels))  # a skip connection from u to y

    def discrete(self):
        """``(A_bar, B_bar, C)``, complex [channels, d_state], by zero-order hold."""
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)
        A_bar, B_bar = zoh(A, torch.view_as_complex(self.B), torch.exp(self.log_dt).unsqueeze(-1))
        return A_bar, B_bar, torch.view_as_complex(self.C)

    def kernel(self, length: int) -> torch.Tensor:
        """The convolution kernel ``K_k = 2 Re(sum_n C_n A_bar_n^k B_bar_n)``, k = 0..length-1: [channels, length]."""
        check_int("length", length)
        A_bar, B_bar, C = self.discrete()
        powers = torch.exp(torch.log(A_bar).unsqueeze(-1) * torch.arange(length, device=A_bar.device))  # A_bar^k
        return 2 * torch.einsum("cn,cnk->ck", C * B_bar, powers).real

    def forward(self, u: torch.Tensor, mode: str = "conv", state: torch.Tensor | None = None):
        """``u`` [B, T, channels] -> (y [B, T, channels], last state [B, channels, d_state] or None in conv mode)."""
        _check_mode(mode, SSM_MODES)
        _check_u("S4D", u, self.channels)
        _check_state(state, (u.shape[0], self.channels, self.d_state))
        if mode == "conv":
            if state is not None:
                raise ValueError("mode='conv' starts from a zero state; use mode='recurrent' or 'scan' to carry one")
            T = u.shape[1]
            K = self.kernel(T).to(u.dtype)
            # a causal convolution of length T as a product of FFTs; zero-padding to 2T stops it wrapping around
            y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(K, n=2 * T), n=2 * T)
            return y[..., :T].transpose(1, 2) + self.D * u, None
        A_bar, B_bar, C = self.discrete()
        a = A_bar.expand(u.shape[0], u.shape[1], -1, -1)  # the same A_bar at every step: time-invariant
        bu = B_bar * u.unsqueeze(-1).to(B_bar.dtype)  # [B, T, channels, d_state]
        xs = (blelloch_scan if mode == "scan" else scan_loop)(a, bu, None if state is None else state.to(a.dtype))
        y = 2 * (xs * C).sum(-1).real
        return y.to(u.dtype) + self.D * u, xs[:, -1]

    def step(self, u_t: torch.Tensor, state: torch.Tensor | None = None):
        """One step for generation: ``u_t`` [B, channels] -> (y_t, new state)."""
        y, state = self(u_t.unsqueeze(1), mode="recurrent", state=state)
        return y[:, 0], state


class SelectiveSSM(nn.Module):
    """Mamba's selective SSM (S6): ``dt_t``, ``B_t`` and ``C_t`` are computed from the input ``x_t``.

    ``A`` is diagonal and real (S4D-Real: ``A_n = -n`` for n = 1..d_state). Discretisation as in Mamba: zero-order
    hold for ``A`` (``exp(dt_t A)``) and the simpler ``dt_t B_t`` for ``B``. A large ``dt_t`` resets the state to the
    current input; a ``dt_t`` near 0 skips the input and keeps the state: that is the selection.

    Used in lecture 09.
    """

    def __init__(self, channels: int, d_state: int = 16, dt_rank: int | None = None, dt_min: float = 1e-3,
                 dt_max: float = 1e-1):
        super().__init__()
        check_int("channels", channels)
        check_int("d_state", d_state)
        dt_rank = dt_rank or math.ceil(channels / 16)
        check_int("dt_rank", dt_rank)
        self.channels, self.d_state, self.dt_rank = channels, d_state, dt_rank
        self.x_proj = nn.Linear(channels, dt_rank + 2 * d_state, bias=False)  # x_t -> (dt, B_t, C_t)
        self.dt_proj = nn.Linear(dt_rank, channels)
        dt = torch.exp(torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():  # the bias starts softplus(dt) in [dt_min, dt_max], as in Mamba
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(channels, 1))
        self.D = nn.Parameter(torch.ones(channels))

    def selection(self, x: torch.Tensor):
        """``(dt [B, T, channels], B [B, T, d_state], C [B, T, d_state])``: the input-dependent parameters."""
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt)), B, C

    def forward(self, x: torch.Tensor, mode: str = "scan", state: torch.Tensor | None = None):
        """``x`` [B, T, channels] -> (y [B, T, channels], last state [B, channels, d_state])."""
        _check_mode(mode, SSM_MODES[:2])
        _check_u("SelectiveSSM", x, self.channels)
        _check_state(state, (x.shape[0], self.channels, self.d_state))
        dt, B, C = self.selection(x)
        A = -torch.exp(self.A_log)  # [channels, d_state], negative: every mode decays
        a = torch.exp(dt.unsqueeze(-1) * A)  # A_bar_t: a different decay at every step
        b = (dt * x).unsqueeze(-1) * B.unsqueeze(2)  # B_bar_t x_t = dt_t B_t x_t, [B, T, channels, d_state]
        hs = (blelloch_scan if mode == "scan" else scan_loop)(a, b, state)
        y = (hs @ C.unsqueeze(-1)).squeeze(-1)  # C_t . h_t for every channel
        return y + self.D * x, hs[:, -1]

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None):
        """One step for generation: ``x_t`` [B, channels] -> (y_t, new state)."""
        y, state = self(x_t.unsqueeze(1), mode="recurrent", state=state)
        return y[:, 0], state


class SSMBlock(nn.Module):
    """Mamba-style residual block: ``x + out(mixer(silu(u)) * silu(gate))`` with ``u, gate = in(norm(x))``.

    ``gated=False`` drops the multiplicative gate (``x + out(mixer(silu(u)))``): the gate multiplies by a function
    of the current token, a weak selection of its own, so without it only the mixer can select. ``d_conv > 0`` adds
    Mamba's short causal convolution over the last ``d_conv`` positions of ``u`` before the SiLU: it lets a
    position see its few neighbours, e.g. how many recall markers came just before it (lecture 09, section 4.4).
    By default there is none, so the mixer alone decides what a position sees of the past. With a convolution the
    state is ``(mixer state, last d_conv - 1 inputs of the convolution)``.

    Used by SSMModel (lecture 09).
    """

    def __init__(self, d_model: int, mixer: str = "selective", expand: int = 2, d_state: int = 16,
                 gated: bool = True, d_conv: int = 0):
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be 's4d' (time-invariant) or 'selective', got {mixer!r}")
        check_int("d_conv", d_conv, minimum=0, hint=" (0: no convolution)")
        inner = expand * d_model
        self.gated, self.d_conv = bool(gated), d_conv
        self.norm = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, (2 if self.gated else 1) * inner)
        self.conv = nn.Conv1d(inner, inner, d_conv, groups=inner) if d_conv else None  # one filter per channel
        self.mixer = SelectiveSSM(inner, d_state) if mixer == "selective" else S4D(inner, d_state)
        self.out_proj = nn.Linear(inner, d_model)

    def _convolve(self, u, tail):
        """Causal depthwise convolution of ``u`` [B, T, C], continuing from ``tail`` [B, C, d_conv - 1] (None: 0s)."""
        u = u.transpose(1, 2)
        if tail is None:
            tail = u.new_zeros(u.shape[0], u.shape[1], self.d_conv - 1)
        padded = torch.cat([tail.to(u.dtype), u], dim=2)
        return self.conv(padded).transpose(1, 2), padded[:, :, padded.shape[2] - (self.d_conv - 1):]

    def _inputs(self, x, tail=None):
        projected = self.in_proj(self.norm(x))
        u, gate = projected.chunk(2, dim=-1) if self.gated else (projected, None)
        if self.conv is not None:
            u, tail = self._convolve(u, tail)
        return F.silu(u), gate, tail

    def mixer_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the SSM reads when the block reads ``x`` [B, T, d_model] from a zero state: [B, T, inner]."""
        return self._inputs(x)[0]

    def forward(self, x, mode: str, state=None):
        ssm_state, tail = state if self.conv is not None and state is not None else (state, None)
        u, gate, tail = self._inputs(x, tail)
        y, ssm_state = self.mixer(u, mode=mode, state=ssm_state)
        if gate is not None:
            y = y * F.silu(gate)
        new_state = ssm_state if self.conv is None or ssm_state is None else (ssm_state, tail)
        return x + self.out_proj(y), new_state


class SSMModel(nn.Module):
    """Embedding -> ``n_layer`` SSM blocks -> norm -> head; ``forward(x, states)`` -> (logits, states), like CharRNN.

    ``mixer="s4d"`` (time-invariant) trains as a convolution by default; ``mixer="selective"`` with the scan.
    ``states`` is a list with one [B, channels, d_state] state per layer (None: zeros); with ``d_conv > 0``, one
    pair per layer (that state, the convolution's last inputs). ``gated`` and ``d_conv``: see SSMBlock.

    Used in lecture 09.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_layer: int = 2, mixer: str = "selective",
                 d_state: int = 16, expand: int = 2, mode: str | None = None, gated: bool = True, d_conv: int = 0):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("d_model", d_model), ("n_layer", n_layer),
                            ("d_state", d_state), ("expand", expand)]:
            check_int(name, value)
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be 's4d' (time-invariant) or 'selective', got {mixer!r}")
        self.mode = mode or ("conv" if mixer == "s4d" else "scan")
        _check_mode(self.mode, SSM_MODES if mixer == "s4d" else SSM_MODES[:2])
        self.config = dict(vocab_size=vocab_size, d_model=d_model, n_layer=n_layer, mixer=mixer, d_state=d_state,
                           expand=expand, gated=bool(gated), d_conv=d_conv)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(SSMBlock(d_model, mixer, expand, d_state, gated, d_conv) for _ in range(n_layer))
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor, states=None, mode: str | None = None):
        """``x``: LongTensor [B, T] -> (logits [B, T, vocab_size], per-layer states, or Nones in conv mode)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SSMModel expects a LongTensor [batch, time], got {got}; for one sequence use x[None]")
        mode = mode or self.mode
        if states is not None and mode == "conv":
            mode = "scan"  # a convolution starts from zeros; a carried state needs the recurrence
        h, new_states = self.embed(x), []
        for i, block in enumerate(self.blocks):
            h, state = block(h, mode, None if states is None else states[i])
            new_states.append(state)
        return self.head(self.norm_f(h)), new_states


class SelectiveCopyTask:
    """Selective copying (Gu and Dao, 2023): remember the few symbols among noise, then say them in order.

    Each input has ``seq_len`` positions: ``n_memorize`` symbols (ids 1..``n_symbols``) at random positions, noise
    (id 0) everywhere else, then ``n_memorize`` recall markers (id ``n_symbols + 1``). At the markers the model
    must output the symbols in order. Where they sit changes from one sequence to the next, so a fixed
    (time-invariant) filter cannot pick them out. Targets elsewhere are -100 (ignored). Chance is 1 / n_symbols.

    Plugs into ``helpers.train`` like ``CharLMTask``: batch ``k`` of epoch ``e`` is a function of ``(seed, e, k)``.

    Used in lecture 09.
    """

    kind = "selective_copy"
    carries_state = False

    def __init__(self, seq_len: int = 64, n_memorize: int = 4, n_symbols: int = 8, batch_size: int = 64,
                 n_val: int = 512, batches_per_epoch: int = 100):
        for name, value in [("seq_len", seq_len), ("n_memorize", n_memorize), ("n_symbols", n_symbols),
                            ("batch_size", batch_size), ("n_val", n_val), ("batches_per_epoch", batches_per_epoch)]:
            check_int(name, value)
        if n_memorize > seq_len:
            raise ValueError(f"n_memorize={n_memorize} symbols do not fit in seq_len={seq_len} positions")
        self.seq_len, self.n_memorize, self.n_symbols = seq_len, n_memorize, n_symbols
        self.batch_size, self.batches_per_epoch = batch_size, batches_per_epoch
        self.vocab_size = n_symbols + 2  # noise, the symbols, the recall marker
        self.max_id = n_symbols + 1
        self.val = self.make(n_val, torch.Generator().manual_seed(2**31 - 1))  # never a training seed's stream

    def __repr__(self) -> str:
        return (f"SelectiveCopyTask(seq_len={self.seq_len}, n_memorize={self.n_memorize}, n_symbols={self.n_symbols}, "
                f"batch_size={self.batch_size}, {len(self.val[0])} validation sequences)")

    def make(self, n: int, generator: torch.Generator):
        """``n`` fresh sequences: inputs [n, seq_len + n_memorize] and targets of the same shape."""
        L, M = self.seq_len, self.n_memorize
        symbols = torch.randint(1, self.n_symbols + 1, (n, M), generator=generator)
        positions = torch.rand(n, L, generator=generator).argsort(dim=1)[:, :M].sort(dim=1).values
        x = torch.zeros(n, L + M, dtype=torch.long)
        x.scatter_(1, positions, symbols)
        x[:, L:] = self.n_symbols + 1  # the recall markers
        y = torch.full_like(x, -100)
        y[:, L:] = symbols  # in the order they appeared
        return x, y

    def signature(self) -> dict:
        return dict(kind=self.kind, seq_len=self.seq_len, n_memorize=self.n_memorize, n_symbols=self.n_symbols,
                    batch_size=self.batch_size, n_val=len(self.val[0]))

    def batch(self, epoch: int, k: int, seed: int, device):
        g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + k)
        x, y = self.make(self.batch_size, g)
        return x.to(device), y.to(device)

    def loss(self, model, batch, hidden=None):
        """(mean cross-entropy at the recall markers, None, symbols recalled in the batch)."""
        x, y = batch
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-100)
        return loss, None, x.shape[0] * self.n_memorize

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Loss and accuracy (the share of symbols recalled right) on the fixed validation sequences."""
        device = next(model.parameters()).device
        x, y = (t.to(device) for t in self.val)
        total, right = 0.0, 0
        for xb, yb in zip(x.split(256), y.split(256)):
            logits, _ = model(xb)
            logits, yb = logits[:, self.seq_len:].float(), yb[:, self.seq_len:]
            total += F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum").item()
            right += int((logits.argmax(-1) == yb).sum())
        n = y[:, self.seq_len:].numel()
        return {"val_loss": total / n, "val_acc": right / n}
