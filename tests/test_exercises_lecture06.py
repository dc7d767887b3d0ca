"""Lecture 06's exercise checkers (helpers.exercises.lecture06), on a small stand-in text and an untrained model."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.exercises import lecture06 as ex
from helpers.generate import sample
from helpers.models import CharRNN
from helpers.text import CharVocab
from exercise_support import rejected, verdict


@pytest.fixture(scope="module")
def run():
    text = "ROMEO: " + "".join(np.random.default_rng(0).choice(list("abcdefgh :\n"), size=25_000))
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    torch.manual_seed(3)
    model = CharRNN(len(vocab), embed_dim=8, hidden_size=16, cell="lstm").eval()
    with torch.no_grad():
        last = model(vocab.encode("ROMEO:")[None])[0][0, -1]
    return dict(vocab=vocab, model=model, train_ids=ids[:4000], val_ids=ids[4000:], last=last)


def test_exercise_1_unigram_bits(run):
    args = (run["train_ids"], run["val_ids"], len(run["vocab"]))
    p_train = torch.bincount(run["train_ids"], minlength=len(run["vocab"])).double() / len(run["train_ids"])
    p_val = torch.bincount(run["val_ids"], minlength=len(run["vocab"])).double() / len(run["val_ids"])
    right = float(-(p_val * p_train.clamp_min(1e-12).log2()).sum())
    assert verdict(ex.check_exercise_1, None, *args) == "not answered yet"
    assert verdict(ex.check_exercise_1, right, *args) == "correct"
    for why, wrong in {"uniform": math.log2(len(run["vocab"])), "in nats": right * math.log(2),
                       "entropy of the held-out text itself": float(-(p_val * p_val.clamp_min(1e-12).log2()).sum())}.items():
        assert rejected(ex.check_exercise_1, wrong, *args), why


def test_exercise_2_perplexity():
    assert verdict(ex.check_exercise_2, math.exp(1.5)) == "correct"
    for why, wrong in {"the loss itself": 1.5, "2 ** loss (bits)": 2 ** 1.5}.items():
        assert rejected(ex.check_exercise_2, wrong), why


def test_exercise_3_top_k(run):
    last = run["last"]
    kept = last.topk(5).indices
    masked = torch.full_like(last, float("-inf"))
    masked[kept] = last[kept] / 0.8
    assert verdict(ex.check_exercise_3, F.softmax(masked, dim=-1).tolist(), last) == "correct"
    masked_cold = torch.full_like(last, float("-inf"))
    masked_cold[kept] = last[kept]
    for why, wrong in {"forgot to cut to the top 5": torch.softmax(last / 0.8, dim=-1).tolist(),
                       "forgot the temperature": F.softmax(masked_cold, dim=-1).tolist(),
                       "the top 5 only, not one per character": F.softmax(last[kept] / 0.8, dim=-1).tolist()}.items():
        assert rejected(ex.check_exercise_3, wrong, last), why


def test_exercise_4_greedy_ignores_the_seed(run):
    assert verdict(ex.check_exercise_4, "yes", run["model"], run["vocab"]) == "correct"
    assert rejected(ex.check_exercise_4, "no", run["model"], run["vocab"])


@torch.no_grad()
def greedy(model, vocab, prime, length, carry):
    logits, hidden = model(vocab.encode(prime)[None])
    out = []
    for _ in range(length):
        next_id = logits[0, -1].argmax().view(1, 1)
        out.append(int(next_id))
        logits, hidden = model(next_id, hidden if carry else None)
    return prime + vocab.decode(out)


def test_exercise_5_state_carried(run):
    model, vocab = run["model"], run["vocab"]
    fixed, buggy = greedy(model, vocab, "ROMEO:", 200, carry=True), greedy(model, vocab, "ROMEO:", 200, carry=False)
    assert buggy != fixed, "the stand-in model must show the bug"
    assert fixed == sample(model, vocab, prime="ROMEO:", length=200, top_k=1, seed=0)
    assert verdict(ex.check_exercise_5, fixed, model, vocab) == "correct"
    for why, wrong in {"the planted bug (no state)": buggy, "one character short": fixed[:-1],
                       "without the prime": fixed[len("ROMEO:"):]}.items():
        assert rejected(ex.check_exercise_5, wrong, model, vocab), why


def test_exercise_6_temperature_on_held_out_text(run):
    model, val_ids = run["model"], run["val_ids"][:3001]
    losses = {tau: ex.held_out_loss_at(model, val_ids, tau) for tau in ex.TEMPERATURES}
    best = min(losses, key=losses.get)
    assert verdict(ex.check_exercise_6, best, model, val_ids) == "correct"
    for wrong in (t for t in ex.TEMPERATURES if t != best):
        assert rejected(ex.check_exercise_6, wrong, model, val_ids), wrong


def test_held_out_loss_at_tau_1_is_the_models_cross_entropy(run):
    model, ids = run["model"], run["val_ids"][:1001]
    with torch.no_grad():
        logits, _ = model(ids[:-1][None])
    expected = F.cross_entropy(logits[0], ids[1:]).item()
    assert ex.held_out_loss_at(model, ids, 1.0, n_chars=1000, chunk=1000) == pytest.approx(expected, rel=1e-5)
    assert ex.held_out_loss_at(model, ids, 1.0, n_chars=50_000) == pytest.approx(expected, rel=1e-5)  # text shorter
