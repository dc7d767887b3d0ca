"""Throughput of character-LM training: helpers.train against the textbook per-time-step loop.

Both ways train the same CharRNN (same size, batch and sequence length) on Tiny Shakespeare:

a) ``helpers.train``: whole (batch, seq_len) blocks go through the recurrent layer in one call
   (cuDNN on a GPU, with mixed precision there);
b) the loop common in textbooks: the model is called once per character with its hidden state,
   and the loss is summed over the steps before one backward pass.

Run: ``python -m benchmarks.char_lm [--device cuda] [--steps 30]``. Prints characters per second
for each and their ratio; record the figures in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import torch.nn.functional as F

import helpers
from benchmarks.flags import DEVICE, Flag, add_flags, settings, train_config
from helpers.data import load_text
from helpers.models import CharRNN
from helpers.tasks import CharLMTask, split_text
from helpers.text import CharVocab
from helpers.train import TrainConfig, train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(args, device):
    text = load_text("tinyshakespeare")
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_text(vocab.encode(text), val_fraction=0.1)
    helpers.set_seed(0)
    model = CharRNN(len(vocab), **settings(args, CharRNN)).to(device)
    return model, train_ids, val_ids


def run_helpers_train(args, device) -> float:
    """Characters per second with helpers.train (a), timed between two steps (no evaluation inside)."""
    model, train_ids, val_ids = build(args, device)
    task = CharLMTask(train_ids, val_ids, **settings(args, CharLMTask), mode="stream")
    marks = {}

    def clock(step):
        if step in (args.warmup, args.warmup + args.steps):
            _sync(device)
            marks[step] = time.perf_counter()

    config = train_config(args, lr=2e-3, max_steps=args.warmup + args.steps, eval_every=None, eval_batches=1,
                          progress=False, device=str(device))
    train(model, task, config, callback=clock)
    seconds = marks[args.warmup + args.steps] - marks[args.warmup]
    return args.steps * args.batch_size * args.seq_len / seconds


def run_textbook_loop(args, device) -> float:
    """Characters per second with one model call per character, loss summed over steps (b)."""
    model, train_ids, _ = build(args, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    span = args.seq_len + 1

    def step():
        starts = torch.randint(0, len(train_ids) - span, (args.batch_size,), generator=gen)
        chunk = torch.stack([train_ids[s: s + span] for s in starts.tolist()]).to(device)
        x, y = chunk[:, :-1], chunk[:, 1:]
        hidden, loss = None, 0.0
        for t in range(args.seq_len):  # the per-time-step loop this benchmark measures
            logits, hidden = model(x[:, t: t + 1], hidden)
            loss = loss + F.cross_entropy(logits[:, 0], y[:, t])
        optimizer.zero_grad(set_to_none=True)
        (loss / args.seq_len).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    return args.steps * args.batch_size * args.seq_len / (time.perf_counter() - start)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, TrainConfig, device=DEVICE)
    add_flags(parser, CharRNN, cell=Flag("gru", choices=("rnn", "gru", "lstm")), embed_dim=64, hidden_size=512,
              num_layers=1)
    add_flags(parser, CharLMTask, batch_size=64, seq_len=128)
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per method")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (at least 1)")
    add_flags(parser, TrainConfig, amp=Flag(True, help="turn off mixed precision on CUDA"))
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    device = helpers.get_device(args.device)

    fast = run_helpers_train(args, device)
    slow = run_textbook_loop(args, device)
    result = {
        "device": hardware(device), "torch": torch.__version__, "cell": args.cell,
        "hidden_size": args.hidden_size, "batch_size": args.batch_size, "seq_len": args.seq_len,
        "steps": args.steps, "amp": bool(args.amp and device.type == "cuda"),
        "helpers_train_chars_per_s": round(fast), "per_step_loop_chars_per_s": round(slow),
        "ratio": round(fast / slow, 2), "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['device']}, torch {result['torch']}, {args.cell} hidden {args.hidden_size}, "
              f"batch {args.batch_size} x seq_len {args.seq_len}, {args.steps} timed steps")
        print(f"  helpers.train        {fast:12,.0f} chars/s")
        print(f"  per-time-step loop   {slow:12,.0f} chars/s")
        print(f"  ratio                {fast / slow:12.1f} x")
    return result


if __name__ == "__main__":
    main()
