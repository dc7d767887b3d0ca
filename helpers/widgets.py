"""An interactive sampler for any trained ``CharRNN``: prime, temperature, length, top-k, Generate."""
from __future__ import annotations

import ipywidgets as widgets

from helpers.generate import sample


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
