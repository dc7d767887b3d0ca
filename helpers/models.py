"""The course's models (two recurrent, one convolutional), their hidden state, and parameter counting.

Taught in lectures 05 (``SentimentRNN`` and ``TextCNN``, IMDb sentiment) and 06 (``CharRNN``,
Shakespeare char-RNN); lecture 04 derives ``rnn_param_count``'s formula in its own cells.

``CharRNN`` predicts the next character at every time step; ``SentimentRNN`` reads a whole
review and gives one logit. Both hand the full ``[B, T]`` batch to ``nn.RNN``/``nn.GRU``/``nn.LSTM``
in one call, so PyTorch (cuDNN on a GPU) runs the time loop, not Python.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers.checks import check_int, check_number

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: candidate plus gates
NONLINEARITIES = ("tanh", "relu")
POOLS = ("last", "max")


def _check_cell(cell: str, allowed=tuple(CELLS)) -> None:
    if cell not in allowed:
        raise ValueError(f"cell must be one of {', '.join(map(repr, allowed))}; got {cell!r}")


def detach_state(hidden, device=None, dtype=None):
    """The hidden state ``h`` (or an LSTM's ``(h, c)``) cut from the graph, and moved if asked; None stays None.

    Cutting it between batches is truncated backpropagation through time (lecture 06).

    Used by ``CharLMTask`` and ``train``'s checkpoints (lecture 06), and ``helpers.gradients`` (lecture 03).
    """
    if hidden is None:
        return None
    if isinstance(hidden, (tuple, list)):
        return tuple(detach_state(h, device, dtype) for h in hidden)
    return hidden.detach().to(device=device, dtype=dtype)


def _make_rnn(cell, input_size, hidden_size, num_layers, dropout, bidirectional=False, nonlinearity="tanh"):
    kwargs = dict(batch_first=True, bidirectional=bidirectional)
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    # nn.RNN's dropout acts between layers only; asking for it with one layer just warns
    return CELLS[cell](input_size, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0, **kwargs)


class CharRNN(nn.Module):
    """Embedding -> multi-layer RNN/GRU/LSTM -> linear head over the vocabulary, at every step.

    Used in lectures 06, 08 and 09.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256, num_layers: int = 1,
                 cell: str = "gru", nonlinearity: str = "tanh", dropout: float = 0.0):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)]:
            check_int(name, value)
        _check_cell(cell)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity only applies to cell='rnn'; the {cell.upper()} has fixed nonlinearities")
        check_number("dropout", dropout, at_least=0, below=1)
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size,
                           num_layers=num_layers, cell=cell, nonlinearity=nonlinearity, dropout=dropout)
        self.cell, self.vocab_size, self.hidden_size, self.num_layers = cell, vocab_size, hidden_size, num_layers
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = _make_rnn(cell, embed_dim, hidden_size, num_layers, dropout, nonlinearity=nonlinearity)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def init_hidden(self, batch_size: int, device=None):
        """Zero state: ``[num_layers, B, H]``, or the pair ``(h, c)`` for an LSTM."""
        device = device if device is not None else self.head.weight.device
        h = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device)
        return (h, h.clone()) if self.cell == "lstm" else h

    def forward(self, x: torch.Tensor, hidden=None):
        """``x``: LongTensor ``[B, T]`` -> (logits ``[B, T, vocab_size]``, new hidden state)."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(f"CharRNN expects a LongTensor of shape [batch, time], got {x.dtype} {tuple(x.shape)}; "
                             "for one sequence use x[None]")
        out, hidden = self.rnn(self.embed(x), hidden)
        return self.head(self.drop(out)), hidden


class SentimentRNN(nn.Module):
    """Embedding -> (bi)LSTM/GRU over packed sequences -> one logit from the final hidden state(s).

    ``pool="last"`` (the classic many-to-one) reads the final states; ``pool="max"`` takes the
    largest value of each output feature over the real time steps instead, so a feature that fires
    on one strong phrase anywhere in a long review need not survive to the last step.

    ``pack=False`` runs the padded batch as it is and reads each sequence's state at its last real
    token: exact for one direction, while the reverse direction of a bidirectional layer then reads
    the padding first (length bucketing keeps that to a few steps). It trains several times faster
    on CPUs, where PyTorch's backward pass through packed LSTMs is slow. Weights are the same either way.

    Used in lecture 05.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden_size: int = 128, num_layers: int = 1,
                 cell: str = "lstm", bidirectional: bool = True, dropout: float = 0.0, pad_idx: int = 0,
                 pack: bool = True, pool: str = "last", embed_dropout: float = 0.0):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)]:
            check_int(name, value)
        _check_cell(cell)
        check_number("dropout", dropout, at_least=0, below=1)
        check_number("embed_dropout", embed_dropout, at_least=0, below=1)
        check_int("pad_idx", pad_idx, minimum=0)
        if pad_idx >= vocab_size:
            raise ValueError(f"pad_idx={pad_idx} is outside the vocabulary (size {vocab_size})")
        if pool not in POOLS:
            raise ValueError(f"pool must be 'last' (final hidden states) or 'max' (max over time), got {pool!r}")
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size, num_layers=num_layers,
                           cell=cell, bidirectional=bool(bidirectional), dropout=dropout, pad_idx=pad_idx, pool=pool,
                           embed_dropout=embed_dropout)
        self.cell, self.bidirectional, self.pack, self.pool = cell, bool(bidirectional), bool(pack), pool
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.rnn = _make_rnn(cell, embed_dim, hidden_size, num_layers, dropout, bidirectional=self.bidirectional)
        self.drop = nn.Dropout(dropout)  # on the vector the head reads
        self.embed_drop = nn.Dropout(embed_dropout)  # on the word vectors: the model cannot lean on any one word
        self.head = nn.Linear(hidden_size * (2 if self.bidirectional else 1), 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x``: padded LongTensor ``[B, T]``, ``lengths``: ``[B]`` -> logits ``[B]`` (positive class)."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(f"SentimentRNN expects a padded LongTensor [batch, time], got {x.dtype} {tuple(x.shape)}")
        lengths = torch.as_tensor(lengths).to("cpu", torch.long)  # pack_padded_sequence wants lengths on the CPU
        if lengths.shape != (x.shape[0],) or lengths.min() < 1 or lengths.max() > x.shape[1]:
            raise ValueError(f"lengths must hold one length in 1..{x.shape[1]} per sequence; "
                             f"got {lengths.tolist()[:8]}")
        if not self.pack:
            out, _ = self.rnn(self.embed_drop(self.embed(x)))  # [B, T, directions * H]
            features = self._max_over_time(out, lengths) if self.pool == "max" else self._last_states_padded(out, lengths)
            return self.head(self.drop(features)).squeeze(-1)
        packed = pack_padded_sequence(self.embed_drop(self.embed(x)), lengths, batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        if self.pool == "max":
            out, _ = pad_packed_sequence(out, batch_first=True)  # original order, zeros after each length
            return self.head(self.drop(self._max_over_time(out, lengths))).squeeze(-1)
        h = hidden[0] if self.cell == "lstm" else hidden  # [layers * directions, B, H]
        # last layer: the forward direction's state after each sequence's true last token, and
        # (bidirectional) the backward direction's state after reading back to the first token
        last = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
        return self.head(self.drop(last)).squeeze(-1)

    @staticmethod
    def _max_over_time(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Each feature's maximum over the real steps of its sequence; padding steps never win."""
        real = torch.arange(out.shape[1], device=out.device)[None, :] < lengths.to(out.device)[:, None]
        return out.masked_fill(~real[..., None], float("-inf")).amax(dim=1)

    def _last_states_padded(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Top layer's output at each sequence's last real token (forward) and at its first (backward)."""
        H = self.rnn.hidden_size
        index = (lengths.to(out.device) - 1).view(-1, 1, 1).expand(-1, 1, H)
        forward = out[:, :, :H].gather(1, index).squeeze(1)
        return torch.cat([forward, out[:, 0, H:]], dim=1) if self.bidirectional else forward


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters.

    Used in lectures 05, 06, 07, 08 and 09.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def rnn_param_count(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                    bidirectional: bool = False) -> int:
    """Closed form for ``nn.RNN/GRU/LSTM``: per layer and direction, g * (H * (input + H) + 2H), g gate blocks.

    Used by ``tests/test_models.py`` to check ``nn.RNN/GRU/LSTM``; lecture 04 builds the same formula in its cells.
    """
    _check_cell(cell)
    for name, value in [("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)]:
        check_int(name, value)
    g, h = GATES[cell], hidden_size
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        inputs = input_size if layer == 0 else h * directions  # upper layers read both directions
        total += directions * g * (h * (inputs + h) + 2 * h)  # W_ih, W_hh, and PyTorch's two biases
    return total


class TextCNN(nn.Module):
    """Embedding -> 1D convolutions of several widths -> max over time -> one logit (lecture 05).

    Same inputs and output as ``SentimentRNN``: padded ids ``[B, T]`` and lengths ``[B]`` -> logits
    ``[B]``. A filter of width k scores every window of k consecutive words; its largest score over
    the windows that start inside the review is one feature (Kim, 2014). The convolution is
    translation *equivariant* (a shifted phrase shifts the scores); the max over time is what
    makes the classifier ignore where in the review a phrase occurs.

    Used in lecture 05.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, num_filters: int = 100, kernel_sizes=(3, 4, 5),
                 dropout: float = 0.5, embed_dropout: float = 0.0, pad_idx: int = 0):
        super().__init__()
        kernel_sizes = tuple(kernel_sizes)
        for name, value in [("vocab_size", vocab_size), ("embed_dim", embed_dim), ("num_filters", num_filters)]:
            check_int(name, value)
        if not kernel_sizes:
            raise ValueError("kernel_sizes must name at least one filter width, e.g. (3, 4, 5)")
        for k in kernel_sizes:
            check_int("each kernel size", k)
        check_number("dropout", dropout, at_least=0, below=1)
        check_number("embed_dropout", embed_dropout, at_least=0, below=1)
        check_int("pad_idx", pad_idx, minimum=0)
        if pad_idx >= vocab_size:
            raise ValueError(f"pad_idx={pad_idx} is outside the vocabulary (size {vocab_size})")
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, num_filters=num_filters,
                           kernel_sizes=list(kernel_sizes), dropout=dropout, embed_dropout=embed_dropout, pad_idx=pad_idx)
        self.kernel_sizes, self.pad_idx = kernel_sizes, pad_idx
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.embed_drop = nn.Dropout(embed_dropout)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(num_filters * len(kernel_sizes), 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x``: padded LongTensor ``[B, T]``, ``lengths``: ``[B]`` -> logits ``[B]`` (positive class)."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(f"TextCNN expects a padded LongTensor [batch, time], got {x.dtype} {tuple(x.shape)}")
        lengths = torch.as_tensor(lengths).to(x.device, torch.long)
        if lengths.shape != (x.shape[0],) or lengths.min() < 1 or lengths.max() > x.shape[1]:
            raise ValueError(f"lengths must hold one length in 1..{x.shape[1]} per sequence; "
                             f"got {lengths.tolist()[:8]}")
        widest = max(self.kernel_sizes)
        if x.shape[1] < widest:  # a batch of short reviews still needs one window of the widest filter
            x = nn.functional.pad(x, (0, widest - x.shape[1]), value=self.pad_idx)
        e = self.embed_drop(self.embed(x)).transpose(1, 2)  # [B, embed_dim, T]: Conv1d wants channels first
        features = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            scores = torch.relu(conv(e))  # [B, num_filters, T - k + 1]
            # a window may start at step t if it ends inside the review; a review shorter than k keeps window 0
            starts = torch.arange(scores.shape[2], device=x.device)[None, :] <= (lengths - k).clamp(min=0)[:, None]
            features.append(scores.masked_fill(~starts[:, None, :], float("-inf")).amax(dim=2))
        return self.head(self.drop(torch.cat(features, dim=1))).squeeze(-1)
