"""helpers.forecasting (lecture 07): windows, the task, causality of the models, baselines, tuning and intervals."""
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn as nn

from helpers.forecasting import (CausalConv1d, CNNForecaster, CNNGRUForecaster, ForecastTask, HoltWinters,
                                 LinearForecaster, RecurrentDropoutRNN, RNNForecaster, block_bootstrap_ci,
                                 conformal_halfwidth,
                                 doubling_dilations, least_squares_forecaster, load_co2, make_windows, naive,
                                 recursive_forecast, seasonal_naive, seasonal_naive_drift, seconds_per_window, tune)
from helpers.train import TrainConfig, evaluate, train

NOTEBOOK = Path(__file__).resolve().parent.parent / "lectures" / "07_time_series_forecasting.ipynb"


@pytest.fixture(scope="module")
def co2():
    return load_co2()


def sine_series(n=400, period=20):
    t = torch.arange(n, dtype=torch.float32)
    return 0.01 * t + torch.sin(2 * torch.pi * t / period)


# ---------------------------------------------------------------- data and windows

def test_co2_loads_offline_weekly_without_gaps(co2):
    assert len(co2) == 2284 and not co2.isna().any()
    assert (co2.index[1:] - co2.index[:-1]).days.unique().tolist() == [7]
    assert len(co2.attrs["filled"]) == 59 and 310 < co2.min() < co2.max() < 380


@pytest.mark.parametrize("horizon", [1, 3])
def test_windows_shapes_and_positions(horizon):
    X, Y = make_windows(torch.arange(10.0), window=4, horizon=horizon)
    assert X.shape == (10 - 4 - horizon + 1, 4) and Y.shape == (10 - 4 - horizon + 1, horizon)
    for i in range(len(X)):  # example i: inputs i..i+3, targets i+4..i+3+horizon
        assert X[i].tolist() == list(range(i, i + 4)) and Y[i].tolist() == list(range(i + 4, i + 4 + horizon))


@pytest.mark.parametrize("horizon", [1, 4])
def test_no_target_is_inside_its_own_input(horizon):
    X, Y = make_windows(torch.arange(200.0), window=13, horizon=horizon, start=50, stop=120)
    assert (X.max(dim=1).values < Y.min(dim=1).values).all()  # positions: inputs strictly before targets
    assert Y.min() == 50 and Y.max() == 119  # every target inside [start, stop), inputs may reach back before start
    assert X.min() == 50 - 13


def test_windows_reject_what_cannot_fit():
    with pytest.raises(ValueError, match="No window fits"):
        make_windows(torch.arange(10.0), window=8, horizon=3)
    with pytest.raises(ValueError, match="window must be a positive int"):
        make_windows(torch.arange(10.0), window=0)
    with pytest.raises(ValueError, match="NaN"):
        make_windows(torch.tensor([1.0, float("nan"), 3.0, 4.0]), window=2)
    with pytest.raises(ValueError, match="1-D"):
        make_windows(torch.zeros(5, 2), window=2)


def test_baselines():
    X = torch.arange(60.0)[None]
    assert naive(X, 3).tolist() == [[59.0, 59.0, 59.0]]
    assert seasonal_naive(X, 3, period=52).tolist() == [[8.0, 9.0, 10.0]]  # targets 60..62 minus 52
    with pytest.raises(ValueError, match="window >= period"):
        seasonal_naive(X[:, :40], 1, period=52)


def test_recursive_forecast_feeds_predictions_back():
    step = lambda X: X[:, -1] + 1  # a perfect one-step model of a ramp
    assert recursive_forecast(step, torch.arange(5.0)[None], 3).tolist() == [[5.0, 6.0, 7.0]]


# ---------------------------------------------------------------- the task

def test_task_splits_by_time_and_scales_from_training_only():
    series = sine_series()
    task = ForecastTask(series, train_end=250, val_end=320, window=20, horizon=2, batch_size=16)
    assert task.mean == pytest.approx(float(series[:250].mean()))
    assert task.std == pytest.approx(float(series[:250].std()))
    changed = series.clone(); changed[250:] += 100.0  # the future must not move the scaling
    assert ForecastTask(changed, 250, 320, window=20, horizon=2).std == pytest.approx(task.std)
    (_, Ytr), (Xva, Yva), (Xte, Yte) = (task.windows(p) for p in ("train", "val", "test"))
    assert len(Ytr) == 250 - 20 - 2 + 1 and len(Yva) == 320 - 250 - 2 + 1 and len(Yte) == 400 - 320 - 2 + 1
    assert torch.equal(Xva[0], series[230:250]) and torch.equal(Yte[-1], series[-2:])
    with pytest.raises(ValueError, match="part must be"):
        task.windows("dev")


