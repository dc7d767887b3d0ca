"""Held-out quality of a vanilla RNN against a GRU, at equal budget, on Sherlock and Tiny Shakespeare.

For each corpus the last 10% of the text is held out. Both cells get the same architecture
(embedding, hidden size, layers), batch, sequence length and budget (seconds or steps); the report is the
validation loss in nats per character on the whole held-out text.

Run: ``python -m benchmarks.quality [--seconds 150 | --steps 2000] [--device cuda]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import helpers
from benchmarks.flags import DEVICE, Flag, add_flags, settings, train_config
from helpers.data import load_text
from helpers.models import CharRNN
from helpers.tasks import CharLMTask, split_text
from helpers.text import CharVocab
from helpers.train import TrainConfig, evaluate, train

CORPORA = {"sherlock": "sherlock", "tinyshakespeare": "tinyshakespeare"}


def run(corpus: str, cell: str, args, device) -> dict:
    text = load_text(corpus)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_text(vocab.encode(text), val_fraction=0.1)
    helpers.set_seed(args.seed)
    model = CharRNN(len(vocab), **settings(args, CharRNN), cell=cell)
    task = CharLMTask(train_ids, val_ids, **settings(args, CharLMTask), mode="random")
    budget = dict(max_seconds=None) if args.max_steps else dict(max_steps=None)  # the one budget asked for
    config = train_config(args, **budget, eval_batches=20, device=str(device))
    start = time.perf_counter()
    history = train(model, task, config)
    seconds = time.perf_counter() - start
    final = evaluate(model, task, max_batches=args.max_eval_batches)  # default: the whole held-out 10%
    return {"corpus": corpus, "cell": cell, "val_nats_per_char": round(final["val_loss"], 4),
            "val_bits_per_char": round(final["val_bpc"], 4), "steps": history.steps[-1] if history.steps else 0,
            "train_seconds": round(seconds, 1)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, TrainConfig, device=DEVICE,
              max_seconds=Flag(150.0, "seconds", "training budget per run (wall clock)"),
              max_steps=Flag(None, "steps", "budget in optimizer steps instead of seconds: equal data for both cells, "
                                            "and fair on a machine whose load changes"))
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru"], choices=["rnn", "gru", "lstm"])
    add_flags(parser, CharRNN, embed_dim=64, hidden_size=512, num_layers=2, dropout=0.1)
    add_flags(parser, CharLMTask, batch_size=128, seq_len=128)
    add_flags(parser, TrainConfig, lr=2e-3, eval_every=200, seed=0)
    parser.add_argument("--max-eval-batches", type=int, default=None,
                        help="evaluate on this many held-out batches only (default: all; for smoke tests)")
    add_flags(parser, TrainConfig, progress=False)
    args = parser.parse_args(argv)
    device = helpers.get_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    budget = f"{args.max_steps} steps" if args.max_steps else f"{args.max_seconds:.0f} s"
    print(f"{name}, torch {torch.__version__}, budget {budget} per run, "
          f"{args.num_layers}x{args.hidden_size} hidden, batch {args.batch_size} x seq_len {args.seq_len}")
    results = []
    for corpus in args.corpora:
        for cell in args.cells:
            result = run(corpus, cell, args, device)
            results.append(result)
            print(f"  {corpus:16s} {cell:4s} {result['val_nats_per_char']:.3f} nats/char "
                  f"({result['val_bits_per_char']:.3f} bits), {result['steps']} steps in {result['train_seconds']} s",
                  flush=True)
    print(json.dumps({"device": name, "budget_per_run": budget, "results": results}))
    return results


if __name__ == "__main__":
    main()
