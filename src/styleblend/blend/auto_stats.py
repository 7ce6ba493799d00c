"""Paired comparisons of α tables on common latents: does a table beat a plain swap, and how sure is that?

Why: :func:`styleblend.blend.auto.search_alpha` compares mean scores over a few latents, and the critic's
mean logit moves with the latents far more than the margins a search wins by (measured on the bundled pair:
the transfer scores -2.64 on seeds 0-15 and -2.11 on seeds 1000-1063). Two tables scored on the *same*
latents differ much less from latent to latent than their levels do, so the per-latent differences (common
random numbers) give the margin of a table over a swap with a standard error, and a one-sided lower
confidence bound says whether "better" is more than chance.

The unit of observation is a group of latents the critic judged together (its minibatch standard deviation
mixes the images of a group: :func:`styleblend.blend.auto.critic_units`), so the bound does not pretend the
logits of one group are independent. "Beats every swap on both scores" is then an intersection-union test:
each of the 2 x swaps one-sided tests at level 1 - ``confidence`` and all must pass, which keeps the whole
claim at that level without a multiplicity correction (Berger, "Multiparameter hypothesis testing and
acceptance sampling", Technometrics 1982). The bound is valid for a table chosen on *other* latents (the
validation latents of the search); on the latents a search selected it by, it is optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import InvalidArgumentError

#: The level of the one-sided paired bounds `blend --auto` and the web UI decide "beats a swap" at.
DEFAULT_CONFIDENCE = 0.95


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile ``t_{p, dof}`` for p in (0.5, 1): the Cornish-Fisher expansion in 1/dof around the
    normal quantile (Abramowitz & Stegun 26.7.5), within 0.01 of the exact value for dof >= 3 at p <= 0.95 and
    for dof >= 6 at p <= 0.99 (tests/blend/test_auto_stats.py holds it to scipy's)."""
    if not 0.5 < p < 1 or dof < 1:
        raise InvalidArgumentError(f"t quantile: p={p} must be in (0.5, 1) and dof={dof} >= 1")
    z = NormalDist().inv_cdf(p)
    return (z + (z ** 3 + z) / (4 * dof) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * dof ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * dof ** 3))


@dataclass(frozen=True)
class Margin:
    """How much one table does better than another on common latents (positive = better on that score).

    Attributes:
        label: the other table's label (e.g. 'swap 16 flip').
        realism: mean per-unit realism gain (critic logits); realism_low: its one-sided lower bound.
        distance: mean per-unit distance saved (the other's distance minus this one's); distance_low: its bound.
        units: how many independent units the bounds rest on.
    """

    label: str
    realism: float
    realism_low: float
    distance: float
    distance_low: float
    units: int

    @property
    def beats(self) -> bool:
        """Better on both scores on these latents (the means, as :meth:`Candidate.beats`)."""
        return self.realism > 0 and self.distance > 0

    @property
    def confident(self) -> bool:
        """Better on both scores beyond chance: both lower bounds above zero."""
        return self.realism_low > 0 and self.distance_low > 0

    @property
    def worst_z(self) -> float:
        """The smaller of the two margins in standard errors (how close the comparison is to a loss)."""
        return min(_z(self.realism, self.realism_low), _z(self.distance, self.distance_low))

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "realism_gain": round(self.realism, 5),
                "realism_low": round(self.realism_low, 5), "distance_gain": round(self.distance, 5),
                "distance_low": round(self.distance_low, 5), "beats": self.beats, "confident": self.confident}


def _z(mean: float, low: float) -> float:
    """Mean over (mean - low), i.e. the margin in units of the bound's half-width (inf when exact)."""
    half = mean - low
    return math.copysign(math.inf, mean) if half <= 0 else mean / half


def lower_bound(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """(mean, one-sided lower ``confidence`` bound of the mean) of independent ``values`` [U] (Student t)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise InvalidArgumentError(f"a confidence bound needs at least 2 independent units; got {values.shape}: "
                                   "score more latents (a multiple of the critic's group size, >= 2 groups)")
    mean = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - t_quantile(confidence, len(values) - 1) * se


def margin(realism: np.ndarray, distance: np.ndarray, other_realism: np.ndarray, other_distance: np.ndarray,
           units: np.ndarray, label: str, confidence: float = 0.95) -> Margin:
    """The paired :class:`Margin` of a table (per-latent ``realism``, ``distance`` [N]) over another table scored
    on the same latents, with ``units`` [U, G] the latent indices judged together (each unit's mean is one
    observation)."""
    if not 0.5 < confidence < 1:
        raise InvalidArgumentError(f"`confidence` {confidence} must be in (0.5, 1), e.g. 0.95", param="confidence")
    arrays = (realism, distance, other_realism, other_distance)
    n = len(realism)
    if any(np.shape(a) != (n,) for a in arrays) or units.size == 0 or units.max() >= n:
        raise InvalidArgumentError(f"per-latent scores of different lengths {[np.shape(a) for a in arrays]} or "
                                   f"units beyond them; score both tables on the same latents")
    gain_r = (np.asarray(realism) - np.asarray(other_realism))[units].mean(1)
    gain_d = (np.asarray(other_distance) - np.asarray(distance))[units].mean(1)
    r, r_low = lower_bound(gain_r, confidence)
    d, d_low = lower_bound(gain_d, confidence)
    return Margin(label, r, r_low, d, d_low, len(units))


def margins(chosen: tuple[np.ndarray, np.ndarray], others: Sequence[tuple[str, np.ndarray, np.ndarray]],
            units: np.ndarray, confidence: float = 0.95) -> tuple[Margin, ...]:
    """:func:`margin` of the ``chosen`` (realism, distance) over each (label, realism, distance) of ``others``."""
    return tuple(margin(chosen[0], chosen[1], r, d, units, label, confidence) for label, r, d in others)


class PairedScores:
    """The per-latent scores of every table one objective scored, and their margins over given tables.

    Args:
        units: [U, G] latent indices judged together (``AlphaObjective.units``).
        confidence: the one-sided level of the bounds, in (0.5, 1).
        param: the parameter an error about too few latents names.
    """

    def __init__(self, units: np.ndarray, confidence: float, param: str = "samples") -> None:
        if not 0.5 < confidence < 1:
            raise InvalidArgumentError(f"`confidence` {confidence} must be in (0.5, 1), e.g. 0.95",
                                       param="confidence")
        if len(units) < 2:
            raise InvalidArgumentError(f"`{param}` {units.size}: paired confidence bounds need at least 2 groups "
                                       f"of latents the critic judges together, and {units.size} latents make "
                                       f"{len(units)}; score at least {2 * units.shape[1]} latents",
                                       param=param)
        self.units, self.confidence = units, confidence
        self._scores: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
        self._margins: dict[tuple[Hashable, Hashable], Margin] = {}

    def add(self, alphas: Hashable, realism: np.ndarray, distance: np.ndarray) -> None:
        self._scores[alphas] = (np.asarray(realism, np.float64), np.asarray(distance, np.float64))

    def scores(self, alphas: Hashable) -> tuple[np.ndarray, np.ndarray]:
        return self._scores[alphas]

    def margin(self, alphas: Hashable, other: Hashable, label: str) -> Margin:
        """The margin of table ``alphas`` over table ``other`` (both added), cached."""
        key = (alphas, other)
        if key not in self._margins:
            (r, d), (r2, d2) = self._scores[alphas], self._scores[other]
            self._margins[key] = margin(r, d, r2, d2, self.units, label, self.confidence)
        return self._margins[key]
