"""The filtered leaky ReLU reference op against a direct loop implementation and its defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from styleblend.ops.filtered_lrelu import filtered_lrelu, output_size
from styleblend.ops.lowpass import kaiser_lowpass


def _naive(x, fu, fd, b, up, down, pad, gain, slope, clamp):
    """Step by step in numpy with explicit loops: bias, zero-stuffing, pad/crop, 2-D convolution by the
    outer product of the 1-D filter, leaky ReLU, gain, clamp, 2-D convolution, decimation."""
    x = x.numpy().astype(np.float64) + b.numpy()[None, :, None, None]
    n, c, h, w = x.shape
    y = np.zeros([n, c, h * up, w * up])
    y[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    y = np.pad(y, [(0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))])
    y = y[:, :, max(-py0, 0): y.shape[2] - max(-py1, 0), max(-px0, 0): y.shape[3] - max(-px1, 0)]

    def conv(img, f1d, scale):
        k = np.outer(f1d, f1d) * scale
        kh = k.shape[0]
        out = np.zeros([n, c, img.shape[2] - kh + 1, img.shape[3] - kh + 1])
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                # A true convolution: the kernel is flipped relative to the window.
                out[:, :, i, j] = (img[:, :, i:i + kh, j:j + kh] * k[::-1, ::-1]).sum(axis=(2, 3))
        return out

    y = conv(y, fu.numpy().astype(np.float64), up * up)
    y = np.where(y >= 0, y, y * slope) * gain
    y = np.clip(y, -clamp, clamp)
    y = conv(y, fd.numpy().astype(np.float64), 1.0)
    return y[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(2, 2, (9, 8, 9, 8)), (4, 2, (-6, -9, -6, -9)), (2, 1, (3, 2, 1, 4))])
def test_matches_step_by_step_loops(up, down, pad):
    torch.manual_seed(0)
    x, b = torch.randn(2, 3, 16, 16), torch.randn(3)
    fu = kaiser_lowpass(6 * up, 2.0, 6.0, 16.0 * up)
    fd = kaiser_lowpass(12, 2.0, 6.0, 32.0)
    ours = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad, gain=math.sqrt(2), slope=0.2, clamp=1.5)
    ref = _naive(x, fu, fd, b, up, down, pad, math.sqrt(2), 0.2, 1.5)
    assert ours.shape == ref.shape
    assert ours.shape[-1] == output_size(16, fu, fd, up, down, pad[:2])
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-5)


def test_identity_filters_and_linear_slope_only_add_the_bias():
    x, b = torch.randn(2, 4, 5, 5), torch.randn(4)
    y = filtered_lrelu(x, None, None, b, gain=1, slope=1)
    torch.testing.assert_close(y, x + b.reshape(1, -1, 1, 1))


def test_clamp_bounds_the_activation_and_gain_scales_it():
    x = torch.randn(1, 2, 6, 6) * 100
    assert filtered_lrelu(x, clamp=3.0).abs().max() <= 3.0
    unclamped = filtered_lrelu(x, gain=2.0, slope=0.3)
    torch.testing.assert_close(unclamped, torch.where(x >= 0, x, 0.3 * x) * 2.0)


def test_positive_homogeneity_without_bias_and_clamp():
    # Leaky ReLU and the linear filters commute with positive scaling: f(a x) = a f(x).
    torch.manual_seed(1)
    x = torch.randn(1, 3, 10, 10, dtype=torch.float64)
    fu, fd = kaiser_lowpass(12, 2.0, 6.0, 32.0).double(), kaiser_lowpass(12, 2.0, 6.0, 32.0).double()
    f = lambda v: filtered_lrelu(v, fu, fd, up=2, down=2, padding=(9, 8, 9, 8))  # noqa: E731
    torch.testing.assert_close(f(3.5 * x), 3.5 * f(x))


def test_rejects_bad_shapes_and_factors():
    with pytest.raises(ValueError, match="N, C, H, W"):
        filtered_lrelu(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="up"):
        filtered_lrelu(torch.zeros(1, 1, 4, 4), up=0)
