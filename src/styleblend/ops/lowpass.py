"""Windowed low-pass FIR filters of StyleGAN3 (Karras et al. 2021, Sec. 3.2 and Appendix C).

Two designs, as the paper uses them:

* **separable Kaiser-windowed sinc** (the window-method FIR design, Oppenheim & Schafer; window
  parameter from Kaiser's empirical formulas for the requested transition width), used by StyleGAN3-T
  for every filter and by -R for up-sampling and critically sampled layers;
* **radially symmetric Kaiser-windowed jinc** (the 2-D ideal circular low-pass), StyleGAN3-R's
  down-sampling filter.

Snapshots store the filters they were trained with; these functions only build them for networks
styleblend creates itself. Computed in float64, returned as float32 tensors (None for 1 tap).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Stop-band attenuation in dB of a Kaiser-window FIR with ``numtaps`` taps and transition ``width``
    (as a fraction of the Nyquist frequency): A = 2.285 (N - 1) pi width + 7.95."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """Kaiser window shape parameter for a stop-band attenuation in dB (Kaiser 1974)."""
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * math.pow(attenuation - 21, 0.4) + 0.07886 * (attenuation - 21)
    return 0.0


def kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Separable low-pass filter [numtaps]: Kaiser-windowed sinc with unit DC gain.

    Args:
        numtaps: filter length; 1 means no filter (returns None).
        cutoff: cut-off frequency, in the units of ``fs``.
        width: transition band width (twice the half-width f_h), in the units of ``fs``.
        fs: sampling rate.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps={numtaps} must be >= 1")
    if numtaps == 1:
        return None
    nyquist = fs / 2
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / nyquist))
    fc = cutoff / nyquist
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2
    h = fc * np.sinc(fc * m) * np.kaiser(numtaps, beta)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


def radial_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Radially symmetric low-pass filter [numtaps, numtaps]: Kaiser-windowed jinc with unit DC gain.

    The jinc ``J1(2 pi fc r) / (pi r)`` is the impulse response of the ideal circular low-pass of
    cut-off ``fc``; at r = 0 it takes its limit ``fc``.
    Arguments as :func:`kaiser_lowpass`.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps={numtaps} must be >= 1")
    if numtaps == 1:
        return None
    x = (np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    arg = torch.as_tensor(2 * cutoff * math.pi * r, dtype=torch.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = torch.special.bessel_j1(arg).numpy() / (math.pi * r)
    f = np.where(r == 0, cutoff, f)  # lim_{r->0} J1(2 pi fc r) / (pi r) = fc
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)
