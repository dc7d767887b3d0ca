"""Checkers of lecture 07's exercises (forecasting weekly CO2). Each prints ``correct``, ``not yet: ...`` or
``not answered yet`` and returns True only for a right answer.

The expected values are computed here from the data, the same way the lecture computes its own numbers.
"""
from __future__ import annotations

import numpy as np
import torch

from helpers.exercises import check, matches
from helpers.forecasting import (CNNForecaster, least_squares_forecaster, make_windows, naive, seasonal_naive,
                                 seasonal_naive_drift)

EXERCISE_3_WINDOWS = (26, 52, 104, 156)
EXERCISE_3_HORIZON = 26
EXERCISE_4_BASELINES = ("naive", "seasonal-naive", "seasonal-naive with drift")


def receptive_field(kernel_size: int = 3, dilations=(1, 2, 4, 8)) -> int:
    """Inputs the last output of a ``CNNForecaster`` depends on, measured with a gradient (not the formula)."""
    probe = CNNForecaster(channels=4, kernel_size=kernel_size, dilations=dilations)
    for p in probe.parameters():
        torch.nn.init.constant_(p, 0.1)  # positive weights and inputs: no ReLU is ever off
    x = torch.ones(1, 4 * probe.receptive_field, 1, requires_grad=True)
    probe.features(x)[0, :, -1].sum().backward()
    return int((x.grad[0, :, 0] != 0).sum())


def check_exercise_1(answer) -> bool:
    """Lecture 07, exercise 1: the receptive field of ``CNNForecaster(kernel_size=3, dilations=(1, 2, 4, 8))``."""
    return check(answer, receptive_field(), "each layer adds (kernel_size - 1) * dilation past steps to what the one "
                                            "below it sees; count the last step itself too.")


def check_exercise_2(answer, series, train_end: int) -> bool:
    """Lecture 07, exercise 2: ``[mean, std]`` for normalising, from the training part ``series[:train_end]`` only."""
    values = torch.tensor(np.asarray(series, dtype=np.float64))
    expected = [float(values[:train_end].mean()), float(values[:train_end].std())]
    whole = [float(values.mean()), float(values.std())]
    if answer is not None and matches(answer, whole):
        print("not yet: these are the statistics of the whole series, test weeks included: "
              "compute them on series[:TRAIN_END] only.")
        return False
    return check(answer, expected, "compute both statistics from series[:TRAIN_END] only; give [mean, std].")


def direct_linear_maes(series, train_end: int, val_end: int, fit_end: int | None = None, part: str = "val",
                       horizon: int = EXERCISE_3_HORIZON, windows=EXERCISE_3_WINDOWS) -> dict:
    """MAE over all ``horizon`` weeks ahead of the direct least-squares forecaster, per window, on one part.

    ``fit_end`` (default ``train_end``) is where the fitted targets stop; ``part`` is ``"val"`` or ``"test"``.
    """
    fit_end = train_end if fit_end is None else fit_end
    start, stop = (train_end, val_end) if part == "val" else (val_end, None)
    out = {}
    for window in windows:
        forecast = least_squares_forecaster(*make_windows(series, window, horizon, 0, fit_end))
        X, Y = make_windows(series, window, horizon, start, stop)
        out[window] = float((forecast(X) - Y).abs().mean())
    return out


def check_exercise_3(answer, series, train_end: int, val_end: int) -> bool:
    """Lecture 07, exercise 3: the window of the 26-weeks-ahead direct linear forecaster, chosen on validation.

    ``answer = {"val_mae": {window: MAE, ...}, "window": chosen}``: the MAEs are the evidence of how it was chosen,
    so a window picked on the test windows (or with the validation weeks in the fit) fails even when it happens to
    be the same number.
    """
    if answer is None:
        print("not answered yet")
        return False
    if not isinstance(answer, dict) or set(answer) != {"val_mae", "window"} or not isinstance(answer["val_mae"], dict):
        print('not yet: give a dict {"val_mae": {26: ..., 52: ..., 104: ..., 156: ...}, "window": your choice}.')
        return False
    maes = {int(k) if isinstance(k, (int, float, str)) and str(k).isdigit() else k: v
            for k, v in answer["val_mae"].items()}
    if set(maes) != set(EXERCISE_3_WINDOWS):
        print(f"not yet: val_mae needs one MAE for each window in {EXERCISE_3_WINDOWS}.")
        return False
    expected = direct_linear_maes(series, train_end, val_end)
    mistakes = [  # what a wrong procedure produces, and what to say about it
        (direct_linear_maes(series, train_end, val_end, part="test"),
         "these are errors on the test windows. The test part is for the one final report; "
         "choose on the validation windows (targets in series[TRAIN_END:VAL_END])."),
        (direct_linear_maes(series, train_end, val_end, fit_end=val_end),
         "the forecaster was fitted on the validation weeks too, so its validation error flatters it. "
         "Fit on targets before TRAIN_END only."),
        (direct_linear_maes(series, train_end, val_end, horizon=1),
         "these are one-week-ahead errors; fit and score with horizon=26 (the MAE over all 26 weeks ahead)."),
    ]
    for wrong, hint in mistakes:
        if matches(maes, wrong, tol=1e-4) and not matches(maes, expected, tol=1e-4):
            print(f"not yet: {hint}")
            return False
    if not matches(maes, expected, tol=1e-4):
        right = sum(matches(maes[w], expected[w], tol=1e-4) for w in expected)
        print(f"not yet: {right} of {len(expected)} validation MAEs right. Fit on windows with targets before "
              "TRAIN_END (horizon 26), score the mean absolute error over all 26 weeks ahead on the validation "
              "windows.")
        return False
    best = min(expected, key=expected.get)
    return check(answer["window"], best, "the MAEs are right; the window to choose is the one with the lowest "
                                         "validation MAE.")


def baselines_at(series, val_end: int, horizon: int = 26, period: int = 52) -> dict:
    """Test MAE of the three baselines ``horizon`` weeks ahead (the last step only), on the same test targets."""
    X, Y = make_windows(series, period + 1, horizon, val_end)
    forecasts = {"naive": naive(X, horizon), "seasonal-naive": seasonal_naive(X, horizon, period),
                 "seasonal-naive with drift": seasonal_naive_drift(X, horizon, period)}
    return {name: float((f - Y)[:, -1].abs().mean()) for name, f in forecasts.items()}


def check_exercise_4(answer, series, val_end: int) -> bool:
    """Lecture 07, exercise 4: which baseline has the lowest test MAE 26 weeks ahead."""
    if answer is not None and not (isinstance(answer, str) and answer.strip().lower() in EXERCISE_4_BASELINES):
        print(f"not yet: answer one of {', '.join(repr(b) for b in EXERCISE_4_BASELINES)}.")
        return False
    at_26 = baselines_at(series, val_end)
    return check(answer, min(at_26, key=at_26.get), "compare the three baselines' MAE 26 weeks ahead on the test "
                                                     "windows: how much of the season and of the trend does each miss?")
