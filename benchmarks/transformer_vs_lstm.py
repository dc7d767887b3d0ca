"""Lecture 08's comparison at any budget: lecture 06's LSTM against a small causal Transformer on Tiny Shakespeare.

Both get the same of everything, as in the lecture: the same split (the last 10% held out), ``CharLMTask``
(contiguous streams), batch size, sequence length and budget (seconds and/or steps) per trial; the same learning
rates to try (``--lrs``); the first half of the held-out text chooses each model's rate, the second half reports.
Scores use a sliding window (``helpers.transformer.sliding_window_loss``), so both models predict every character
from the same preceding characters; the LSTM with its state carried through the text is reported too. The
Transformer's head is tied to its token embedding, as nanoGPT's is. Optionally, the time of one training step
against the sequence length.

Run: ``python -m benchmarks.transformer_vs_lstm [--seconds 150] [--steps 6000] [--lrs 1e-3 3e-3] [--device cuda]
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
from benchmarks.flags import DEVICE, Flag, add_flags, settings, train_config
from helpers.data import load_text
from helpers.models import CharRNN, count_parameters
from helpers.tasks import CharLMTask, split_text
from helpers.text import CharVocab
from helpers.train import TrainConfig, evaluate, train
from helpers.transformer import CharTransformer, sliding_window_loss


def build_model(name: str, args, vocab_size: int, block_size: int):
    """Lecture 06's CPU LSTM or a Transformer of the asked size (tied head), seeded the same."""
    helpers.set_seed(0)
    if name == "LSTM":
        return CharRNN(vocab_size, embed_dim=48, hidden_size=256, num_layers=1, cell="lstm", dropout=args.dropout)
    return CharTransformer(vocab_size, block_size=block_size, **settings(args, CharTransformer), tie_weights=True)


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
    add_flags(parser, TrainConfig, device=DEVICE, eval_batches=Flag(20, help="validation batches while training"),
              max_seconds=Flag(150.0, "seconds", "training budget per trial (0: none)"),
              max_steps=Flag(6000, "steps", "step budget per trial"))
    add_flags(parser, CharLMTask, batch_size=32, seq_len=128)
    add_flags(parser, CharTransformer, n_layer=3, n_head=4, n_embd=96, dropout=0.2)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3], help="learning rates each model tries")
    parser.add_argument("--lengths", type=int, nargs="*", default=[], help="also time one step at these lengths")
    parser.add_argument("--val-chars", type=int, default=0,
                        help="score only the first N held-out characters (0: all of them; a smoke test's few)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args(argv)
    device = helpers.get_device(args.device)
    text = load_text("tinyshakespeare")
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_text(vocab.encode(text), val_fraction=0.1)
    val_ids = val_ids[:args.val_chars or None]
    choose_ids, report_ids = val_ids[: len(val_ids) // 2], val_ids[len(val_ids) // 2:]
    task = CharLMTask(train_ids, choose_ids, batch_size=args.batch_size, seq_len=args.seq_len, mode="stream")
    context, stride = args.seq_len, max(1, args.seq_len // 2)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else
              f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "budget_seconds": args.max_seconds or None, "budget_steps": args.max_steps,
              "batch_size": args.batch_size, "seq_len": args.seq_len, "lrs": args.lrs, "models": {}}
    block_size = max([args.seq_len] + args.lengths)
    for name in ("LSTM", "Transformer"):
        trials = []
        for lr in args.lrs:
            model = build_model(name, args, len(vocab), block_size)
            config = train_config(args, lr=lr, lr_schedule="cosine", max_seconds=args.max_seconds or None,
                                  eval_every=250, keep_best=True, seed=0, device=device, progress=False)
            history = train(model, task, config)
            trials.append(dict(lr=lr, model=model, history=history,
                               choose=sliding_window_loss(model, choose_ids, context, stride)))
        best = min(trials, key=lambda t: t["choose"])
        model, final = best["model"], best["history"].final()
        result["models"][name] = {
            "parameters": count_parameters(model), "lr": best["lr"], "steps": final["steps"],
            "seconds": round(final["seconds"], 1), "chars_per_s": round(final["tokens_per_second"]),
            "trials": {f"{t['lr']:g}": round(t["choose"], 4) for t in trials},
            "report_same_context": round(sliding_window_loss(model, report_ids, context, stride), 4),
            "report_own_way": round(evaluate(model, CharLMTask(train_ids, report_ids, batch_size=args.batch_size,
                                                               seq_len=args.seq_len))["val_loss"], 4),
            "step_seconds_by_length": {T: round(step_seconds(model, len(vocab), T, device), 4) for T in args.lengths}}
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{result['device']}, torch {result['torch']}, batch {args.batch_size} x seq_len {args.seq_len}, "
          f"budget {args.max_seconds or 'no'} s / {args.max_steps} steps per trial, learning rates {args.lrs}")
    for name, r in result["models"].items():
        print(f"  {name:12} {r['parameters']:10,} params, lr {r['lr']:g}, {r['steps']:6} steps {r['seconds']:7.0f} s "
              f"{r['chars_per_s']:9,} chars/s; report half: same context {r['report_same_context']:.3f}, "
              f"its own way {r['report_own_way']:.3f} nats/char (choose half by lr: {r['trials']})")
        for T, s in r["step_seconds_by_length"].items():
            print(f"      T={T:5}: {1e3 * s:8.1f} ms per step of 8 sequences")
    return result


if __name__ == "__main__":
    main()
