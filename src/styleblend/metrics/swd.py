"""Sliced Wasserstein distance between two image sets (Karras et al. 2018, "Progressive Growing of GANs").

A quality measure that needs no pretrained network: both sets are decomposed into Laplacian pyramids;
at every level, random 7x7 neighbourhoods (128 per image) become descriptors, normalised per colour
channel over their set; the distance between the two descriptor distributions is the mean absolute
difference of their sorted projections on random unit directions (4 x 128), reported x 1e3 as in the
paper. Small numbers mean similar local statistics at that scale: the finest level measures texture
and edges, the coarsest one colour and layout.

Both sets must hold the same number of images (the sorted projections are compared element-wise).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError

# Binomial 5-tap filter of the paper's pyramid, as a separable 2-D kernel.
_TAPS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    kernel = (_TAPS[:, None] * _TAPS[None, :] * gain).to(x)
    channels = x.shape[1]
    x = F.pad(x, [2, 2, 2, 2], mode="reflect")
    return F.conv2d(x, kernel.expand(channels, 1, 5, 5), groups=channels)


def pyramid_down(x: torch.Tensor) -> torch.Tensor:
    """Blur and keep every second pixel: [N, C, H, W] -> [N, C, H/2, W/2]."""
    return _blur(x)[:, :, ::2, ::2]


def pyramid_up(x: torch.Tensor) -> torch.Tensor:
    """Zero-insert and blur (x4 gain keeps the mean): [N, C, H, W] -> [N, C, 2H, 2W]."""
    n, c, h, w = x.shape
    up = x.new_zeros([n, c, 2 * h, 2 * w])
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)


def laplacian_pyramid(x: torch.Tensor, min_resolution: int = 16) -> list[torch.Tensor]:
    """Band-pass levels, finest first, down to ``min_resolution``; the last level is the low-pass rest.

    ``sum of pyramid_up``-ing the levels back reproduces ``x`` exactly (up to float rounding).
    """
    levels = []
    while x.shape[-1] > min_resolution:
        low = pyramid_down(x)
        levels.append(x - pyramid_up(low))
        x = low
    levels.append(x)
    return levels


def reconstruct(levels: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`."""
    x = levels[-1]
    for band in reversed(levels[:-1]):
        x = pyramid_up(x) + band
    return x


def patch_descriptors(level: torch.Tensor, per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``per_image`` random ``size`` x ``size`` neighbourhoods of each image -> [N * per_image, C * size**2]."""
    n, c, h, w = level.shape
    if h < size or w < size:
        raise InvalidArgumentError(f"a {h}x{w} pyramid level is smaller than the {size}x{size} neighbourhood")
    ys = torch.randint(0, h - size + 1, [n, per_image], generator=gen)
    xs = torch.randint(0, w - size + 1, [n, per_image], generator=gen)
    offsets = torch.arange(size)
    rows = (ys[..., None] + offsets)[..., :, None].expand(n, per_image, size, size)  # [N, P, s, s]
    cols = (xs[..., None] + offsets)[..., None, :].expand(n, per_image, size, size)
    batch = torch.arange(n)[:, None, None, None].expand_as(rows)
    patches = level.permute(0, 2, 3, 1)[batch, rows, cols]  # [N, P, s, s, C]
    return patches.permute(0, 1, 4, 2, 3).reshape(n * per_image, c * size * size)


def _normalise(desc: torch.Tensor, channels: int) -> torch.Tensor:
    """Zero mean, unit variance per colour channel over all descriptors of a set."""
    d = desc.reshape(desc.shape[0], channels, -1)
    mean = d.mean(dim=(0, 2), keepdim=True)
    std = d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    return ((d - mean) / std).reshape(desc.shape)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, repeats: int, directions: int,
                       gen: torch.Generator) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections."""
    if a.shape != b.shape:
        raise InvalidArgumentError(f"descriptor sets differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    total = 0.0
    for _ in range(repeats):
        dirs = torch.randn([directions, a.shape[1]], generator=gen, dtype=a.dtype)
        dirs = dirs / dirs.norm(dim=1, keepdim=True)
        # [directions, N]; numpy's sort of contiguous rows is ~20x faster than torch's on a CPU.
        pa = np.sort((dirs @ a.T).numpy(), axis=1)
        pb = np.sort((dirs @ b.T).numpy(), axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


def swd(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, *, per_image: int = 128,
        patch: int = 7, repeats: int = 4, directions: int = 128, min_resolution: int = 16,
        seed: int = 0) -> dict[int, float]:
    """SWD x 1e3 per pyramid level between two uint8 image sets [N, C, H, W].

    Returns:
        {resolution: distance} from the finest level to ``min_resolution``, plus key 0 for their mean.

    Raises:
        InvalidArgumentError: the sets differ in size or shape, or are too small.
    """
    real_t, fake_t = (torch.as_tensor(x).to(torch.float32) / 255 for x in (real, fake))
    if real_t.shape != fake_t.shape or real_t.ndim != 4:
        raise InvalidArgumentError(f"SWD compares image sets of equal shape [N, C, H, W]; got {tuple(real_t.shape)} "
                                   f"and {tuple(fake_t.shape)}")
    if real_t.shape[0] < 2:
        raise InvalidArgumentError("SWD needs at least 2 images per set")
    channels = real_t.shape[1]
    out: dict[int, float] = {}
    for i, (level_real, level_fake) in enumerate(zip(laplacian_pyramid(real_t, min_resolution),
                                                     laplacian_pyramid(fake_t, min_resolution))):
        # Both sets use the same neighbourhood positions (paired sampling: less variance, and a set's
        # distance to itself is exactly 0).
        da, db = (_normalise(patch_descriptors(level, per_image, patch, torch.Generator().manual_seed(seed + i)),
                             channels) for level in (level_real, level_fake))
        gen = torch.Generator().manual_seed(seed + 1000 + i)
        out[level_real.shape[-1]] = 1e3 * sliced_wasserstein(da, db, repeats, directions, gen)
    out[0] = float(np.mean(list(out.values())))
    return out
