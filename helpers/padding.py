"""Padding a batch of variable-length sequences, how much work padding wastes, and how much bucketing saves.

Taught in lecture 05 (IMDb sentiment); ``SentimentTask`` and lecture 08's ``Seq2SeqTask`` pad and bucket
with ``pad_batch`` and ``bucket_by_length`` from here.

Three ways to cut a data set into batches (each returns a list of index arrays):
``random_batches`` (shuffle, cut), ``bucketed_batches`` (shuffle, sort within pools
of ``pool_size`` examples, cut, shuffle the batches) and ``sorted_batches`` (one
global sort, the limit of bucketing). ``padding_fraction`` says which share of each
padded batch is padding, and ``time_forward_backward`` measures the real wall time
of a forward and backward pass of a small LSTM classifier, padded or packed.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from helpers.checks import check_int


def _check(lengths: Sequence[int], batch_size: int) -> np.ndarray:
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) == 0:
        raise ValueError("lengths must be a non-empty 1-D sequence of sequence lengths.")
    if (lengths < 1).any():
        raise ValueError(f"every length must be at least 1, found {int(lengths.min())}: drop empty sequences first.")
    check_int("batch_size", batch_size)
    return lengths


def _cut(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def bucket_by_length(lengths, batch_size: int, generator: torch.Generator,
                     pool_size: int | None = None) -> list[torch.Tensor]:
    """Shuffle, sort by length inside pools of ``pool_size`` examples (50 batches), cut into batches,
    then shuffle the batches: little padding per batch, yet a random order of batches every epoch.

    Used by ``SentimentTask`` and ``Seq2SeqTask`` (lectures 05 and 08).
    """
    lengths = torch.as_tensor(lengths)
    pool_size = 50 * batch_size if pool_size is None else pool_size
    order = torch.randperm(len(lengths), generator=generator)
    order = torch.cat([p[torch.argsort(lengths[p], stable=True)] for p in order.split(pool_size)])
    batches = list(order.split(batch_size))
    # without this shuffle the short batches would all come first in each pool
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def random_batches(lengths: Sequence[int], batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle the examples and cut them into batches: lengths inside a batch are mixed.

    Used in lecture 05.
    """
    lengths = _check(lengths, batch_size)
    return _cut(np.random.default_rng(seed).permutation(len(lengths)), batch_size)


def bucketed_batches(lengths: Sequence[int], batch_size: int, pool_size: int | None = None,
                     seed: int = 0) -> list[np.ndarray]:
    """Shuffle, sort by length within pools of ``pool_size`` examples, cut, and shuffle the batches.

    The pools keep some randomness between epochs (a plain global sort always makes the
    same batches); the final shuffle stops the model seeing short reviews first. This is
    ``bucket_by_length``, the bucketing that ``SentimentTask`` trains with.

    Used in lecture 05.
    """
    lengths = _check(lengths, batch_size)
    pool_size = 50 * batch_size if pool_size is None else pool_size
    if pool_size < batch_size:
        raise ValueError(f"pool_size ({pool_size}) must be at least batch_size ({batch_size}).")
    generator = torch.Generator().manual_seed(int(seed))
    return [b.numpy() for b in bucket_by_length(torch.from_numpy(lengths), batch_size, generator, pool_size)]


def sorted_batches(lengths: Sequence[int], batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """One global sort by length, then batches in shuffled order: the least padding possible.

    Used in lecture 05.
    """
    lengths = _check(lengths, batch_size)
    return bucketed_batches(lengths, batch_size, pool_size=max(len(lengths), batch_size), seed=seed)


def padding_fraction(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> np.ndarray:
    """Per batch: padded positions / all positions of the padded ``[B, max_len]`` tensor.

    Used in lecture 05.
    """
    lengths = np.asarray(lengths)
    out = []
    for idx in batches:
        batch = lengths[np.asarray(idx)]
        out.append(1.0 - batch.sum() / (len(batch) * batch.max()))
    return np.array(out)


def pad_batch(seqs: Sequence[Sequence[int]], pad_idx: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token-id sequences (lists or tensors) into ``x[B, max_len]``; return it with ``lengths[B]``.

    Used in lectures 05 and 08.
    """
    seqs = [torch.as_tensor(s, dtype=torch.long) for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    return pad_sequence(seqs, batch_first=True, padding_value=pad_idx), lengths


class TinyClassifier(nn.Module):
    """Embedding, one-layer LSTM, linear head: the smallest many-to-one model worth timing.

    Used in lecture 05.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.LSTM(embed_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, packed: bool) -> torch.Tensor:
        emb = self.embed(x)
        if packed:
            # the LSTM stops each sequence at its own length; h_n is the state at the last real token
            _, (h_n, _) = self.rnn(pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False))
            last = h_n[-1]
        else:
            # the LSTM runs over every padded position; read the output at the last real token
            out, _ = self.rnn(emb)
            last = out[torch.arange(len(lengths)), lengths - 1]
        return self.head(last).squeeze(-1)


def time_forward_backward(model: TinyClassifier, seqs: Sequence[Sequence[int]], labels: Sequence[int],
                          batches: Sequence[np.ndarray], packed: bool, warmup: int = 1) -> float:
    """Wall-clock seconds of forward + backward over ``batches`` (after ``warmup`` untimed batches).

    Used in lecture 05.
    """
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()

    def step(idx):
        x, lengths = pad_batch([seqs[i] for i in idx])
        y = torch.tensor([labels[i] for i in idx], dtype=torch.float32)
        model.zero_grad(set_to_none=True)
        loss_fn(model(x, lengths, packed=packed), y).backward()

    for idx in batches[:warmup]:
        step(idx)
    start = time.perf_counter()
    for idx in batches:
        step(idx)
    return time.perf_counter() - start
