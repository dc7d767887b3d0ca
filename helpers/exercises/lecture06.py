"""Checkers for the exercises of lecture 06 (lectures/06_shakespeare_char_rnn.ipynb).

The right answers depend on the run (its text split and trained model), so each checker takes the notebook objects
it computes the answer from, named as the notebook names them. Each prints ``correct``, ``not yet: <hint>`` or
``not answered yet`` (see ``helpers.exercises.check``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.exercises import check
from helpers.generate import sample

TEMPERATURES = (0.6, 0.8, 1.0, 1.2, 1.4)  # exercise 6's candidates


def check_exercise_1(answer, train_ids, val_ids, vocab_size: int) -> None:
    """Lecture 06, exercise 1: the held-out loss (bits/char) of the training text's character frequencies."""
    p_train = torch.bincount(train_ids, minlength=vocab_size).double() / len(train_ids)
    val_counts = torch.bincount(val_ids, minlength=vocab_size).double()
    expected = float(-(val_counts * p_train.clamp_min(1e-12).log2()).sum() / len(val_ids))
    check(answer, expected, "average -log2 p_train(c) over the held-out characters c, where p_train(c) is the "
                            "character's frequency in the training text.")


def check_exercise_2(answer) -> None:
    """Lecture 06, exercise 2: the perplexity of a loss of 1.5 nats per character."""
    expected = float(torch.tensor(1.5, dtype=torch.float64).exp())
    check(answer, expected, "perplexity = exp(loss in nats).")


def check_exercise_3(answer, last) -> None:
    """Lecture 06, exercise 3: the top-5 distribution at temperature 0.8 of the logits ``last`` (section 7)."""
    probs = F.softmax(last.double() / 0.8, dim=-1)
    probs[probs < probs.topk(5).values[-1]] = 0
    expected = (probs / probs.sum()).tolist()
    check(answer, expected, "divide the logits by the temperature, keep the 5 largest, softmax over them, "
                            "zeros elsewhere; give a list with one entry per character.", tol=1e-5)


def check_exercise_4(answer, model, vocab) -> None:
    """Lecture 06, exercise 4 (predict): does greedy sampling (top_k=1) give the same text for two seeds?"""
    device = next(model.parameters()).device
    same = (sample(model, vocab, prime="ROMEO:", length=200, top_k=1, seed=0, device=device)
            == sample(model, vocab, prime="ROMEO:", length=200, top_k=1, seed=1, device=device))
    check(answer, "yes" if same else "no", "answer 'yes' or 'no'. With top_k=1, how many characters can the "
                                           "random draw choose from?")


def check_exercise_5(answer, model, vocab, length: int = 200) -> None:
    """Lecture 06, exercise 5 (debug): greedy decoding by hand that carries the state, as ``sample(top_k=1)`` does."""
    device = next(model.parameters()).device
    expected = sample(model, vocab, prime="ROMEO:", length=length, top_k=1, seed=0, device=device)
    check(answer, expected, f"give the string greedy_fixed(model, 'ROMEO:', {length}). Compare it with sample(..., "
                            "top_k=1): what must the model get back at every step besides the new character?")


@torch.no_grad()
def held_out_loss_at(model, val_ids, tau: float, n_chars: int = 20_000, chunk: int = 500) -> float:
    """Cross-entropy (nats/char) of softmax(logits / tau) on the first n_chars held-out characters, one stream."""
    model.eval()
    device = next(model.parameters()).device
    ids = val_ids[: n_chars + 1].to(device)
    n_chars = len(ids) - 1
    total, hidden = 0.0, None
    for start in range(0, n_chars, chunk):
        x, y = ids[start: start + chunk][None], ids[start + 1: start + chunk + 1][None]
        x = x[:, : y.shape[1]]
        logits, hidden = model(x, hidden)
        total += F.cross_entropy(logits[0].float() / tau, y[0], reduction="sum").item()
    return total / n_chars


def check_exercise_6(answer, model, val_ids) -> None:
    """Lecture 06, exercise 6 (design): the temperature in TEMPERATURES with the lowest held-out loss."""
    losses = {tau: held_out_loss_at(model, val_ids, tau) for tau in TEMPERATURES}
    check(answer, min(losses, key=losses.get), "give the temperature from TEMPERATURES whose held-out loss "
                                               "(held_out_loss_at) is the lowest.", tol=1e-9)
