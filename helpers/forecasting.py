"""Forecasting a time series (taught in lecture 07): the CO2 series, windows, a task for ``helpers.train``, models.

A window example is ``series[t - window : t]`` (the input) and ``series[t : t + horizon]`` (the target): the
input always ends where the target begins, so no target value is ever part of its own input. Every model here
reads ``x`` of shape ``[batch_size, seq_len, 1]`` and returns ``[batch_size, horizon]``.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import check_int, check_number
from helpers.models import count_parameters  # noqa: F401 (lecture 07 imports it from here)
from helpers.tasks import epoch_plan

PARTS = ("train", "val", "test")


def load_co2():
    """Weekly Mauna Loa CO2 in ppm, March 1958 - December 2001 (statsmodels, public domain); gaps interpolated.

    ``series.attrs["filled"]`` lists the dates of the weeks that had no measurement (filled linearly in time).

    Used in lecture 07.
    """
    import statsmodels.datasets

    raw = statsmodels.datasets.co2.load_pandas().data["co2"].asfreq("W-SAT")
    series = raw.interpolate(method="time")
    series.name = "co2_ppm"
    series.attrs["filled"] = list(raw.index[raw.isna()])
    return series


def _as_series(series) -> torch.Tensor:
    if isinstance(series, torch.Tensor):
        values = series.detach().float().cpu()
    else:  # a list, NumPy array or pandas Series, copied (pandas may hand out a read-only array)
        values = torch.tensor(np.asarray(series, dtype=np.float32))
    if values.dim() != 1:
        raise ValueError(f"series must be 1-D (one value per time step), got shape {tuple(values.shape)}")
    if not torch.isfinite(values).all():
        raise ValueError("series holds NaN or inf values; fill the gaps first (e.g. pandas .interpolate())")
    return values


def make_windows(series, window: int, horizon: int = 1, start: int = 0, stop: int | None = None):
    """``(X [N, window], Y [N, horizon])``: every example whose targets all lie in ``series[start:stop]``.

    Example ``i`` has its first target at position ``max(start, window) + i``; its inputs are the ``window``
    values just before that, which may come from before ``start`` (the known past), never after it.

    Used in lecture 07.
    """
    values = _as_series(series)
    check_int("window", window)
    check_int("horizon", horizon)
    stop = len(values) if stop is None else stop
    first = max(start, window)
    count = stop - horizon + 1 - first
    if count < 1:
        raise ValueError(f"No window fits: targets in [{start}, {stop}) with window={window} and horizon={horizon} "
                         "leave no example; use a shorter window or horizon, or a longer part of the series")
    rows = torch.arange(first, first + count)[:, None]
    X = values[rows - window + torch.arange(window)]
    Y = values[rows + torch.arange(horizon)]
    return X, Y


def naive(X, horizon: int = 1):
    """Forecast every future step with the last value of the window.

    Used in lecture 07, and the lab forecasting.
    """
    return X[:, -1:].repeat(1, horizon)


def seasonal_naive(X, horizon: int = 1, period: int = 52):
    """Forecast step ``t + h`` with the value one period earlier, ``t + h - period`` (inside the window).

    Used in lecture 07.
    """
    if X.shape[1] < period or horizon > period:
        raise ValueError(f"seasonal_naive needs window >= period ({period}) and horizon <= period; "
                         f"got window {X.shape[1]}, horizon {horizon}")
    return X[:, X.shape[1] - period: X.shape[1] - period + horizon]


def recursive_forecast(predict_next, X, horizon: int):
    """Feed a one-step forecaster its own predictions ``horizon`` times; ``predict_next(X) -> [N]``.

    Used in lecture 07.
    """
    window, out = X.clone(), []
    for _ in range(horizon):
        nxt = predict_next(window).reshape(-1, 1)
        out.append(nxt)
        window = torch.cat([window[:, 1:], nxt], dim=1)
    return torch.cat(out, dim=1)


class ForecastTask:
    """Window examples of one series, split by time, for ``helpers.train``: inputs, targets, MSE loss.

    Targets in ``series[:train_end]`` train, ``[train_end:val_end]`` validate, ``[val_end:]`` test.
    Values are scaled by the training part's standard deviation only. With ``relative=True`` (the default)
    each window is expressed relative to its own last value and the model predicts the *change* from it,
    so a trend that leaves the training range stays in familiar territory; else the training mean is subtracted.

    Used in lecture 07, and the lab forecasting.
    """

    kind = "forecast"
    carries_state = False

    def __init__(self, series, train_end: int, val_end: int, window: int = 52, horizon: int = 1,
                 batch_size: int = 64, relative: bool = True):
        values = _as_series(series)
        for name, value in [("window", window), ("horizon", horizon), ("batch_size", batch_size)]:
            check_int(name, value)
        if not window + horizon < train_end < val_end < len(values):
            raise ValueError(f"Need window + horizon < train_end < val_end < len(series); got window={window}, "
                             f"horizon={horizon}, train_end={train_end}, val_end={val_end}, len={len(values)}")
        self.values, self.window, self.horizon = values, window, horizon
        self.batch_size, self.relative = batch_size, bool(relative)
        self.train_end, self.val_end = train_end, val_end
        train = values[:train_end]
        self.mean, self.std = float(train.mean()), float(train.std())  # the training part only: no peeking
        bounds = {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, len(values))}
        self.raw = {p: make_windows(values, window, horizon, a, b) for p, (a, b) in bounds.items()}
        self.batches_per_epoch = math.ceil(len(self.raw["train"][0]) / batch_size)

    def __repr__(self) -> str:
        sizes = " / ".join(f"{len(self.raw[p][0]):,} {p}" for p in PARTS)
        return (f"ForecastTask({sizes} windows, window={self.window}, horizon={self.horizon}, "
                f"batch_size={self.batch_size}, relative={self.relative}, {self.batches_per_epoch} batches/epoch)")

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""
        return dict(kind=self.kind, window=self.window, horizon=self.horizon, batch_size=self.batch_size,
                    relative=self.relative, train_end=self.train_end, val_end=self.val_end, length=len(self.values))

    def _origin(self, X):
        return X[:, -1:] if self.relative else self.mean

    def encode(self, X, Y=None):
        """Windows (and targets) in series units -> model inputs ``[N, window, 1]`` (and targets ``[N, horizon]``)."""
        x = ((X - self._origin(X)) / self.std)[..., None]
        return x if Y is None else (x, (Y - self._origin(X)) / self.std)

    def decode(self, X, out):
        """Model outputs for windows ``X`` -> forecasts in series units."""
        return out * self.std + self._origin(X)

    def windows(self, part: str):
        """``(X, Y)`` of one part (``"train"``, ``"val"`` or ``"test"``) in series units."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return self.raw[part]

    @torch.no_grad()
    def predict(self, model, X, batch_size: int = 1024):
        """Forecasts in series units for windows ``X`` (series units), the model in eval mode."""
        was_training, device = model.training, next(model.parameters()).device
        model.eval()
        try:
            out = [self.decode(xb, model(self.encode(xb).to(device)).float().cpu()) for xb in X.split(batch_size)]
        finally:
            model.train(was_training)
        return torch.cat(out)

    def batch(self, epoch: int, k: int, seed: int, device: torch.device):
        """Inputs ``[B, window, 1]`` and targets ``[B, horizon]`` of batch ``k``; the order depends on (seed, epoch)."""
        X, Y = self.raw["train"]
        plan = epoch_plan(self, epoch, seed, lambda g: torch.randperm(len(X), generator=g).split(self.batch_size))
        x, y = self.encode(X[plan[k]], Y[plan[k]])
        return x.to(device), y.to(device)

    def loss(self, model, batch, hidden=None):
        """(mean squared error in scaled units, None, values predicted)."""
        x, y = batch
        return F.mse_loss(model(x).float(), y), None, y.numel()

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """Validation MSE (scaled units, what training minimises) and MAE in series units."""
        X, Y = self.raw["val"]
        if max_batches is not None:
            X, Y = X[: max_batches * self.batch_size], Y[: max_batches * self.batch_size]
        pred = self.predict(model, X)
        return {"val_loss": float(F.mse_loss((pred - self._origin(X)) / self.std, (Y - self._origin(X)) / self.std)),
                "val_mae": float((pred - Y).abs().mean())}


