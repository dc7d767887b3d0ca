"""Lecture 09's speed and quality figures, at any size and over several seeds.

Four parts, each printing a table (or one JSON line with ``--json``):

- ``scan``: forward + backward time of the Python loop, the Hillis-Steele and Blelloch scans and ``nn.GRU``
  against the sequence length, and loop / scan against the size of the state (target: scan >= 5x at 4,096 steps).
- ``lm``: GRU, minGRU, minLSTM and lecture 08's Transformer on Tiny Shakespeare at an equal wall-clock budget:
  steps per second measured side by side, then ``base_steps`` GRU steps' worth of time for every model; held-out
  nats/char on the whole validation text, per seed, and minGRU - GRU paired by seed (target: within 0.05).
- ``copy``: selective copying with a time-invariant (S4D) and a selective SSM (target: selective >= 0.95 while S4D
  stays far below).
- ``inference``: bytes held and milliseconds per generated token against the context length.

Run: ``python -m benchmarks.linear_rnn scan|lm|copy|inference [--device cuda] [--seeds 0 1 2] ...``
(``--help`` lists each part's options). Record the figures in benchmarks/README.md with the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics

import torch
import torch.nn as nn

import helpers
from helpers.data import load_text
from helpers.inference import cached_step, prefill, state_nbytes, time_per_token
from helpers.linear_rnn import MinRNNLM, blelloch_scan, hillis_steele_scan, scan_loop
from helpers.models import CharRNN, count_parameters
from helpers.ssm import SelectiveCopyTask, SSMModel
from helpers.tasks import CharLMTask, split_text
from helpers.text import CharVocab
from helpers.timing import best_of, train_step_rates
from helpers.train import TrainConfig, evaluate, train
from helpers.transformer import CharTransformer

LM_LR = {"GRU": 3e-3, "minGRU": 3e-3, "minLSTM": 3e-3, "Transformer": 2e-3}


def machine(device) -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads")
    return {"device": name, "torch": torch.__version__, "load_avg": [round(x, 1) for x in load] if load else None}


def _inputs(batch, T, channels, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.sigmoid(torch.randn(batch, T, channels, generator=g))
    return (1 - z).to(device), (z * torch.randn(batch, T, channels, generator=g)).to(device)


def _train_pass(fn, a, b):
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    return lambda: fn(a, b).sum().backward()


def run_scan(args, device) -> dict:
    """Milliseconds per forward + backward against the length; loop / Blelloch against the state size."""
    methods = {"loop": scan_loop, "hillis_steele": hillis_steele_scan, "blelloch": blelloch_scan}
    gru = nn.GRU(args.channels, args.channels, batch_first=True).to(device)
    rows = []
    for T in args.lengths:
        a, b = _inputs(args.batch, T, args.channels, device)
        row = {"T": T, **{name: 1e3 * best_of(_train_pass(fn, a, b), device=device) for name, fn in methods.items()}}
        x = torch.randn(args.batch, T, args.channels, device=device)
        row["nn_gru"] = 1e3 * best_of(lambda: gru(x)[0].sum().backward(), device=device)
        row["loop_over_blelloch"] = row["loop"] / row["blelloch"]
        rows.append(row)
    sizes = []
    for size in args.sizes:
        batch, channels = (int(v) for v in size.split("x"))
        a, b = _inputs(batch, args.size_length, channels, device)
        loop, scan = (1e3 * best_of(_train_pass(fn, a, b), device=device) for fn in (scan_loop, blelloch_scan))
        sizes.append({"batch": batch, "channels": channels, "loop": loop, "blelloch": scan, "ratio": loop / scan})
    return {"batch": args.batch, "channels": args.channels, "by_length": rows, "size_length": args.size_length,
            "by_size": sizes}


def build_lm_models(vocab_size: int, seed: int) -> dict:
    """Lecture 09 §2.3's four models (the GRU at lecture 06's CPU size, lecture 08's Transformer), seeded alike."""
    makers = {
        "GRU": lambda: CharRNN(vocab_size, embed_dim=48, hidden_size=256, num_layers=1, cell="gru", dropout=0.2),
        "minGRU": lambda: MinRNNLM(vocab_size, n_embd=96, num_layers=3, cell="mingru", dropout=0.2, mode="scan"),
        "minLSTM": lambda: MinRNNLM(vocab_size, n_embd=96, num_layers=3, cell="minlstm", dropout=0.2, mode="scan"),
        "Transformer": lambda: CharTransformer(vocab_size, block_size=128, n_layer=3, n_head=4, n_embd=96, dropout=0.2),
    }
    models = {}
    for name, make in makers.items():
        helpers.set_seed(seed)
        models[name] = make()
    return models


