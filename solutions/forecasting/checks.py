"""The forecasting lab's hidden checks (grading.spec): run by the grader's judge, never released.

Parts B, C and D ask the student's kernel to compute on inputs drawn per submission (random series of
random lengths, horizons and splits) and judge the answers here against the instructor's own code.
Part E reads the submitted checkpoint: the judge rebuilds the model with the course's class
(helpers.forecasting), measures it on the validation and test months of the Niño 1+2 series, and
compares it with its own baselines. Each part uses its own inputs, so one part's mistake costs
nothing in another.

What this lab cannot detect (say so to colleagues; a person reading the notebook is the answer):
- Weights tuned on the validation or test months. The series ships with statsmodels, so every month is on
  the student's disk. A checkpoint whose stored validation loss its own weights contradict is flagged
  (re-measured here); weights trained on the test months alone, with an honest history of the training
  run before that, are not.
- Settings chosen by looking at the test MAE (the notebook measures it once, but nothing stops a loop).
- Part A's choice is graded by hand: DIFFERENCE only changes ForecastTask's encoding, and either value
  can beat the baselines.
- The best baseline here is naive (seasonal-naive with drift is worse on this series); a model that beats
  it may still not beat a linear autoregression. Part G asks about that, by hand.
"""
from __future__ import annotations

import math

from grading.spec import (
    Check, Fail, Raised, checkpoint_folder, close, expect, handed_in, load_checkpoint, tensor, value)

PERIOD = 12
BASE_WINDOW = 2 * PERIOD  # the judge's baselines read two seasons, whatever the student's window
MODELS = ("RNNForecaster", "CNNForecaster", "CNNGRUForecaster")


# --- Part B: walk_forward ----------------------------------------------------------------------------------------

def _reference_walk(n, window, horizon, folds, test_size):
    out = []
    for k in range(folds):
        cut = n - (folds - k) * test_size
        out.append((list(range(window, cut - horizon + 1)), list(range(cut, cut + test_size - horizon + 1))))
    return out


