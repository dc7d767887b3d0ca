"""Interactive panels that still read well when stored: the text sampler, the gate explorer, figure sliders.

Taught in lectures 03 (a slider over gradient norms), 04 (the gate explorer), 05 (try your own review)
and 06 (the sampler). A widget's live state is not saved with a notebook, so a notebook opened without
running shows the widget's Python repr (``VBox(children=...``). Each panel here also stores a title, a
"run this cell" note and a static view of its first state (a picture or a line of settings), which
JupyterLab, GitHub and nbviewer show until the cell is run.
"""
from __future__ import annotations

import html
import warnings

import ipywidgets as widgets

from helpers.gates import gru_gates, lstm_gates
from helpers.generate import sample
from helpers.plots import FigureImage, description, plot_gates

RUN_NOTE = "Run this cell for the interactive version."
LABEL_STYLE = {"description_width": "8em"}  # wide enough for "temperature" and "top-k (0: off)"


class Panel(widgets.VBox):
    """A VBox whose stored output carries a title, the run-me note and a static view of its state."""

    def __init__(self, children, caption: str, static=None, **kwargs):
        super().__init__(children, **kwargs)
        self.caption = caption
        self.static = static  # () -> a FigureImage, an HTML string, or None

    def _repr_mimebundle_(self, **kwargs):
        bundle, metadata = super()._repr_mimebundle_(**kwargs), {}
        view = self.static() if self.static else None
        bundle["text/plain"] = f"{self.caption}. {RUN_NOTE}"
        page = f"<p><b>{html.escape(self.caption)}.</b> <i>{RUN_NOTE}</i></p>"
        if isinstance(view, FigureImage):
            figure, metadata = view._repr_mimebundle_()
            bundle["image/png"] = figure["image/png"]
            page += figure["text/html"]
        elif isinstance(view, bytes):
            raise TypeError(f"{self.caption}: static() returned PNG bytes; return helpers.plots.FigureImage(fig, "
                            "alt) so the stored picture has a description.")
        elif view:
            page += view
        bundle["text/html"] = page
        return bundle, metadata


def _draw_figure(draw, values: dict, alt) -> FigureImage:
    """``draw(**values)`` drawn off-screen as a described FigureImage; the figure is closed."""
    import matplotlib.pyplot as plt

    with plt.ioff():  # drawn off-screen: the picture goes into the panel, not below the cell
        draw(**values)
        fig = plt.gcf()
    try:
        if not fig.axes:
            raise ValueError(f"{getattr(draw, '__name__', 'draw')}() drew nothing: it should draw on a new figure "
                             "and not call plt.show(); the panel shows the figure.")
        text = alt(**values) if callable(alt) else alt
        if text is None:
            text = description(fig)
        if text is None:  # a stop-gap that names the settings; the warning asks the author for the real one
            warnings.warn(f"interactive_plot: {getattr(draw, '__name__', 'draw')}() drew a figure with no "
                          "description; pass alt=lambda **values: f'...' (what is plotted, the shape, the numbers) "
                          "or call helpers.plots.add_description(ax, ...) in it (docs/accessibility.md).",
                          stacklevel=4)
            settings = ", ".join(f"{name} = {value}" for name, value in values.items())
            text = f"{fig.axes[0].get_title() or 'A figure'}, drawn for {settings}."
        return FigureImage(fig, text)
    finally:
        plt.close(fig)


def _live_figure(draw, controls: dict, alt=None):
    """An Output showing ``draw(**values)``, redrawn on every change, and a function that gives its first view."""
    figure, first = widgets.Output(), {}

    def redraw(_=None):
        image = _draw_figure(draw, {name: c.value for name, c in controls.items()}, alt)
        first.setdefault("image", image)
        figure.outputs = ()  # set, not captured: works with or without a front end listening
        figure.append_display_data(image)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return figure, lambda: first["image"]


def interactive_plot(draw, caption: str, alt=None, **controls) -> Panel:
    """Sliders (or any value widgets) over a figure: ``draw(**values)`` draws it anew on each change.

    Like ``ipywidgets.interact``, but ``draw`` must not call ``plt.show()``, and the stored notebook
    keeps a picture of the first figure. ``alt(**values)`` (or a string) describes the figure; without it,
    the description the course's plotting helpers (or ``add_description`` in ``draw``) attached is used.
    """
    for control in controls.values():
        control.style.description_width = LABEL_STYLE["description_width"]
    figure, first_view = _live_figure(draw, controls, alt)
    return Panel([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), figure], caption,
                 static=first_view)


