"""StyleGAN3's low-pass filter designs against SciPy's window-method FIR design and the jinc formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from styleblend.ops.lowpass import kaiser_beta, kaiser_lowpass, radial_lowpass

CASES = [(12, 2.0, 12.0, 32.0), (24, 4.0, 8.0, 64.0), (12, 16.0, 7.3966, 64.0), (18, 45.0, 20.0, 192.0)]


@pytest.mark.parametrize("numtaps,cutoff,width,fs", CASES)
def test_separable_filter_equals_scipy_firwin(numtaps, cutoff, width, fs):
    signal = pytest.importorskip("scipy.signal")
    ref = signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
    np.testing.assert_allclose(kaiser_lowpass(numtaps, cutoff, width, fs).numpy(), ref, atol=1e-7)


@pytest.mark.parametrize("numtaps,cutoff,width,fs", CASES)
def test_radial_filter_equals_kaiser_windowed_jinc(numtaps, cutoff, width, fs):
    scipy_special = pytest.importorskip("scipy.special")
    signal = pytest.importorskip("scipy.signal")
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    ref = scipy_special.j1(2 * cutoff * np.pi * r) / (np.pi * r)
    window = np.kaiser(numtaps, signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2))))
    ref *= np.outer(window, window)
    ref /= ref.sum()
    np.testing.assert_allclose(radial_lowpass(numtaps, cutoff, width, fs).numpy(), ref, atol=1e-7)


def test_filters_are_symmetric_with_unit_dc_gain_and_none_for_one_tap():
    f = kaiser_lowpass(12, 2.0, 12.0, 32.0)
    assert f.dtype == torch.float32 and abs(float(f.sum()) - 1) < 1e-6
    torch.testing.assert_close(f, f.flip(0))
    g = radial_lowpass(12, 2.0, 12.0, 32.0)
    assert g.shape == (12, 12) and abs(float(g.sum()) - 1) < 1e-6
    torch.testing.assert_close(g, g.t())
    assert kaiser_lowpass(1, 2.0, 1.0, 4.0) is None and radial_lowpass(1, 2.0, 1.0, 4.0) is None
    with pytest.raises(ValueError):
        kaiser_lowpass(0, 2.0, 1.0, 4.0)


def test_kaiser_beta_pieces():
    assert kaiser_beta(10) == 0.0
    assert kaiser_beta(60) == pytest.approx(0.1102 * (60 - 8.7))
    assert 0 < kaiser_beta(30) < kaiser_beta(50.0001)
