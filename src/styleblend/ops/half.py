"""Float16 arithmetic emulated in float32: compute in float32, round to float16 where a float16 kernel rounds.

Why: NVIDIA's StyleGAN2-ADA-PyTorch runs a model's ``num_fp16_res`` finest blocks in float16 on every
device, so reproducing its images means reproducing float16 rounding. On the CPU, PyTorch's float16
convolutions are 20-600x slower than float32 ones (no vectorised float16 kernels), while the arithmetic
they perform is float32 arithmetic on float16 values, rounded once per result. Measured on PyTorch 2.x CPU
kernels (see ``tests/ops/test_half.py``):

- element-wise ops (add, multiply by a scalar, leaky ReLU, clamp, ``add_`` of a float32 tensor) compute
  in float32 and round the result to float16: emulated exactly by ``round_fp16(op(x))``;
- ``conv2d`` (any groups, 1x1 and 3x3) and the depthwise FIR filter of ``upfirdn2d`` accumulate in float32
  and round once: emulated by ``round_fp16(conv2d(x, w))``, exact up to the order of the float32
  accumulation (the result differs by one float16 step on ~0.2-0.6 % of values);
- ``conv_transpose2d`` rounds each kernel tap's product to float16, then adds the taps that land on one
  output pixel in float16, in kernel order (im2col's transpose, ``col2im``): emulated tap by tap in
  :func:`conv_transpose2d_fp16`.

Inputs to the functions here must already hold float16-representable values (their callers round inputs
and weights where the float16 path casts them); the emulation stays in float32 throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def round_fp16(x: torch.Tensor) -> torch.Tensor:
    """Round a float32 tensor to the nearest float16 value (ties to even; overflow to inf), kept in float32."""
    return x.to(torch.float16).to(x.dtype)


def keep(x: torch.Tensor) -> torch.Tensor:
    """The identity: what the float32 and the native float16 paths do where the emulation rounds."""
    return x


def conv_transpose2d_fp16(x: torch.Tensor, w: torch.Tensor, stride: int, padding: tuple[int, int] = (0, 0),
                          groups: int = 1) -> torch.Tensor:
    """``F.conv_transpose2d(x, w, stride, padding, groups)`` rounded as PyTorch's float16 CPU kernel rounds.

    x: [N, I, H, W]; w: [I, O / groups, kh, kw] (transposed-convolution layout); padding: (py, px),
    cropped from every side of the full output. Returns [N, O, (H - 1) * stride + kh - 2 py, ...] in float32.

    The kernel computes one column per tap (a matrix product over input channels, rounded to float16)
    and scatters the columns onto the output, adding in float16 in tap order; this does the same with one
    1x1 convolution per tap, which costs what the float32 transposed convolution costs.
    """
    n, in_channels, h, wd = x.shape
    _, out_per_group, kh, kw = w.shape
    in_per_group = in_channels // groups
    full_h, full_w = (h - 1) * stride + kh, (wd - 1) * stride + kw
    out = x.new_zeros([n, out_per_group * groups, full_h, full_w])
    # [I, O/g, kh, kw] -> per group [g, O/g, I/g, kh, kw]: the 1x1 convolution weight of each tap.
    taps = w.reshape(groups, in_per_group, out_per_group, kh, kw).transpose(1, 2)
    taps = taps.reshape(groups * out_per_group, in_per_group, kh, kw)
    for i in range(kh):
        for j in range(kw):
            col = round_fp16(F.conv2d(x, taps[:, :, i:i + 1, j:j + 1].contiguous(), groups=groups))
            view = out[:, :, i:i + (h - 1) * stride + 1:stride, j:j + (wd - 1) * stride + 1:stride]
            view.copy_(round_fp16(view + col))
    py, px = padding
    return out[:, :, py:full_h - py, px:full_w - px]
