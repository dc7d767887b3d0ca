"""Lecture 05's exercise checkers (helpers.exercises.lecture05), on small stand-ins for the run's data and models.

The notebook passes its own data, models and ``fit_tfidf`` to each checker; here stand-ins of the same kinds do.
"""
import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from helpers.exercises import lecture05 as ex
from helpers.models import SentimentRNN
from helpers.padding import bucketed_batches, random_batches
from exercise_support import rejected, verdict


def reviews(n, seed, positive=0.5):
    """Token lists whose label is carried by one word ('good' or 'bad') among filler words."""
    rng = np.random.default_rng(seed)
    tokens, labels = [], []
    for i in range(n):
        label = int(rng.random() < positive)
        words = list(rng.choice([f"w{j}" for j in range(30)], size=int(rng.integers(5, 60))))
        words.insert(int(rng.integers(0, len(words))), "good" if label else "bad")
        tokens.append(words)
        labels.append(label)
    return tokens, labels


def fit_tfidf(ngrams, train_docs, labels):
    """The notebook's tf-idf + logistic regression, in the interface the checkers expect."""
    vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, ngrams))
    clf = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(train_docs), labels)
    return lambda docs: torch.tensor(clf.predict_proba(vectorizer.transform(docs))[:, 1]), clf.coef_.size + 1


def accuracy(probs, labels):
    return ((probs > 0.5).long() == torch.as_tensor(labels)).float().mean().item()


@pytest.fixture(scope="module")
def run():
    train, val, test = reviews(200, 0), reviews(60, 1), reviews(80, 2, positive=0.6)
    words = sorted({w for t in train[0] for w in t})
    ids = {w: i + 2 for i, w in enumerate(words)}
    torch.manual_seed(0)
    return dict(train=train, val=(val[0], torch.tensor(val[1])), test_tokens=test[0], test_labels=torch.tensor(test[1]),
                lengths=np.array([len(t) for t in train[0]]), val_seqs=[[ids.get(w, 1) for w in t] for t in val[0]],
                model=SentimentRNN(len(ids) + 2, embed_dim=8, hidden_size=6, pool="max", pack=False).eval(),
                predict=fit_tfidf(1, [" ".join(t) for t in train[0]], train[1])[0])


def test_exercise_1():
    assert verdict(ex.check_exercise_1, None) == "not answered yet"
    assert verdict(ex.check_exercise_1, 1 - (3 + 5 + 10) / 30) == "correct"
    for wrong in (0.5, 18 / 30, "0.4 of it"):
        assert rejected(ex.check_exercise_1, wrong), wrong


def test_exercise_2(run):
    lengths = run["lengths"]
    right = np.mean(np.concatenate([lengths[b].max() - lengths[b] for b in bucketed_batches(lengths, 8, seed=0)]))
    with_random = np.mean(np.concatenate([lengths[b].max() - lengths[b] for b in random_batches(lengths, 8, seed=0)]))
    assert verdict(ex.check_exercise_2, float(right), lengths, 8) == "correct"
    for why, wrong in {"random batches": with_random, "the mean length": lengths.mean(), "no padding": 0.0}.items():
        assert rejected(ex.check_exercise_2, float(wrong), lengths, 8), why


def test_exercise_3(run):
    labels = run["test_labels"]
    assert verdict(ex.check_exercise_3, (labels == 1).float().mean().item(), labels) == "correct"
    for why, wrong in {"always right": 1.0, "never right": 0.0, "the negatives' share": (labels == 0).float().mean().item(),
                       "half, as on the full test split": 0.5}.items():
        assert rejected(ex.check_exercise_3, wrong, labels), why


def test_exercise_4(run):
    args = (run["predict"], run["test_tokens"], run["test_labels"])
    assert verdict(ex.check_exercise_4, "same", *args) == "correct"
    assert verdict(ex.check_exercise_4, " Same", *args) == "correct"
    for wrong in ("higher", "lower", "it depends"):
        assert rejected(ex.check_exercise_4, wrong, *args), wrong


