"""Figures the lectures share, and ``show``: every figure reaches the reader with a description.

Taught in lectures 03 (gradient norms through time), 04 (gate values) and 05 and 06 (training curves, live
while a model trains). ``show(fig, alt=...)`` ends every cell that draws: it displays the figure as a PNG
with its description attached (so JupyterLab, the HTML export, Formgrader and feedback all give it to a
screen reader) and refuses a figure that has none. The plotting helpers here describe what they draw from
the data, so ``show(fig)`` needs no ``alt`` after them. docs/accessibility.md says how to write one.
"""
from __future__ import annotations

import base64
import html
import io
import math
import weakref

import matplotlib.pyplot as plt

from helpers.style import COLORS, MARKERS, apply_style

apply_style()

MIN_ALT = 20  # characters: "Loss curve" says nothing a sighted reader could not get from the title alone
PLACEHOLDERS = ("image", "figure", "plot", "chart", "graph")  # and nbconvert's "No description has been provided..."
_DESCRIPTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Axes or Figure -> text

_METRICS = {  # metric name -> (train series, validation series, y label)
    "loss": ("train_loss", "val_loss", None),
    "bpc": (None, "val_bpc", "validation bits per character"),
    "acc": (None, "val_acc", "validation accuracy"),
}
_LOSS_LABEL = {"char_lm": "loss (nats per character)", "sentiment": "loss (binary cross-entropy)"}


# --- descriptions ---------------------------------------------------------------------------

def add_description(target, text: str):
    """Attach a description to one panel (an Axes) or a whole figure; ``show`` reads it. Returns ``target``."""
    _DESCRIPTIONS[target] = _checked(text)
    return target


def _panels(fig) -> list:
    """The axes that hold content (colour bars and empty or hidden axes are part of another panel)."""
    return [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")
            and (ax.lines or ax.patches or ax.images or ax.collections or ax.texts)]


def description(fig) -> str | None:
    """The figure's description: its own, or its panels' joined; None if a panel has none."""
    fig = getattr(fig, "figure", fig)
    if fig in _DESCRIPTIONS:
        return _DESCRIPTIONS[fig]
    panels = _panels(fig)
    if not panels or any(ax not in _DESCRIPTIONS for ax in panels):
        return None
    if len(panels) == 1:
        return _DESCRIPTIONS[panels[0]]
    return " ".join(f"Panel {i} ({ax.get_title() or 'untitled'}): {_DESCRIPTIONS[ax]}"
                    for i, ax in enumerate(panels, 1))


def _checked(text) -> str:
    if not isinstance(text, str):
        raise ValueError(f"A figure description is a sentence (str), got {type(text).__name__}.")
    text = " ".join(text.split())
    if len(text) < MIN_ALT or text.lower().strip(" .") in PLACEHOLDERS or text.lower().startswith("no description"):
        raise ValueError(f"The description {text!r} is too short to stand in for the figure: say what is plotted "
                         "(axes, series), its shape (rises, falls, flattens after ...) and the numbers a reader "
                         "needs, in one to three sentences (docs/accessibility.md).")
    return text


# --- showing a figure -------------------------------------------------------------------------

