"""Schedules of the projection loop as pure functions of progress ``t = step / num_steps`` in [0, 1].

Returned values are multipliers (of the base learning rate, of the w-noise scale) or counts, so the
loop stays one generic piece of code and a method is only a choice of numbers.
"""

from __future__ import annotations

import math


def constant_lr(t: float) -> float:
    """Image2StyleGAN: Adam at a fixed learning rate."""
    return 1.0


def nvidia_lr(t: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """NVIDIA's projector schedule: linear warm-up over the first ``rampup`` of the run, cosine decay to 0 over
    the last ``rampdown`` (Karras et al. 2020, projector.py: initial lr 0.1, rampdown 0.25, rampup 0.05)."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * (min(1.0, t / rampup) if rampup > 0 else 1.0)


def nvidia_w_noise(t: float, initial: float = 0.05, ramp_length: float = 0.75) -> float:
    """Factor (of the std of w samples) of the Gaussian noise added to w: ``initial * max(0, 1 - t / ramp)^2``.

    Early noise explores around w_avg so the optimiser does not lock into the nearest local minimum.
    """
    if ramp_length <= 0:
        return 0.0
    return initial * max(0.0, 1.0 - t / ramp_length) ** 2


def warmup_cosine_lr(t: float, warmup: float = 0.02, final: float = 0.05) -> float:
    """Short linear warm-up, then cosine decay from 1 to ``final`` (used by the 'fast' method)."""
    if warmup > 0 and t < warmup:
        return t / warmup
    span = max(1e-12, 1.0 - warmup)
    progress = min(1.0, (t - warmup) / span)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def unlocked_ws(t: float, num_ws: int, unlock_until: float = 0.5, start: int = 0) -> int:
    """Coarse-to-fine W+: how many leading ws may differ from the shared w at progress ``t``.

    Starts with ``start`` offsets (0: only the shared w, i.e. W space) and unlocks the remaining layers linearly
    until ``unlock_until`` of the run; afterwards all ``num_ws`` are free. Coarse layers (low indices)
    set pose and shape, fine ones colour and texture, so the fit proceeds as W -> W+ from coarse to fine.
    """
    if unlock_until <= 0 or t >= unlock_until:
        return num_ws
    return max(start, min(num_ws, start + math.floor((num_ws - start + 1) * t / unlock_until)))