@pytest.mark.parametrize("relative", [True, False])
def test_encode_decode_round_trip(relative):
    task = ForecastTask(sine_series(), 250, 320, window=20, horizon=3, relative=relative)
    X, Y = task.windows("val")
    x, y = task.encode(X, Y)
    assert x.shape == (len(X), 20, 1) and y.shape == Y.shape
    assert torch.allclose(task.decode(X, y), Y, atol=1e-5)
    if relative:  # each window is expressed relative to its own last value
        assert torch.all(x[:, -1, 0] == 0)


def test_batches_depend_on_seed_and_epoch_only():
    task = ForecastTask(sine_series(), 250, 320, window=20, batch_size=16)
    cpu = torch.device("cpu")
    a = task.batch(1, 3, seed=0, device=cpu)
    task.batch(0, 0, seed=5, device=cpu)
    assert all(torch.equal(u, v) for u, v in zip(a, task.batch(1, 3, seed=0, device=cpu)))
    assert not torch.equal(a[1], task.batch(2, 3, seed=0, device=cpu)[1])
    sizes = [len(task.batch(0, k, 0, cpu)[1]) for k in range(task.batches_per_epoch)]
    assert sum(sizes) == len(task.windows("train")[0])  # one epoch is every training window once


def test_task_rejects_bad_splits():
    with pytest.raises(ValueError, match="train_end < val_end"):
        ForecastTask(sine_series(), 300, 250, window=20)
    with pytest.raises(ValueError, match="window \\+ horizon < train_end"):
        ForecastTask(sine_series(), 20, 250, window=20)


def test_train_beats_naive_on_a_seasonal_series_and_resumes(tmp_path):
    task = ForecastTask(sine_series(), 250, 320, window=20, batch_size=32)
    model = LinearForecaster(20)
    path = tmp_path / "lin.pt"
    config = dict(lr=1e-2, eval_every=None, progress=False, device="cpu", checkpoint_path=path, checkpoint_every=10)
    def stop_at_60(step):
        if step == 60:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        train(model, task, TrainConfig(max_steps=200, **config), callback=stop_at_60)
    history = train(model, task, TrainConfig(max_steps=200, **config))
    assert history.steps[-1] == 200 and history.kind == "forecast"
    X, Y = task.windows("val")
    assert (task.predict(model, X) - Y).abs().mean() < 0.5 * (naive(X) - Y).abs().mean()
    metrics = evaluate(model, task)
    assert set(metrics) == {"val_loss", "val_mae"}
    assert metrics["val_mae"] == pytest.approx(float((task.predict(model, X) - Y).abs().mean()), rel=1e-5)


# ---------------------------------------------------------------- models

MODELS = [
    lambda h: LinearForecaster(24, horizon=h),
    lambda h: RNNForecaster("gru", 8, horizon=h),
    lambda h: RNNForecaster("lstm", 8, num_layers=2, dropout=0.2, horizon=h),
    lambda h: RNNForecaster("gru", 8, bidirectional=True, horizon=h),
    lambda h: RNNForecaster("lstm", 8, recurrent_dropout=0.3, horizon=h),
    lambda h: CNNForecaster(8, horizon=h),
    lambda h: CNNGRUForecaster(8, hidden_size=8, horizon=h),
]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("horizon", [1, 5])
def test_every_model_maps_windows_to_horizon(make, horizon):
    model = make(horizon)
    assert model(torch.randn(3, 24, 1)).shape == (3, horizon)
    assert seconds_per_window(model, torch.randn(16, 24, 1), repeats=2) > 0


def test_causal_conv_does_not_look_ahead():
    torch.manual_seed(0)
    conv = CausalConv1d(2, 3, kernel_size=3, dilation=4)
    x = torch.randn(1, 2, 30)
    later = x.clone(); later[..., 17:] = torch.randn(1, 2, 13)
    out, out_later = conv(x), conv(later)
    assert out.shape == x.shape[:1] + (3, 30)
    assert torch.equal(out[..., :17], out_later[..., :17]) and not torch.equal(out[..., 17:], out_later[..., 17:])


@pytest.mark.parametrize("model", [CNNForecaster(8, kernel_size=3, dilations=(1, 2, 4)),
                                   CNNGRUForecaster(8, hidden_size=8)])
def test_cnn_stacks_do_not_look_ahead(model):
    torch.manual_seed(0)
    x = torch.randn(2, 40, 1)
    later = x.clone(); later[:, 30:] += 5.0
    if isinstance(model, CNNForecaster):
        assert torch.equal(model.features(x)[..., :30], model.features(later)[..., :30])
    else:  # a forecast from the first 28 steps is unchanged by steps 30 on
        assert torch.equal(model(x[:, :28]), model(later[:, :28]))