def run_lm(args, device) -> dict:
    text = load_text("tinyshakespeare")
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_text(vocab.encode(text), val_fraction=0.1)
    task = CharLMTask(train_ids, val_ids, batch_size=args.batch_size, seq_len=args.seq_len, mode="stream")
    runs = []
    for seed in args.seeds:
        models = {k: v for k, v in build_lm_models(len(vocab), seed).items() if k in args.models}
        rates = train_step_rates(models, task, lr=LM_LR, rounds=args.rate_rounds, steps=5, device=device)
        reference = rates.get("GRU", next(iter(rates.values())))
        for name, model in models.items():
            steps = max(1, round(args.base_steps * rates[name] / reference))
            config = TrainConfig(lr=LM_LR[name], lr_schedule="cosine", max_steps=steps, eval_every=250,
                                 eval_batches=40, keep_best=True, seed=seed, device=device, progress=False)
            history = train(model, task, config)
            runs.append({"seed": seed, "model": name, "parameters": count_parameters(model),
                         "steps_per_s": round(rates[name], 3), "steps": steps,
                         "train_seconds": round(history.final()["seconds"], 1),
                         "val_nats_per_char": round(evaluate(model, task, args.eval_batches)["val_loss"], 4)})
            print(json.dumps(runs[-1]), flush=True)
    return {"base_steps": args.base_steps, "batch_size": args.batch_size, "seq_len": args.seq_len, "runs": runs,
            "summary": summarise_lm(runs)}


def summarise_lm(runs: list) -> dict:
    """Mean and spread per model, and each model minus the GRU paired by seed."""
    out = {}
    by_model = {}
    for r in runs:
        by_model.setdefault(r["model"], {})[r["seed"]] = r["val_nats_per_char"]
    for name, by_seed in by_model.items():
        values = list(by_seed.values())
        out[name] = {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else None}
        if name != "GRU" and "GRU" in by_model:
            diffs = [v - by_model["GRU"][s] for s, v in by_seed.items() if s in by_model["GRU"]]
            if diffs:
                out[name]["minus_gru"] = {"mean": statistics.mean(diffs), "min": min(diffs), "max": max(diffs)}
    return out


def run_copy(args, device) -> dict:
    task = SelectiveCopyTask(seq_len=args.copy_len, n_memorize=args.n_memorize, n_symbols=args.n_symbols,
                             batch_size=args.copy_batch_size)
    runs = []
    for seed in args.seeds:
        for mixer in args.mixers:
            helpers.set_seed(seed)
            model = SSMModel(task.vocab_size, d_model=args.d_model, n_layer=args.n_layer, mixer=mixer,
                             d_state=args.d_state, gated=not args.no_gate, d_conv=args.d_conv)
            config = TrainConfig(lr=args.lr, lr_schedule="cosine", max_steps=args.steps, eval_every=250, seed=seed,
                                 device=device, progress=False)
            history = train(model, task, config)
            runs.append({"seed": seed, "mixer": mixer, "parameters": count_parameters(model), "steps": args.steps,
                         "train_seconds": round(history.final()["seconds"], 1),
                         "val_acc": round(evaluate(model, task)["val_acc"], 4),
                         "val_acc_curve": [round(a, 3) for a in history.val_acc]})
            print(json.dumps(runs[-1]), flush=True)
    return {"task": repr(task), "chance": 1 / args.n_symbols, "runs": runs}


