"""Turning text into integer ids and back: a character vocabulary, an IMDb tokenizer, a word vocabulary.

Taught in lectures 05 (``tokenize``, ``WordVocab``: IMDb sentiment) and 06 (``CharVocab``: Shakespeare char-RNN).

Unknown-character policy: ``CharVocab.encode`` refuses characters it has never seen (a ValueError
naming them); pass ``errors="ignore"`` to drop them instead. ``WordVocab`` maps unseen words to
``<unk>`` (id 1), because new words are the normal case for reviews, while a new character in
character-level text is usually a mistake (wrong file, wrong encoding) worth hearing about.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from helpers.checks import check_int


def _as_id_list(ids) -> list[int]:
    """Accept a 1-D tensor, a NumPy array or a sequence of ints."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got a tensor of shape {tuple(ids.shape)}")
        return ids.tolist()
    return [int(i) for i in ids]


class _Vocab:
    """What both vocabularies share: ``itos`` (id -> token) and ``stoi`` (token -> id)."""

    itos: list[str]
    stoi: dict[str, int]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi


class CharVocab(_Vocab):
    """A sorted set of characters; id i is ``chars[i]``.

    Used in lectures 06, 08 and 09, and the lab sherlock_rnn_vs_gru.
    """

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
        if bad:
            raise ValueError(f"CharVocab takes single characters, got {bad[:5]!r}; use CharVocab.from_text(text)")
        if not chars:
            raise ValueError("CharVocab needs at least one character; is the text empty?")
        self.chars: list[str] = sorted(set(chars))
        self.itos: list[str] = self.chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Every distinct character of ``text``."""
        if not isinstance(text, str):
            raise ValueError(f"from_text expects a str, got {type(text).__name__}")
        return cls(set(text))

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} chars: {''.join(self.chars)[:40]!r}...)"

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str, errors: str = "strict") -> torch.Tensor:
        """Text -> 1-D LongTensor of ids. Unknown characters raise ValueError; ``errors="ignore"`` drops them."""
        if errors not in ("strict", "ignore"):
            raise ValueError(f"errors must be 'strict' or 'ignore', got {errors!r}")
        if not isinstance(text, str):
            raise ValueError(f"encode expects a str, got {type(text).__name__}")
        missing = self.unknown(text)
        if missing and errors == "strict":
            raise ValueError(
                f"{len(missing)} character(s) not in the vocabulary: {''.join(missing[:20])!r}. "
                'Use vocab.encode(text, errors="ignore") to drop them, or build the vocabulary from this text.'
            )
        return torch.tensor([self.stoi[c] for c in text if c in self.stoi], dtype=torch.long)

    def decode(self, ids) -> str:
        """Ids (tensor or list) -> text."""
        ids = _as_id_list(ids)
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary (0..{len(self) - 1})")
        return "".join(self.chars[i] for i in ids)


# Emoticons: eyes, an optional nose, a mouth; e.g. :) ;-( =D :-P
_EMOTICON = r"[:;=]-?[()DPp]"
_TOKEN = re.compile(rf"(?P<emo>{_EMOTICON})|(?P<word>\w+)")
_HTML_TAG = re.compile(r"<[^>]*>")


def tokenize(text: str) -> list[str]:
    """Classic IMDb tokenizer: strip HTML tags, keep emoticons, lowercase, split on non-word characters.

    Emoticons stay where they were, with the nose dropped (``:-)`` and ``:)`` are one token).

    Used in lecture 05, and the lab imdb_sentiment.
    """
    if not isinstance(text, str):
        raise ValueError(f"tokenize expects a str, got {type(text).__name__}")
    text = _HTML_TAG.sub(" ", text)  # a space, so "end.<br />Next" stays two words
    tokens = []
    for m in _TOKEN.finditer(text):
        if m.group("emo"):
            tokens.append(m.group("emo").replace("-", ""))
        else:
            tokens.append(m.group("word").lower())
    return tokens


class WordVocab(_Vocab):
    """Words by frequency, with ``<pad>`` = 0 and ``<unk>`` = 1.

    Used in lecture 05.
    """

    PAD, UNK = 0, 1
    specials = ("<pad>", "<unk>")

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:2] != list(self.specials):
            words = list(self.specials) + [w for w in words if w not in self.specials]
        if len(set(words)) != len(words):
            raise ValueError("WordVocab words must be distinct")
        self.itos: list[str] = words
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> WordVocab:
        """Count tokens; keep those seen at least ``min_freq`` times, the most frequent first.

        ``max_size`` counts every entry, ``<pad>`` and ``<unk>`` included; ties break alphabetically.
        """
        if isinstance(token_lists, str) or not isinstance(token_lists, Iterable):
            raise ValueError("build expects a list of token lists, e.g. [tokenize(t) for t in texts]")
        check_int("min_freq", min_freq)
        check_int("max_size", max_size, minimum=len(cls.specials), optional=True, hint=" (it counts <pad> and <unk>)")
        counts = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise ValueError("build expects token lists, not strings: pass [tokenize(t) for t in texts]")
            counts.update(tokens)
        for s in cls.specials:
            counts.pop(s, None)
        words = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - len(cls.specials)]
        return cls(words)

    def __repr__(self) -> str:
        return f"WordVocab({len(self)} words: {self.itos[2:8]}...)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Tokens -> ids; unseen tokens become ``UNK``."""
        if isinstance(tokens, str):
            raise ValueError("encode expects a list of tokens; call tokenize(text) first")
        return [self.stoi.get(t, self.UNK) for t in tokens]

    def decode(self, ids) -> list[str]:
        """Ids (tensor or list) -> tokens."""
        ids = _as_id_list(ids)
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary (0..{len(self) - 1})")
        return [self.itos[i] for i in ids]
