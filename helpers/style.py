"""The course's plot style: colour-blind-safe colours, and a line style and marker per series.

Applied once when ``helpers`` is imported, so every lecture and lab figure reads in greyscale and for
readers with a colour-vision deficiency. Only matplotlib's settings are touched (not pyplot), which
keeps ``import helpers`` light. See docs/accessibility.md.
"""
from __future__ import annotations

# Okabe & Ito (2008), "Color Universal Design". The first five reach WCAG's 3:1 for graphics against
# white (5.2, 3.9, 3.4, 3.1 and 21); orange and sky blue (2.3:1) come only from a sixth series on, where
# line style and marker tell the series apart as well. Yellow (1.1:1) is left out.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish green": "#009E73",
    "reddish purple": "#CC79A7",
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
}
COLORS = list(OKABE_ITO.values())
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 2, 4, 2))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]

STYLE = {
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "legend.fontsize": "small",
    "image.cmap": "viridis",  # perceptually uniform and readable in greyscale
}


def prop_cycle():
    """Series i gets colour i, line style i and marker i (show() spreads markers out on long lines).

    Used by apply_style (every lecture, the labs).
    """
    from cycler import cycler

    return cycler(color=COLORS) + cycler(linestyle=LINESTYLES) + cycler(marker=MARKERS)


def apply_style() -> None:
    """Set the course's matplotlib defaults (idempotent; a notebook may still override them).

    Used by helpers.plots on import (every lecture, the labs).
    """
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = prop_cycle()


def contrast_ratio(color: str, background: str = "#FFFFFF") -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21).

    Used by the style's own tests: the palette's contrast (every lecture, the labs).
    """
    from matplotlib.colors import to_rgb

    def luminance(c):
        channels = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in to_rgb(c)]
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    hi, lo = sorted((luminance(color), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
