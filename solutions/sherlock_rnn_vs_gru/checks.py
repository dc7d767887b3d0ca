"""Out-of-process re-check of the lab's training results (grading.tamper.verify runs it; never released).

Run as ``python -I checks.py SUBMISSION_DIR`` in a clean sandbox: it loads the submitted checkpoints
with ``torch.load(weights_only=True)`` into the instructor's own model (no student code runs), measures
the held-out loss on the lab's data, and compares it with what Part E's tests accepted: each model must
beat the character-frequency baseline, and the history stored with the weights must tell the truth
about them. It prints one JSON verdict: {"flagged", "reasons", "parts_zeroed"}.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

CELLS = ("rnn", "gru")
PART_E = "train_tests"
EVAL_CHARS = 20_000  # held-out characters measured (the notebook's training evaluates about as many)
TOLERANCE = 0.3  # nats/char between the stored history's last held-out loss and the re-measured one


def main(submission: Path) -> dict:
    sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or ".")
    import torch
    import torch.nn.functional as F
    from torch import nn

    import helpers
    from helpers.data import load_text

    class CharModel(nn.Module):  # the instructor's Part D
        def __init__(self, vocab_size, cell, embed_dim, hidden_size, num_layers):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.rnn = {"rnn": nn.RNN, "gru": nn.GRU}[cell](embed_dim, hidden_size, num_layers, batch_first=True)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, x, hidden=None):
            out, hidden = self.rnn(self.embed(x), hidden)
            return self.head(out), hidden

    folder = submission / ("checkpoints/fast" if helpers.fast_mode() else "checkpoints")
    text = load_text(helpers.pick(fast="sherlock_adventures", full="sherlock"))
    chars = sorted(set(text))
    orders = [chars, list(dict.fromkeys(text))]  # sorted (the lab's rule), or first occurrence (a common slip)
    n_val = len(text) // 10
    train_text, val_text = text[:-n_val], text[-n_val:][:EVAL_CHARS]
    counts = torch.tensor([train_text.count(c) for c in chars], dtype=torch.float64)
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * p.log()).sum())
    reasons, notes = [], []
    for cell in CELLS:
        path = folder / f"{cell}.pt"
        if not path.is_file():
            continue  # the notebook's own test fails without it
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            state, history = ckpt["model"], ckpt["history"]
            claimed = float(history["val_loss"][-1]) if history.get("val_loss") else None
            if ckpt.get("finished") and ckpt.get("best"):
                state = ckpt["best"]["model"]
            vocab_size, embed_dim = state["embed.weight"].shape
            hidden_size = state["rnn.weight_hh_l0"].shape[1]
            layers = sum(k.startswith("rnn.weight_ih_l") for k in state)
            model = CharModel(vocab_size, cell, embed_dim, hidden_size, layers)
            model.load_state_dict(state)
        except Exception as err:  # noqa: BLE001 - not the lab's model: the notebook's tests judge it
            notes.append(f"{cell}: not re-checked ({type(err).__name__}: {err})")
            continue
        if vocab_size != len(chars):
            notes.append(f"{cell}: not re-checked (vocabulary of {vocab_size}, the text has {len(chars)})")
            continue
        model.eval()
        losses = []
        with torch.no_grad():
            for order in orders:
                stoi = {c: i for i, c in enumerate(order)}
                ids = torch.tensor([stoi[c] for c in val_text])
                logits, _ = model(ids[:-1][None])
                losses.append(F.cross_entropy(logits[0].float(), ids[1:]).item())
        measured = min(losses)
        if not math.isfinite(measured) or measured >= unigram:
            reasons.append(f"Part E: the submitted {cell} checkpoint's weights give {measured:.3f} nats/char on held-out "
                           f"text, no better than character frequencies ({unigram:.3f}), although its history "
                           f"claims {claimed if claimed is None else round(claimed, 3)}")
        elif claimed is not None and abs(claimed - measured) > TOLERANCE:
            reasons.append(f"Part E: the {cell} checkpoint's history claims {claimed:.3f} nats/char held out, "
                           f"its weights give {measured:.3f}")
    return {"flagged": bool(reasons), "reasons": reasons, "parts_zeroed": [PART_E] if reasons else [],
            "notes": notes}


if __name__ == "__main__":
    verdict = main(Path(sys.argv[1]))
    for note in verdict.pop("notes"):
        print("note:", note)
    print(json.dumps(verdict))
