"""Differentiable augmentation for the discriminator's inputs (StyleGAN2-ADA, Karras et al. 2020).

Every transform is applied to each image independently with probability ``p`` and is
differentiable with respect to the image (the generator's loss is back-propagated through it),
including second order (R1 takes the gradient of D(augment(x)) with respect to x). The set follows
the paper's "bgc" pipeline minus the resampled geometric transforms (arbitrary rotation, scaling,
fractional translation), which need a band-limited resampler and matter less for small images:

* pixel blitting: x-flip (probability p/2, as NVIDIA's ``xflip`` draws i in {0, 1}), integer
  translation by up to ``xint_max`` of the image with reflected borders;
* colour (one 4x4 affine matrix in RGB, Sec. 2.4 / Appendix B): brightness (add N(0, 0.2)),
  contrast (scale by lognormal(0, 0.5 ln 2)), luma flip (Householder reflection about the luma
  axis), hue rotation (about the luma axis by U(-pi, pi)), saturation (scale the chroma part by
  lognormal(0, ln 2)).

The transforms are "non-leaking" for p < ~0.8 (ADA Sec. 2.2): D only ever sees augmented images
and G still learns the clean distribution. :meth:`AugmentPipe.draw` takes every random number of
a batch from a given generator (per image, independent of how the batch is later split), and
:meth:`AugmentPipe.apply_params` applies those parameters; ``forward`` does both with torch's global
generator.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Unit luma axis of the colour transforms (ADA uses the equal-weights axis, not Rec. 601).
_LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def _gate(values: torch.Tensor, identity: float, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep each of ``values`` [N] with probability p, otherwise the identity value."""
    keep = torch.rand(values.shape, device=values.device, generator=generator) < p
    return torch.where(keep, values, torch.full_like(values, identity))


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Map integer coordinates onto [0, size) by mirror reflection (edge pixel not repeated)."""
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    m = torch.remainder(idx, period)
    return torch.where(m < size, m, period - m)


def translate_integer(img: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels, filling the border by reflection.

    Args:
        img: [N, C, H, W] float.
        tx, ty: int64 [N], shift right / down in pixels (negative: left / up).

    Returns:
        [N, C, H, W]; output pixel (y, x) is input pixel reflect(y - ty, x - tx).
    """
    n, c, h, w = img.shape
    xs = _reflect(torch.arange(w, device=img.device).unsqueeze(0) - tx.unsqueeze(1), w)  # [N, W]
    ys = _reflect(torch.arange(h, device=img.device).unsqueeze(0) - ty.unsqueeze(1), h)  # [N, H]
    img = img.gather(3, xs.reshape(n, 1, 1, w).expand(n, c, h, w))
    return img.gather(2, ys.reshape(n, 1, h, 1).expand(n, c, h, w))


def _rotation_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """4x4 homogeneous rotations [N, 4, 4] about the unit 3-vector ``axis`` by ``theta`` [N] (Rodrigues)."""
    x, y, z = (float(a) for a in axis[:3])
    cos, sin = theta.cos(), theta.sin()
    one_c = 1 - cos
    rows = [
        [cos + x * x * one_c, x * y * one_c - z * sin, x * z * one_c + y * sin],
        [y * x * one_c + z * sin, cos + y * y * one_c, y * z * one_c - x * sin],
        [z * x * one_c - y * sin, z * y * one_c + x * sin, cos + z * z * one_c],
    ]
    m = torch.eye(4, device=theta.device).repeat(theta.shape[0], 1, 1)
    for i in range(3):
        for j in range(3):
            m[:, i, j] = rows[i][j]
    return m


