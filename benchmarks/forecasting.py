"""Lecture 07's one-week-ahead CO2 forecasters, each tuned by the lecture's protocol, over several seeds.

Lecture 07's pipeline: weekly Mauna Loa CO2, targets in the first 70% of the weeks train, the next 15% validate,
the last 15% test; windows relative to their last value. The protocol (``helpers.forecasting.tune``): every model
tries every window of ``--windows`` (networks also every learning rate of ``--lrs``), each trial fitted on the
training part only; the trial with the lowest validation MAE is the model, and only it is scored on test. The
least-squares linear model is deterministic; each network family is tuned once per ``--seeds`` entry (the seed draws
the initial weights and the batch order), then mean and spread of its chosen trials over the seeds.

Each chosen model is also compared with the linear one week by week on the test weeks: the mean difference of their
absolute errors and its 95% moving-block bootstrap interval (blocks of 26 weeks), as lecture 07 does.

Run: ``python -m benchmarks.forecasting [--models gru lstm bigru cnn] [--seeds 0 1 2] [--epochs 30]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import helpers
from benchmarks.flags import add_flags, train_config
from helpers.forecasting import (CNNForecaster, CNNGRUForecaster, ForecastTask, RNNForecaster, block_bootstrap_ci,
                                 doubling_dilations, least_squares_forecaster, load_co2, tune)
from helpers.train import TrainConfig, train

MODELS = {  # name -> (window, size) -> model
    "gru": lambda window, size: RNNForecaster("gru", size),
    "lstm": lambda window, size: RNNForecaster("lstm", size),
    "stacked": lambda window, size: RNNForecaster("gru", size, num_layers=2, dropout=0.2),
    "recdrop": lambda window, size: RNNForecaster("gru", size, recurrent_dropout=0.2),
    "bigru": lambda window, size: RNNForecaster("gru", size, bidirectional=True),
    "cnn": lambda window, size: CNNForecaster(size, dilations=doubling_dilations(window)),
    "cnn-gru": lambda window, size: CNNGRUForecaster(size, hidden_size=size),
}


def mae(task: ForecastTask, predict, part: str) -> float:
    X, Y = task.windows(part)
    return float((predict(X) - Y).abs().mean())


def test_errors(task: ForecastTask, predict) -> torch.Tensor:
    """Absolute one-week-ahead errors on the test weeks (the same weeks for every window length)."""
    X, Y = task.windows("test")
    return (predict(X) - Y).abs()[:, 0]


def tune_linear(series, train_end: int, val_end: int, windows) -> dict:
    """The closed-form linear model tuned over the windows: its trials, the chosen window, validation and test MAE."""
    def fit_one(window):
        task = ForecastTask(series, train_end, val_end, window=window)
        forecast = least_squares_forecaster(*task.windows("train"))
        return mae(task, forecast, "val"), (task, forecast)

    setting, (task, forecast), trials = tune(fit_one, [dict(window=w) for w in windows])
    return dict(setting=setting, trials=trials, val_mae=mae(task, forecast, "val"), test_mae=mae(task, forecast, "test"),
                errors=test_errors(task, forecast))


def tune_network(name: str, series, train_end: int, val_end: int, args, seed: int, linear_errors) -> dict:
    """One network family tuned over windows x learning rates at one seed, and its paired difference from linear."""
    def fit_one(window, lr):
        task = ForecastTask(series, train_end, val_end, window=window, batch_size=64)
        helpers.set_seed(seed)  # the seed decides the initial weights too, not only the batch order
        model = MODELS[name](window, args.size)
        train(model, task, train_config(args, lr=lr, lr_schedule="cosine", keep_best=True,
                                        eval_every=max(1, round(args.epochs / 10)) * task.batches_per_epoch,
                                        seed=seed, progress=False))
        predict = lambda X: task.predict(model, X)
        return mae(task, predict, "val"), (task, predict)

    start = time.perf_counter()
    grid = [dict(window=w, lr=lr) for w in args.windows for lr in args.lrs]
    setting, (task, predict), trials = tune(fit_one, grid)
    d = (test_errors(task, predict) - linear_errors).numpy()  # week by week, on the same test weeks
    return dict(seed=seed, setting=setting, trials=trials, seconds=time.perf_counter() - start,
                val_mae=mae(task, predict, "val"), test_mae=mae(task, predict, "test"),
                minus_linear=float(d.mean()), minus_linear_ci95=block_bootstrap_ci(d))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gru", "lstm", "bigru", "cnn"], choices=sorted(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--windows", nargs="+", type=int, default=[26, 52, 104])
    parser.add_argument("--lrs", nargs="+", type=float, default=[3e-3, 1e-2], help="learning rates tried")
    add_flags(parser, TrainConfig, epochs=30.0, device="cpu")
    parser.add_argument("--size", type=int, default=32, help="hidden_size and channels")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    series = load_co2()
    train_end, val_end = int(0.70 * len(series)), int(0.85 * len(series))
    linear = tune_linear(series, train_end, val_end, args.windows)
    linear_errors = linear.pop("errors")
    results = {"linear (least squares)": linear}
    print(f"{'linear (least squares)':24} window {linear['setting']['window']:4}: val {linear['val_mae']:.3f}  "
          f"test {linear['test_mae']:.3f} ppm", flush=True)
    for name in args.models:
        runs = []
        for seed in args.seeds:
            runs.append(tune_network(name, series, train_end, val_end, args, seed, linear_errors))
            r = runs[-1]
            lo, hi = r["minus_linear_ci95"]
            print(f"{name:24} seed {seed}: window {r['setting']['window']:4}, lr {r['setting']['lr']:g}: "
                  f"val {r['val_mae']:.3f}  test {r['test_mae']:.3f} ppm, minus linear {r['minus_linear']:+.3f} "
                  f"[{lo:+.3f}, {hi:+.3f}] ({r['seconds']:.0f} s for {len(r['trials'])} trials)", flush=True)
        summary = {}
        for key in ("val_mae", "test_mae"):
            values = torch.tensor([r[key] for r in runs])
            summary[key] = float(values.mean())
            summary[key + "_std"] = float(values.std()) if len(values) > 1 else 0.0
        results[name] = dict(runs=runs, **summary)
        print(f"{name:24} mean over {len(runs)} seeds: val {summary['val_mae']:.3f} ± {summary['val_mae_std']:.3f}  "
              f"test {summary['test_mae']:.3f} ± {summary['test_mae_std']:.3f} ppm", flush=True)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
