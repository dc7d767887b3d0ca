"""Lecture 07's one-week-ahead CO2 forecasters over several seeds: is a network's edge over least squares real?

Lecture 07's pipeline: weekly Mauna Loa CO2, targets in the first 70% of the weeks train, the next 15% validate,
the last 15% test; 52-week windows relative to their last value. The least-squares linear model is deterministic;
each network is trained once per ``--seeds`` entry with the lecture's full-mode settings and reports validation and
test MAE (ppm), then mean and spread over the seeds.

Run: ``python -m benchmarks.forecasting [--models gru bigru cnn] [--seeds 0 1 2] [--epochs 60]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import helpers
from benchmarks.flags import add_flags, train_config
from helpers.forecasting import CNNForecaster, CNNGRUForecaster, ForecastTask, RNNForecaster, load_co2
from helpers.train import TrainConfig, train

MODELS = {
    "gru": lambda size: RNNForecaster("gru", size),
    "lstm": lambda size: RNNForecaster("lstm", size),
    "stacked": lambda size: RNNForecaster("gru", size, num_layers=2, dropout=0.2),
    "bigru": lambda size: RNNForecaster("gru", size, bidirectional=True),
    "cnn": lambda size: CNNForecaster(size),
    "cnn-gru": lambda size: CNNGRUForecaster(size, hidden_size=size),
}


def least_squares(task: ForecastTask) -> dict:
    """Validation and test MAE of the linear model on the same relative windows, solved in closed form."""
    def design(X):
        return torch.cat([X[:, :-1] - X[:, -1:], torch.ones(len(X), 1)], dim=1).double()

    X, Y = task.windows("train")
    W = torch.linalg.lstsq(design(X), (Y - X[:, -1:]).double()).solution
    return {f"{part}_mae": float(((design(Xp) @ W).float() + Xp[:, -1:] - Yp).abs().mean())
            for part, (Xp, Yp) in (("val", task.windows("val")), ("test", task.windows("test")))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gru", "bigru", "cnn"], choices=sorted(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    add_flags(parser, TrainConfig, epochs=60, lr=3e-3, device="cpu")
    parser.add_argument("--size", type=int, default=32, help="hidden_size and channels")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    series = load_co2()
    task = ForecastTask(series, int(0.70 * len(series)), int(0.85 * len(series)), window=52, batch_size=64)
    results = {"linear (least squares)": least_squares(task)}
    print(f"{'linear (least squares)':24} val {results['linear (least squares)']['val_mae']:.3f}  "
          f"test {results['linear (least squares)']['test_mae']:.3f} ppm")
    for name in args.models:
        runs = []
        for seed in args.seeds:
            helpers.set_seed(seed)  # the seed decides the initial weights too, not only dropout and batch order
            model = MODELS[name](args.size)
            start = time.perf_counter()
            train(model, task, train_config(args, lr_schedule="cosine", keep_best=True,
                                            eval_every=5 * task.batches_per_epoch, seed=seed, progress=False))
            runs.append(dict(seed=seed, seconds=time.perf_counter() - start,
                             **{f"{p}_mae": float((task.predict(model, X) - Y).abs().mean())
                                for p, (X, Y) in (("val", task.windows("val")), ("test", task.windows("test")))}))
            print(f"{name:24} seed {seed}: val {runs[-1]['val_mae']:.3f}  test {runs[-1]['test_mae']:.3f} ppm "
                  f"({runs[-1]['seconds']:.0f} s)", flush=True)
        summary = {}
        for key in ("val_mae", "test_mae"):
            values = torch.tensor([r[key] for r in runs])
            summary[key] = float(values.mean())
            summary[key + "_std"] = float(values.std()) if len(values) > 1 else 0.0
        results[name] = dict(runs=runs, **summary)
        print(f"{name:24} mean over {len(runs)} seeds: val {summary['val_mae']:.3f} ± {summary['val_mae_std']:.3f}  "
              f"test {summary['test_mae']:.3f} ± {summary['test_mae_std']:.3f} ppm")
    print(json.dumps({k: {m: v for m, v in r.items() if m != "runs"} for k, r in results.items()}))
    return results


if __name__ == "__main__":
    main()
