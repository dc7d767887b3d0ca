"""helpers.padding: batching strategies, padding fractions, padded vs packed forward passes."""
import numpy as np
import pytest
import torch

from helpers.padding import (TinyClassifier, bucketed_batches, pad_batch, padding_fraction, random_batches,
                             sorted_batches, time_forward_backward)

LENGTHS = np.random.default_rng(0).integers(5, 400, size=1000)


@pytest.mark.parametrize("make", [random_batches, bucketed_batches, sorted_batches])
def test_every_example_once_and_batch_sizes(make):
    batches = make(LENGTHS, 32, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(LENGTHS)))
    assert all(len(b) == 32 for b in batches[:-1]) or make is not random_batches
    assert max(len(b) for b in batches) <= 32


def test_seeded_and_reproducible():
    a, b = bucketed_batches(LENGTHS, 32, seed=1), bucketed_batches(LENGTHS, 32, seed=1)
    assert all((x == y).all() for x, y in zip(a, b))
    c = bucketed_batches(LENGTHS, 32, seed=2)
    assert not all(len(x) == len(y) and (x == y).all() for x, y in zip(a, c))


def test_padding_fraction_by_hand():
    assert padding_fraction([3, 5, 10], [np.arange(3)])[0] == pytest.approx(1 - 18 / 30)
    assert padding_fraction([7, 7], [np.array([0, 1])])[0] == 0.0


def test_bucketing_reduces_padding():
    rand = padding_fraction(LENGTHS, random_batches(LENGTHS, 32)).mean()
    buck = padding_fraction(LENGTHS, bucketed_batches(LENGTHS, 32)).mean()
    srt = padding_fraction(LENGTHS, sorted_batches(LENGTHS, 32)).mean()
    assert rand > 0.3 and buck < 0.1 and srt <= buck


def test_sorted_batches_smaller_than_one_batch():
    assert [b.tolist() for b in sorted_batches([4], 256)] == [[0]]


def test_pad_batch():
    x, lengths = pad_batch([[5, 6, 7], [8]])
    assert x.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_padded_and_packed_give_the_same_logits():
    torch.manual_seed(0)
    model = TinyClassifier(vocab_size=50, embed_dim=8, hidden_size=6).eval()
    x, lengths = pad_batch([[3, 4, 5, 6], [7, 8], [9]])
    # unidirectional: the padded output read at lengths-1 equals the packed final state
    assert torch.allclose(model(x, lengths, packed=False), model(x, lengths, packed=True), atol=1e-6)


def test_time_forward_backward_runs_and_trains_nothing():
    torch.manual_seed(0)
    model = TinyClassifier(vocab_size=50, embed_dim=8, hidden_size=6)
    before = [p.clone() for p in model.parameters()]
    seqs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    seconds = time_forward_backward(model, seqs, [0, 1, 1], [np.array([0, 1]), np.array([2])], packed=True)
    assert seconds > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # gradients only, no step


@pytest.mark.parametrize("bad, match", [
    (([], 4), "non-empty"), (([3, 0], 4), "at least 1"), (([3, 4], 0), "batch_size"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        random_batches(*bad)


def test_pool_smaller_than_batch():
    with pytest.raises(ValueError, match="pool_size"):
        bucketed_batches([3, 4, 5], 2, pool_size=1)


def test_the_measured_bucketing_is_the_one_sentiment_task_trains_with():
    from helpers.tasks import SentimentTask, epoch_seed
    seqs = [[1] * n for n in LENGTHS]
    task = SentimentTask((seqs, [0] * len(seqs)), ([[1]], [0]), batch_size=32)
    seed, epoch = 4, 2
    planned = task._plan(epoch, seed)
    measured = bucketed_batches(LENGTHS, 32, pool_size=32 * task.pool_batches, seed=seed * 1_000_003 + epoch)
    assert epoch_seed(seed, epoch) == seed * 1_000_003 + epoch
    assert [b.tolist() for b in planned] == [b.tolist() for b in measured]
