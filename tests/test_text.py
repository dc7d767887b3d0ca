"""helpers.text: character vocabulary, IMDb tokenizer, word vocabulary."""
import pytest
import torch

from helpers.text import CharVocab, WordVocab, tokenize


def test_char_vocab_round_trip():
    text = "To be, or not to be: that is the question."
    vocab = CharVocab.from_text(text)
    assert vocab.chars == sorted(set(text))
    assert len(vocab) == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == torch.long and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text
    assert all(vocab.itos[vocab.stoi[c]] == c for c in vocab.chars)


def test_char_vocab_unknown_characters():
    vocab = CharVocab.from_text("abc ")
    with pytest.raises(ValueError, match=r"'xz'.*errors=\"ignore\""):
        vocab.encode("a x b z x")
    assert vocab.decode(vocab.encode("a x b z x", errors="ignore")) == "a  b  "
    assert vocab.unknown("axbz") == ["x", "z"]


@pytest.mark.parametrize("bad", [
    lambda v: v.encode("a", errors="replace"),
    lambda v: v.encode(["a"]),
    lambda v: v.decode([0, 99]),
    lambda v: v.decode(torch.zeros(2, 2, dtype=torch.long)),
    lambda v: CharVocab([]),
    lambda v: CharVocab(["ab"]),
    lambda v: CharVocab.from_text(None),
])
def test_char_vocab_bad_arguments(bad):
    with pytest.raises(ValueError):
        bad(CharVocab.from_text("abc"))


def test_tokenize_classic_imdb():
    review = "This movie was GREAT!<br /><br />Loved it :) but the end;-( was sad :-D.<i>10/10</i>"
    assert tokenize(review) == ["this", "movie", "was", "great", "loved", "it", ":)", "but", "the", "end",
                                ";(", "was", "sad", ":D", "10", "10"]
    assert tokenize("") == []
    with pytest.raises(ValueError):
        tokenize(["not", "a", "string"])


def test_word_vocab_specials_frequency_and_size():
    docs = [["good", "film", "good"], ["bad", "film", "good"], ["odd"]]
    vocab = WordVocab.build(docs)
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and vocab.PAD == 0 and vocab.UNK == 1
    assert vocab.itos[2:] == ["good", "film", "bad", "odd"]  # by frequency, ties alphabetical
    assert WordVocab.build(docs, min_freq=2).itos == ["<pad>", "<unk>", "good", "film"]
    assert len(WordVocab.build(docs, max_size=3)) == 3
    assert vocab.encode(["good", "unseen"]) == [2, 1]
    assert vocab.decode(torch.tensor([2, 3, 0])) == ["good", "film", "<pad>"]


@pytest.mark.parametrize("kwargs", [dict(min_freq=0), dict(max_size=1), dict(max_size=2.5)])
def test_word_vocab_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        WordVocab.build([["a"]], **kwargs)


def test_word_vocab_rejects_strings():
    with pytest.raises(ValueError, match="tokenize"):
        WordVocab.build(["a review as a string"])
    with pytest.raises(ValueError, match="tokenize"):
        WordVocab.build([["a"]]).encode("a string")
