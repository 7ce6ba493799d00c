"""Filtered leaky ReLU, fast CPU path: the same numbers as :func:`~styleblend.ops.filtered_lrelu.filtered_lrelu`
(the reference; a test holds the two equal) with far less arithmetic.

The reference inserts ``up - 1`` zeros between samples, filters the zero-stuffed image at the up-sampled rate
and, after the activation, filters every up-sampled pixel before keeping one in ``down`` along each axis. Most
of that work multiplies zeros or is thrown away. Here each 1-D pass of a separable filter is one linear map
along one axis, written as the band matrix it is:

    y[o] = sum_i x[i] * h[i * up + pad0 - o * down],   h = the filter as the reference convolves with it

so the up-sampling pass reads only the real samples (polyphase, no zero-stuffing), the down-sampling pass
computes only the kept outputs, and padding and cropping are folded into the matrix. The map runs as a
matrix product (:func:`axis_matrix`; fast on the CPU for the small and medium images where most of
StyleGAN3's channels are) or as a transposed/strided depthwise convolution (fewer operations on large
images); :func:`filtered_lrelu_fast` picks by size. A 2-D (radial) down-sampling filter is not separable: it
runs as one depthwise convolution with stride ``down``, which skips the discarded outputs.

Only the order of the float additions differs from the reference, so results agree to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .filtered_lrelu import check_arguments
from .upfirdn2d import Padding, _padding4, upfirdn2d

# Above this many input samples along an axis the band matrix is mostly zeros and the convolution form
# wins (docs/benchmarks.md, "Filtered leaky ReLU"); both forms are tested against the reference.
MATMUL_MAX_LENGTH = 64
# Channels are processed in groups of about this many up-sampled values (8 MiB in float32).
CHUNK_ELEMENTS = 1 << 21


def axis_matrix(h: torch.Tensor, length: int, up: int, down: int, pad0: int, pad1: int) -> torch.Tensor:
    """The [length, out] matrix of one 1-D pass: zero-stuff by ``up``, pad/crop by (pad0, pad1), correlate
    with ``h`` (already flipped, scaled), keep every ``down``-th output. out = (length*up + pad0 + pad1
    - len(h)) // down + 1."""
    taps = h.shape[0]
    out = (length * up + pad0 + pad1 - taps) // down + 1
    i = torch.arange(length, device=h.device).reshape(-1, 1)
    o = torch.arange(out, device=h.device).reshape(1, -1)
    index = i * up + pad0 - o * down
    inside = (index >= 0) & (index < taps)
    return torch.where(inside, h[index.clamp(0, taps - 1)], torch.zeros((), dtype=h.dtype, device=h.device))


def _resample_last(x: torch.Tensor, h: torch.Tensor, up: int, down: int, pad0: int, pad1: int) -> torch.Tensor:
    """One 1-D pass along the last axis of x [N, C, H, W] (see :func:`axis_matrix`)."""
    length = x.shape[-1]
    if length <= MATMUL_MAX_LENGTH:
        return x @ axis_matrix(h, length, up, down, pad0, pad1)
    return _conv_pass(x, h, up, down, pad0, pad1, axis=3)


def _resample_rows(x: torch.Tensor, h: torch.Tensor, up: int, down: int, pad0: int, pad1: int) -> torch.Tensor:
    """One 1-D pass along axis 2 (the rows) of x [N, C, H, W]."""
    length = x.shape[2]
    if length <= MATMUL_MAX_LENGTH:
        return axis_matrix(h, length, up, down, pad0, pad1).t() @ x
    return _conv_pass(x, h, up, down, pad0, pad1, axis=2)


def _conv_pass(x: torch.Tensor, h: torch.Tensor, up: int, down: int, pad0: int, pad1: int,
               axis: int) -> torch.Tensor:
    """The pass of :func:`axis_matrix` as a depthwise convolution along ``axis`` (2 or 3): up > 1 as a
    transposed convolution with stride ``up`` (out[j] = sum_i x[i] h'[j - i*up], h' = flip(h): zero-stuffing and
    correlation with h in one step), down > 1 as a convolution with stride ``down``."""
    channels, taps, length = x.shape[1], h.shape[0], x.shape[axis]
    shape = [channels, 1, taps, 1] if axis == 2 else [channels, 1, 1, taps]
    if up > 1:
        assert down == 1, "an up-sampling pass never down-samples (filtered_lrelu_fast splits them)"
        y = F.conv_transpose2d(x, h.flip(0).reshape(shape[1:]).expand(shape), stride=_along(axis, up),
                               groups=channels)
        # The reference's output m is y[m + taps - 1 - pad0]; positions outside y are zeros.
        start = taps - 1 - pad0
        count = length * up + pad0 + pad1 - taps + 1
        y = _pad_axis(y, axis, max(-start, 0), max(start + count - y.shape[axis], 0))
        return y.narrow(axis, max(start, 0), count)
    y = _pad_axis(x, axis, pad0, pad1)
    return F.conv2d(y, h.reshape(shape[1:]).expand(shape), stride=_along(axis, down), groups=channels)


