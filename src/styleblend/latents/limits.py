"""Documented ranges of the latent-space numbers users pass (truncation ψ and cutoff), and the names of
the latent tools' choices (easings, layer orders, normalisations).

This module imports no torch, so a command-line parser can offer these values without loading it.

ψ = 1 is no truncation, 0 the average face, 0.5-0.8 typical; above 1 extrapolates away from the
average and below 0 mirrors through it. Beyond [-1, 2] images are mostly artefacts, and NaN or
infinity would silently render black images, so both the CLI and the UI refuse values outside.
"""

from __future__ import annotations

import math

from ..errors import InvalidArgumentError

#: Accepted truncation ψ, inclusive.
PSI_RANGE = (-1.0, 2.0)
#: Easings of an interpolation's time (:func:`styleblend.latents.interpolate.ease`).
EASINGS = ("linear", "smoothstep", "cosine")
#: Orders in which W+ rows move along a path (:func:`styleblend.latents.interpolate.layer_schedule`).
LAYER_ORDERS = ("uniform", "coarse-first", "fine-first")
#: Normalisations of an expression direction (:mod:`styleblend.latents.expression`).
NORMALIZE = ("none", "unit", "layer")


def check_psi(value: float | str, what: str = "truncation psi") -> float:
    """``value`` as a finite float in :data:`PSI_RANGE`, else an InvalidArgumentError."""
    try:
        psi = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{what} {value!r} is not a number; use e.g. 0.7") from None
    if not (math.isfinite(psi) and PSI_RANGE[0] <= psi <= PSI_RANGE[1]):
        raise InvalidArgumentError(f"{what} {psi:g} must be in [{PSI_RANGE[0]:g}, {PSI_RANGE[1]:g}] "
                                   "(1 = no truncation, 0.5-0.8 typical)")
    return psi


def check_truncation_cutoff(cutoff: int | None, num_ws: int, what: str = "truncation cutoff") -> int | None:
    """``cutoff`` (None = all W+ entries) if it lies in [0, num_ws], else an InvalidArgumentError."""
    if cutoff is None:
        return None
    if not 0 <= int(cutoff) <= num_ws:
        raise InvalidArgumentError(f"{what} {cutoff} must be in [0, {num_ws}] (this network has {num_ws} W+ "
                                   "entries; the cutoff truncates the first N of them)")
    return int(cutoff)