@torch.no_grad()
def one_at_a_time(model, seqs, carry):
    probs, state = [], None
    for s in seqs:
        out, new = model.rnn(model.embed(torch.tensor([s])), state if carry else None)
        state = new if carry else None
        probs.append(torch.sigmoid(model.head(out[0].max(dim=0).values)).item())
    return probs


def test_exercise_5(run):
    model, seqs = run["model"], run["val_seqs"]
    fixed, buggy = one_at_a_time(model, seqs[:20], carry=False), one_at_a_time(model, seqs[:20], carry=True)
    assert max(abs(a - b) for a, b in zip(fixed, buggy)) > 1e-3, "the stand-in model must show the leak"
    assert verdict(ex.check_exercise_5, fixed, model, seqs) == "correct"
    for why, wrong in {"the planted bug (state carried over)": buggy, "ten reviews": fixed[:10],
                       "reversed order": fixed[::-1], "labels, not probabilities": [1.0] * 20}.items():
        assert rejected(ex.check_exercise_5, wrong, model, seqs), why


def test_exercise_6(run):
    args = (fit_tfidf, run["train"], run["val"])
    right = {}
    for where, cut in (("first", lambda t: t[:50]), ("last", lambda t: t[-50:])):
        predict, _ = fit_tfidf(1, [" ".join(cut(t)) for t in run["train"][0]], run["train"][1])
        right[where] = accuracy(predict([" ".join(cut(t)) for t in run["val"][0]]), run["val"][1])
    assert verdict(ex.check_exercise_6, right, *args) == "correct"
    first_20 = dict(right, first=right["first"] - 0.05)
    on_test = {"first": right["first"] - 0.02, "last": right["last"] + 0.02}
    for why, wrong in {"first and last swapped": {"first": right["last"], "last": right["first"]} if
                       abs(right["first"] - right["last"]) > 1e-3 else first_20, "another cut": first_20,
                       "measured elsewhere": on_test, "a list": [right["first"], right["last"]]}.items():
        assert rejected(ex.check_exercise_6, wrong, *args), why


ACCURACIES = np.array([0.8952, 0.9057, 0.9075])  # three seeds (section 11's stored refit had this spread)


def test_exercise_7_right_and_wrong_ways_to_plan_seeds():
    sd = ACCURACIES.std(ddof=1)
    right = ex.seeds_needed(sd, 0.005)
    with_z, with_ddof0 = ex.seeds_needed(sd, 0.005, z=True), ex.seeds_needed(ACCURACIES.std(), 0.005)
    assert len({right, with_z, with_ddof0}) == 3, "the stand-in must tell the three methods apart"
    assert verdict(ex.check_exercise_7, None, ACCURACIES) == "not answered yet"
    assert verdict(ex.check_exercise_7, right, ACCURACIES) == "correct"
    assert verdict(ex.check_exercise_7, np.int64(right), ACCURACIES) == "correct"
    assert "Student's t" in verdict(ex.check_exercise_7, with_z, ACCURACIES)
    assert "ddof=1" in verdict(ex.check_exercise_7, with_ddof0, ACCURACIES)
    for why, wrong in {"1.96 instead of t": with_z, "ddof=0": with_ddof0, "the three seeds we have": 3,
                       "one fewer than needed": right - 1, "the half-width itself": 0.005}.items():
        assert rejected(ex.check_exercise_7, wrong, ACCURACIES), why


def test_seeds_needed_is_the_smallest_n_whose_t_interval_is_narrow_enough():
    from scipy import stats
    sd, n = 0.0067, ex.seeds_needed(0.0067, 0.005)
    assert stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= 0.005 < stats.t.ppf(0.975, n - 2) * sd / np.sqrt(n - 1)
    assert ex.seeds_needed(0.0, 0.005) == 2
    with pytest.raises(ValueError, match="seeds would be needed"):
        ex.seeds_needed(1.0, 1e-9, n_max=50)
