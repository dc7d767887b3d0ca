"""Checkers for the exercises of lecture 05 (lectures/05_imdb_sentiment.ipynb).

The right answers depend on the run (its data, vocabulary and models), so each checker takes the notebook objects
it computes the answer from, named as the notebook names them. Each prints ``correct``, ``not yet: <hint>`` or
``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from helpers.exercises import check
from helpers.padding import bucketed_batches, padding_fraction


def _accuracy(probs, labels) -> float:
    return ((torch.as_tensor(probs) > 0.5).long() == torch.as_tensor(labels)).float().mean().item()


def check_exercise_1(answer) -> None:
    """Lecture 05, exercise 1: the share of padding in a batch of reviews of 3, 5 and 10 tokens."""
    expected = float(padding_fraction([3, 5, 10], [np.arange(3)])[0])
    check(answer, expected, "the batch is padded to 3 x 10 positions; how many of them are real tokens?")


def check_exercise_2(answer, lengths, batch_size: int) -> None:
    """Lecture 05, exercise 2: padding steps the backward direction reads first, per review, with bucketed batches."""
    lengths = np.asarray(lengths)
    batches = bucketed_batches(lengths, batch_size, seed=0)
    expected = float(np.mean(np.concatenate([lengths[b].max() - lengths[b] for b in batches])))
    check(answer, expected, "for each batch, each review reads (longest in its batch - its own length) padding "
                            "steps; average over all training reviews.")


def check_exercise_3(answer, test_labels) -> None:
    """Lecture 05, exercise 3: the test accuracy of a model that always answers 'positive'."""
    expected = float(torch.as_tensor(test_labels).float().mean())
    check(answer, expected, "an always-'positive' model is right exactly on the positive test reviews.")


def shuffle_words(token_lists, seed: int = 0):
    """Each review's tokens in a random order (lecture 05, exercise 4)."""
    rng = np.random.default_rng(seed)
    return [[t[i] for i in rng.permutation(len(t))] for t in token_lists]


def check_exercise_4(answer, predict, test_tokens, test_labels) -> None:
    """Lecture 05, exercise 4 (predict): does shuffling the words change the tf-idf unigram model's accuracy?

    ``predict`` is the unigram model's ``tfidf["tf-idf unigrams"]["predict"]`` (texts -> probabilities).
    """
    before = _accuracy(predict([" ".join(t) for t in test_tokens]), test_labels)
    after = _accuracy(predict([" ".join(t) for t in shuffle_words(test_tokens)]), test_labels)
    expected = "same" if after == before else ("higher" if after > before else "lower")
    check(answer, expected, "answer 'higher', 'lower' or 'same'. What does a tf-idf vector of single words "
                            "keep of the order of the words?")


@torch.no_grad()
def _one_review_at_a_time(model, seqs) -> list[float]:
    """P(positive) of each review read alone, from a zero state: nothing can leak from one review to the next."""
    model.eval()
    device = next(model.parameters()).device
    return [torch.sigmoid(model(torch.tensor([s], device=device), torch.tensor([len(s)]))).item() for s in seqs]


def check_exercise_5(answer, model, val_seqs, n: int = 20) -> None:
    """Lecture 05, exercise 5 (debug): probabilities of the first ``n`` validation reviews, each scored alone."""
    expected = _one_review_at_a_time(model, val_seqs[:n])
    check(answer, expected, f"give a list of {n} probabilities. Reorder the reviews and see whether a review's "
                            "probability changes; what does the loop carry from one review to the next?", tol=1e-4)


def check_exercise_6(answer, fit_tfidf, train, val, n_tokens: int = 50) -> None:
    """Lecture 05, exercise 6 (design): validation accuracy of tf-idf unigrams on the first or last 50 tokens.

    ``fit_tfidf`` is the notebook's (section 8); ``train`` and ``val`` are ``(token_lists, labels)`` pairs.
    """
    expected = {}
    for where, cut in (("first", lambda t: t[:n_tokens]), ("last", lambda t: t[-n_tokens:])):
        predict, _ = fit_tfidf(1, [" ".join(cut(t)) for t in train[0]], list(train[1]))
        expected[where] = _accuracy(predict([" ".join(cut(t)) for t in val[0]]), val[1])
    check(answer, expected, "train the tf-idf unigram model of section 8 (fit_tfidf(1, ...)) on the cut training "
                            "reviews and measure on the same cut of the validation reviews, never the test split.",
          tol=1e-3)


def seeds_needed(sd: float, half_width: float, level: float = 0.95, z: bool = False, n_max: int = 100_000) -> int:
    """The fewest seeds n >= 2 whose ``level`` interval for the mean, t(n-1) * sd / sqrt(n), is at most ``half_width``.

    ``z=True`` uses the normal quantile instead of Student's t (the mistake exercise 7 is about).
    """
    from scipy import stats

    for n in range(2, n_max + 1):
        q = stats.norm.ppf((1 + level) / 2) if z else stats.t.ppf((1 + level) / 2, n - 1)
        if q * sd / math.sqrt(n) <= half_width:
            return n
    raise ValueError(f"more than {n_max:,} seeds would be needed; is the half-width {half_width} far too small?")


def check_exercise_7(answer, accuracies, half_width: float = 0.005) -> None:
    """Lecture 05, exercise 7 (design): seeds needed for a 95 % interval of ± ``half_width`` around the mean.

    ``accuracies``: the seeds' test accuracies of the word2vec-started refit; their sample sd (ddof=1) is assumed
    to stay the same with more seeds.
    """
    accuracies = np.asarray(accuracies, dtype=float)
    sd = float(accuracies.std(ddof=1))
    expected = seeds_needed(sd, half_width)
    mistakes = {seeds_needed(sd, half_width, z=True):
                "1.96 belongs to a known sd or many seeds; with n seeds, use Student's t with n - 1 degrees of "
                "freedom, whose quantile is larger for small n.",
                seeds_needed(float(accuracies.std(ddof=0)), half_width):
                "the sd of a few seeds needs ddof=1 (divide by n - 1): np.std divides by n by default."}
    hint = mistakes.get(int(answer), "") if isinstance(answer, (int, np.integer)) and answer != expected else ""
    check(answer, expected, hint or f"find the smallest n >= 2 with t(0.975, n - 1) * sd / sqrt(n) <= {half_width}, "
                                    f"sd = the sample standard deviation (ddof=1) of the {len(accuracies)} seeds.")
