"""Shared machinery for the rnn-course notebooks.

Each module has one job and says which lecture teaches it; import what you need by name, e.g.
``from helpers.data import load_text`` or ``from helpers.train import train``. Importing the package
sets the course's plot style; ``helpers.plots.show(fig, alt=...)`` displays a figure with its description.
"""
from helpers.runtime import describe, fast_mode, get_device, pick, set_seed
from helpers.style import apply_style

apply_style()  # every figure of the course: colour-blind-safe colours, line styles and markers (helpers.style)

__all__ = ["describe", "fast_mode", "get_device", "pick", "set_seed"]
