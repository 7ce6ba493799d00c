"""Helpers shared by the foreign-format key maps: channel tables, FIR taps and strict shape checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ...config import MAX_RESOLUTION
from ...errors import UnsupportedArchitectureError
from ...ops.upfirdn2d import setup_filter
from ..checkpoint import check_state_dict


def fit_channels(table: Mapping[int, int], what: str, prefer_base: int | None = None) -> tuple[int, int]:
    """Find (channel_base, channel_max) with ``min(channel_base // res, channel_max) == table[res]`` for all res.

    Foreign formats list channels per resolution (rosinality: a dict keyed by resolution; TensorFlow:
    ``nf(stage)`` with fmap_base/fmap_decay/fmap_min/fmap_max); our configs use NVIDIA's two numbers.

    Args:
        table: channels per resolution {4: 512, 8: 512, ...} read from the tensors.
        what: the file and network, for the error message.
        prefer_base: a channel_base the file's own metadata suggests (e.g. 2 * fmap_base); used when
            it fits, because several bases can describe the same table.

    Returns:
        (channel_base, channel_max).

    Raises:
        UnsupportedArchitectureError: the table is not of that form (e.g. rosinality's
            channel_multiplier=4 gives 1024 channels at 64 px after 512 at 32 px).
    """
    resolutions = sorted(table)
    if not resolutions or resolutions[-1] > MAX_RESOLUTION or min(table.values()) < 1:
        raise UnsupportedArchitectureError(f"{what}: channels per resolution {dict(list(table.items())[:12])} are "
                                           f"not a StyleGAN2 table (resolutions up to {MAX_RESOLUTION}, >= 1 channel)")
    channel_max = max(table.values())

    def fits(base: int) -> bool:
        return all(min(base // r, channel_max) == table[r] for r in resolutions)

    if prefer_base is not None and prefer_base > 0 and fits(prefer_base):
        return prefer_base, channel_max
    below = [r for r in resolutions if table[r] < channel_max]
    if not below:
        return channel_max * resolutions[-1], channel_max
    r0 = below[0]
    for base in range(table[r0] * r0, (table[r0] + 1) * r0):
        if fits(base):
            return base, channel_max
    listing = ", ".join(f"{r}px: {table[r]}" for r in resolutions)
    raise UnsupportedArchitectureError(
        f"{what}: the channels per resolution ({listing}) are not of the form "
        "min(channel_base // resolution, channel_max) that styleblend's networks use; "
        "this model cannot be converted exactly")


def taps_from_kernel(kernel: torch.Tensor, gain: float, what: str) -> tuple[int, ...]:
    """Recover integer 1-D FIR taps (e.g. (1, 3, 3, 1)) from a stored 2-D resampling kernel.

    rosinality stores ``outer(k, k) / sum * gain`` as a buffer; our configs store the 1-D taps.
    """
    k2 = kernel.detach().to(torch.float64)
    if k2.ndim != 2 or k2.shape[0] != k2.shape[1] or float(k2.sum()) == 0:
        raise UnsupportedArchitectureError(f"{what}: resampling kernel of shape {tuple(k2.shape)} is not square")
    k1 = k2.sum(dim=0)
    k1 = k1 / k1.min() if float(k1.min()) > 0 else k1
    taps = tuple(int(round(float(t))) for t in k1)
    expected = setup_filter(taps).to(torch.float64) * gain
    if min(taps) <= 0 or not torch.allclose(expected, k2, rtol=1e-5, atol=1e-7):
        raise UnsupportedArchitectureError(
            f"{what}: the resampling kernel {k2.tolist()} is not a separable filter with small integer taps; "
            "it cannot be expressed as a styleblend resample_filter")
    return taps


def complete_and_check(state: dict[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]],
                       resample_filter: Sequence[int], what: str) -> dict[str, torch.Tensor]:
    """Add the ``*.resample_filter`` buffers our modules carry and check names and shapes strictly.

    Foreign formats either do not store those buffers or store them in another layout; they are a
    function of the config, so they are rebuilt here rather than converted.

    Raises:
        ArchitectureMismatchError: a tensor is missing, unexpected or has the wrong shape.
    """
    filt = setup_filter(resample_filter)
    out = dict(state)
    for key in shapes:
        if key.endswith("resample_filter") and key not in out:
            out[key] = filt.clone()
    check_state_dict(out, dict(shapes), what)
    return {k: out[k] for k in shapes}
