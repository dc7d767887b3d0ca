"""Shared machinery for the rnn-course notebooks.

Each module has one job and says which lecture teaches it; import what you need by name, e.g.
``from helpers.data import load_text`` or ``from helpers.train import train``.
"""
from helpers.runtime import describe, fast_mode, get_device, pick, set_seed

__all__ = ["describe", "fast_mode", "get_device", "pick", "set_seed"]
