"""Figures the lectures share: training curves of several runs, gradient norms through time, gate values.

Taught in lectures 03 (gradient norms through time), 04 (gate values) and 05 and 06 (training curves, live
while a model trains).
"""
from __future__ import annotations

import matplotlib.pyplot as plt

_METRICS = {  # metric name -> (train series, validation series, y label)
    "loss": ("train_loss", "val_loss", None),
    "bpc": (None, "val_bpc", "validation bits per character"),
    "acc": (None, "val_acc", "validation accuracy"),
}
_LOSS_LABEL = {"char_lm": "loss (nats per character)", "sentiment": "loss (binary cross-entropy)"}


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), dpi=90)
    return ax


def smooth(values, weight: float | None = None) -> list[float]:
    """Exponential moving average; by default the window is about a twentieth of the run."""
    if weight is None:
        weight = 1.0 - 1.0 / max(1.0, len(values) / 20)
    out, avg = [], None
    for v in values:
        avg = v if avg is None else weight * avg + (1 - weight) * v
        out.append(avg)
    return out


def plot_histories(histories: dict, metric: str = "loss", ax=None):
    """Several runs on one axes: train solid (smoothed), validation dashed, one colour per run."""
    if not isinstance(histories, dict) or not histories:
        raise ValueError("plot_histories takes a dict of runs, e.g. {'GRU': history_gru, 'RNN': history_rnn}")
    name = metric.removeprefix("val_") if isinstance(metric, str) else metric
    if name not in _METRICS:
        raise ValueError(f"metric must be one of 'loss', 'bpc', 'acc', got {metric!r}")
    train_key, val_key, ylabel = _METRICS[name]
    ax = _axes(ax)
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i % 10}"
        if train_key and getattr(h, train_key):
            ax.plot(h.steps, smooth(getattr(h, train_key)), "-", color=color, label=f"{label} train")
        if getattr(h, val_key):
            ax.plot(h.val_steps, getattr(h, val_key), "--o", color=color, markersize=3, label=f"{label} validation")
    kinds = {h.kind for h in histories.values()}
    ax.set(xlabel="training step", ylabel=ylabel or _LOSS_LABEL.get(kinds.pop() if len(kinds) == 1 else "", "loss"),
           title="Training curves (train solid, validation dashed)" if name == "loss" else ylabel.capitalize())
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _notebook_display():
    """A display handle when running in a Jupyter kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    return display(display_id=True) if shell is not None and hasattr(shell, "kernel") else None


class LivePlot:
    """A training curve that redraws in place in a notebook; outside Jupyter it does nothing."""

    def __init__(self, label: str = "run"):
        self.label, self.handle = label, _notebook_display()

    def update(self, history) -> None:
        if self.handle is None or not history.steps:
            return
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=80)
        plot_histories({self.label: history}, ax=ax)
        self.handle.update(fig)
        plt.close(fig)  # shown through the handle only, not again when the cell ends


def plot_grad_norms(norms: dict, ax=None, log: bool = True):
    """Gradient norm (e.g. ||dh_t/dh_k||) against the distance t - k in time steps, one line per run."""
    if not isinstance(norms, dict) or not norms:
        raise ValueError("plot_grad_norms takes a dict of runs, e.g. {'tanh RNN': norms_rnn, 'LSTM': norms_lstm}")
    ax = _axes(ax)
    for i, (label, values) in enumerate(norms.items()):
        values = [float(v) for v in values]
        ax.plot(range(len(values)), values, "-", color=f"C{i % 10}", label=label)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="time steps back, t - k", ylabel=r"gradient norm $\|\partial h_t / \partial h_k\|$",
           title="Gradient norm through time")
    ax.grid(alpha=0.3, which="both" if log else "major")
    ax.legend(fontsize="small")
    return ax


def plot_gates(values: dict, prev: dict, ax=None, title=None):
    """Bar chart of gate values next to the previous and new state (values from lstm_gates or gru_gates)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3), dpi=90)
    names = [k for k in values if k not in ("c", "h")]
    states = [(f"{k} prev", prev[k]) for k in prev] + [(f"{k} new", values[k]) for k in prev]
    labels = names + [s for s, _ in states]
    heights = [values[k] for k in names] + [v for _, v in states]
    colors = ["tab:blue"] * len(names) + ["tab:gray"] * len(prev) + ["tab:orange"] * len(prev)
    bars = ax.bar(labels, heights, color=colors)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(min(-1.1, min(heights) - 0.3), max(1.1, max(heights) + 0.3))
    ax.set_ylabel("value")
    ax.set_xlabel("gates (blue), previous state (gray), new state (orange)")
    ax.set_title(title or "gate values and the state update")
    return ax
