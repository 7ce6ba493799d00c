"""Float16 arithmetic emulated in float32: compute in float32, round to float16 where a float16 kernel rounds.

Why: NVIDIA's StyleGAN2-ADA-PyTorch runs a model's ``num_fp16_res`` finest blocks in float16 on every
device, so reproducing its images means reproducing float16 rounding. On the CPU, PyTorch's float16
convolutions are 20-600x slower than float32 ones (no vectorised float16 kernels), while the arithmetic
they perform is float32 arithmetic on float16 values, rounded once per result. Measured on PyTorch 2.x CPU
kernels (see ``tests/ops/test_half.py``):

- element-wise ops (add, multiply by a scalar, leaky ReLU, clamp, ``add_`` of a float32 tensor) compute
  in float32 and round the result to float16: emulated exactly by ``round_fp16(op(x))``;
- ``conv2d`` (any groups, 1x1 and 3x3) and the depthwise FIR filter of ``upfirdn2d`` accumulate in float32
  and round once: emulated by ``round_fp16(conv2d(x, w))``, equal up to the order of the float32 sums
  (one float16 step apart on ~0.2-0.6 % of values at 128-512 channels);
- ``conv_transpose2d`` rounds each kernel tap's product to float16, then adds the taps that land on one
  output pixel in float16, in kernel order (im2col's transpose, ``col2im``): emulated tap by tap in
  :func:`conv_transpose2d_fp16`.

The order of the float32 sums is known too (:data:`CONV2D_LANES`), and :func:`conv2d_fp16` can follow it
for the outputs where it decides the rounding (``tie_band``): then every value equals the kernel's, and
whole images equal the native float16 ones bit for bit, but at several times float32's cost, so rendering
does not. A float16 network is chaotic in its roundings: one float16 step in 0.2 % of one layer's values
grows into one uint8 level on a few % of the image's values, so the rounded fast sums stop there.

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


# Where PyTorch's float16 CPU kernels sum a product's terms (``aten/src/ATen/native/cpu/BlasKernel.cpp``, the
# generic gemm it falls back to without float16 BLAS): conv2d's im2col gemm keeps 4 interleaved float32 partial
# sums (term l goes to lane l % 4), then adds lane 0 + 1 + 2 + 3; conv_transpose2d's column gemm adds the
# input channels one after another. Measured equal, value for value (tests/ops/test_half.py).
CONV2D_LANES = 4
CONV_TRANSPOSE2D_LANES = 1

# Resolving ties (tie_band > 0 below): an output whose fast float32 value lies within tie_band * eps32 *
# |w_o| * |x_patch| of a float16 rounding boundary is summed again in the kernel's order. The fast and the
# ordered sums differ by random walks of float32 roundings, measured at most ~1.1 of these units on 128-512
# channel 3x3 convolutions (typically ~0.05), so 1.5 reproduces the kernel value for value - but resolves
# ~10 % of outputs one by one, several times the convolution's cost. The default, 0, rounds the fast sum.
EXACT_TIE_BAND = 1.5
_CHUNK_TERMS = 2**22  # gathered products per chunk (16 MiB) when resolving the outputs near a boundary


def ordered_sum(terms: torch.Tensor, lanes: int) -> torch.Tensor:
    """Sum ``terms`` [M, K] along K in float32 as the kernel does: ``lanes`` interleaved partial sums (term l
    in lane l % lanes; the terms past the last multiple of ``lanes`` in lane 0), then lane 0 + 1 + ... in order.

    A loop over K / lanes float32 additions of [M, lanes]: use it for a few outputs, not for a whole layer.
    """
    m, k = terms.shape
    body = k // lanes * lanes
    steps = terms[:, :body].reshape(m, k // lanes, lanes).transpose(0, 1).contiguous()  # one step: contiguous
    acc = terms.new_zeros([m, lanes])
    for step in steps:
        acc += step
    for i in range(body, k):
        acc[:, 0] += terms[:, i]
    total = acc[:, 0]
    for lane in range(1, lanes):
        total = total + acc[:, lane]
    return total


def conv2d_fp16(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: tuple[int, int] = (0, 0),
                groups: int = 1, lanes: int = CONV2D_LANES, tie_band: float = 0.0) -> torch.Tensor:
    """``F.conv2d`` of float16 values, rounded to float16 as PyTorch's float16 CPU kernel rounds it.

    x: [N, C, H, W]; w: [O, C / groups, kh, kw]; padding (py, px). A fast float32 convolution, rounded once:
    it differs from the kernel by one float16 step on the ~0.2-0.6 % of outputs where the order of the
    float32 sums decides the rounding. ``tie_band`` > 0 (:data:`EXACT_TIE_BAND`) sums the outputs near a
    rounding boundary again in the kernel's order (:func:`ordered_sum`): value for value equal, but slow.
    """
    y = F.conv2d(x, w, stride=stride, padding=padding, groups=groups)
    if tie_band <= 0:
        return round_fp16(y)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    k = cg * kh * kw
    # |w_o| * |x_patch| (Cauchy-Schwarz) bounds every partial sum, so float32's errors scale with it.
    x_sq = x.square().reshape(n * groups, cg, h, wd).sum(1, keepdim=True)
    patch_norm = F.conv2d(x_sq, x.new_ones([1, 1, kh, kw]), stride=stride, padding=padding).sqrt()
    patch_norm = patch_norm.reshape(n, groups, 1, *y.shape[2:])
    w_norm = w.reshape(groups, o // groups, 1, 1, k).norm(dim=4)
    band = (patch_norm * w_norm * (tie_band * torch.finfo(torch.float32).eps)).reshape(y.shape)
    out = round_fp16(y)
    near = torch.ne(round_fp16(y - band), round_fp16(y + band)).nonzero()
    if len(near) == 0:
        return out
    # The kernel's im2col rows, gathered from the padded input by flat index in (channel, kh, kw) order.
    py, px = padding
    xp = F.pad(x, [px, px, py, py])
    hp, wp = xp.shape[2:]
    offsets = (torch.arange(cg, device=x.device)[:, None, None] * (hp * wp)
               + torch.arange(kh, device=x.device)[None, :, None] * wp
               + torch.arange(kw, device=x.device)[None, None, :]).reshape(1, k)
    flat, w_rows = xp.reshape(-1), w.reshape(o, k)
    for chunk in near.split(max(1, _CHUNK_TERMS // k)):
        b, oc, oy, ox = chunk.unbind(1)
        first = ((b * c + (oc // (o // groups)) * cg) * hp + oy * stride) * wp + ox * stride
        rows = flat.take(first[:, None] + offsets)
        out[b, oc, oy, ox] = round_fp16(ordered_sum(rows * w_rows[oc], lanes))
    return out


def conv_transpose2d_fp16(x: torch.Tensor, w: torch.Tensor, stride: int, padding: tuple[int, int] = (0, 0),
                          groups: int = 1, tie_band: float = 0.0) -> torch.Tensor:
    """``F.conv_transpose2d(x, w, stride, padding, groups)`` rounded as PyTorch's float16 CPU kernel rounds.

    x: [N, I, H, W]; w: [I, O / groups, kh, kw] (transposed-convolution layout); padding: (py, px),
    cropped from every side of the full output. Returns [N, O, (H - 1) * stride + kh - 2 py, ...] in float32.
    tie_band: as in :func:`conv2d_fp16` (0: each tap's sum rounded once; > 0: in the kernel's order).

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
            col = conv2d_fp16(x, taps[:, :, i:i + 1, j:j + 1].contiguous(), groups=groups,
                              lanes=CONV_TRANSPOSE2D_LANES, tie_band=tie_band)
            view = out[:, :, i:i + (h - 1) * stride + 1:stride, j:j + (wd - 1) * stride + 1:stride]
            # The first tap to reach a pixel (i, j < stride) adds to zero: its column, already rounded.
            view.copy_(col if i < stride and j < stride else round_fp16(view + col))
    py, px = padding
    return out[:, :, py:full_h - py, px:full_w - px]
