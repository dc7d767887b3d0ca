"""Checkers of lecture 08's exercises (sequence to sequence, attention, Transformers). Each prints ``correct``,
``not yet: ...`` or ``not answered yet`` and returns True only for a right answer.

The checkers that need the lecture's trained model take it as an argument and compute the expected value from it.
"""
from __future__ import annotations

import torch

from helpers.exercises import check
from helpers.seq2seq import beam_search, dot_attention, greedy_decode, translate


def check_exercise_1(answer, model, sources, vocab) -> bool:
    """Lecture 08, exercise 1: how many of ``sources`` get a different output from beam width 1 than from greedy."""
    if answer is None:
        return check(None, 0)
    greedy = translate(model, sources, vocab)
    expected = sum(vocab.decode(beam_search(model, vocab.encode(s), beam_width=1)) != g
                   for s, g in zip(sources, greedy))
    return check(answer, expected, "beam search with one hypothesis keeps the single most likely next character at "
                                   "every step. What does greedy decoding do?")


def _exercise_2_batch():
    g = torch.Generator().manual_seed(1)
    query, keys = torch.randn(4, 3, 8, generator=g), torch.randn(4, 9, 8, generator=g)
    mask = torch.arange(9)[None, :] < torch.tensor([9, 5, 2, 7])[:, None]
    keys = keys.masked_fill(~mask[..., None], 0.0)  # padded keys are zero vectors, as padding often is
    return query, keys, mask


def check_exercise_2(attention_fn) -> bool:
    """Lecture 08, exercise 2: a fixed ``attention(query, keys, values, mask)`` that gives padding no weight."""
    if attention_fn is None:
        return check(None, 0)
    query, keys, mask = _exercise_2_batch()
    try:
        answer = attention_fn(query, keys, keys, mask)
    except Exception as error:  # a student's function may fail in any way: say how, keep going
        print(f"not yet: your function raised {type(error).__name__}: {error}")
        return False
    return check(answer, dot_attention(query, keys, keys, mask)[0], "a zero key still scores 0, and exp(0) = 1: "
                 "padding gets weight unless its score is -inf before the softmax.", tol=1e-5)


def alignment_rate(model, sources, vocab) -> float:
    """Share of output digits whose largest attention weight falls inside the source span of the date they belong to."""
    device = next(model.parameters()).device
    hits = total = 0
    for src in sources:
        ids = vocab.encode(src)
        out, weights = greedy_decode(model, torch.tensor([ids], device=device), torch.tensor([len(ids)]))
        spans, start = [], 0
        for part in src.split("; "):
            spans.append((start, start + len(part)))
            start += len(part) + 2
        date_index = 0
        for t, ch in enumerate(vocab.decode(out[0])):
            if ch == " ":
                date_index += 1
            elif ch.isdigit() and date_index < len(spans):
                a, b = spans[date_index]
                hits += a <= int(weights[0, t].argmax()) < b
                total += 1
    return hits / max(total, 1)


def check_exercise_3(answer, model, sources, vocab) -> bool:
    """Lecture 08, exercise 3: the alignment rate of ``model`` (with attention) on ``sources``."""
    if answer is None:
        return check(None, 0)
    return check(answer, alignment_rate(model, sources, vocab),
                 "for each output digit of date j, look at the argmax of its attention row and ask whether it lies in "
                 "the characters of the j-th source date (dates are split by '; ').", tol=1e-6)


def check_exercise_4(answer, context: int = 128) -> bool:
    """Lecture 08, exercise 4: allowed (query, key) pairs of a causal mask over ``context`` positions."""
    return check(answer, context * (context + 1) // 2, "row t of the causal mask allows positions 0..t.")