def sampler(model, vocab, prime: str = "The ", device=None, length: int = 300, temperature: float = 0.8) -> Panel:
    """Controls for ``helpers.generate.sample``; each click on Generate shows the settings, then the text."""
    prime_box = widgets.Textarea(value=prime, description="prime", rows=2, style=LABEL_STYLE,
                                 layout={"width": "32em"})  # primes may hold newlines
    temperature_slider = widgets.FloatSlider(value=temperature, min=0.05, max=2.0, step=0.05,
                                             description="temperature", style=LABEL_STYLE)
    length_slider = widgets.IntSlider(value=length, min=10, max=2000, step=10, description="length",
                                      style=LABEL_STYLE)
    top_k_slider = widgets.IntSlider(value=0, min=0, max=len(vocab), description="top-k (0: off)",
                                     style=LABEL_STYLE)
    seed_box = widgets.Text(value="", placeholder="blank: random", description="seed", style=LABEL_STYLE)
    button = widgets.Button(description="Generate", button_style="primary", icon="play")
    output = widgets.Output(layout={"border": "1px solid #ccc", "padding": "4px"})

    def generate(_=None):
        output.outputs = ()  # works with or without a running kernel, unlike clear_output
        top_k = top_k_slider.value or None
        seed = seed_box.value.strip()
        if seed and not seed.isdigit():
            output.append_stdout(f"Cannot sample: seed must be a whole number or blank, got {seed!r}\n")
            return
        seed = int(seed) if seed else None
        try:
            text = sample(model, vocab, prime_box.value, length=length_slider.value,
                          temperature=temperature_slider.value, top_k=top_k, seed=seed, device=device)
        except ValueError as e:  # show the problem where the student is looking
            output.append_stdout(f"Cannot sample: {e}\n")
            return
        output.append_stdout(f"[temperature={temperature_slider.value:.2f}, top_k={top_k or 'off'}, "
                             f"length={length_slider.value}, seed={seed if seed is not None else 'random'}]\n{text}\n")

    def settings() -> str:
        return (f"<p>prime {html.escape(repr(prime_box.value))}, temperature {temperature_slider.value:.2f}, "
                f"length {length_slider.value}, top-k {top_k_slider.value or 'off'}, "
                f"seed {html.escape(seed_box.value) or 'random'}; press <b>Generate</b> for text.</p>")

    button.on_click(generate)
    box = Panel([prime_box, temperature_slider, length_slider, top_k_slider, seed_box, button, output],
                "Text sampler", static=settings)
    # handles for code (and tests) that drive the widget without a mouse
    box.prime, box.temperature, box.length, box.top_k, box.seed = (prime_box, temperature_slider, length_slider,
                                                                   top_k_slider, seed_box)
    box.button, box.output, box.generate = button, output, generate
    return box


def gate_explorer(cell: str = "lstm") -> Panel:
    """Sliders for x, h_prev, c_prev and the biases/weights of a one-unit LSTM or GRU, over its gate values."""
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell={cell!r}: use 'lstm' or 'gru'.")
    gates = "ifgo" if cell == "lstm" else "rzn"

    def slider(name, value, lo=-3.0, hi=3.0):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.1, description=name,
                                   continuous_update=False, style={"description_width": "4em"})

    inputs = {"x": slider("x", 1.0), "h_prev": slider("h_prev", 0.5, -1, 1)}
    if cell == "lstm":
        inputs["c_prev"] = slider("c_prev", 1.0)
    weights = {f"w_x[{g}]": slider(f"w_x[{g}]", 1.0) for g in gates}
    weights |= {f"w_h[{g}]": slider(f"w_h[{g}]", 1.0) for g in gates}
    weights |= {f"b[{g}]": slider(f"b[{g}]", 0.0, -5, 5) for g in gates}

    def draw(**kw):
        w_x = {g: kw[f"w_x[{g}]"] for g in gates}
        w_h = {g: kw[f"w_h[{g}]"] for g in gates}
        b = {g: kw[f"b[{g}]"] for g in gates}
        if cell == "lstm":
            values = lstm_gates(kw["x"], kw["h_prev"], kw["c_prev"], w_x, w_h, b)
            prev = {"c": kw["c_prev"], "h": kw["h_prev"]}
        else:
            values = gru_gates(kw["x"], kw["h_prev"], w_x, w_h, b)
            prev = {"h": kw["h_prev"]}
        plot_gates(values, prev, title=f"one-unit {cell.upper()}: gates and state update")

    figure, first_view = _live_figure(draw, {**inputs, **weights})
    column = lambda ws: widgets.VBox(list(ws))  # noqa: E731
    panel = widgets.HBox([column(inputs.values()), column(list(weights.values())[: len(gates) * 2]),
                          column(list(weights.values())[len(gates) * 2:])])
    return Panel([panel, figure], f"{cell.upper()} gate explorer", static=first_view)