class LinearForecaster(nn.Module):
    """One linear layer from the window to the next ``horizon`` values (an autoregressive model).

    Used in lecture 07.
    """

    def __init__(self, window: int, horizon: int = 1):
        super().__init__()
        self.config = dict(window=window, horizon=horizon)
        self.linear = nn.Linear(window, horizon)

    def forward(self, x):
        return self.linear(x[..., 0])


class RecurrentDropoutRNN(nn.Module):
    """One GRU/LSTM layer stepped in Python with *variational* recurrent dropout (Gal & Ghahramani, 2016).

    One dropout mask per sequence multiplies the state ``h`` fed back at every step (the same units are
    dropped at all steps); ``nn.GRU(dropout=)`` cannot do this, it only drops between layers.

    Used in lecture 07.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.cell_type, self.hidden_size, self.dropout = cell, hidden_size, dropout
        self.cell = (nn.GRUCell if cell == "gru" else nn.LSTMCell)(input_size, hidden_size)

    def forward(self, x):
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size)
        c = h.clone()
        mask = torch.ones_like(h)
        if self.training and self.dropout > 0:  # sampled once per sequence, not once per step
            mask = torch.bernoulli(torch.full_like(h, 1 - self.dropout)) / (1 - self.dropout)
        outputs = []
        for t in range(T):
            if self.cell_type == "gru":
                h = self.cell(x[:, t], h * mask)
            else:
                h, c = self.cell(x[:, t], (h * mask, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1), h


class RNNForecaster(nn.Module):
    """A GRU or LSTM reads the window; its last state (both directions' if bidirectional) predicts ``horizon`` values.

    ``dropout`` is PyTorch's: between stacked layers only. ``recurrent_dropout`` (one layer, one direction)
    drops the fed-back state with one mask per sequence, stepping the cell in Python (slower).

    Used in lecture 07, and the lab forecasting.
    """

    def __init__(self, cell: str = "gru", hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, recurrent_dropout: float = 0.0, horizon: int = 1, input_size: int = 1):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        for name, value in [("hidden_size", hidden_size), ("num_layers", num_layers), ("horizon", horizon)]:
            check_int(name, value)
        check_number("dropout", dropout, at_least=0, below=1)
        check_number("recurrent_dropout", recurrent_dropout, at_least=0, below=1)
        if recurrent_dropout and (num_layers > 1 or bidirectional):
            raise ValueError("recurrent_dropout is implemented for one layer in one direction; "
                             "use num_layers=1 and bidirectional=False")
        self.config = dict(cell=cell, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
                           bidirectional=bidirectional, recurrent_dropout=recurrent_dropout, horizon=horizon)
        self.directions = 2 if bidirectional else 1
        if recurrent_dropout:
            self.rnn = RecurrentDropoutRNN(cell, input_size, hidden_size, recurrent_dropout)
        else:
            rnn = nn.GRU if cell == "gru" else nn.LSTM
            self.rnn = rnn(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                           dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size * self.directions, horizon)

    def forward(self, x):
        _, h = self.rnn(x)
        if isinstance(h, tuple):  # nn.LSTM returns (h, c)
            h = h[0]
        if h.dim() == 3:  # [num_layers * directions, B, H]: the last layer's forward (and backward) final state
            h = torch.cat(list(h[-self.directions:]), dim=-1)
        return self.head(h)


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` padded on the left only: output ``t`` sees inputs ``t - (kernel_size - 1) * dilation .. t``.

    Used in lecture 07.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x):  # x: [B, channels, T] -> [B, out_channels, T]
        return super().forward(F.pad(x, (self.left_pad, 0)))


class CNNForecaster(nn.Module):
    """Stacked causal dilated convolutions (dilation doubling, WaveNet style); the last step's features forecast.

    Used in lecture 07, and the lab forecasting.
    """

    def __init__(self, channels: int = 32, kernel_size: int = 3, dilations=(1, 2, 4, 8, 16), horizon: int = 1,
                 input_size: int = 1):
        super().__init__()
        for name, value in [("channels", channels), ("kernel_size", kernel_size), ("horizon", horizon)]:
            check_int(name, value)
        dilations = tuple(dilations)
        self.config = dict(channels=channels, kernel_size=kernel_size, dilations=dilations, horizon=horizon)
        sizes = [input_size] + [channels] * len(dilations)
        self.convs = nn.ModuleList(CausalConv1d(a, b, kernel_size, d) for a, b, d in zip(sizes, sizes[1:], dilations))
        self.head = nn.Linear(channels, horizon)
        self.receptive_field = 1 + (kernel_size - 1) * sum(dilations)

    def features(self, x):
        """``[B, T, 1]`` -> ``[B, channels, T]``; position ``t`` depends on inputs up to ``t`` only."""
        h = x.transpose(1, 2)
        for conv in self.convs:
            h = F.relu(conv(h))
        return h

    def forward(self, x):
        return self.head(self.features(x)[:, :, -1])


class CNNGRUForecaster(nn.Module):
    """Causal convolutions and max pooling shorten the window cheaply; a GRU reads the shorter sequence.

    Used in lecture 07, and the lab forecasting.
    """

    def __init__(self, channels: int = 32, kernel_size: int = 5, pool: int = 2, hidden_size: int = 32,
                 horizon: int = 1, input_size: int = 1):
        super().__init__()
        for name, value in [("channels", channels), ("kernel_size", kernel_size), ("pool", pool),
                            ("hidden_size", hidden_size), ("horizon", horizon)]:
            check_int(name, value)
        self.config = dict(channels=channels, kernel_size=kernel_size, pool=pool, hidden_size=hidden_size,
                           horizon=horizon)
        self.conv1 = CausalConv1d(input_size, channels, kernel_size)
        self.conv2 = CausalConv1d(channels, channels, kernel_size)
        self.pool = nn.MaxPool1d(pool)
        self.gru = nn.GRU(channels, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        h = self.pool(F.relu(self.conv1(x.transpose(1, 2))))
        h = self.pool(F.relu(self.conv2(h)))  # T / pool**2 steps left for the GRU
        _, last = self.gru(h.transpose(1, 2))
        return self.head(last[-1])


@torch.no_grad()
def seconds_per_window(model, x, repeats: int = 7) -> float:
    """Fastest of ``repeats`` forward passes over the batch ``x``, divided by the number of windows.

    The minimum, as ``timeit`` advises: on a shared machine the slower runs measure the other jobs.

    Used in lecture 07.
    """
    model.eval()
    model(x[:8])  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return min(times) / len(x)


# --- lecture 07's baselines, tuning protocol and intervals -------------------------------------

def seasonal_naive_drift(X, horizon: int = 1, period: int = 52):
    """Seasonal-naive plus last year's change: ``x_{t+h} ≈ x_{t+h-period} + (x_t - x_{t-period})``.

    Needs ``window > period`` (the value one period before the window's last one) and ``horizon <= period``.

    Used in lecture 07.
    """
    if X.shape[1] <= period or horizon > period:
        raise ValueError(f"seasonal_naive_drift needs window > period ({period}) and horizon <= period; "
                         f"got window {X.shape[1]}, horizon {horizon}")
    drift = X[:, -1:] - X[:, -1 - period: -period]  # x_t - x_{t-period}: one year of trend
    return seasonal_naive(X, horizon, period) + drift


def least_squares_forecaster(X, Y):
    """The linear model of lecture 07 solved in closed form: the change from the window's last value, by least squares.

    Returns ``forecast(X_new) -> [N, horizon]`` in series units. Features are ``x_{t-j} - x_t`` and a 1, so it is an
    AR(window - 1) on the first differences with drift.

    Used in lecture 07, and the lab forecasting.
    """
    def design(X):
        return torch.cat([X[:, :-1] - X[:, -1:], torch.ones(len(X), 1)], dim=1).double()

    W = torch.linalg.lstsq(design(X), (Y - X[:, -1:]).double()).solution
    return lambda X_new: (design(X_new) @ W).float() + X_new[:, -1:]


class HoltWinters:
    """statsmodels' Holt-Winters (additive trend and season) fitted on ``series[:train_end]`` only.

    The fitted smoothing parameters and initial states are then run over the whole series, so the forecast made at
    week ``t`` uses the weeks up to ``t`` (the known past) and parameters that never saw a validation or test week.

    Used in lecture 07.
    """

    def __init__(self, series, train_end: int, period: int = 52, damped: bool = False):
        import warnings

        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = _as_series(series).double().numpy()
        settings = dict(trend="add", damped_trend=damped, seasonal="add", seasonal_periods=period)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' convergence chatter on a long seasonal period
            p = ExponentialSmoothing(y[:train_end], initialization_method="estimated", **settings).fit().params
            run = ExponentialSmoothing(y, initialization_method="known", initial_level=p["initial_level"],
                                       initial_trend=p["initial_trend"], initial_seasonal=p["initial_seasons"],
                                       **settings).fit(
                smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"],
                smoothing_seasonal=p["smoothing_seasonal"], damping_trend=p["damping_trend"] if damped else None,
                optimized=False)
        self.params = {k: float(v) for k, v in p.items() if k.startswith(("smoothing", "damping"))}
        self.period, self.phi = period, p["damping_trend"] if damped else 1.0
        self.level, self.trend, self.season = run.level, run.trend, run.season

    def forecast(self, horizon: int, start: int, stop: int | None = None):
        """``[N, horizon]`` forecasts for the targets ``make_windows`` gives for ``start:stop`` (``start >= window``).

        Row ``i`` is made at week ``start + i - 1`` for weeks ``start + i ...``: level + damped trend + last season.
        """
        stop = len(self.level) if stop is None else stop
        t = np.arange(start - 1, stop - horizon)[:, None]  # forecast origins: the last known week
        h = np.arange(1, horizon + 1)[None, :]
        trend_sum = np.cumsum(self.phi ** np.arange(1, horizon + 1))[None, :]
        out = self.level[t] + trend_sum * self.trend[t] + self.season[t + h - self.period]
        return torch.tensor(out, dtype=torch.float32)


def tune(fit_one, grid):
    """Lecture 07's tuning protocol: fit every setting of ``grid`` on the training part, keep the lowest validation MAE.

    ``fit_one(**setting)`` returns ``(validation MAE, fitted model)``. Returns the best setting, its fitted model and
    a list of every trial (the setting and its validation MAE). The test part plays no role in the choice.

    Used in lecture 07.
    """
    trials, best = [], None
    for setting in grid:
        val_mae, fitted = fit_one(**setting)
        trials.append(dict(setting, val_mae=float(val_mae)))
        if best is None or val_mae < best[0]:
            best = (val_mae, dict(setting), fitted)
    if best is None:
        raise ValueError("tune needs at least one setting in grid")
    return best[1], best[2], trials


def conformal_halfwidth(val_errors, coverage: float = 0.9) -> float:
    """Split-conformal half-width: the ``ceil((n + 1) * coverage)``-th smallest absolute validation error.

    ``forecast ± halfwidth`` covers a new target with probability at least ``coverage`` when the new error is
    exchangeable with the validation errors (on a drifting series that is an assumption, so measure it on test).

    Used in lecture 07.
    """
    errors = np.sort(np.abs(np.asarray(val_errors, dtype=float)).ravel())
    check_number("coverage", coverage, above=0, below=1)
    k = math.ceil((len(errors) + 1) * coverage)
    if k > len(errors):
        raise ValueError(f"{len(errors)} validation errors are too few for coverage {coverage}; "
                         f"need at least {math.ceil(coverage / (1 - coverage))}")
    return float(errors[k - 1])


def doubling_dilations(window: int, kernel_size: int = 3) -> tuple:
    """Dilations 1, 2, 4, ... doubled until the receptive field ``1 + (k - 1) * sum(d)`` covers ``window`` steps.

    Used in lecture 07.
    """
    check_int("window", window)
    dilations = [1]
    while 1 + (kernel_size - 1) * sum(dilations) < window:
        dilations.append(2 * dilations[-1])
    return tuple(dilations)


def block_bootstrap_ci(d, block: int = 26, draws: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple:
    """Percentile interval of the mean of ``d`` (e.g. one model's errors minus another's, week by week) from a
    moving-block bootstrap: resampling blocks of ``block`` consecutive values keeps their correlation in time.

    Used in lectures 07 and 08, and the lab forecasting.
    """
    d = np.asarray(d, dtype=float)
    check_int("block", block)
    if len(d) < block:
        raise ValueError(f"need at least block={block} values, got {len(d)}")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(d) - block + 1, size=(draws, math.ceil(len(d) / block)))
    rows = (starts[:, :, None] + np.arange(block)).reshape(draws, -1)[:, : len(d)]
    low, high = np.percentile(d[rows].mean(axis=1), [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)