def test_receptive_field_matches_the_formula():
    model = CNNForecaster(4, kernel_size=3, dilations=(1, 2, 4, 8))
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    x = torch.ones(1, 60, 1, requires_grad=True)
    model.features(x)[0, :, -1].sum().backward()
    assert int((x.grad != 0).sum()) == model.receptive_field == 31


def test_recurrent_dropout_rnn_matches_nn_gru_and_lstm_without_dropout():
    torch.manual_seed(0)
    x = torch.randn(3, 12, 2)
    for cell, ref in [("gru", nn.GRU(2, 5, batch_first=True)), ("lstm", nn.LSTM(2, 5, batch_first=True))]:
        ours = RecurrentDropoutRNN(cell, 2, 5, dropout=0.0)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ours.cell, name).copy_(getattr(ref, name + "_l0"))
        out, h = ours(x)
        assert torch.allclose(out, ref(x)[0], atol=1e-6)


def test_recurrent_dropout_uses_one_mask_per_sequence():
    layer = RecurrentDropoutRNN("gru", 1, 6, dropout=0.5).train()
    seen = []
    layer.cell.register_forward_pre_hook(lambda mod, args: seen.append(args[1] == 0))
    torch.manual_seed(1)
    layer(torch.randn(4, 7, 1))
    dropped = torch.stack(seen[1:])  # step 0 feeds a zero state
    assert dropped.any() and (dropped == dropped[0]).all()  # the same units silenced at every step
    assert torch.equal(layer.eval()(torch.ones(1, 3, 1))[0], layer(torch.ones(1, 3, 1))[0])


def test_bidirectional_forecaster_reads_both_final_states():
    torch.manual_seed(0)
    model = RNNForecaster("gru", 4, bidirectional=True)
    assert model.head.in_features == 8
    x = torch.randn(1, 10, 1)
    first = x.clone(); first[:, 0] += 1.0  # the backward direction ends on step 0: it must matter
    assert not torch.equal(model(x), model(first))


def test_models_reject_bad_settings():
    with pytest.raises(ValueError, match="cell must be"):
        RNNForecaster("rnn")
    with pytest.raises(ValueError, match="recurrent_dropout is implemented for one layer"):
        RNNForecaster("gru", num_layers=2, recurrent_dropout=0.2)
    with pytest.raises(ValueError, match="dropout must be"):
        RNNForecaster("gru", dropout=1.0)
    with pytest.raises(ValueError, match="channels must be"):
        CNNForecaster(0)


# ---------------------------------------------------------------- baselines, tuning protocol, intervals

def test_seasonal_naive_with_drift_adds_last_years_change():
    X = torch.arange(60.0)[None] ** 1.5  # a curving trend: drift is last year's change, not a constant
    forecast = seasonal_naive_drift(X, 3, period=52)
    for h in range(1, 4):  # x_{t+h-52} + (x_t - x_{t-52}), t = 59
        assert forecast[0, h - 1] == pytest.approx(float(X[0, 59 + h - 52] + X[0, 59] - X[0, 59 - 52]))
    line = torch.arange(60.0)[None] * 0.5 + 3.0  # on a straight line it is exact
    assert torch.allclose(seasonal_naive_drift(line, 5, period=52), torch.arange(60.0, 65.0)[None] * 0.5 + 3.0)
    with pytest.raises(ValueError, match="window > period"):
        seasonal_naive_drift(X[:, :52], 1, period=52)


def test_least_squares_forecaster_is_exact_on_an_ar_process_with_drift():
    g = torch.Generator().manual_seed(0)
    x = [0.0, 0.0]
    for _ in range(400):  # differences follow an AR(1) with drift 0.1: exactly the model's form at window 2
        x.append(x[-1] + 0.1 + 0.5 * (x[-1] - x[-2]))
    series = torch.tensor(x) + 1e-9 * torch.randn(len(x), generator=g)
    X, Y = make_windows(series, 2, 1)
    forecast = least_squares_forecaster(X[:300], Y[:300])
    assert (forecast(X[300:]) - Y[300:]).abs().max() < 1e-3


def test_holt_winters_forecasts_come_from_the_past_only(co2):
    train_end = int(0.70 * len(co2))
    hw = HoltWinters(co2, train_end)
    later = co2.copy()
    later.iloc[train_end + 100:] += 50.0  # change the future: earlier forecasts must not move
    hw_later = HoltWinters(later, train_end)
    a, b = hw.forecast(4, train_end, train_end + 100), hw_later.forecast(4, train_end, train_end + 100)
    assert a.shape == (100 - 4 + 1, 4) and torch.allclose(a[:-4], b[:-4])  # rows whose origin is before the change
    assert hw.params == hw_later.params  # fitted on the training part only
    X, Y = make_windows(co2, 53, 1, train_end, train_end + 100)
    assert (hw.forecast(1, train_end, train_end + 100) - Y).abs().mean() < (naive(X) - Y).abs().mean()


