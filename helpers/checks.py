"""Argument checks shared by every helpers module: each error names the argument, the value and what fits.

Not taught in a lecture of its own; every lecture meets these errors when a setting is out of range.
"""
from __future__ import annotations

import math
from numbers import Integral, Real


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None, *, optional: bool = False,
              hint: str = "") -> None:
    """Raise ValueError unless ``value`` is an int in ``minimum..maximum`` (or None when ``optional``).

    Used by nearly every helper that takes a size, count or seed (lectures 01-08 and the lab).
    """
    if value is None and optional:
        return
    if (not isinstance(value, Integral) or isinstance(value, bool) or value < minimum
            or (maximum is not None and value > maximum)):
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        kind = kind if maximum is None else f"an int in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {kind}{' or None' if optional else ''}{hint}, got {value!r}")


def check_number(name: str, value, *, above: float | None = None, at_least: float | None = None,
                 below: float | None = None, at_most: float | None = None, optional: bool = False,
                 hint: str = "") -> None:
    """Raise ValueError unless ``value`` is a finite number within the bounds given (or None when ``optional``).

    Used by the helpers that take a rate or a fraction (lectures 03-08 and the lab).
    """
    if value is None and optional:
        return
    fits = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    fits = fits and (above is None or value > above) and (at_least is None or value >= at_least)
    fits = fits and (below is None or value < below) and (at_most is None or value <= at_most)
    if not fits:
        raise ValueError(f"{name} must be {_describe(above, at_least, below, at_most)}"
                         f"{' or None' if optional else ''}{hint}, got {value!r}")


def _describe(above, at_least, below, at_most) -> str:
    low = f"({above:g}" if above is not None else f"[{at_least:g}" if at_least is not None else None
    high = f"{below:g})" if below is not None else f"{at_most:g}]" if at_most is not None else None
    if low and high:
        return f"a number in {low}, {high}"
    if above == 0 and not high:
        return "a positive number"
    if low:
        return f"a number {'>' if above is not None else '>='} {low[1:]}"
    if high:
        return f"a number {'<' if below is not None else '<='} {high[:-1]}"
    return "a finite number"
