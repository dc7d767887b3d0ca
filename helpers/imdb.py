"""Lecture 05's IMDb pipeline in one place: the seeded split, the encoding, and predictions for a whole split.

Lecture 05 builds the same split and encoding step by step in its cells; the benchmarks that
compare models with it (``benchmarks/imdb_*.py``, ``benchmarks/sentiment_pooling.py``) import them
from here, so every figure in ``benchmarks/README.md`` is measured on the lecture's data.
"""
from __future__ import annotations

import numpy as np
import torch

from helpers.data import load_imdb
from helpers.padding import pad_batch, sorted_batches
from helpers.text import WordVocab, tokenize


def load_split(n_train: int | None = None, n_val: int | None = None, n_test: int | None = None) -> dict:
    """Tokens and labels of lecture 05's parts: ``{"train", "val", "test"}`` -> ``(token lists, labels)``.

    The official training set is shuffled with seed 0 and cut 20,000 / 5,000; the official test set
    is the test part. ``n_train``, ``n_val`` and ``n_test`` keep only that many (smoke tests).
    Lecture 05 makes this split in its cells.

    Used by the IMDb benchmarks (lecture 05's pipeline).
    """
    df, test_df = load_imdb("train"), load_imdb("test")
    order = np.random.default_rng(0).permutation(len(df))
    parts = {"train": df.iloc[order[:20_000]].iloc[:n_train], "val": df.iloc[order[20_000:]].iloc[:n_val],
             "test": test_df if n_test is None else test_df.sample(n_test, random_state=0)}
    return {name: ([tokenize(t) for t in part.text], part.label.to_numpy()) for name, part in parts.items()}


def encode_split(data: dict, max_size: int, max_len: int) -> tuple[WordVocab, dict]:
    """The vocabulary of the training part (words seen twice, at most ``max_size``) and each part's reviews
    as ids, cut to their last ``max_len`` tokens (never empty), as lecture 05 encodes them in its cells.

    Used by the IMDb benchmarks (lecture 05's pipeline).
    """
    vocab = WordVocab.build(data["train"][0], min_freq=2, max_size=max_size)
    return vocab, {name: [vocab.encode(t)[-max_len:] or [WordVocab.UNK] for t in tokens]
                   for name, (tokens, _) in data.items()}


@torch.no_grad()
def predict_proba(model, seqs, batch_size: int = 256) -> np.ndarray:
    """P(positive) for id sequences, in batches sorted by length; results in the original order (as in lecture 05).

    Used by the IMDb benchmarks (lecture 05's pipeline).

    Used in the lab imdb_sentiment.
    """
    model.eval()
    device = next(model.parameters()).device
    probs = torch.empty(len(seqs))
    for idx in sorted_batches([len(s) for s in seqs], batch_size):
        x, lens = pad_batch([seqs[i] for i in idx])
        probs[torch.as_tensor(idx)] = torch.sigmoid(model(x.to(device), lens).float()).cpu()
    return probs.numpy()


def accuracy(probs, labels) -> float:
    """Share of reviews (NumPy arrays of probabilities and 0/1 labels) on the right side of 0.5.

    Used by the IMDb benchmarks (lecture 05's pipeline).
    """
    return float(np.mean((probs > 0.5) == (labels == 1)))
