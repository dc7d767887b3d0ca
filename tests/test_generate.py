"""helpers.generate: reproducible sampling, temperature and top-k, clear errors."""
import pytest
import torch

from helpers.generate import sample
from helpers.models import CharRNN
from helpers.text import CharVocab

VOCAB = CharVocab.from_text("abcdefgh .")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CharRNN(len(VOCAB), embed_dim=8, hidden_size=16, cell="lstm")


def greedy(model, prime, length):
    """Reference: argmax, one character at a time from the start, the state carried by hand."""
    ids, hidden, out = VOCAB.encode(prime), None, []
    for i in ids:
        logits, hidden = model(i.view(1, 1), hidden)
    for _ in range(length):
        nxt = logits[0, -1].argmax()
        out.append(int(nxt))
        logits, hidden = model(nxt.view(1, 1), hidden)
    return prime + VOCAB.decode(out)


def test_sampling_is_reproducible_and_leaves_the_global_rng_alone(model):
    before = torch.get_rng_state()
    a = sample(model, VOCAB, "abc", length=50, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    assert a == sample(model, VOCAB, "abc", length=50, seed=1)
    assert a != sample(model, VOCAB, "abc", length=50, seed=2)
    assert a.startswith("abc") and len(a) == 53 and set(a) <= set(VOCAB.chars)
    assert sample(model, VOCAB, "abc", length=0) == "abc"


def test_top_k_one_and_low_temperature_are_greedy(model):
    with torch.no_grad():
        expected = greedy(model, "bad ", 30)
    assert sample(model, VOCAB, "bad ", length=30, top_k=1, seed=0) == expected
    assert sample(model, VOCAB, "bad ", length=30, temperature=1e-4, seed=3) == expected


def test_top_k_restricts_the_choices(model):
    with torch.no_grad():
        logits, _ = model(VOCAB.encode("abc")[None])
    top2 = {VOCAB.chars[i] for i in logits[0, -1].topk(2).indices.tolist()}
    firsts = {sample(model, VOCAB, "abc", length=1, top_k=2, seed=s)[-1] for s in range(30)}
    assert firsts <= top2


def test_training_mode_is_restored(model):
    model.train()
    sample(model, VOCAB, "a", length=3, seed=0)
    assert model.training


@pytest.mark.parametrize("kwargs, match", [
    (dict(prime="abz!"), r"'z!'.*not in the vocabulary"),
    (dict(prime=""), "non-empty"),
    (dict(temperature=0), "temperature"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top_k"),
    (dict(top_k=len(VOCAB) + 1), "top_k"),
    (dict(top_k=2.0), "top_k"),
    (dict(length=-1), "length"),
])
def test_bad_arguments(model, kwargs, match):
    kwargs = {"prime": "ab", **kwargs}
    with pytest.raises(ValueError, match=match):
        sample(model, VOCAB, **kwargs)


def test_vocabulary_must_match_the_model(model):
    with pytest.raises(ValueError, match="CharVocab"):
        sample(model, VOCAB.chars, "a")
    with pytest.raises(ValueError, match="vocabulary the model was trained with"):
        sample(model, CharVocab.from_text("ab"), "a")
    with pytest.raises(ValueError, match="vocabulary the model was trained with"):
        sample(model, CharVocab.from_text("abcdefghijklmnop"), "p")
