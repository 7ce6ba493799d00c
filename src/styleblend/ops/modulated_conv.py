"""Modulated (style-scaled) convolution with optional demodulation - StyleGAN2, Eq. 1-3.

Two equivalent paths: ``fused=True`` folds the styles into per-sample weights and runs one grouped
convolution; ``fused=False`` scales activations instead. NVIDIA uses the fused path at inference
and the other while training; both are tested equal.
"""

from __future__ import annotations

import math

import torch

from .conv2d_resample import conv2d_resample
from .half import keep, round_fp16


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, down: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, flip_weight: bool = True, fused: bool = True,
                     emulate_fp16: bool = False, polyphase: bool = False) -> torch.Tensor:
    """Convolve ``x`` [N, I, H, W] with ``weight`` [O, I, k, k] modulated by ``styles`` [N, I].

    ``noise`` (broadcastable to the output) is added after demodulation, before the bias.
    emulate_fp16: ``x`` is float32 holding float16 values; compute in float32 but pre-normalise and round
        every operand and result as the float16 path does (:mod:`styleblend.ops.half`).
    polyphase: up-sample float32 by regular convolutions, not the transposed one (see ``conv2d_resample``).
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