def _along(axis: int, value: int) -> tuple[int, int]:
    return (value, 1) if axis == 2 else (1, value)


def _pad_axis(x: torch.Tensor, axis: int, pad0: int, pad1: int) -> torch.Tensor:
    """Pad (positive) or crop (negative) ``axis`` of a 4-D tensor."""
    if pad0 == 0 and pad1 == 0:
        return x
    pads = [0, 0, max(pad0, 0), max(pad1, 0)] if axis == 2 else [max(pad0, 0), max(pad1, 0)]
    x = F.pad(x, pads)
    return x.narrow(axis, max(-pad0, 0), x.shape[axis] - max(-pad0, 0) - max(-pad1, 0))


def _taps(f: torch.Tensor, dtype: torch.dtype, gain: float, flip_filter: bool) -> torch.Tensor:
    """The filter as the reference convolves with it: scaled by ``gain`` (per axis), flipped unless
    ``flip_filter`` (a convolution is a correlation with the flipped filter)."""
    h = (f * gain).to(dtype)
    return h if flip_filter else h.flip(list(range(h.ndim)))


def filtered_lrelu_fast(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                        b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: Padding = 0,
                        gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                        flip_filter: bool = False) -> torch.Tensor:
    """:func:`~styleblend.ops.filtered_lrelu.filtered_lrelu` (same arguments, shapes and result up to float
    rounding), computed without zero-stuffing or discarded outputs (see the module docstring). Differentiable.

    Runs over groups of channels whose up-sampled image fits in about :data:`CHUNK_ELEMENTS` values, so each
    group's passes work in the CPU's cache rather than streaming the whole up-sampled tensor through memory
    four times (the channels are independent: the result does not depend on the grouping).
    """
    check_arguments(x, up, down)
    pads = _padding4(padding)
    n, channels, h, w = x.shape
    fu_w = 1 if fu is None else fu.shape[-1]
    tmp = n * max(h * up + pads[2] + pads[3] - fu_w + 1, 1) * max(w * up + pads[0] + pads[1] - fu_w + 1, 1)
    step = max(1, CHUNK_ELEMENTS // tmp)
    args = (fu, fd, up, down, pads, gain, slope, clamp, flip_filter)
    if step >= channels:
        return _filtered_lrelu_group(x, b, *args)
    return torch.cat([_filtered_lrelu_group(x[:, i:i + step], None if b is None else b[i:i + step], *args)
                      for i in range(0, channels, step)], dim=1)


def _filtered_lrelu_group(x: torch.Tensor, b: torch.Tensor | None, fu: torch.Tensor | None,
                          fd: torch.Tensor | None, up: int, down: int, pads: tuple[int, int, int, int],
                          gain: float, slope: float, clamp: float | None, flip_filter: bool) -> torch.Tensor:
    """:func:`filtered_lrelu_fast` on one group of channels."""
    px0, px1, py0, py1 = pads
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    ones = torch.ones([1], dtype=x.dtype, device=x.device)
    if fu is None or fu.ndim == 1:
        # The reference scales the 2-D filter by up**2, i.e. each 1-D pass of a separable one by up.
        hu = ones * up if fu is None else _taps(fu, x.dtype, up, flip_filter)
        x = _resample_last(x, hu, up, 1, px0, px1)
        x = _resample_rows(x, hu, up, 1, py0, py1)
    else:  # a 2-D up-sampling filter (NVIDIA's networks have none): the reference's own pass
        x = upfirdn2d(x, fu, up=up, padding=pads, gain=up**2, flip_filter=flip_filter)
    if slope != 1:
        x = F.leaky_relu(x, float(slope))
    if gain != 1:
        x = x * float(gain)
    if clamp is not None and clamp >= 0:
        x = x.clamp(-float(clamp), float(clamp))
    if fd is None or fd.ndim == 1:
        hd = ones if fd is None else _taps(fd, x.dtype, 1.0, flip_filter)
        x = _resample_last(x, hd, 1, down, 0, 0)
        return _resample_rows(x, hd, 1, down, 0, 0)
    hd2 = _taps(fd, x.dtype, 1.0, flip_filter)
    channels = x.shape[1]
    weight = hd2.reshape(1, 1, *hd2.shape).expand(channels, 1, *hd2.shape)
    return F.conv2d(x, weight, stride=down, groups=channels)
