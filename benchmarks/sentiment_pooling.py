"""IMDb validation accuracy of a biLSTM read out by its final states or by the maximum over time.

Lecture 05's pipeline (seeded 20,000/5,000 split of the official training set, ``helpers.text``
tokenizer, vocabulary from the training part, the last ``--max-len`` tokens, bucketed batches);
both readouts get the same model size, seed, learning rate and number of steps. The report is the
validation accuracy at each evaluation: which readout learns faster, on the validation split only
(the test split plays no part in choosing lecture 05's settings).

Run: ``python -m benchmarks.sentiment_pooling [--epochs 2] [--pools last max] [--device cuda]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import helpers
from benchmarks.flags import DEVICE, Flag, add_flags, settings, train_config
from helpers.imdb import encode_split, load_split
from helpers.models import SentimentRNN
from helpers.tasks import SentimentTask
from helpers.train import SCHEDULES, TrainConfig, evaluate, train


def make_task(args) -> tuple[SentimentTask, int]:
    """Lecture 05's data pipeline (``helpers.imdb``' split and encoding); returns the task and the vocabulary size."""
    data = load_split(args.n_train, args.n_val, n_test=0)  # the test split plays no part here
    vocab, seqs = encode_split(data, max_size=25_000, max_len=args.max_len)
    task = SentimentTask((seqs["train"], data["train"][1].tolist()), (seqs["val"], data["val"][1].tolist()),
                         batch_size=args.batch_size, bucket=True)
    return task, len(vocab)


def run(pool: str, task: SentimentTask, vocab_size: int, args, device) -> dict:
    helpers.set_seed(args.seed)
    model = SentimentRNN(vocab_size, **settings(args, SentimentRNN), pack=device.type == "cuda", pool=pool)
    config = train_config(args, eval_every=max(task.batches_per_epoch // 4, 1), device=str(device))
    start = time.perf_counter()
    history = train(model, task, config)
    final = evaluate(model, task)  # the kept weights again: History records no mistake counts
    return {"pool": pool, "best_val_acc": round(max(history.val_acc), 4), "best_step": history.best_step,
            "val_false_negatives": final["val_false_negatives"], "val_false_positives": final["val_false_positives"],
            "val_acc": [round(a, 4) for a in history.val_acc], "val_steps": history.val_steps,
            "val_loss": [round(v, 4) for v in history.val_loss],
            "final_val_acc": round(history.val_acc[-1], 4), "train_seconds": round(time.perf_counter() - start, 1)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, TrainConfig, device=DEVICE)
    parser.add_argument("--pools", nargs="+", default=["last", "max"], choices=["last", "max"])
    add_flags(parser, TrainConfig, epochs=2.0)
    add_flags(parser, load_split, n_train=Flag(None, help="use only this many training reviews (smoke tests)"),
              n_val=None)
    add_flags(parser, encode_split, max_len=400)
    add_flags(parser, SentimentRNN, embed_dim=64, hidden_size=128, dropout=0.3, embed_dropout=0.0)
    add_flags(parser, SentimentTask, batch_size=64)
    add_flags(parser, TrainConfig, lr=2e-3, weight_decay=0.01, lr_schedule=Flag("constant", choices=SCHEDULES),
              keep_best=Flag(False, help="end with the weights of the lowest validation loss"), seed=0, progress=False)
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error("--epochs must be positive")
    device = helpers.get_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    task, vocab_size = make_task(args)
    print(f"{name}, torch {torch.__version__}, {task}, biLSTM embed {args.embed_dim} hidden {args.hidden_size}, "
          f"{args.epochs} epochs, {args.lr_schedule} lr {args.lr}, weight decay {args.weight_decay}, dropout {args.dropout}, "
          f"embedding dropout {args.embed_dropout}, seed {args.seed}")
    results = []
    for pool in args.pools:
        result = run(pool, task, vocab_size, args, device)
        results.append(result)
        curve = ", ".join(f"{s}: {a:.3f}" for s, a in zip(result["val_steps"], result["val_acc"]))
        kept = f"weights of step {result['best_step']}" if result["best_step"] is not None else "last weights"
        print(f"  pool={pool:4s} validation accuracy by step {curve} ({result['train_seconds']} s); with the {kept}: "
              f"{result['val_false_negatives']} positive reviews called negative, "
              f"{result['val_false_positives']} negative called positive", flush=True)
    print(json.dumps({"device": name, "epochs": args.epochs, "results": results}))
    return results


if __name__ == "__main__":
    main()