def test_tune_keeps_the_lowest_validation_score_and_every_trial():
    fitted = []

    def fit_one(window, lr):
        fitted.append((window, lr))
        return abs(window - 52) + lr, f"model {window} {lr}"

    grid = [dict(window=w, lr=lr) for w in (26, 52, 104) for lr in (0.1, 0.01)]
    setting, model, trials = tune(fit_one, grid)
    assert setting == dict(window=52, lr=0.01) and model == "model 52 0.01"
    assert len(fitted) == len(trials) == 6 and trials[0] == dict(window=26, lr=0.1, val_mae=pytest.approx(26.1))
    with pytest.raises(ValueError, match="at least one"):
        tune(fit_one, [])


def test_conformal_halfwidth_is_the_right_order_statistic_and_covers():
    errors = torch.arange(1.0, 11.0)  # n = 10
    assert conformal_halfwidth(errors, 0.8) == 9.0  # ceil(11 * 0.8) = 9th smallest
    assert conformal_halfwidth(-errors, 0.5) == 6.0  # absolute values
    with pytest.raises(ValueError, match="too few"):
        conformal_halfwidth(errors, 0.95)  # ceil(11 * 0.95) = 11 > 10
    g = torch.Generator().manual_seed(0)
    cal, new = torch.randn(2000, generator=g), torch.randn(20000, generator=g)  # exchangeable errors
    q = conformal_halfwidth(cal, 0.9)
    assert 0.88 < float((new.abs() <= q).float().mean()) < 0.93


def test_block_bootstrap_interval_of_a_mean():
    assert block_bootstrap_ci([0.5] * 60, block=10) == (0.5, 0.5)
    g = torch.Generator().manual_seed(0)
    d = (torch.randn(400, generator=g) + 0.3).numpy()
    low, high = block_bootstrap_ci(d, block=20, draws=2000)
    assert low < 0.3 < high and high - low < 0.5  # about the mean +- 2 standard errors (0.1 each)
    wide = block_bootstrap_ci(d, block=20, draws=2000, level=0.999)
    assert wide[0] < low and wide[1] > high
    with pytest.raises(ValueError, match="at least block"):
        block_bootstrap_ci([1.0, 2.0], block=26)


@pytest.mark.parametrize("window", [8, 26, 52, 104])
def test_doubling_dilations_cover_the_window(window):
    dilations = doubling_dilations(window)
    assert dilations[0] == 1 and all(b == 2 * a for a, b in zip(dilations, dilations[1:]))
    field = CNNForecaster(4, dilations=dilations).receptive_field
    assert field >= window and (len(dilations) == 1 or 1 + 2 * sum(dilations[:-1]) < window)


def test_stored_notebook_is_a_real_run_with_unanswered_exercises():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert cells[0].source.splitlines()[0] == "import helpers; print(helpers.describe())"
    assert all(c.execution_count is not None for c in cells), "execute the notebook to store its outputs"
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    text = ["".join(o.get("text", "") for o in c.outputs) for c in cells]
    asked = [t for c, t in zip(cells, text) if "answer_" in c.source and "= None" in c.source]
    assert len(asked) == 4 and all(t.strip() == "not answered yet" for t in asked)
    assert "PLACEHOLDER" not in "".join(c.source for c in nb.cells)


def test_seed_benchmark_runs_and_reports_least_squares_and_each_seed():
    from benchmarks import forecasting

    results = forecasting.main(["--models", "cnn", "--seeds", "0", "1", "--epochs", "0.1", "--size", "4",
                                "--windows", "26", "52", "--lrs", "1e-2", "3e-3"])
    linear = results["linear (least squares)"]
    assert linear["setting"] == {"window": 52} and linear["test_mae"] == pytest.approx(0.3077, abs=1e-3)
    assert [t["window"] for t in linear["trials"]] == [26, 52]
    runs = results["cnn"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and results["cnn"]["test_mae"] > 0
    for run in runs:  # four trials each, and the chosen one is the trial with the lowest validation MAE
        assert len(run["trials"]) == 4
        best = min(run["trials"], key=lambda t: t["val_mae"])
        assert run["setting"] == {"window": best["window"], "lr": best["lr"]}
        assert run["val_mae"] == pytest.approx(best["val_mae"])
