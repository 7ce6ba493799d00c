"""Float16 emulated in float32 (ops/half.py and the ops' emulate_fp16) against PyTorch's own float16 ops.

The emulation's claim (the module docstring): element-wise steps round exactly as float16 kernels round;
convolutions equal float16 ones up to the order of the float32 sums, i.e. one float16 step on a small share
of values. Inputs are float16 values; the float16 ops run on the CPU (slow, so the shapes are small).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from styleblend.ops.bias_act import bias_act
from styleblend.ops.conv2d_resample import conv2d_resample
from styleblend.ops.half import EXACT_TIE_BAND, conv2d_fp16, conv_transpose2d_fp16, round_fp16
from styleblend.ops.modulated_conv import modulated_conv2d
from styleblend.ops.upfirdn2d import setup_filter, upfirdn2d


def _half(*shape: int, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale).half()


def _steps(native: torch.Tensor, emulated: torch.Tensor) -> torch.Tensor:
    """|native - emulated| in float16 steps (units in the last place of the native value)."""
    assert native.dtype == torch.float16 and emulated.dtype == torch.float32
    ulp = torch.finfo(torch.float16).eps * torch.exp2(torch.floor(torch.log2(native.float().abs().clamp(min=2**-14))))
    return (native.float() - emulated).abs() / ulp


def assert_close_fp16(native: torch.Tensor, emulated: torch.Tensor, share: float = 0.01) -> None:
    """Every value within one float16 step, and at most ``share`` of them not equal."""
    steps = _steps(native, emulated)
    assert steps.max().item() <= 1.0
    assert (steps > 0).float().mean().item() <= share


def test_round_fp16_gives_float16_values_in_float32():
    x = torch.randn(10_000) * 1000
    x[:3] = torch.tensor([1e6, -1e-9, 1 + 2**-11])  # overflow, underflow, a tie (rounds to even: 1.0)
    y = round_fp16(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, x.half().float())
    assert math.isinf(y[0].item()) and y[2].item() == 1.0


@pytest.mark.parametrize("act, gain, clamp", [("lrelu", None, 256 * math.sqrt(0.5)), ("linear", None, 4.0),
                                              ("lrelu", math.sqrt(2) * math.sqrt(0.5), None)])
def test_bias_act_rounds_each_step_exactly_as_float16(act, gain, clamp):
    x, b = _half(4, 32, 8, 8, scale=60), _half(32, seed=1)
    native = bias_act(x, b, act=act, gain=gain, clamp=clamp)
    emulated = bias_act(x.float(), b.float(), act=act, gain=gain, clamp=clamp, emulate_fp16=True)
    assert torch.equal(native.float(), emulated)
    # and it is not float32's answer: the emulation did round (sqrt(2) gains make most values inexact)
    assert not torch.equal(bias_act(x.float(), b.float(), act=act, gain=gain, clamp=clamp), emulated)


@pytest.mark.parametrize("groups, padding", [(1, (0, 0)), (2, (1, 1)), (1, (1, 0))])
def test_conv_transpose_rounds_each_tap_and_sum_as_float16(groups, padding):
    x = _half(2, 16 * groups, 6, 7)
    w = _half(16 * groups, 8, 3, 3, scale=0.2, seed=2)
    native = F.conv_transpose2d(x, w, stride=2, padding=padding, groups=groups)
    emulated = conv_transpose2d_fp16(x.float(), w.float(), stride=2, padding=padding, groups=groups)
    assert emulated.shape == native.shape
    assert_close_fp16(native, emulated)
    # Rounding only the float32 result once is far off: float16 adds the overlapping taps in float16.
    once = round_fp16(F.conv_transpose2d(x.float(), w.float(), stride=2, padding=padding, groups=groups))
    assert (_steps(native, once) > 0).float().mean().item() > 0.05


@pytest.mark.parametrize("groups, k", [(1, 3), (2, 3), (1, 1)])
def test_conv2d_accumulates_in_float32_and_rounds_once(groups, k):
    x = _half(1, 32 * groups, 9, 9)
    w = _half(24 * groups, 32, k, k, scale=0.1, seed=3)
    native = conv2d_resample(x, w, padding=k // 2, groups=groups)
    assert_close_fp16(native, conv2d_resample(x.float(), w.float(), padding=k // 2, groups=groups, emulate_fp16=True))


@pytest.mark.parametrize("groups, k, channels", [(1, 3, 128), (2, 3, 64), (1, 1, 96)])
def test_conv2d_in_the_kernels_order_equals_float16_value_for_value(groups, k, channels):
    x = _half(1, channels * groups, 7, 7, seed=7)
    w = _half(32 * groups, channels, k, k, scale=(channels * k * k) ** -0.5, seed=8)
    native = F.conv2d(x, w, padding=k // 2, groups=groups)
    exact = conv2d_fp16(x.float(), w.float(), padding=(k // 2, k // 2), groups=groups, tie_band=EXACT_TIE_BAND)
    assert torch.equal(native.float(), exact)
    if k == 3:  # and the fast sum, rounded once, is not (too few 1x1 outputs to be sure of a difference)
        fast = conv2d_fp16(x.float(), w.float(), padding=(1, 1), groups=groups)
        assert not torch.equal(native.float(), fast)


def test_conv_transpose_in_the_kernels_order_equals_float16_value_for_value():
    x, w = _half(1, 256, 6, 6, seed=9), _half(256, 24, 3, 3, scale=(256 * 9) ** -0.5, seed=10)
    native = F.conv_transpose2d(x, w, stride=2)
    assert torch.equal(native.float(), conv_transpose2d_fp16(x.float(), w.float(), 2, tie_band=EXACT_TIE_BAND))


@pytest.mark.parametrize("up, down", [(2, 1), (1, 2), (1, 1)])
def test_upfirdn2d_emulated_equals_float16(up, down):
    x, f = _half(2, 8, 10, 10, scale=3), setup_filter([1, 3, 3, 1])
    native = upfirdn2d(x, f, up=up, down=down, padding=[2, 1, 2, 1], gain=up * up)
    emulated = upfirdn2d(x.float(), f, up=up, down=down, padding=[2, 1, 2, 1], gain=up * up, emulate_fp16=True)
    assert_close_fp16(native, emulated)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up, demodulate", [(1, True), (2, True), (1, False)])
def test_modulated_conv_emulated_matches_float16(fused, up, demodulate):
    n, i, o = 2, 32, 16
    x = _half(n, i, 8, 8)
    k = 3 if demodulate else 1
    weight = torch.randn(o, i, k, k, generator=torch.Generator().manual_seed(4))
    styles = torch.randn(n, i, generator=torch.Generator().manual_seed(5)) * 3 + 1
    noise = torch.randn(8 * up, 8 * up, generator=torch.Generator().manual_seed(6)) * 0.3
    f = setup_filter([1, 3, 3, 1])
    pad = k // 2
    kwargs = dict(noise=noise, up=up, padding=pad, resample_filter=f, demodulate=demodulate, flip_weight=up == 1,
                  fused=fused)
    native = modulated_conv2d(x, weight, styles, **kwargs)
    emulated = modulated_conv2d(x.float(), weight, styles, emulate_fp16=True, **kwargs)
    assert native.dtype == torch.float16 and emulated.dtype == torch.float32
    # Several roundings in a row: a one-step difference in the convolution's output stays one step of *that*
    # value after the noise is added, so bound the difference by the float16 step of the largest output.
    assert (native.float() - emulated).abs().max().item() <= torch.finfo(torch.float16).eps * native.abs().max().item()
    assert (native.float() != emulated).float().mean().item() <= 0.02
    # float32 on the same float16 inputs lands elsewhere: the emulation's roundings are what match
    plain = modulated_conv2d(x.float(), weight, styles, **kwargs)
    assert (_steps(native, plain) > 0).float().mean().item() > 0.2