def color_matrices(n: int, p: float, device: torch.device, brightness_std: float = 0.2,
                   contrast_std: float = 0.5, hue_max: float = 1.0, saturation_std: float = 1.0,
                   lumaflip: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random per-image colour transforms as 4x4 affine matrices [n, 4, 4] (ADA Appendix B.2).

    Each of brightness, contrast, luma flip, hue and saturation is drawn, then kept with
    probability ``p`` (identity otherwise), and the matrices are composed in that order. Random
    numbers come from ``generator`` (on ``device``; None: torch's global one).
    """
    gen = generator
    eye = torch.eye(4, device=device).repeat(n, 1, 1)
    v = _LUMA.to(device)
    vv = torch.outer(v, v)
    m = eye.clone()
    if brightness_std > 0:
        b = _gate(torch.randn(n, device=device, generator=gen) * brightness_std, 0.0, p, gen)
        t = eye.clone()
        t[:, :3, 3] = b.unsqueeze(1)
        m = t @ m
    if contrast_std > 0:
        c = _gate(torch.exp2(torch.randn(n, device=device, generator=gen) * contrast_std), 1.0, p, gen)
        s = eye.clone()
        s[:, 0, 0] = s[:, 1, 1] = s[:, 2, 2] = c
        m = s @ m
    if lumaflip:
        i = _gate(torch.randint(0, 2, (n,), device=device, generator=gen).float(), 0.0, p, gen)
        m = (eye - 2 * vv * i.reshape(n, 1, 1)) @ m
    if hue_max > 0:
        theta = _gate((torch.rand(n, device=device, generator=gen) * 2 - 1) * math.pi * hue_max, 0.0, p, gen)
        m = _rotation_about(v, theta) @ m
    if saturation_std > 0:
        s = _gate(torch.exp2(torch.randn(n, device=device, generator=gen) * saturation_std), 1.0, p, gen)
        m = (vv + (eye - vv) * s.reshape(n, 1, 1)) @ m
    return m


def apply_color(img: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply affine colour matrices [N, 4, 4] to RGB images [N, 3, H, W]."""
    n, c, h, w = img.shape
    flat = img.reshape(n, c, h * w)
    matrices = matrices.to(img.dtype)
    out = matrices[:, :3, :3] @ flat + matrices[:, :3, 3:]
    return out.reshape(n, c, h, w)


class AugmentPipe(nn.Module):
    """ADA's augmentation pipeline with a probability ``p`` kept as a buffer (saved with the state).

    Args:
        xflip, xint, color: enable the x-flip, integer translation and colour groups.
        xint_max: largest translation as a fraction of the image size (ADA: 0.125).
        p: initial probability.

    :meth:`apply_params` applies parameters drawn by :meth:`draw` (named so as not to hide
    ``torch.nn.Module.apply``, which ``module.apply(fn)`` callers such as weight initialisers rely on).
    """

    p: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, xflip: bool = True, xint: bool = True, color: bool = True, xint_max: float = 0.125,
                 p: float = 0.0) -> None:
        super().__init__()
        self.xflip, self.xint, self.color = xflip, xint, color
        self.xint_max = xint_max
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Augment images [N, C, H, W] in [-1, 1] with torch's global generator; identity when p == 0."""
        if float(self.p) <= 0:
            return img
        n, c = img.shape[0], img.shape[1]
        return self.apply_params(img, self.draw(n, img.device, color=c == 3))

    def draw(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None,
             color: bool = True) -> dict[str, torch.Tensor] | None:
        """Draw the random parameters of ``n`` images at the current p (None when p == 0).

        Every tensor is indexed by image along dim 0, so a slice of the result is what the same
        images would have got in a smaller batch: 'flip' bool [n], 'shift' float [n, 2] (fractions
        of the image size, 0 when not applied), 'color' [n, 4, 4] affine colour matrices.
        ``color=False`` skips the colour group (images without three channels).
        """
        p = float(self.p)
        if p <= 0:
            return None
        out: dict[str, torch.Tensor] = {}
        if self.xflip:
            out["flip"] = ((torch.rand(n, device=device, generator=generator) < p)
                           & (torch.randint(0, 2, (n,), device=device, generator=generator) == 1))
        if self.xint:
            t = (torch.rand(n, 2, device=device, generator=generator) * 2 - 1) * self.xint_max
            out["shift"] = torch.where(torch.rand(n, 1, device=device, generator=generator) < p, t,
                                       torch.zeros_like(t))
        if self.color and color:
            out["color"] = color_matrices(n, p, torch.device(device), generator=generator)
        return out

    def apply_params(self, img: torch.Tensor, params: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """Augment images [N, C, H, W] with parameters from :meth:`draw` (None: unchanged)."""
        if params is None:
            return img
        n, c, h, w = img.shape
        if "flip" in params:
            flip = params["flip"].to(img.device)
            img = torch.where(flip.reshape(n, 1, 1, 1), img.flip(3), img)
        if "shift" in params:
            t = params["shift"].to(img.device)
            img = translate_integer(img, torch.round(t[:, 0] * w).long(), torch.round(t[:, 1] * h).long())
        if "color" in params and c == 3:
            img = apply_color(img, params["color"].to(img.device))
        return img


def ada_adjust(p: float, sign_mean: float, target: float, batch: int, interval: int, ada_kimg: float) -> float:
    """One ADA update of p (Sec. 3): step towards overfitting-free by the sign of r_t - target.

    r_t = E[sign(D(x_real))]; p moves by ``batch * interval / (ada_kimg * 1000)`` so that it can
    go from 0 to 1 in ``ada_kimg`` thousand images. The result is clamped to [0, 1].
    """
    step = batch * interval / (ada_kimg * 1000)
    if sign_mean > target:
        p += step
    elif sign_mean < target:
        p -= step
    return min(max(p, 0.0), 1.0)
