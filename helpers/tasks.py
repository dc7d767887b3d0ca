"""What ``helpers.train`` needs of a task (``Task``), and the two text tasks: IMDb sentiment and char-RNN.

Taught in lectures 05 (``SentimentTask``, IMDb sentiment) and 06 (``CharLMTask``, Shakespeare char-RNN).
Three more tasks follow the same contract: ``AddingTask`` (``helpers.long_range``, lecture 04),
``ForecastTask`` (``helpers.forecasting``, lecture 07) and ``Seq2SeqTask`` (``helpers.seq2seq``, lecture 08).

A task hands out batch ``k`` of epoch ``e`` as a pure function of ``(seed, e, k)``, so a resumed run
sees exactly the batches the uninterrupted run would have seen; only the carried hidden state
(stream mode) has to be stored in the checkpoint. ``epoch_plan`` is how the tasks shuffle per epoch.
"""
from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from helpers.checks import check_int
from helpers.models import detach_state
from helpers.padding import bucket_by_length, pad_batch


@runtime_checkable
class Task(Protocol):
    """What ``helpers.train`` calls on a task; the five tasks of the course follow it.

    A task whose ids feed an embedding also has ``max_id`` (the largest id in its data), so ``train``
    can check that the model's embedding has a row for every id.

    Used by ``train``, which trains on any task that follows it (lectures 04-08 and the lab).
    """

    kind: str  # names the task in a History ("char_lm" is plotted in nats per character)
    batches_per_epoch: int

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""

    def batch(self, epoch: int, k: int, seed: int, device: torch.device) -> Any:
        """Batch ``k`` of ``epoch`` on ``device``: a pure function of ``(seed, epoch, k)``."""

    def loss(self, model, batch, hidden=None) -> tuple[torch.Tensor, Any, int]:
        """(mean loss to minimise, state to carry into the next batch or None, tokens in the batch).

        ``hidden`` is what the previous batch of the epoch returned; None at the start of each epoch.
        """

    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Validation metrics, at least ``val_loss``; ``max_batches`` caps the work (None: all of it)."""


def missing_members(task) -> list[str]:
    """The names of ``Task`` that ``task`` lacks: empty when ``helpers.train`` can train on it.

    Used by ``train`` to say what a task lacks (lectures 04-08 and the lab).
    """
    names = [*Task.__annotations__, *(n for n in vars(Task) if not n.startswith("_"))]
    return [n for n in names if not hasattr(task, n)]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffle, a function of (seed, epoch) only: seed * 1_000_003 + epoch.

    Used by ``epoch_plan`` and ``AddingTask`` (lectures 04-08).
    """
    return seed * 1_000_003 + epoch


def epoch_plan(task, epoch: int, seed: int, make):
    """``make(generator)`` for this epoch, the generator seeded by ``epoch_seed`` alone (the global RNG
    stays untouched); kept on ``task`` until another epoch or seed is asked for.

    Used by ``CharLMTask``, ``SentimentTask``, ``ForecastTask`` and ``Seq2SeqTask`` (lectures 05-08).
    """
    if getattr(task, "_plan_key", None) != (epoch, seed):
        task._plan_cache = make(torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        task._plan_key = (epoch, seed)
    return task._plan_cache


def _ids(ids, name: str) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        ids = torch.as_tensor(ids)
    if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D tensor of integer ids (vocab.encode(text)), got {ids.dtype} "
                         f"{tuple(ids.shape)}")
    if len(ids) and ids.min() < 0:
        raise ValueError(f"{name} holds negative ids")
    return ids.long().cpu()


def split_text(ids, val_fraction: float = 0.1):
    """``(train_ids, val_ids)``: the last ``val_fraction`` of the ids is held out (no shuffling).

    Used in lectures 06, 08 and 09.
    """
    ids = _ids(ids, "ids")
    if not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}")
    n_val = int(round(len(ids) * val_fraction))
    if n_val < 2 or len(ids) - n_val < 2:
        raise ValueError(f"{len(ids)} ids are too few to split with val_fraction={val_fraction}; use a longer text")
    return ids[:-n_val], ids[-n_val:]


