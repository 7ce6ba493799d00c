"""Filtered leaky ReLU (StyleGAN3, Karras et al. 2021, Sec. 3.2 and Fig. 4): the reference path.

An activation applied at a higher sampling rate than the signal, so the non-linearity's new high
frequencies can be filtered out before going back down:

    bias -> up-sample by ``up`` (insert zeros, pad/crop, low-pass ``fu``) -> gain * leaky ReLU -> clamp
    -> low-pass ``fd`` -> keep every ``down``-th sample.

The semantics (padding relative to the up-sampled image, gain ``up**2`` on the up-sampling filter,
negative padding crops) are those of NVIDIA's ``filtered_lrelu``, so filters and paddings stored in
their snapshots mean the same here. Built on :func:`~styleblend.ops.upfirdn2d.upfirdn2d`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .upfirdn2d import Padding, _padding4, filter_size, upfirdn2d


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: Padding = 0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                   flip_filter: bool = False) -> torch.Tensor:
    """Bias, up-sample, leaky ReLU, clamp and down-sample ``x`` [N, C, H, W].

    Args:
        fu, fd: up/down-sampling FIR filters: 1-D [taps] (separable), 2-D [h, w] (e.g. radial), or None (identity).
        b: bias [C] (same dtype as ``x``) or None.
        up, down: integer sampling factors >= 1.
        padding: int, (px, py) or (px0, px1, py0, py1), applied to the up-sampled image; negative crops.
        gain: multiplies the activation output (sqrt(2) keeps unit variance through leaky ReLU).
        slope: slope of the negative side (1 makes the activation linear, as in the ToRGB layer).
        clamp: clamp the activation output to [-clamp, clamp]; None disables.
        flip_filter: False convolves (the filters' orientation as stored), True correlates.

    Returns:
        [N, C, out_h, out_w] in ``x``'s dtype, where
        out = (in * up + pad0 + pad1 - (fu_size - 1) - (fd_size - 1) + down - 1) // down.
    """
    check_arguments(x, up, down)
    px0, px1, py0, py1 = _padding4(padding)
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=(px0, px1, py0, py1), gain=up**2, flip_filter=flip_filter)
    if slope != 1:
        x = F.leaky_relu(x, float(slope))
    if gain != 1:
        x = x * float(gain)
    if clamp is not None and clamp >= 0:
        x = x.clamp(-float(clamp), float(clamp))
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter)


def check_arguments(x: torch.Tensor, up: int, down: int) -> None:
    """Raise ValueError unless x is [N, C, H, W] and up, down are integers >= 1 (shared with the fast path)."""
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu expects x [N, C, H, W], got shape {tuple(x.shape)}")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"up={up!r} and down={down!r} must be integers >= 1")


def output_size(in_size: int, fu: torch.Tensor | None, fd: torch.Tensor | None, up: int, down: int,
                pad: tuple[int, int]) -> int:
    """Output length along one axis of :func:`filtered_lrelu` (pad: the two paddings of that axis)."""
    fu_w, _ = filter_size(fu)
    fd_w, _ = filter_size(fd)
    return (in_size * up + pad[0] + pad[1] - (fu_w - 1) - (fd_w - 1) + down - 1) // down