class FigureImage:
    """A figure as a PNG whose description travels with it: ``image/png`` with ``alt`` metadata
    (nbconvert, nbgrader), ``text/html`` with an ``alt`` attribute (JupyterLab ignores image metadata),
    and ``text/plain`` for text-only front ends."""

    def __init__(self, fig, alt: str):
        _spread_markers(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        self.png, self.alt = buffer.getvalue(), _checked(alt)

    def _repr_mimebundle_(self, include=None, exclude=None):
        b64 = base64.b64encode(self.png).decode("ascii")
        data = {"image/png": b64, "text/plain": self.alt,
                "text/html": f'<img src="data:image/png;base64,{b64}" alt="{html.escape(self.alt)}">'}
        return data, {"image/png": {"alt": self.alt}}


def _spread_markers(fig) -> None:
    """About ten markers along each long line: enough to tell series apart, few enough to see the curve."""
    for ax in fig.axes:
        for line in ax.lines:
            if (line.get_marker() not in (None, "", " ", "None") and line.get_linestyle() not in ("None", "", " ")
                    and line.get_markevery() is None and len(line.get_xdata()) > 40):
                line.set_markevery(0.1)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show(fig=None, alt: str | None = None) -> None:
    """Display ``fig`` (default: the current figure) with its description, then close it.

    ``alt`` describes it: what is plotted, the shape, the numbers that matter, from variables, e.g.
    ``show(fig, alt=f"Validation loss of the GRU falls from {first:.2f} to {last:.2f} ...")``. Without
    ``alt`` the description the course's plotting helpers attached is used; a figure with neither is an error.
    """
    fig = plt.gcf() if fig is None else getattr(fig, "figure", fig)
    text = alt if alt is not None else description(fig)
    if text is None:
        missing = [repr(ax.get_title() or f"panel {i}") for i, ax in enumerate(_panels(fig), 1)
                   if ax not in _DESCRIPTIONS]
        plt.close(fig)
        raise ValueError("This figure has no description, so a reader who cannot see it gets nothing"
                         + (f" (undescribed: {', '.join(missing)})" if missing else "")
                         + ". End the cell with show(fig, alt=f\"...\"): what is plotted, the shape and the "
                           "numbers that matter, from variables (docs/accessibility.md).")
    try:
        image = FigureImage(fig, text)
        if _in_kernel():
            from IPython.display import display

            display(image)
        else:
            plt.show()
    finally:
        plt.close(fig)  # shown once, here, and not again by the inline backend when the cell ends


# --- words for numbers and shapes ------------------------------------------------------------

def _fmt(x: float) -> str:
    """Three significant figures as a reader says them: 3.00, 0.481, 1,234 (never 1.23e+03)."""
    a = abs(x)
    if a == 0 or not math.isfinite(x):
        return f"{x:g}"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 1e-4:
        return f"{x:#.3g}".rstrip(".")
    return f"{x:.2g}"


def _steps(x) -> str:
    return f"{int(x):,}" if float(x).is_integer() else _fmt(x)


def _trend(xs, ys, what: str, x_name: str = "step") -> str:
    """E.g. 'training loss falls from 3.00 to 0.52 and flattens after step 2,000'."""
    ys = [float(y) for y in ys]
    first, last = ys[0], ys[-1]
    spread = max(ys) - min(ys)
    if len(ys) < 2 or spread <= 0.05 * max(abs(first), abs(last), 1e-12):
        return f"{what} stays near {_fmt(last)}"
    word = "falls" if last < first else "rises"
    text = f"{what} {word} from {_fmt(first)} to {_fmt(last)}"
    change = abs(last - first)
    settled = next(i for i in range(len(ys)) if all(abs(y - last) <= 0.1 * change for y in ys[i:]))
    if change > 0 and 0 < settled < 0.8 * (len(ys) - 1):
        text += f" and flattens after {x_name} {_steps(xs[settled])}"
    return text


def _factor(values, what: str) -> str:
    """E.g. 'tanh RNN falls from 1.00 to 0.0471 over 29 steps (a factor of 21.2)': how a norm grows or vanishes."""
    first, last = values[0], values[-1]
    if len(values) < 2 or first <= 0 or last <= 0 or 0.5 <= last / first <= 2:
        low, high = _fmt(min(values)), _fmt(max(values))
        return f"{what} stays at {low}" if low == high else f"{what} stays between {low} and {high}"
    word, ratio = ("falls", first / last) if last < first else ("grows", last / first)
    return f"{what} {word} from {_fmt(first)} to {_fmt(last)} over {len(values) - 1} steps (a factor of {_fmt(ratio)})"


def _extreme(xs, ys, lowest: bool) -> tuple:
    i = min(range(len(ys)), key=lambda k: ys[k] if lowest else -ys[k])
    return ys[i], xs[i]


def _join(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --- the course's plots ----------------------------------------------------------------------

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
    """Several runs on one axes: train solid (smoothed), validation dashed; each run its own colour and marker."""
    if not isinstance(histories, dict) or not histories:
        raise ValueError("plot_histories takes a dict of runs, e.g. {'GRU': history_gru, 'RNN': history_rnn}")
    name = metric.removeprefix("val_") if isinstance(metric, str) else metric
    if name not in _METRICS:
        raise ValueError(f"metric must be one of 'loss', 'bpc', 'acc', got {metric!r}")
    train_key, val_key, ylabel = _METRICS[name]
    ax = _axes(ax)
    for i, (label, h) in enumerate(histories.items()):
        style = {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)], "markersize": 4}
        if train_key and getattr(h, train_key):
            ax.plot(h.steps, smooth(getattr(h, train_key)), linestyle="-", markevery=0.1, label=f"{label} train",
                    **style)
        if getattr(h, val_key):
            ax.plot(h.val_steps, getattr(h, val_key), linestyle="--", label=f"{label} validation", **style)
    kinds = {h.kind for h in histories.values()}
    ylabel = ylabel or _LOSS_LABEL.get(kinds.pop() if len(kinds) == 1 else "", "loss")
    title = "Training curves (train solid, validation dashed)" if name == "loss" else ylabel.capitalize()
    ax.set(xlabel="training step", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    add_description(ax, _describe_histories(histories, name, ylabel))
    return ax


def _describe_histories(histories: dict, name: str, ylabel: str) -> str:
    train_key, val_key, _ = _METRICS[name]
    steps = [s for h in histories.values() for s in (h.steps or h.val_steps)]
    span = f" ({_steps(min(steps))} to {_steps(max(steps))})" if steps else ""
    lines = "training solid, validation dashed" if train_key else "validation only"
    parts = [f"Training curves: {ylabel} against training step{span} for {_join(histories)}; {lines}."]
    finals = {}
    for label, h in histories.items():
        said = []
        if train_key and getattr(h, train_key):
            said.append(_trend(h.steps, smooth(getattr(h, train_key)), "training loss (smoothed)"))
        values = getattr(h, val_key)
        if values:
            noun = "validation " + ("loss" if name == "loss" else ylabel.removeprefix("validation "))
            best, at = _extreme(h.val_steps, values, lowest=name != "acc")
            said.append(f"{_trend(h.val_steps, values, noun)} ({'highest' if name == 'acc' else 'lowest'} "
                        f"{_fmt(best)} at step {_steps(at)})")
            finals[label] = values[-1]
        parts.append(f"{label}: {'; '.join(said) or 'no values'}.")
    if len(finals) > 1:
        best = (max if name == "acc" else min)(finals.values())
        parts.append(f"{'Highest' if name == 'acc' else 'Lowest'} final validation value: "
                     f"{_join(k for k, v in finals.items() if v == best)} ({_fmt(best)}).")
    return " ".join(parts)


def _notebook_display():
    """A display handle when running in a Jupyter kernel, else None."""
    if not _in_kernel():
        return None
    from IPython.display import display

    return display(display_id=True)


class LivePlot:
    """A training curve that redraws in place in a notebook, described like plot_histories; outside Jupyter it
    does nothing."""

    def __init__(self, label: str = "run"):
        self.label, self.handle = label, _notebook_display()

    def update(self, history) -> None:
        if self.handle is None or not history.steps:
            return
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=80)
        plot_histories({self.label: history}, ax=ax)
        try:
            self.handle.update(FigureImage(fig, description(fig)))
        finally:
            plt.close(fig)  # shown through the handle only, not again when the cell ends