class CharLMTask:
    """Next-character prediction on a long id sequence, in contiguous streams or random chunks.

    ``mode="stream"``: the training ids are cut into ``batch_size`` contiguous streams; batch ``k`` is
    columns ``k*seq_len ... (k+1)*seq_len`` of every stream, and the hidden state carries from one
    batch to the next (detached: truncated backpropagation through time). It is reset each epoch.
    ``mode="random"``: each row is a chunk at a random offset, with a fresh zero state.
    Loss: mean cross-entropy per character in nats.

    Used in lectures 06, 08 and 09, and the lab sherlock_rnn_vs_gru.
    """

    kind = "char_lm"
    modes = ("stream", "random")

    def __init__(self, train_ids, val_ids, batch_size: int = 64, seq_len: int = 128, mode: str = "stream"):
        check_int("batch_size", batch_size)
        check_int("seq_len", seq_len)
        if mode not in self.modes:
            raise ValueError(f"mode must be 'stream' or 'random', got {mode!r}")
        self.train_ids, self.val_ids = _ids(train_ids, "train_ids"), _ids(val_ids, "val_ids")
        self.batch_size, self.seq_len, self.mode = batch_size, seq_len, mode
        n = len(self.train_ids)
        if mode == "stream":
            self.stream_len = n // batch_size
            if self.stream_len < seq_len + 1:
                raise ValueError(
                    f"seq_len={seq_len} is too long: {n} training characters make {batch_size} streams of "
                    f"{self.stream_len}, and each batch needs seq_len + 1. "
                    f"Use seq_len <= {max(self.stream_len - 1, 0)} "
                    "or a smaller batch_size.")
            self.batches_per_epoch = (self.stream_len - 1) // seq_len
        else:
            if n < seq_len + 1:
                raise ValueError(f"seq_len={seq_len} is longer than the training text ({n} characters); "
                                 f"use seq_len <= {n - 1}.")
            # as many characters per epoch as the text holds, like stream mode
            self.batches_per_epoch = max(1, (n - 1) // (batch_size * seq_len))
        if len(self.val_ids) < 2:
            raise ValueError("val_ids needs at least 2 characters; use split_text(ids, val_fraction=0.1)")
        self.carries_state = mode == "stream"
        self.max_id = int(max(self.train_ids.max(), self.val_ids.max()))
        self._device_cache = {}

    def __repr__(self) -> str:
        return (f"CharLMTask({len(self.train_ids):,} train / {len(self.val_ids):,} val chars, batch_size="
                f"{self.batch_size}, seq_len={self.seq_len}, mode={self.mode!r}, "
                f"{self.batches_per_epoch} batches/epoch)")

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""
        return dict(kind=self.kind, mode=self.mode, batch_size=self.batch_size, seq_len=self.seq_len,
                    train_len=len(self.train_ids), val_len=len(self.val_ids))

    def _on(self, device: torch.device):
        """Training and validation ids on ``device``, copied once (slicing there is free)."""
        key = str(device)
        if key not in self._device_cache:
            train = self.train_ids
            if self.mode == "stream":
                train = train[: self.batch_size * self.stream_len].view(self.batch_size, self.stream_len)
            self._device_cache = {key: (train.to(device), self.val_ids.to(device))}
        return self._device_cache[key]

    def batch(self, epoch: int, k: int, seed: int, device: torch.device):
        """Inputs and targets ``[B, T]`` of batch ``k`` in ``epoch``."""
        train, _ = self._on(device)
        T = self.seq_len
        if self.mode == "stream":
            chunk = train[:, k * T: (k + 1) * T + 1]
        else:
            offsets = self._offsets(epoch, seed)[k].to(device)
            chunk = train[offsets[:, None] + torch.arange(T + 1, device=device)]
        return chunk[:, :-1], chunk[:, 1:]

    def _offsets(self, epoch: int, seed: int) -> torch.Tensor:
        high = len(self.train_ids) - self.seq_len  # the last start that still has a target
        return epoch_plan(self, epoch, seed,
                          lambda g: torch.randint(0, high, (self.batches_per_epoch, self.batch_size), generator=g))

    def loss(self, model, batch, hidden=None):
        """(mean loss in nats, detached hidden state to carry or None, tokens in the batch)."""
        x, y = batch
        logits, hidden = model(x, hidden if self.carries_state else None)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        return loss, (detach_state(hidden) if self.carries_state else None), y.numel()

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Validation loss over contiguous streams of the held-out ids, state carried between chunks."""
        device = next(model.parameters()).device
        _, val = self._on(device)
        n_streams = max(1, min(self.batch_size, (len(val) - 1) // self.seq_len))
        streams = val[: n_streams * (len(val) // n_streams)].view(n_streams, -1)
        total, count, hidden = 0.0, 0, None
        for k, start in enumerate(range(0, streams.shape[1] - 1, self.seq_len)):
            if max_batches is not None and k >= max_batches:
                break
            chunk = streams[:, start: start + self.seq_len + 1]
            logits, hidden = model(chunk[:, :-1], hidden)
            target = chunk[:, 1:]
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                                     reduction="sum").item()
            count += target.numel()
        val_loss = total / count
        return {"val_loss": val_loss, "val_bpc": val_loss / math.log(2)}


class SentimentTask:
    """Binary classification of token-id sequences, padded with 0 and bucketed by length.

    ``train`` and ``val`` are ``(sequences, labels)``: lists of id lists and of 0/1 labels. Training
    targets may also be probabilities in [0, 1] (a teacher's predictions, for distillation:
    ``benchmarks/imdb_lstm_trials.py``); validation labels must be 0 or 1 (or True/False), because
    validation measures accuracy.
    With ``bucket=True`` each epoch shuffles, then sorts by length inside pools of 50 batches, so a
    batch holds sequences of similar length (little padding) while the batch order stays random.
    ``max_len`` keeps only the first ``max_len`` tokens of each sequence.

    Used in lecture 05, and the lab imdb_sentiment.
    """

    kind = "sentiment"
    carries_state = False
    pool_batches = 50

    def __init__(self, train, val, batch_size: int = 64, bucket: bool = True, max_len: int | None = None):
        check_int("batch_size", batch_size)
        check_int("max_len", max_len, optional=True)
        self.batch_size, self.bucket, self.max_len = batch_size, bool(bucket), max_len
        self.train_x, self.train_y = self._prepare(train, "train")
        self.val_x, self.val_y = self._prepare(val, "val")
        self.train_len = torch.tensor([len(s) for s in self.train_x])
        self.batches_per_epoch = math.ceil(len(self.train_x) / batch_size)
        self.max_id = max(int(s.max()) for s in self.train_x + self.val_x)

    def _prepare(self, split, name):
        if not (isinstance(split, (tuple, list)) and len(split) == 2):
            raise ValueError(f"{name} must be a pair (sequences, labels), e.g. ([[5, 9, 2], ...], [1, ...])")
        seqs, labels = split
        if len(seqs) != len(labels) or len(seqs) == 0:
            raise ValueError(f"{name}: {len(seqs)} sequences but {len(labels)} labels; "
                             "they must match and be non-empty")
        empty = sum(len(s) == 0 for s in seqs)
        if empty:
            raise ValueError(f"{name}: {empty} sequence(s) are empty; drop them (an RNN needs at least one token)")
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} labels must be numbers: 0 or 1 (or, for training, probabilities in [0, 1]); "
                             f"got {list(labels)[:3]!r}...") from None
        labels = labels.float() if labels.dtype == torch.bool else labels  # e.g. df.sentiment == "pos"
        if not bool(torch.isfinite(labels.float()).all()):
            raise ValueError(f"{name} labels must be numbers: 0 or 1 (or, for training, probabilities in [0, 1])")
        if name == "val" and not bool(((labels == 0) | (labels == 1)).all()):
            raise ValueError("val labels must be 0 or 1: validation measures accuracy against the true labels")
        if not bool(((labels >= 0) & (labels <= 1)).all()):
            raise ValueError(f"{name} labels must be 0 or 1 (training targets may be probabilities in [0, 1]); "
                             f"got values from {labels.min().item():g} to {labels.max().item():g}")
        out = [torch.as_tensor(s, dtype=torch.long)[: self.max_len] for s in seqs]
        if any(int(s.min()) < 0 for s in out):
            raise ValueError(f"{name} holds negative token ids")
        return out, labels.float()

    def __repr__(self) -> str:
        return (f"SentimentTask({len(self.train_x):,} train / {len(self.val_x):,} val sequences, "
                f"batch_size={self.batch_size}, bucket={self.bucket}, {self.batches_per_epoch} batches/epoch)")

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""
        return dict(kind=self.kind, batch_size=self.batch_size, bucket=self.bucket, max_len=self.max_len,
                    train_len=len(self.train_x), val_len=len(self.val_x))

    def _plan(self, epoch: int, seed: int) -> list[torch.Tensor]:
        """Index batches for one epoch, a function of (seed, epoch) only."""
        def make(g):
            if self.bucket:
                return bucket_by_length(self.train_len, self.batch_size, g, self.batch_size * self.pool_batches)
            return list(torch.randperm(len(self.train_x), generator=g).split(self.batch_size))

        return epoch_plan(self, epoch, seed, make)

    @staticmethod
    def _collate(seqs, labels, device):
        x, lengths = pad_batch(seqs)
        return x.to(device), labels.to(device), lengths  # lengths stay on the CPU for packing

    def batch(self, epoch: int, k: int, seed: int, device: torch.device):
        """Padded ids ``[B, T]``, labels ``[B]`` and lengths ``[B]`` of batch ``k`` in ``epoch``."""
        idx = self._plan(epoch, seed)[k]
        return self._collate([self.train_x[i] for i in idx], self.train_y[idx], device)

    def loss(self, model, batch, hidden=None):
        """(mean binary cross-entropy, None, tokens in the batch)."""
        x, y, lengths = batch
        logits = model(x, lengths)
        return F.binary_cross_entropy_with_logits(logits.float(), y), None, int(lengths.sum())

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Validation loss, accuracy and how the mistakes split (``val_false_negatives``: positives called
        negative; ``val_false_positives``: the reverse); sequences sorted by length so batches waste little padding."""
        device = next(model.parameters()).device
        order = list(range(len(self.val_x)))
        if max_batches is not None:  # a fixed random subset, not just the shortest reviews
            keep = torch.randperm(len(order), generator=torch.Generator().manual_seed(0))
            order = keep[: max_batches * self.batch_size].tolist()
        order.sort(key=lambda i: len(self.val_x[i]))
        total, false_neg, false_pos, count = 0.0, 0, 0, 0
        for start in range(0, len(order), self.batch_size):
            idx = torch.tensor(order[start: start + self.batch_size])
            x, y, lengths = self._collate([self.val_x[i] for i in idx], self.val_y[idx], device)
            logits = model(x, lengths).float()
            total += F.binary_cross_entropy_with_logits(logits, y, reduction="sum").item()
            false_neg += int(((logits <= 0) & (y == 1)).sum())
            false_pos += int(((logits > 0) & (y == 0)).sum())
            count += len(idx)
        return {"val_loss": total / count, "val_acc": (count - false_neg - false_pos) / count,
                "val_false_negatives": false_neg, "val_false_positives": false_pos}
