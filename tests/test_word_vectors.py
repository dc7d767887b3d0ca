"""helpers.word_vectors: word2vec on a corpus, copied into an nn.Embedding."""
import random

import pytest
import torch
from torch import nn

from helpers.text import WordVocab
from helpers.word_vectors import load_word_vectors, train_word_vectors

GOOD, BAD = ["superb", "wonderful", "great"], ["awful", "boring", "dreadful"]


def corpus(n=600, seed=0):
    """Two kinds of sentence: praise words only ever appear near 'loved it', complaints near 'wasted my time'."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        if rng.random() < 0.5:
            lines.append(["i", "loved", "it", "a", rng.choice(GOOD), "film", "truly", rng.choice(GOOD), "loved"])
        else:
            lines.append(["it", "wasted", "my", "time", "a", rng.choice(BAD), "film", "so", rng.choice(BAD), "wasted"])
    return lines


def cosine(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_words_used_alike_get_similar_vectors():
    lines = corpus()
    vocab = WordVocab.build(lines, min_freq=2)
    vectors = train_word_vectors(lines, vocab, dim=16, epochs=10)
    v = {w: vectors[vocab.stoi[w]] for w in GOOD + BAD}
    within = [cosine(v[a], v[b]) for group in (GOOD, BAD) for a in group for b in group if a < b]
    across = [cosine(v[a], v[b]) for a in GOOD for b in BAD]
    assert min(within) > max(across), (within, across)


def test_shape_determinism_and_special_rows():
    lines = corpus(200)
    vocab = WordVocab.build(lines, min_freq=2)
    a = train_word_vectors(lines, vocab, dim=8, epochs=2, seed=3)
    b = train_word_vectors(lines, vocab, dim=8, epochs=2, seed=3)
    assert a.shape == (len(vocab), 8) and a.dtype == torch.float32
    assert torch.equal(a, b), "one worker and one seed must give the same vectors"
    assert not torch.equal(a, train_word_vectors(lines, vocab, dim=8, epochs=2, seed=4))
    assert a[WordVocab.PAD].abs().sum() == 0 and a[WordVocab.UNK].abs().sum() == 0
    assert (a[2:].abs().sum(dim=1) > 0).all(), "every real word of the vocabulary gets a vector"


def test_load_copies_known_rows_and_keeps_padding_zero():
    lines = corpus(200)
    vocab = WordVocab.build(lines, min_freq=2)
    vectors = train_word_vectors(lines, vocab, dim=8, epochs=1)
    embedding = nn.Embedding(len(vocab), 8, padding_idx=0)
    unk_before = embedding.weight[WordVocab.UNK].detach().clone()
    share = load_word_vectors(embedding, vectors, std=None)
    assert share == pytest.approx((len(vocab) - 2) / len(vocab))
    assert torch.equal(embedding.weight[2:].detach(), vectors[2:])
    load_word_vectors(embedding, vectors)  # rescaled to the embedding's own start, elements of sd 1
    copied = embedding.weight[2:].detach()
    assert copied.std().item() == pytest.approx(1.0, rel=1e-4)
    assert torch.allclose(copied, vectors[2:] * (copied.norm() / vectors[2:].norm()), atol=1e-5), "only the scale changes"
    assert torch.equal(embedding.weight[WordVocab.UNK].detach(), unk_before), "<unk> keeps its random start"
    assert embedding.weight[0].abs().sum() == 0
    assert embedding.weight.requires_grad


def test_bad_arguments_say_what_to_fix():
    lines = corpus(50)
    vocab = WordVocab.build(lines, min_freq=2)
    with pytest.raises(ValueError, match="same vocabulary and dim"):
        load_word_vectors(nn.Embedding(len(vocab), 4), torch.zeros(len(vocab), 8))
    with pytest.raises(ValueError, match="nothing to load"):
        load_word_vectors(nn.Embedding(len(vocab), 8), torch.zeros(len(vocab), 8))
    with pytest.raises(ValueError, match="std"):
        load_word_vectors(nn.Embedding(len(vocab), 8), train_word_vectors(lines, vocab, dim=8, epochs=1), std=-1)
    with pytest.raises(ValueError, match="needs some text"):
        train_word_vectors([[], []], vocab)
    with pytest.raises(ValueError, match="WordVocab"):
        train_word_vectors(lines, {"a": 0})
    with pytest.raises(ValueError):
        train_word_vectors(lines, vocab, dim=0)