def plot_grad_norms(norms: dict, ax=None, log: bool = True):
    """Gradient norm (e.g. ||dh_t/dh_k||) against the distance t - k in time steps, one line per run."""
    if not isinstance(norms, dict) or not norms:
        raise ValueError("plot_grad_norms takes a dict of runs, e.g. {'tanh RNN': norms_rnn, 'LSTM': norms_lstm}")
    ax = _axes(ax)
    said = []
    for i, (label, values) in enumerate(norms.items()):
        values = [float(v) for v in values]
        ax.plot(range(len(values)), values, color=COLORS[i % len(COLORS)], marker=MARKERS[i % len(MARKERS)],
                linestyle="-", markersize=4, label=label)
        said.append(_factor(values, label))
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="time steps back, t - k", ylabel=r"gradient norm $\|\partial h_t / \partial h_k\|$",
           title="Gradient norm through time")
    ax.grid(alpha=0.3, which="both" if log else "major")
    ax.legend(fontsize="small")
    longest = max(len(v) for v in norms.values()) - 1
    add_description(ax, f"Gradient norm of dh_t/dh_k against the number of time steps back, t - k (0 to {longest})"
                 f"{', log scale' if log else ''}, for {_join(norms)}. " + "; ".join(said) + ".")
    return ax


def plot_gates(values: dict, prev: dict, ax=None, title=None):
    """Bar chart of gate values next to the previous and new state (values from lstm_gates or gru_gates)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3), dpi=90)
    names = [k for k in values if k not in ("c", "h")]
    states = [(f"{k} prev", prev[k]) for k in prev] + [(f"{k} new", values[k]) for k in prev]
    labels = names + [s for s, _ in states]
    heights = [float(values[k]) for k in names] + [float(v) for _, v in states]
    # gates, previous state, new state: told apart by colour, hatching and the label under each bar
    colors = [COLORS[0]] * len(names) + ["#767676"] * len(prev) + [COLORS[1]] * len(prev)
    hatches = [""] * len(names) + ["//"] * len(prev) + ["xx"] * len(prev)
    bars = ax.bar(labels, heights, color=colors, hatch=hatches, edgecolor="white")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(min(-1.1, min(heights) - 0.3), max(1.1, max(heights) + 0.3))
    ax.set_ylabel("value")
    ax.set_xlabel("gates (blue, plain), previous state (grey, //), new state (vermillion, xx)")
    ax.set_title(title or "gate values and the state update")
    gates = ", ".join(f"{k} {_fmt(float(values[k]))}" for k in names)
    updates = "; ".join(f"{k} from {_fmt(float(prev[k]))} (previous) to {_fmt(float(values[k]))} (new)" for k in prev)
    add_description(ax, f"Bar chart of gate values and the state update{f' ({title})' if title else ''}: gates {gates}; "
                        f"{updates}.")
    return ax
