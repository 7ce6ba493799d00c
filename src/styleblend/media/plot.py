"""A small scatter plot drawn with Pillow (no plotting library needed): points, lines, labels, axes.

Used for the Pareto front of ``blend --auto``. Coordinates are data units; the axes span the data with a
margin, with the end values written at the axis ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InvalidArgumentError


@dataclass(frozen=True)
class Series:
    """Points of one kind: ``marker`` 'dot', 'square', 'star' or 'line' (joined in the given order)."""

    points: Sequence[tuple[float, float]]
    colour: tuple[int, int, int]
    marker: str = "dot"
    name: str = ""
    labels: Sequence[str] = ()  # a text beside each point (optional)
    size: int = 3


def scatter_plot(series: Sequence[Series], x_label: str, y_label: str, title: str = "",
                 width: int = 560, height: int = 400) -> np.ndarray:
    """Draw the series on white: uint8 RGB [height, width, 3], with a legend of the named series.

    Raises:
        InvalidArgumentError: no finite point, or a size below 200 x 160.
    """
    if width < 200 or height < 160:
        raise InvalidArgumentError(f"a plot of {width}x{height} px is too small; use at least 200x160")
    pts = [(x, y) for s in series for x, y in s.points if np.isfinite(x) and np.isfinite(y)]
    if not pts:
        raise InvalidArgumentError("nothing to plot: no finite point")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    x0, x1, y0, y1 = x0 - 0.05 * dx, x1 + 0.12 * dx, y0 - 0.05 * dy, y1 + 0.05 * dy
    named = [s for s in series if s.name]
    legend_w = 120 if named else 0  # the legend sits right of the axes, never over a point
    left, right, top, bottom = 48, width - 16 - legend_w, 44 if title else 28, height - 40
    im = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))

    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for frac in (0.25, 0.5, 0.75):  # light grid
        gx, gy = left + frac * (right - left), top + frac * (bottom - top)
        draw.line([gx, top, gx, bottom], fill=(225, 225, 225))
        draw.line([left, gy, right, gy], fill=(225, 225, 225))
    draw.text((left, bottom + 4), f"{x0:.3g}", fill=(0, 0, 0), font=font)
    draw.text((right, bottom + 4), f"{x1:.3g}", fill=(0, 0, 0), font=font, anchor="ra")
    draw.text(((left + right) / 2, bottom + 18), x_label, fill=(0, 0, 0), font=font, anchor="ma")
    draw.text((left - 4, bottom), f"{y0:.3g}", fill=(0, 0, 0), font=font, anchor="rs")
    draw.text((left - 4, top), f"{y1:.3g}", fill=(0, 0, 0), font=font, anchor="ra")
    draw.text((left, top - 14), y_label, fill=(0, 0, 0), font=font)
    if title:
        draw.text((width / 2, 8), title, fill=(0, 0, 0), font=font, anchor="ma")
    for s in series:
        xy = [at(x, y) for x, y in s.points if np.isfinite(x) and np.isfinite(y)]
        if s.marker == "line":
            if len(xy) > 1:
                draw.line(xy, fill=s.colour, width=2)
            continue
        r = s.size
        for i, (px, py) in enumerate(xy):
            if s.marker == "square":
                draw.rectangle([px - r, py - r, px + r, py + r], outline=s.colour, width=2)
            elif s.marker == "star":
                draw.polygon(_star(px, py, r * 2), fill=s.colour, outline=(0, 0, 0))
            else:
                draw.ellipse([px - r, py - r, px + r, py + r], fill=s.colour)
            if i < len(s.labels) and s.labels[i]:
                draw.text((px + r + 2, py - r - 2), s.labels[i], fill=s.colour, font=font)
    for i, s in enumerate(named):  # legend, right of the axes
        ly = top + 6 + 14 * i
        draw.rectangle([right + 10, ly + 2, right + 18, ly + 10], fill=s.colour)
        draw.text((right + 22, ly), s.name, fill=(0, 0, 0), font=font)
    return np.asarray(im, dtype=np.uint8)


def _star(x: float, y: float, r: float) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = -np.pi / 2 + k * np.pi / 5
        pts.append((x + radius * np.cos(angle), y + radius * np.sin(angle)))
    return pts
