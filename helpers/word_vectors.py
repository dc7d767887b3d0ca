"""Word vectors learned from unlabelled text (word2vec, via gensim), to start an ``nn.Embedding`` from.

Taught in lecture 05 §11: a sentiment model that sees 20,000 labelled reviews learns its 25,000 word
vectors from the labels alone, and most words appear in a handful of reviews. word2vec learns a
vector for every word from the words around it, which needs no labels, so the same reviews teach
more. Only training text is used: vectors learned from test reviews would leak them into the model.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from helpers.checks import check_int, check_number
from helpers.text import WordVocab


def train_word_vectors(token_lists: Sequence[Sequence[str]], vocab: WordVocab, dim: int = 128, window: int = 5,
                       epochs: int = 5, seed: int = 0) -> torch.Tensor:
    """Skip-gram word2vec on ``token_lists``; returns a ``[len(vocab), dim]`` float tensor, row i for ``vocab.itos[i]``.

    One worker thread, so the same tokens and seed give the same vectors. Rows of words word2vec did not
    keep (``<pad>``, ``<unk>``, and any word seen fewer than twice) are zero.

    Used in lecture 05.
    """
    from gensim.models import Word2Vec  # imported here: only this function needs gensim

    for name, value in [("dim", dim), ("window", window), ("epochs", epochs)]:
        check_int(name, value)
    if not isinstance(vocab, WordVocab):
        raise ValueError(f"vocab must be a helpers.text.WordVocab, got {type(vocab).__name__}")
    token_lists = [list(tokens) for tokens in token_lists]
    if not any(token_lists):
        raise ValueError("train_word_vectors needs some text; every token list is empty")
    w2v = Word2Vec(token_lists, vector_size=dim, window=window, min_count=2, sg=1, negative=5, epochs=epochs,
                   workers=1, seed=seed)
    vectors = np.zeros((len(vocab), dim), dtype=np.float32)
    for i, word in enumerate(vocab.itos):
        if i not in (WordVocab.PAD, WordVocab.UNK) and word in w2v.wv.key_to_index:
            vectors[i] = w2v.wv[word]
    return torch.from_numpy(vectors)


@torch.no_grad()
def load_word_vectors(embedding: nn.Embedding, vectors: torch.Tensor, std: float | None = 1.0) -> float:
    """Copy ``vectors`` into ``embedding`` where a row is non-zero; returns the share of rows copied.

    ``std`` rescales the copied vectors so that their elements have this standard deviation; the default 1.0
    is the scale ``nn.Embedding`` starts from. It matters because Adam moves every weight by about the
    learning rate per step whatever its size: word2vec's elements are small (about 0.2), so at the usual rate
    fine-tuning soon overwrites them, while at the embedding's own scale it adjusts them. ``std=None`` copies
    them as they are. Rows without a vector keep their random start (the padding row stays zero), and the
    embedding stays trainable: the labels then fine-tune what word2vec found.

    Used in lecture 05.
    """
    if vectors.shape != embedding.weight.shape:
        raise ValueError(f"vectors have shape {tuple(vectors.shape)} but the embedding is "
                         f"{tuple(embedding.weight.shape)}; train them with the same vocabulary and dim")
    known = vectors.abs().sum(dim=1) > 0
    if not known.any():
        raise ValueError("every row of vectors is zero: nothing to load (were they trained on this vocabulary?)")
    rows = vectors[known]
    if std is not None:
        check_number("std", std, above=0)
        rows = rows * (std / rows.std())
    embedding.weight[known] = rows.to(embedding.weight)
    return float(known.float().mean())
