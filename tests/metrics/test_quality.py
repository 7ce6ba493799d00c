"""PSNR / SSIM / MS-SSIM against an independent numpy+scipy computation of the published formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from styleblend.errors import InvalidArgumentError
from styleblend.metrics.quality import gaussian_window, ms_ssim, psnr, ssim, summarize


def _ssim_reference(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Wang et al. 2004 mean SSIM of one [C, H, W] pair with an 11-tap sigma-1.5 Gaussian, valid region."""
    g = gaussian_window(11, 1.5, torch.float64).numpy()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for a, b in zip(x, y):
        def f(img):
            out = correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1, mode="constant")
            return out[5:-5, 5:-5]
        mx, my = f(a), f(b)
        sxx, syy, sxy = f(a * a) - mx * mx, f(b * b) - my * my, f(a * b) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(np.mean(vals))


def test_psnr_known_value():
    x = torch.zeros(1, 3, 8, 8)
    y = torch.full((1, 3, 8, 8), 0.2)
    # MSE 0.04 on range 2 -> 10 log10(4 / 0.04) = 20 dB
    assert psnr(x, y).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(x, x).item() == float("inf")


def test_ssim_matches_reference():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(2, 3, 32, 32))
    y = np.clip(x + rng.normal(0, 0.3, size=x.shape), -1, 1)
    got = ssim(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    for i in range(2):
        assert got[i].item() == pytest.approx(_ssim_reference(x[i], y[i], 2.0), abs=1e-5)


def test_identity_and_monotonic():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.uniform(-1, 1, size=(1, 3, 64, 64))).float()
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    noisy = [x + s * torch.from_numpy(rng.normal(size=x.shape)).float() for s in (0.05, 0.2, 0.5)]
    s_vals = [ssim(x, n).item() for n in noisy]
    m_vals = [ms_ssim(x, n).item() for n in noisy]
    assert s_vals[0] > s_vals[1] > s_vals[2]
    assert m_vals[0] > m_vals[1] > m_vals[2]


def test_ms_ssim_full_five_scales_and_gradient():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.uniform(-1, 1, size=(1, 1, 176, 176))).float()
    y = (x + 0.1 * torch.randn_like(x)).requires_grad_(True)
    v = ms_ssim(x, y)
    v.sum().backward()
    assert 0 < v.item() < 1 and torch.isfinite(y.grad).all()


def test_tiny_images_and_shape_errors():
    x = torch.rand(1, 3, 4, 4)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InvalidArgumentError):
        psnr(x, torch.rand(1, 3, 4, 5))


def test_summarize_keys():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = summarize(x, x.flip(-1))
    assert set(out) == {"psnr", "ssim", "ms_ssim"} and all(isinstance(v, float) for v in out.values())