def run_inference(args, device) -> dict:
    """Bytes between tokens and milliseconds per token, one sequence on ``device``, untrained models of §2's sizes."""
    helpers.set_seed(0)
    V = 65
    models = {"GRU": CharRNN(V, embed_dim=48, hidden_size=256, cell="gru").eval(),
              "minGRU": MinRNNLM(V, n_embd=96, num_layers=3, mode="scan").eval(),
              "selective SSM": SSMModel(V, d_model=96, n_layer=3, mixer="selective", d_state=16).eval(),
              "Transformer": CharTransformer(V, block_size=max(args.contexts) + 64, n_layer=3, n_head=4,
                                             n_embd=96).eval()}
    models = {name: model.to(device) for name, model in models.items()}
    steps = {"GRU": lambda m: (lambda tok, h: m(tok[None], h)),
             "minGRU": lambda m: (lambda tok, h: m(tok[None], h, mode="sequential")),
             "selective SSM": lambda m: (lambda tok, s: m(tok[None], s, mode="recurrent")),
             "Transformer": lambda m: (lambda tok, c: (cached_step(m, tok, c), c))}
    rows = []
    for t in args.contexts:
        ids = torch.randint(0, V, (1, t), device=device)
        row = {"context": t}
        for name, model in models.items():
            with torch.no_grad():
                state = prefill(model, ids, t + 32)[1] if name == "Transformer" else model(ids)[1]
            row[name] = {"bytes": state_nbytes(state),
                         "ms_per_token": 1e3 * time_per_token(steps[name](model), state, args.tokens, V, device)}
        rows.append(row)
    return {"rows": rows}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["scan", "lm", "copy", "inference"])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: helpers.get_device())")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    scan = parser.add_argument_group("scan")
    scan.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096, 8192])
    scan.add_argument("--batch", type=int, default=4)
    scan.add_argument("--channels", type=int, default=32)
    scan.add_argument("--sizes", nargs="*", default=["1x16", "4x32", "16x64", "32x128"], help="batch x channels")
    scan.add_argument("--size-length", type=int, default=4096, help="sequence length of the state-size sweep")
    lm = parser.add_argument_group("lm")
    lm.add_argument("--models", nargs="+", default=list(LM_LR), choices=list(LM_LR))
    lm.add_argument("--base-steps", type=int, default=1500, help="GRU steps; the others get the same time")
    lm.add_argument("--batch-size", type=int, default=32)
    lm.add_argument("--seq-len", type=int, default=128)
    lm.add_argument("--rate-rounds", type=int, default=3, help="rounds of the side-by-side speed measurement")
    lm.add_argument("--eval-batches", type=int, default=None, help="held-out batches scored (default: all)")
    cp = parser.add_argument_group("copy")
    cp.add_argument("--mixers", nargs="+", default=["s4d", "selective"], choices=["s4d", "selective"])
    cp.add_argument("--steps", type=int, default=1000)
    cp.add_argument("--lr", type=float, default=1e-2)
    cp.add_argument("--copy-len", type=int, default=64, help="positions before the recall markers")
    cp.add_argument("--copy-batch-size", type=int, default=64)
    cp.add_argument("--n-memorize", type=int, default=4)
    cp.add_argument("--n-symbols", type=int, default=8)
    cp.add_argument("--d-model", type=int, default=32)
    cp.add_argument("--n-layer", type=int, default=1)
    cp.add_argument("--d-state", type=int, default=16)
    cp.add_argument("--no-gate", action="store_true", help="blocks without the multiplicative gate (lecture 09 §4.4)")
    cp.add_argument("--d-conv", type=int, default=4, help="Mamba's short causal convolution before the SSM (0: none)")
    inf = parser.add_argument_group("inference")
    inf.add_argument("--contexts", type=int, nargs="+", default=[128, 512, 2048, 8192])
    inf.add_argument("--tokens", type=int, default=20, help="tokens timed per context (median)")
    args = parser.parse_args(argv)
    for name in ("base_steps", "steps", "batch_size", "tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    device = helpers.get_device(args.device)
    result = {"part": args.part, **machine(device),
              **{"scan": run_scan, "lm": run_lm, "copy": run_copy, "inference": run_inference}[args.part](args, device)}
    result["load_avg_after"] = machine(device)["load_avg"]
    print(json.dumps(result) if args.json else _table(result))
    return result


def _table(r: dict) -> str:
    head = f"{r['device']}, torch {r['torch']}, load average before {r['load_avg']} after {r['load_avg_after']}"
    lines = [head]
    if r["part"] == "scan":
        lines.append(f"forward + backward, batch {r['batch']} x {r['channels']} channels, ms:")
        lines += [f"  T={x['T']:6}: loop {x['loop']:9.2f}  Hillis-Steele {x['hillis_steele']:9.2f}  Blelloch "
                  f"{x['blelloch']:8.2f}  nn.GRU {x['nn_gru']:9.2f}  loop/Blelloch {x['loop_over_blelloch']:6.1f}x"
                  for x in r["by_length"]]
        lines += [f"  T={r['size_length']}, batch {x['batch']} x {x['channels']}: loop {x['loop']:9.2f} ms, Blelloch "
                  f"{x['blelloch']:9.2f} ms, {x['ratio']:6.1f}x" for x in r["by_size"]]
    elif r["part"] == "lm":
        lines += [f"  seed {x['seed']} {x['model']:12} {x['parameters']:9,} params {x['steps_per_s']:6.2f} steps/s "
                  f"{x['steps']:6} steps {x['train_seconds']:7.0f} s  held-out {x['val_nats_per_char']:.4f}"
                  for x in r["runs"]]
        lines += [f"  {name:12} mean {s['mean']:.4f}" + (f" sd {s['sd']:.4f}" if s["sd"] is not None else "") +
                  (f"  minus GRU {s['minus_gru']['mean']:+.4f} (seeds {s['minus_gru']['min']:+.4f} .. "
                   f"{s['minus_gru']['max']:+.4f})" if "minus_gru" in s else "") for name, s in r["summary"].items()]
    elif r["part"] == "copy":
        lines.append(f"{r['task']}, chance {r['chance']:.3f}")
        lines += [f"  seed {x['seed']} {x['mixer']:9} {x['parameters']:7,} params {x['steps']} steps "
                  f"{x['train_seconds']:7.0f} s  accuracy {x['val_acc']:.4f}" for x in r["runs"]]
    else:
        for row in r["rows"]:
            lines.append(f"  context {row['context']:6}: " + "  ".join(
                f"{n} {v['bytes']:,} B {v['ms_per_token']:.2f} ms" for n, v in row.items() if n != "context"))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