def draw_walk(ctx):
    r = ctx.random
    cases, horizons = [], [r.randrange(2, 6), r.randrange(6, 25), 1]  # always some multi-step folds
    while len(cases) < 8:
        horizon = horizons[len(cases)] if len(cases) < len(horizons) else r.choice([1, r.randrange(2, 6), r.randrange(6, 25)])
        case = {"n": r.randrange(60, 1500), "window": r.randrange(2, 60), "horizon": horizon,
                "folds": r.randrange(2, 7), "test_size": r.randrange(horizon, horizon + 60)}
        if case["n"] - case["folds"] * case["test_size"] >= case["window"] + case["horizon"] + 1:
            cases.append(case)
    n = r.randrange(100, 400)
    bad = [{"n": n, "window": 5, "horizon": 8, "folds": 3, "test_size": 7},  # test_size < horizon
           {"n": n, "window": n // 3, "horizon": 2, "folds": 4, "test_size": n // 5},  # no training example
           {"n": n, "window": 5, "horizon": 1, "folds": 0, "test_size": 10}]
    return {"cases": cases, "bad": bad}


def ask_walk(nb, inputs):
    def run(case):
        out = nb.walk_forward(case["n"], case["window"], case["horizon"], case["folds"], case["test_size"])
        return [[[int(t) for t in train], [int(t) for t in test]] for train, test in out]

    return {"cases": [attempt(run, c) for c in inputs["cases"]], "bad": [attempt(run, c) for c in inputs["bad"]]}


def judge_walk(inputs, answer, ctx):
    for case, got in zip(inputs["cases"], answer["cases"]):
        n, w, h, folds, size = (case[k] for k in ("n", "window", "horizon", "folds", "test_size"))
        what = f"walk_forward(n={n}, window={w}, horizon={h}, folds={folds}, test_size={size})"
        got = value(got, what)
        expect(isinstance(got, list) and len(got) == folds, f"{what}: should return {folds} (train, test) pairs")
        for k, ((train, test), (want_train, want_test)) in enumerate(zip(got, _reference_walk(n, w, h, folds, size))):
            cut = n - (folds - k) * size
            where = f"{what}, fold {k}"
            leaks = sum(1 for t in train if t + h > cut)
            expect(not leaks, f"{where}: {leaks} training example(s) have targets at or after position {cut}, "
                              f"where the test period starts: the test period leaks into training")
            early = sum(1 for t in train if t < w)
            expect(not early, f"{where}: {early} training example(s) start before the series has {w} input values")
            outside = sum(1 for t in test if t < cut or t + h > cut + size)
            expect(not outside, f"{where}: {outside} test example(s) have targets outside [{cut}, {cut + size})")
            expect(train == want_train, f"{where}: {len(train)} training examples, expected {len(want_train)} "
                                        f"(every t >= {w} with t + {h} <= {cut}, in increasing order)")
            expect(test == want_test, f"{where}: {len(test)} test examples, expected {len(want_test)} "
                                      f"(every t with all targets in [{cut}, {cut + size}), in increasing order)")
    for case, got in zip(inputs["bad"], answer["bad"]):
        what = (f"walk_forward(n={case['n']}, window={case['window']}, horizon={case['horizon']}, "
                f"folds={case['folds']}, test_size={case['test_size']})")
        expect(isinstance(got, Raised) and got.name == "ValueError", f"{what} should raise ValueError")


# --- Part C: standardize -------------------------------------------------------------------------------------------

def draw_scale(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for _ in range(4):
        n = r.randrange(50, 800)
        train_end = r.randrange(n // 3, n - 5)
        base = torch.randn(n, generator=gen, dtype=torch.float64) * r.uniform(0.5, 20) + r.uniform(-50, 50)
        shifted = base.clone()
        shifted[train_end:] = shifted[train_end:] * r.uniform(3, 10) + r.uniform(100, 1000)  # a planted future
        cases.append({"values": base.float(), "shifted": shifted.float(), "train_end": train_end})
    return {"cases": cases, "short": torch.randn(30, generator=gen)}


def ask_scale(nb, inputs):
    def run(values, train_end):
        copy = values.clone()
        scaled, mean, std = nb.standardize(copy, train_end)
        return {"scaled": scaled, "mean": mean, "std": std, "unchanged": bool((copy == values).all())}

    short = inputs["short"]
    return {"cases": [{"plain": attempt(run, c["values"], c["train_end"]),
                       "shifted": attempt(run, c["shifted"], c["train_end"])} for c in inputs["cases"]],
            "bad": [attempt(run, short, 1), attempt(run, short, len(short) + 1)]}


def judge_scale(inputs, answer, ctx):
    for case, got in zip(inputs["cases"], answer["cases"]):
        n, train_end = len(case["values"]), case["train_end"]
        train = case["values"][:train_end].double()
        mean, std = train.mean().item(), train.std().item()
        for key, label in (("plain", "a series"), ("shifted", "a series whose months after train_end jump far away")):
            what = f"standardize on {label} of {n} values, train_end={train_end}"
            one = value(got[key], what)
            expect(isinstance(one, dict), f"{what}: should return (scaled, mean, std)")
            got_mean, got_std = value(one["mean"], f"{what}: mean"), value(one["std"], f"{what}: std")
            expect(type(got_mean) is float and type(got_std) is float, f"{what}: mean and std should be Python floats")
            expect(abs(got_mean - mean) <= 1e-4 * (1 + abs(mean)),
                   f"{what}: mean differs from the training part's by {abs(got_mean - mean):.3g} (use "
                   "values[:train_end] only: the months after it are the future)")
            expect(abs(got_std - std) <= 1e-4 * std,
                   f"{what}: std differs from the training part's sample std (n - 1) by {abs(got_std - std):.3g} "
                   "(use values[:train_end] only, and divide by n - 1)")
            source = case["values"] if key == "plain" else case["shifted"]
            want = (source.double() - mean) / std
            scaled = tensor(one["scaled"], f"{what}: scaled", shape=(n,))
            expect(scaled.is_floating_point(), f"{what}: scaled should be a float tensor")
            close(scaled, want, f"{what}: scaled", atol=1e-3, rtol=1e-4)
            expect(value(one["unchanged"], f"{what}: the input") is True, f"{what}: standardize changed its input")
    for train_end, got in zip((1, len(inputs["short"]) + 1), answer["bad"]):
        expect(isinstance(got, Raised) and got.name == "ValueError",
               f"standardize on {len(inputs['short'])} values with train_end={train_end} should raise ValueError")


# --- Part D: naive_forecast and seasonal_naive_drift -------------------------------------------------------------

def _reference_snd(X, horizon, period):
    import torch

    window = X.shape[1]
    drift = (X[:, period:].double() - X[:, :-period].double()).mean(dim=1, keepdim=True)
    h = torch.arange(1, horizon + 1)
    periods = (h - 1) // period + 1
    return X[:, window - 1 + h - period * periods].double() + periods * drift


def draw_naive(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    return {"cases": [{"X": torch.randn(r.randrange(1, 40), r.randrange(1, 50), generator=gen) * 5,
                       "horizon": r.randrange(1, 30)} for _ in range(4)]}


def ask_naive(nb, inputs):
    return [attempt(nb.naive_forecast, c["X"], c["horizon"]) for c in inputs["cases"]]


def judge_naive(inputs, answer, ctx):
    for case, got in zip(inputs["cases"], value(answer, "naive_forecast")):
        X, h = case["X"], case["horizon"]
        what = f"naive_forecast on {X.shape[0]} windows of {X.shape[1]}, horizon {h}"
        close(got, X[:, -1:].repeat(1, h), what, atol=1e-6)


def draw_snd(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for _ in range(4):
        period = r.randrange(2, 13)
        window = r.randrange(period + 1, 4 * period + 2)
        cases.append({"X": torch.randn(r.randrange(1, 30), window, generator=gen) * 3, "horizon": r.randrange(1, 3 * period + 1),
                      "period": period})
    period = r.randrange(3, 13)  # a fixed season on a straight line: the forecast is exact
    window, horizon = r.randrange(period + 1, 3 * period), r.randrange(1, 3 * period + 1)
    season = torch.randn(period, generator=gen, dtype=torch.float64) * 4
    slope, start = r.uniform(-1, 1), r.randrange(0, 50)
    t = torch.arange(start, start + window + horizon)
    line = slope * t + season[t % period]
    known = {"X": line[None, :window].float(), "future": line[None, window:].float(), "horizon": horizon, "period": period}
    return {"cases": cases, "known": known, "bad": [{"window": p, "period": p} for p in (r.randrange(2, 13),)]
            + [{"window": 5, "period": 8}]}


def ask_snd(nb, inputs):
    import torch

    k = inputs["known"]
    return {"cases": [attempt(nb.seasonal_naive_drift, c["X"], c["horizon"], c["period"]) for c in inputs["cases"]],
            "known": attempt(nb.seasonal_naive_drift, k["X"], k["horizon"], k["period"]),
            "bad": [attempt(nb.seasonal_naive_drift, torch.zeros(3, b["window"]), 1, b["period"]) for b in inputs["bad"]]}


def judge_snd(inputs, answer, ctx):
    for case, got in zip(inputs["cases"], answer["cases"]):
        X, h, m = case["X"], case["horizon"], case["period"]
        what = f"seasonal_naive_drift on {X.shape[0]} windows of {X.shape[1]}, horizon {h}, period {m}"
        close(got, _reference_snd(X, h, m), what, atol=1e-4)
    k = inputs["known"]
    close(answer["known"], k["future"], f"seasonal_naive_drift on a season of {k['period']} on a straight line "
                                        f"(window {k['X'].shape[1]}, horizon {k['horizon']}): the forecast should be exact",
          atol=1e-3)
    for b, got in zip(inputs["bad"], answer["bad"]):
        expect(isinstance(got, Raised) and got.name == "ValueError",
               f"seasonal_naive_drift with window {b['window']} and period {b['period']} should raise ValueError")


# --- Part E: the submitted checkpoint, rebuilt and measured here ------------------------------------------------

def _series():
    import torch
    import statsmodels.datasets

    raw = statsmodels.datasets.elnino.load_pandas().data
    values = torch.tensor(raw.iloc[:, 1:].to_numpy(dtype="float64").ravel(), dtype=torch.float32)
    return values, int(0.70 * len(values)), int(0.85 * len(values))


def _checkpoint(ctx):
    folder = checkpoint_folder(ctx)
    ckpt = load_checkpoint(ctx, "forecaster.pt", *handed_in(ctx, "forecaster.pt"))
    try:
        state = ckpt["best"]["model"] if ckpt.get("finished") and ckpt.get("best") else ckpt["model"]
        assert isinstance(ckpt["history"], dict) and isinstance(ckpt["settings"], dict)
        return ckpt, state, ckpt["settings"], ckpt.get("model_config"), ckpt["history"]
    except Exception:  # noqa: BLE001 - anything that is not one of the course's checkpoints
        raise Fail(f"{folder}/forecaster.pt could not be loaded as a training checkpoint of this course") from None


def _rebuild(ctx):
    """(model, task, checkpoint) from the submitted file, with the course's classes; Fail saying what does not fit."""
    import torch

    from helpers import forecasting

    values, train_end, val_end = _series()
    ckpt, state, settings, config, history = _checkpoint(ctx)
    name = settings.get("model") if isinstance(settings, dict) else None
    expect(name in MODELS, "the checkpoint does not hold one of the course's forecasters "
                           "(RNNForecaster, CNNForecaster or CNNGRUForecaster from helpers.forecasting)")
    sig = settings.get("task")
    expect(isinstance(sig, dict) and sig.get("kind") == "forecast", "the checkpoint was not trained on a ForecastTask")
    expect(sig.get("train_end") == train_end and sig.get("val_end") == val_end and sig.get("length") == len(values),
           f"the checkpoint's task is not the lab's split ({len(values)} months, validation from {train_end}, "
           f"test from {val_end})")
    expect(sig.get("horizon") == 1, "the checkpoint forecasts another horizon: the lab's HORIZON is 1")
    window = sig.get("window")
    expect(type(window) is int and 1 <= window < train_end - 1, "the checkpoint's window does not fit the series")
    try:
        with torch.device("meta"):  # the student's sizes, built without memory first
            probe = getattr(forecasting, name)(**dict(config or {}))
        shapes = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
        expect(shapes == {k: tuple(v.shape) for k, v in state.items()}, "")
        model = getattr(forecasting, name)(**dict(config or {}))
        model.load_state_dict(state)
        task = forecasting.ForecastTask(values, train_end, val_end, window=window, horizon=1,
                                        batch_size=int(sig.get("batch_size")), relative=bool(sig.get("relative")))
    except Exception:  # noqa: BLE001 - a class of its own, or weights that are not this class's
        raise Fail(f"the checkpoint's weights do not fit a {name} with its stored settings: rebuild with the course's "
                   "class, unchanged") from None
    model.eval()
    return model, task, ckpt


def _mae(pred, Y) -> float:
    return float((pred - Y).abs().mean())


def _baselines(values, start, stop):
    """The judge's naive and seasonal-naive-with-drift MAE on the targets in values[start:stop]."""
    import torch

    t = torch.arange(start, stop)[:, None]
    X, Y = values[t - BASE_WINDOW + torch.arange(BASE_WINDOW)], values[t]
    return {"naive": _mae(X[:, -1:], Y), "seasonal naive + drift": _mae(_reference_snd(X, 1, PERIOD).float(), Y)}


def _honest_history(model, task, ckpt, ctx) -> None:
    """Flag a history whose validation loss the checkpoint's own weights do not give (no honest run writes one)."""
    import math as m

    history = ckpt["history"]
    steps, train_loss = history.get("steps") or [], history.get("train_loss") or []
    expect(len(train_loss) > 1 and len(steps) == len(train_loss), "the checkpoint's history has no training steps")
    val_steps, val_loss = history.get("val_steps") or [], history.get("val_loss") or []
    expect(val_loss, "the checkpoint's history has no validation loss: train with keep_best=True and eval_every")
    if not ckpt.get("finished") and val_steps[-1] != ckpt.get("step"):
        return  # an interrupted run: its weights are newer than its last validation, so nothing to compare
    best = history.get("best_step")
    try:
        claimed = float(val_loss[val_steps.index(best)] if best in val_steps else val_loss[-1])
    except (TypeError, ValueError, IndexError):
        raise Fail("the checkpoint's history could not be read") from None
    n_batches = m.ceil(len(task.windows("val")[0]) / task.batch_size)
    measured = [task.evaluate(model, k)["val_loss"] for k in (None, *range(1, n_batches + 1))]
    nearest = min(measured, key=lambda v: abs(v - claimed))
    if not abs(claimed - nearest) <= 1e-3 + 0.02 * abs(nearest):
        ctx.flag(f"the checkpoint's history claims a validation loss of {claimed:.4f}, its weights give {measured[0]:.4f}")


def judge_forecaster(inputs, answer, ctx):
    import torch

    model, task, ckpt = _rebuild(ctx)
    values = task.values
    X, Y = task.windows("val")
    with torch.no_grad():
        val = _mae(task.predict(model, X), Y)
    expect(math.isfinite(val), "the checkpoint's forecasts on the validation months are not finite")
    _honest_history(model, task, ckpt, ctx)
    base = _baselines(values, task.train_end, task.val_end)
    best_name = min(base, key=base.get)
    expect(val < base[best_name], f"the checkpoint's validation MAE, measured by the grader, is {val:.3f} °C: it does "
                                  f"not beat the best baseline ({best_name}, {base[best_name]:.3f} °C)")


def draw_nothing(ctx):
    return {}


def ask_test_mae(nb, inputs):
    return attempt(lambda: nb.test_mae)


def judge_test_mae(inputs, answer, ctx):
    import torch

    model, task, _ = _rebuild(ctx)
    X, Y = task.windows("test")
    with torch.no_grad():
        want = _mae(task.predict(model, X), Y)
    got = value(answer, "test_mae")
    expect(type(got) is float, "test_mae should be a Python float (°C)")
    expect(abs(got - want) <= 1e-3 + 1e-3 * want,
           f"test_mae differs by {abs(got - want):.3g} °C from the test MAE the grader measures on the checkpoint "
           f"({want:.3f} °C on {len(X)} months): measure the model with task.predict on task.windows('test')")


CHECKS = [
    Check("walk_tests", "walk_forward on random lengths, windows, horizons and folds", 20, judge_walk, draw_walk, ask_walk),
    Check("scale_tests", "standardize on random series with a planted test-period shift", 10, judge_scale, draw_scale,
          ask_scale),
    Check("baselines_tests", "naive_forecast on random windows", 5, judge_naive, draw_naive, ask_naive),
    Check("baselines_tests", "seasonal_naive_drift on random windows and a season on a line", 15, judge_snd, draw_snd,
          ask_snd),
    Check("train_tests", "the submitted checkpoint, rebuilt and measured on the validation months against the baselines",
          20, judge_forecaster),
    Check("train_tests", "test_mae against the test MAE the grader measures on the checkpoint", 5, judge_test_mae,
          draw_nothing, ask_test_mae),
]
