"""Sampling text from a trained ``CharRNN``: temperature, top-k, a priming string, a seed.

Taught in lecture 06 (Shakespeare char-RNN).
"""
from __future__ import annotations

import math

import torch

from helpers.checks import check_int, check_number


def _check_sampling(vocab, prime, length, temperature, top_k) -> None:
    if not all(hasattr(vocab, name) for name in ("encode", "decode", "unknown")):
        raise ValueError(f"vocab must be a helpers.text.CharVocab, got {type(vocab).__name__}; "
                         "wrap your characters with CharVocab(chars)")
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"prime must be a non-empty string to start from, e.g. prime='The ', got {prime!r}")
    missing = vocab.unknown(prime)
    if missing:
        raise ValueError(f"The priming text has character(s) {''.join(missing)!r} that are not in the vocabulary; "
                         "remove or replace them (vocab.chars lists the known ones).")
    check_int("length", length, minimum=0, hint=" (characters to generate)")
    check_number("temperature", temperature, above=0, hint=" (1.0 samples the model as is; lower is greedier)")
    check_int("top_k", top_k, maximum=len(vocab), optional=True, hint=" (the vocabulary size is the largest)")


@torch.no_grad()
def sample(model, vocab, prime: str, length: int = 200, temperature: float = 1.0, top_k: int | None = None,
           seed: int | None = None, device=None) -> str:
    """Return ``prime`` followed by ``length`` sampled characters.

    The prime goes through the network in one call; then one character at a time, each fed back in.
    ``seed`` makes the text reproducible without touching the global random state.

    Used in lecture 06, and the lab sherlock_rnn_vs_gru.
    """
    _check_sampling(vocab, prime, length, temperature, top_k)
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    # sampling happens on the CPU with its own generator: same seed, same text, on any device
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        mismatch = (f"The vocabulary has {len(vocab)} characters but the model was built for another number; "
                    "use the vocabulary the model was trained with.")
        try:
            logits, hidden = model(vocab.encode(prime).to(device)[None], None)
        except IndexError:  # an id beyond the embedding: the vocabulary is bigger than the model's
            raise ValueError(mismatch) from None
        if logits.shape[-1] != len(vocab):
            raise ValueError(mismatch)
        out = []
        for _ in range(length):
            scores = logits[0, -1].float().cpu() / temperature
            if top_k is not None:
                kth = torch.topk(scores, top_k).values[-1]
                scores = scores.masked_fill(scores < kth, -math.inf)
            next_id = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=gen)
            out.append(int(next_id))
            logits, hidden = model(next_id.to(device)[None], hidden)
    finally:
        model.train(was_training)
    return prime + vocab.decode(out)
