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
    model = CharRNN(len(vocab), embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                    num_layers=args.num_layers, cell=cell, dropout=args.dropout)
    task = CharLMTask(train_ids, val_ids, batch_size=args.batch_size, seq_len=args.seq_len, mode="random")
    budget = dict(max_steps=args.steps) if args.steps else dict(max_seconds=args.seconds)
    config = TrainConfig(lr=args.lr, **budget, eval_every=args.eval_every,
                         eval_batches=20, progress=args.progress, device=str(device), seed=args.seed)
    start = time.perf_counter()
    history = train(model, task, config)
    seconds = time.perf_counter() - start
    final = evaluate(model, task, max_batches=args.max_eval_batches)  # default: the whole held-out 10%
    return {"corpus": corpus, "cell": cell, "val_nats_per_char": round(final["val_loss"], 4),
            "val_bits_per_char": round(final["val_bpc"], 4), "steps": history.steps[-1] if history.steps else 0,
            "train_seconds": round(seconds, 1)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--seconds", type=float, default=150.0, help="training budget per run (wall clock)")
    parser.add_argument("--steps", type=int, default=None,
                        help="budget in optimizer steps instead of seconds: equal data for both cells, "
                             "and fair on a machine whose load changes")
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru"], choices=["rnn", "gru", "lstm"])
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-eval-batches", type=int, default=None,
                        help="evaluate on this many held-out batches only (default: all; for smoke tests)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    device = helpers.get_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:.0f} s"
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
