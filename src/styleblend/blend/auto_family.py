"""Families of α tables the automatic search draws from: free per-resolution tables, or smooth sigmoid schedules.

Why: a search that scores hundreds of free tables (one α per resolution) on a few latents finds tables that
win there by chance. A family with fewer, smoother parameters has fewer ways to fit the noise of the sample
latents (and on a 1024 px model 4 parameters instead of 9). Both families map a point of the unit cube
``u`` in [0, 1]^dims to a table (one α per block resolution, ascending); the search mutates ``u``.

* ``table``: ``u`` is the table itself.
* ``sigmoid``: α(r) = coarse + (fine - coarse) * s(r), s(r) = 1 / (1 + exp(-(log2 r - c) / w)): α moves
  smoothly from ``coarse`` at the lowest resolution to ``fine`` at the highest, centred on resolution 2^c, over
  about w octaves. ``u`` = (c from half an octave below the lowest block to half above the highest, w from
  1/8 to 4 octaves on a log scale, coarse, fine). coarse = 1, fine = 0 and a small width is nearly a plain
  swap; coarse = fine a constant α; the blends of Pinkney & Adler's smooth schedules are inside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidArgumentError

#: The families :func:`family` knows.
FAMILIES = ("table", "sigmoid")

#: Narrowest and widest sigmoid transition, octaves.
MIN_WIDTH, MAX_WIDTH = 0.125, 4.0


@dataclass(frozen=True)
class Family:
    """A family of tables over ``resolutions`` (ascending block resolutions): ``dims`` parameters in [0, 1]."""

    name: str
    resolutions: tuple[int, ...]

    @property
    def dims(self) -> int:
        return len(self.resolutions) if self.name == "table" else 4

    def table(self, u: Sequence[float]) -> tuple[float, ...]:
        """The α table of parameters ``u`` (each clipped to [0, 1]), rounded to 4 decimals as the search's."""
        if len(u) != self.dims:
            raise InvalidArgumentError(f"{len(u)} parameters for the {self.name} family of {self.dims}")
        v = [min(1.0, max(0.0, float(x))) for x in u]
        if self.name == "table":
            return tuple(round(x, 4) for x in v)
        lo, hi = math.log2(self.resolutions[0]) - 0.5, math.log2(self.resolutions[-1]) + 0.5
        centre = lo + (hi - lo) * v[0]
        width = MIN_WIDTH * (MAX_WIDTH / MIN_WIDTH) ** v[1]
        coarse, fine = v[2], v[3]
        out = []
        for r in self.resolutions:
            t = (math.log2(r) - centre) / width
            s = 1.0 / (1.0 + math.exp(-t)) if t > -700 else 0.0
            out.append(round(coarse + (fine - coarse) * s, 4))
        return tuple(out)

    def spec(self, u: Sequence[float]) -> str:
        """The parameters in words (for reports): 'table' or 'sigmoid centre 16 px, 0.5 octaves, 0.2 -> 0.9'."""
        if self.name == "table":
            return "table"
        lo, hi = math.log2(self.resolutions[0]) - 0.5, math.log2(self.resolutions[-1]) + 0.5
        centre = 2 ** (lo + (hi - lo) * u[0])
        width = MIN_WIDTH * (MAX_WIDTH / MIN_WIDTH) ** u[1]
        return f"sigmoid centre {centre:.3g} px, {width:.3g} octaves, {u[2]:.3g} -> {u[3]:.3g}"


def family(name: str, resolutions: Sequence[int]) -> Family:
    """The family ``name`` (one of :data:`FAMILIES`) over ``resolutions``."""
    if name not in FAMILIES:
        raise InvalidArgumentError(f"`family` {name!r} must be one of {', '.join(FAMILIES)}", param="family")
    if len(resolutions) < 2:
        raise InvalidArgumentError(f"a family of tables needs at least 2 resolutions; got {list(resolutions)}")
    return Family(name, tuple(int(r) for r in resolutions))
