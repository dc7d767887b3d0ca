"""Where and how the course runs: the repository's folder, device choice, seeding, and fast mode.

Used at the top of every lecture (``helpers.describe()``); fast mode is introduced in lecture 01.

torch is imported inside the functions that need it, so ``import helpers.data`` stays quick.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.checks import check_int

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent  # the course's folder: lectures/, helpers/, data/

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` asks for small subsets and few steps (CPU laptops, CI).

    Used in lectures 05, 06, 07, 08 and 09, and the labs attention, forecasting, imdb_sentiment, rnn_by_hand and
    sherlock_rnn_vs_gru.
    """
    value = os.environ.get("COURSE_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"COURSE_FAST={os.environ['COURSE_FAST']!r} is not understood: "
        "set it to 1 for fast mode or 0 (or leave it unset) for full runs."
    )


def pick(*, fast, full):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``pick(fast=200, full=5000)``.

    Used in lectures 01, 03, 04, 05, 06, 07, 08 and 09, and the labs attention, forecasting, imdb_sentiment,
    rnn_by_hand and sherlock_rnn_vs_gru.
    """
    return fast if fast_mode() else full


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``prefer`` or ``COURSE_DEVICE`` if given, else cuda, then mps, then cpu.

    Used in lectures 05, 06, 07, 08 and 09.
    """
    import torch

    prefer = str(prefer) if prefer is not None else None
    wanted = (prefer or os.environ.get("COURSE_DEVICE", "")).strip()
    if not wanted:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    asked = f"get_device({wanted!r})" if prefer else f"COURSE_DEVICE={wanted!r}"
    fallback = "Ask for 'cpu' instead" if prefer else "Unset COURSE_DEVICE to fall back to the CPU"
    try:
        device = torch.device(wanted)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{asked} is not a device the course runs on: use cpu, cuda, cuda:1 or mps.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{asked} asks for a GPU, but PyTorch sees no CUDA device. "
            f"{fallback}, or install a CUDA build of torch (see the README's GPU notes)."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RuntimeError(
            f"{asked}: only {torch.cuda.device_count()} CUDA device(s) are visible; "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(
            f"{asked} asks for Apple's MPS, which is not available here. {fallback}."
        )
    return device


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); returns a CPU generator seeded the same.

    Used in lectures 01, 02, 03, 04, 05, 06, 07, 08 and 09.
    """
    check_int("seed", seed, minimum=0)
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def describe() -> str:
    """One line naming the device, the mode and the torch version, for the top of a notebook.

    Used in lectures 01, 02, 03, 04, 05, 06, 07, 08 and 09, and the labs attention, forecasting, imdb_sentiment,
    rnn_by_hand and sherlock_rnn_vs_gru.
    """
    import torch

    device = get_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    mode = "fast mode (COURSE_FAST=1)" if fast_mode() else "full mode"
    return f"torch {torch.__version__} on {name}, {mode}"
