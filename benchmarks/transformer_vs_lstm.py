"""Lecture 08's comparison at any budget: lecture 06's LSTM against a small causal Transformer on Tiny Shakespeare.

Both train on the same split (the last 10% held out) with the same ``CharLMTask`` (contiguous streams),
batch size, sequence length and budget (seconds and/or steps); then the held-out loss on the whole
validation text, parameters and characters per second, and optionally the time of one training step
against the sequence length.

Run: ``python -m benchmarks.transformer_vs_lstm [--seconds 200] [--steps 6000] [--device cuda]
[--n-layer 3 --n-head 4 --n-embd 96] [--lengths 64 128 256]``. Record the figures in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F

import helpers
from helpers.data import load_text
from helpers.models import CharRNN, count_parameters
from helpers.tasks import CharLMTask, split_text
from helpers.text import CharVocab
from helpers.train import TrainConfig, evaluate, train
from helpers.transformer import CharTransformer


def build_models(args, vocab_size: int, block_size: int) -> dict:
    """Lecture 06's CPU LSTM and a Transformer of the asked size, each seeded the same."""
    helpers.set_seed(0)
    lstm = CharRNN(vocab_size, embed_dim=48, hidden_size=256, num_layers=1, cell="lstm", dropout=args.dropout)
    helpers.set_seed(0)
    transformer = CharTransformer(vocab_size, block_size=block_size, n_layer=args.n_layer, n_head=args.n_head,
                                  n_embd=args.n_embd, dropout=args.dropout)
    return {"LSTM": lstm, "Transformer": transformer}


def step_seconds(model, vocab_size: int, T: int, device, repeats: int = 3) -> float:
    """Fastest of ``repeats`` forward+backward passes on 8 random sequences of length ``T`` (after a warm-up)."""
    x = torch.randint(0, vocab_size, (8, T + 1), device=device)
    best = math.inf
    for _ in range(repeats + 1):
        start = time.perf_counter()
        logits, _ = model(x[:, :-1])
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1)).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: helpers.get_device())")
    parser.add_argument("--seconds", type=float, default=200.0, help="training budget per model (0: none)")
    parser.add_argument("--steps", type=int, default=6000, help="step budget per model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=3)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=96)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lengths", type=int, nargs="*", default=[], help="also time one step at these lengths")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args(argv)
    device = helpers.get_device(args.device)
    text = load_text("tinyshakespeare")
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_text(vocab.encode(text), val_fraction=0.1)
    task = CharLMTask(train_ids, val_ids, batch_size=args.batch_size, seq_len=args.seq_len, mode="stream")
    lr = {"LSTM": 3e-3, "Transformer": 2e-3}
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else
              f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "budget_seconds": args.seconds or None, "budget_steps": args.steps,
              "batch_size": args.batch_size, "seq_len": args.seq_len, "models": {}}
    models = build_models(args, len(vocab), block_size=max([args.seq_len] + args.lengths))
    for name, model in models.items():
        config = TrainConfig(lr=lr[name], lr_schedule="cosine", max_steps=args.steps, max_seconds=args.seconds or None,
                             eval_every=250, eval_batches=40, keep_best=True, seed=0, device=device, progress=False)
        history = train(model, task, config)
        final = history.final()
        held_out = evaluate(model, task)["val_loss"]  # the whole validation text
        result["models"][name] = {
            "parameters": count_parameters(model), "steps": final["steps"], "seconds": round(final["seconds"], 1),
            "chars_per_s": round(final["tokens_per_second"]), "val_nats_per_char": round(held_out, 4),
            "step_seconds_by_length": {T: round(step_seconds(model, len(vocab), T, device), 4) for T in args.lengths}}
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{result['device']}, torch {result['torch']}, batch {args.batch_size} x seq_len {args.seq_len}, "
          f"budget {args.seconds or 'no'} s / {args.steps} steps per model")
    for name, r in result["models"].items():
        print(f"  {name:12} {r['parameters']:10,} params {r['steps']:6} steps {r['seconds']:7.0f} s "
              f"{r['chars_per_s']:9,} chars/s  held-out {r['val_nats_per_char']:.3f} nats/char")
        for T, s in r["step_seconds_by_length"].items():
            print(f"      T={T:5}: {1e3 * s:8.1f} ms per step of 8 sequences")
    return result


if __name__ == "__main__":
    main()
