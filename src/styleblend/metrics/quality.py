"""Full-reference image quality: PSNR, SSIM and MS-SSIM (differentiable torch implementations).

All functions take two batches ``x, y`` of shape [N, C, H, W] with values in a range of width
``data_range`` (2 for generator output in [-1, 1], 255 for uint8 images as float) and return one value
per image, [N]. SSIM uses the Gaussian window of Wang et al. 2004 (11 taps, sigma 1.5, K1 = 0.01,
K2 = 0.03), computed per channel and averaged, with 'valid' filtering (no padding), which is how the
paper's reference MATLAB code and scikit-image (``gaussian_weights=True, use_sample_covariance=False``)
compute it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError

#: Scale weights of MS-SSIM (Wang, Simoncelli & Bovik 2003, Table/Eq. 7), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

# Floor for the bases of MS-SSIM's fractional powers: keeps the gradient finite when it is a loss.
_EPS = 1e-12


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise InvalidArgumentError(f"images must be two [N, C, H, W] batches of one shape; got {tuple(x.shape)} "
                                   f"and {tuple(y.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: 10 log10(range^2 / MSE). Identical images give +inf."""
    _check_pair(x, y)
    mse = (x.double() - y.double()).square().flatten(1).mean(dim=1)
    return (10 * torch.log10(data_range**2 / mse)).to(torch.float32)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian taps [size]."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of every channel."""
    c = x.shape[1]
    k = window.to(x.dtype)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, data_range: float, window: torch.Tensor,
               k1: float = 0.01, k2: float = 0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term cs (Wang et al. 2004, Eq. 13 and 2003 Eq. 3)."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = _filter(x, window), _filter(y, window)
    sxx = _filter(x * x, window) - mu_x.square()
    syy = _filter(y * y, window) - mu_y.square()
    sxy = _filter(x * y, window) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    return (lum * cs).flatten(1).mean(dim=1), cs.flatten(1).mean(dim=1)


def _window_for(size: int, win_size: int) -> int:
    """An odd window no larger than the image (small images get a smaller window rather than an error)."""
    w = min(win_size, size)
    return w if w % 2 == 1 else w - 1


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image [N] (Wang, Bovik, Sheikh & Simoncelli 2004, Eq. 13, mean SSIM).

    Images smaller than the window use the largest odd window that fits.
    """
    _check_pair(x, y)
    win = _window_for(min(x.shape[-2:]), win_size)
    window = gaussian_window(win, sigma, torch.float64)
    s, _ = _ssim_maps(x.double(), y.double(), data_range, window)
    return s.to(x.dtype if x.is_floating_point() else torch.float32)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11, sigma: float = 1.5,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """Multi-scale SSIM per image [N] (Wang, Simoncelli & Bovik 2003, Eq. 7).

    MS-SSIM = prod_{j<M} cs_j^{w_j} * (l_M cs_M)^{w_M}, halving the image (2x2 average) between scales.
    The published 5 scales need images of at least (win_size - 1) * 16 + 1 = 161 px; smaller images use
    as many scales as fit (at least one) with the used weights renormalised to sum to 1, so the
    function works at 32 px (where it reduces towards SSIM). Negative cs values are clamped to ~0 (1e-12) before
    the fractional power (as common implementations do) so the result stays real.
    """
    _check_pair(x, y)
    size = min(x.shape[-2:])
    win = _window_for(size, win_size)
    scales = 1
    while scales < len(weights) and size // (2**scales) >= win:
        scales += 1
    w = torch.tensor(weights[:scales], dtype=torch.float64)
    w = w / w.sum()
    window = gaussian_window(win, sigma, torch.float64)
    xd, yd = x.double(), y.double()
    out = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
    for j in range(scales):
        s, cs = _ssim_maps(xd, yd, data_range, window)
        if j == scales - 1:
            out = out * s.clamp(min=_EPS) ** w[j]
        else:
            out = out * cs.clamp(min=_EPS) ** w[j]
            xd, yd = F.avg_pool2d(xd, 2), F.avg_pool2d(yd, 2)
    return out.to(torch.float32)


def summarize(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> dict[str, float]:
    """Mean PSNR (dB), SSIM and MS-SSIM over a batch, as plain floats for JSON reports."""
    with torch.no_grad():
        return {"psnr": float(psnr(x, y, data_range).mean()),
                "ssim": float(ssim(x, y, data_range).mean()),
                "ms_ssim": float(ms_ssim(x, y, data_range).mean())}
