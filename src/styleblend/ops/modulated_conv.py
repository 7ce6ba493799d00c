"""Modulated (style-scaled) convolution with optional demodulation - StyleGAN2, Eq. 1-3.

Two equivalent paths: ``fused=True`` folds the styles into per-sample weights and runs one grouped
convolution; ``fused=False`` scales activations instead. NVIDIA uses the fused path at inference
and the other while training; both are tested equal.

``lean=True`` (with ``fused=False``, float32) is the fast form for gradients w.r.t. the styles (a projection
step): the backward of the fused form computes the convolution's weight gradient (the per-sample weights
depend on the styles), a third convolution's worth of work, while the unfused form needs only the input
gradient and two reductions; the demodulation coefficients come from one matrix product instead of the
[N, O, I, k, k] modulated weights, and the noise is added out of place (an in-place add into the reshaped
convolution output makes autograd copy that whole gradient three times). The same values up to float32
rounding (tests/ops/test_modulated_conv.py); measured in docs/benchmarks.md.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .conv2d_resample import conv2d_resample
from .half import keep, round_fp16


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, down: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, flip_weight: bool = True, fused: bool = True,
                     emulate_fp16: bool = False, polyphase: bool = False, lean: bool = False) -> torch.Tensor:
    """Convolve ``x`` [N, I, H, W] with ``weight`` [O, I, k, k] modulated by ``styles`` [N, I].

    ``noise`` (broadcastable to the output) is added after demodulation, before the bias.
    emulate_fp16: ``x`` is float32 holding float16 values; compute in float32 but pre-normalise and round
        every operand and result as the float16 path does (:mod:`styleblend.ops.half`).
    polyphase: up-sample float32 by regular convolutions, not the transposed one (see ``conv2d_resample``).
    lean: with ``fused=False`` on float32, the form for autograd (module docstring); ignored otherwise.
    """
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    # q rounds where a float16 x rounds (casts to x's dtype, and each op's result); identity otherwise.
    q = round_fp16 if emulate_fp16 else keep
    if (x.dtype == torch.float16 or emulate_fp16) and demodulate:
        # Demodulation cancels any scale of weight and styles, so bring both near 1 first: the products
        # below are cast to float16 and would otherwise overflow (NVIDIA does the same in fp16 layers).
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    if lean and not fused and x.dtype == torch.float32 and not emulate_fp16:
        return _modulate_activations(x, weight, styles, noise, up, down, padding, resample_filter, demodulate,
                                     flip_weight, polyphase)

    w: torch.Tensor | None = None
    dcoefs: torch.Tensor | None = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        assert w is not None
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    if demodulate and fused:
        assert w is not None and dcoefs is not None
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)

    if not fused:
        x = q(x * q(styles.to(x.dtype)).reshape(n, -1, 1, 1))
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight, emulate_fp16=emulate_fp16, polyphase=polyphase)
        if demodulate:
            assert dcoefs is not None
            x = q(x * q(dcoefs.to(x.dtype)).reshape(n, -1, 1, 1))
        if noise is not None:
            x = q(x + q(noise.to(x.dtype)))
        return x

    assert w is not None  # fused: built above
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=n,
                        flip_weight=flip_weight, emulate_fp16=emulate_fp16, polyphase=polyphase)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = q(x.add_(noise))  # in place keeps x's dtype: float16 layers round once, after adding float32 noise
    return x


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1 / sqrt(sum over i, k of (weight[o, i, k] * styles[n, i])^2 + 1e-8), [N, O], as one matrix product.

    The squares factor: sum_i styles[n, i]^2 * (sum_k weight[o, i, k]^2), so the [N, O, I, k, k] modulated
    weights of the reference (and their backward) are never built. Float32 rounding differs from it.
    """
    wsq = weight.square().sum(dim=[2, 3])  # [O, I]
    return (styles.square().matmul(wsq.t()) + 1e-8).rsqrt()


def _modulate_activations(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None,
                          up: int, down: int, padding: int, resample_filter: torch.Tensor | None, demodulate: bool,
                          flip_weight: bool, polyphase: bool) -> torch.Tensor:
    # The lean unfused form (module docstring): scale inputs, one shared convolution, scale outputs.
    x = _ScaleChannels.apply(x, styles, None)  # type: ignore[no-untyped-call]
    x = conv2d_resample(x, weight, f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight,
                        polyphase=polyphase)
    if demodulate:
        out: torch.Tensor = _ScaleChannels.apply(x, demodulation_coefficients(weight, styles), noise)  # type: ignore[no-untyped-call]
        return out
    return x + noise if noise is not None else x


class _ScaleChannels(torch.autograd.Function):
    """``x * s[:, :, None, None] (+ noise)`` for x [N, C, H, W], s [N, C]: one pass each way.

    Why not the two autograd ops: the forward adds the noise in the same pass (``addcmul``), and the backward
    takes s's gradient as per-channel dot products (``einsum``), 5-6x faster on the CPU than the product
    tensor and its sum that ``MulBackward`` builds (a full [N, C, H, W] allocation per layer and step).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: torch.Tensor,
                noise: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, s)
        ctx.noise_shape = None if noise is None else noise.shape
        s4 = s.reshape(*s.shape, 1, 1)
        return x * s4 if noise is None else torch.addcmul(noise, x, s4)

    @staticmethod
    def backward(ctx: Any,
                 grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, s = ctx.saved_tensors
        need_x, need_s, need_noise = ctx.needs_input_grad
        gx = grad * s.reshape(*s.shape, 1, 1) if need_x else None
        gs = torch.einsum("nchw,nchw->nc", grad, x) if need_s else None
        gn = grad.sum_to_size(ctx.noise_shape) if need_noise else None
        return gx, gs, gn
