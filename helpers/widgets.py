"""Interactive panels: a text sampler for any trained ``CharRNN``, and an LSTM/GRU gate explorer."""
from __future__ import annotations

import ipywidgets as widgets

from helpers.gates import gru_gates, lstm_gates
from helpers.generate import sample
from helpers.plots import plot_gates


def sampler(model, vocab, prime: str = "The ", device=None, length: int = 300, temperature: float = 0.8):
    """A VBox of controls; each click on Generate shows the settings, then the text they produced."""
    prime_box = widgets.Textarea(value=prime, description="prime", rows=2)  # primes may hold newlines
    temperature_slider = widgets.FloatSlider(value=temperature, min=0.05, max=2.0, step=0.05, description="temperature")
    length_slider = widgets.IntSlider(value=length, min=10, max=2000, step=10, description="length")
    top_k_slider = widgets.IntSlider(value=0, min=0, max=len(vocab), description="top-k (0: off)")
    seed_box = widgets.Text(value="", placeholder="blank: random", description="seed")
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

    button.on_click(generate)
    box = widgets.VBox([prime_box, temperature_slider, length_slider, top_k_slider, seed_box, button, output])
    # handles for code (and tests) that drive the widget without a mouse
    box.prime, box.temperature, box.length, box.top_k, box.seed = (prime_box, temperature_slider, length_slider,
                                                                   top_k_slider, seed_box)
    box.button, box.output, box.generate = button, output, generate
    return box


def gate_explorer(cell: str = "lstm"):
    """An ipywidgets panel: sliders for x, h_prev, c_prev and the biases/weights of a one-unit LSTM or GRU."""
    import matplotlib.pyplot as plt

    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell={cell!r}: use 'lstm' or 'gru'.")
    gates = "ifgo" if cell == "lstm" else "rzn"

    def slider(name, value, lo=-3.0, hi=3.0):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.1, description=name,
                                   continuous_update=False)

    inputs = {"x": slider("x", 1.0), "h_prev": slider("h_prev", 0.5, -1, 1)}
    if cell == "lstm":
        inputs["c_prev"] = slider("c_prev", 1.0)
    weights = {f"w_x[{g}]": slider(f"w_x[{g}]", 1.0) for g in gates}
    weights |= {f"w_h[{g}]": slider(f"w_h[{g}]", 1.0) for g in gates}
    weights |= {f"b[{g}]": slider(f"b[{g}]", 0.0, -5, 5) for g in gates}

    def show(**kw):
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
        plt.show()

    controls = {**inputs, **weights}
    out = widgets.interactive_output(show, controls)
    column = lambda ws: widgets.VBox(list(ws))  # noqa: E731
    panel = widgets.HBox([column(inputs.values()), column(list(weights.values())[: len(gates) * 2]),
                          column(list(weights.values())[len(gates) * 2:])])
    return widgets.VBox([panel, out])
