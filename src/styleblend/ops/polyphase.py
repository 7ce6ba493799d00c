"""Strided transposed convolution as regular convolutions (polyphase form): a fast CPU path.

Why: on CPUs, oneDNN runs ``conv_transpose2d`` with stride 2 at about half the speed per multiply-add of a
regular convolution (benchmarks/profile_generator.py; docs/benchmarks.md), and StyleGAN2 up-samples with
one in every block. A transposed convolution with stride ``s`` writes input pixel ``i`` to output pixels
``s * i + t`` for every kernel tap ``t``, so output pixels of one phase ``r = Y mod s`` receive only the taps
``t = r, r + s, r + 2s, ...``: each phase is a plain (true) convolution of the input with that sub-kernel, at
the input's resolution, and the output interleaves the ``s * s`` phases. The same products are summed (in
another order), so the result equals :func:`torch.nn.functional.conv_transpose2d` up to float rounding.

Not used for float16 (native or emulated): there the transposed convolution rounds tap by tap
(:mod:`styleblend.ops.half`), and NVIDIA's images are reproduced only by the reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def conv_transpose2d_polyphase(x: torch.Tensor, w: torch.Tensor, stride: int, padding: tuple[int, int] = (0, 0),
                               groups: int = 1, pad_output: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """``F.pad(F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups), pad_output)``.

    Args:
        x: [N, C, H, W] input.
        w: [C, O / groups, kh, kw], the transposed convolution's weight layout.
        stride: the up-sampling factor, >= 1.
        padding: (py, px), cropped from each side of the output as ``conv_transpose2d`` does.
        pad_output: (left, right, top, bottom) zeros added around the result, >= 0 (written in place of a
            separate ``F.pad`` copy: the FIR filter that follows an up-sampling convolution pads its input).

    Returns:
        [N, O, (H - 1) * stride + kh - 2 py + top + bottom, (W - 1) * stride + kw - 2 px + left + right].
    """
    n, c, h, wd = x.shape
    cin, out_per_group, kh, kw = w.shape
    if cin != c or c % groups or stride < 1 or min(pad_output) < 0 or min(padding) < 0:
        raise ValueError(f"conv_transpose2d_polyphase: x {list(x.shape)}, w {list(w.shape)}, stride {stride}, "
                         f"padding {padding}, groups {groups}, pad_output {pad_output}: inconsistent shapes or "
                         "negative sizes")
    # Regular-convolution layout [O, C / groups, kh, kw], flipped: the phases are true convolutions.
    wc = w.reshape(groups, c // groups, out_per_group, kh, kw).transpose(1, 2)
    wc = wc.reshape(groups * out_per_group, c // groups, kh, kw).flip([2, 3])
    py, px = padding
    left, right, top, bottom = pad_output
    rows = (h - 1) * stride + kh - 2 * py + top + bottom
    cols = (wd - 1) * stride + kw - 2 * px + left + right
    geometry = (n, groups * out_per_group, rows, cols, stride, left, right, top, bottom)
    starts: list[tuple[int, int]] = []
    phases: list[torch.Tensor | None] = []
    for ry in range(stride):
        for rx in range(stride):
            # Full-output pixel Y = stride * m + ry gets taps t = ry + stride * j from input row m - j. After
            # the flip above, those taps sit at kh - 1 - t; the full correlation (padding = taps - 1) gives every m.
            sub = wc[:, :, (kh - 1 - ry) % stride::stride, (kw - 1 - rx) % stride::stride]
            # Output row o = Y - py + top lands on phase ry; the first one inside the crop is the smallest
            # Y = stride * m + ry >= py.
            m0y, m0x = -(-(py - ry) // stride), -(-(px - rx) // stride)
            y0, x0 = stride * m0y + ry - py + top, stride * m0x + rx - px + left
            hy, hx = len(range(y0, rows - bottom, stride)), len(range(x0, cols - right, stride))
            if hy == 0 or hx == 0:
                continue
            starts.append((y0, x0))
            if sub.shape[2] == 0 or sub.shape[3] == 0:  # kernel smaller than the stride: this phase gets nothing
                phases.append(None)
                continue
            z = F.conv2d(x, sub, padding=(sub.shape[2] - 1, sub.shape[3] - 1), groups=groups)
            phases.append(z[:, :, m0y: m0y + hy, m0x: m0x + hx])
    out: torch.Tensor = _Interleave.apply(geometry, starts, *phases)  # type: ignore[no-untyped-call]
    return out


class _Interleave(torch.autograd.Function):
    """Write each phase's output into every ``stride``-th pixel of one new tensor; zero the border and the
    phases that get nothing. Why a Function: written by in-place copies into slices under autograd, the
    backward of each copy clones the whole output gradient (``CopySlices``); here the backward hands each
    phase its strided view of the gradient."""

    @staticmethod
    def forward(ctx: Any, geometry: tuple[int, ...], starts: list[tuple[int, int]],
                *phases: torch.Tensor | None) -> torch.Tensor:
        n, c, rows, cols, stride, left, right, top, bottom = geometry
        ref = next(p for p in phases if p is not None)
        out = ref.new_empty(n, c, rows, cols)
        # Zero the border; every interior pixel is written by exactly one phase below.
        out[:, :, :top].zero_()
        out[:, :, rows - bottom:].zero_()
        out[:, :, :, :left].zero_()
        out[:, :, :, cols - right:].zero_()
        for (y0, x0), z in zip(starts, phases):
            dst = out[:, :, y0: rows - bottom: stride, x0: cols - right: stride]
            dst.zero_() if z is None else dst.copy_(z)
        ctx.geometry, ctx.starts = geometry, starts
        return out

    @staticmethod
    def backward(ctx: Any,
                 grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        _, _, rows, cols, stride, _, right, _, bottom = ctx.geometry
        grads = [grad[:, :, y0: rows - bottom: stride, x0: cols - right: stride] if need else None
                 for (y0, x0), need in zip(ctx.starts, ctx.needs_input_grad[2:])]
        return (None, None, *grads)
