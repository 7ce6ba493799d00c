"""Up-sample, FIR-filter and down-sample a batch of 2-D images (reference path).

Semantics follow NVIDIA's ``upfirdn2d``: insert ``up - 1`` zeros between pixels, pad (or crop,
for negative values), convolve with the FIR filter ``f`` (a true convolution unless
``flip_filter``), keep every ``down``-th pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .half import keep, round_fp16

Padding = int | Sequence[int]


def setup_filter(taps: Sequence[float], normalize: bool = True, gain: float = 1.0) -> torch.Tensor:
    """Build the 2-D FIR filter used for resampling from 1-D taps.

    A 1-D filter with fewer than 8 taps becomes its outer product (as NVIDIA's ``setup_filter``
    with ``separable=None``), normalised to sum to 1, then scaled by ``gain``.
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    scaled: torch.Tensor = f * (gain ** (f.ndim / 2))
    return scaled


def _padding4(padding: Padding) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """Return (width, height) of a filter; (1, 1) for no filter."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding: Padding = 0,
              flip_filter: bool = False, gain: float = 1.0, emulate_fp16: bool = False) -> torch.Tensor:
    """Pad, up-sample, filter and down-sample ``x`` [N, C, H, W].

    Args:
        f: 2-D [fh, fw] or 1-D [fw] (separable) filter, or None for identity.
        padding: int, (px, py) or (px0, px1, py0, py1) applied after up-sampling.
        gain: overall gain; applied to the filter as gain ** (f.ndim / 2).
        emulate_fp16: ``x`` is float32 holding float16 values; round the filter and each filtering pass to
            float16 as the float16 path does (:mod:`styleblend.ops.half`).
    """
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _padding4(padding)

    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)

    # Symmetric zero padding is left to the convolution (oneDNN pads without a copy): float32 results are
    # bit for bit those of the explicit pad (tests/ops/test_upfirdn2d.py) and the filter step ~20 % cheaper.
    conv_pad = (py0, px0) if px0 == px1 >= 0 and py0 == py1 >= 0 and x.dtype == torch.float32 else (0, 0)
    if conv_pad == (0, 0):
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    q = round_fp16 if emulate_fp16 else keep
    f = q((f * (gain ** (f.ndim / 2))).to(x.dtype))
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = q(F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c, padding=conv_pad))
    else:
        x = q(F.conv2d(x, f[None, None, None].repeat(c, 1, 1, 1), groups=c, padding=(0, conv_pad[1])))
        x = q(F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c, padding=(conv_pad[0], 0)))

    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Up-sample by ``up`` with the FIR filter, keeping the image centred (output = up * input)."""
    fw, fh = filter_size(f)
    pad = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=pad, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Down-sample by ``down`` with the FIR filter (output = input / down)."""
    fw, fh = filter_size(f)
    pad = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=pad, gain=gain)
