"""Region blends of *features*: run base and transfer side by side and mix their feature maps inside a region.

A weight blend (:mod:`.regions`) changes channels everywhere they are active, so it is only as local as the
channels are. Mixing feature maps is local by construction (Collins et al., "Editing in Style", CVPR 2020,
Sec. 4, transfer their local edits the same way): for the same latents ``ws`` both generators run block by
block, and after each chosen block the base stream's features (and its skip image) become

    x_base <- x_base + a_r * (x_transfer - x_base),     a_r = alpha(r) * M_r   (spatial α, [N, 1, r, r])

where ``M_r`` is the region mask softened (a Gaussian of ``feather`` output pixels) and area-averaged to the
block's resolution r. The transfer stream runs the transfer model untouched; the base stream continues from
the mixed features with the base's weights, so the result is the base outside the region (up to the few pixels
a conv's reach carries the change over the edge) and the transfer's look inside.

**Not a weight file.** Every image needs both networks and a mask of *its own* content at render time, so a
feature blend cannot be stored as one checkpoint; it is a renderer. Use ``styleblend region-render`` (images
and videos) or :func:`feature_blend` here.

StyleGAN2 generators only (per-resolution synthesis blocks). A StyleGAN3 synthesis network has no blocks
of fixed resolution whose features line up with a mask, so it is refused.

Properties (tests/blend/test_features.py): no mixed layer, or α = 0, gives the base's ``G.synthesis`` bit
for bit; α = 1 inside a full mask at every block gives the transfer bit for bit; pixels beyond a conv's reach
of the region are the base's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from ..media.images import to_uint8

if TYPE_CHECKING:
    from ..types import Generator

#: A region per image: a tensor [N, S, S] / [S, S] (bool or float in [0, 1]), or a function ws -> such a tensor
#: (e.g. the part map of each frame's own content).
RegionSource = torch.Tensor | Callable[[torch.Tensor], torch.Tensor]

#: Largest feather (Gaussian sigma, output pixels); beyond it the "region" is the whole image.
MAX_FEATHER = 64.0


def check_pair(base: Generator, transfer: Generator) -> tuple[int, ...]:
    """The block resolutions the two generators share; raises unless both are StyleGAN2 of one architecture."""
    for G, role in ((base, "base"), (transfer, "transfer")):
        if not isinstance(getattr(G, "cfg", None), GeneratorConfig):
            raise InvalidArgumentError(f"feature blends need StyleGAN2 generators (per-resolution synthesis blocks); "
                                       f"the {role} is a {type(getattr(G, 'cfg', G)).__name__}. Blend StyleGAN3 "
                                       "models by weights instead ('styleblend blend')")
    if getattr(base, "cfg", None) != getattr(transfer, "cfg", None):
        raise InvalidArgumentError("base and transfer have different architectures; a feature blend mixes feature "
                                   "maps channel by channel, so the transfer must be fine-tuned from the base")
    return tuple(getattr(base.synthesis, "block_resolutions", ()))


def parse_feature_layers(text: str | Sequence[int | str], resolutions: Sequence[int]) -> tuple[int, ...]:
    """Block resolutions to mix: '16,32,64', 'b16,b32', '16-64' (every block from 16 to 64) or a list.

    Raises:
        InvalidArgumentError: a resolution that is not a block of the model, or none at all.
    """
    items = [x.strip() for x in text.split(",")] if isinstance(text, str) else [str(x) for x in text]
    out: set[int] = set()
    for item in items:
        if not item:
            continue
        lo, sep, hi = item.removeprefix("b").partition("-")
        try:
            low = int(lo)
            high = int(hi.removeprefix("b")) if sep else low
        except ValueError:
            raise InvalidArgumentError(f"`layers` '{item}' is not a block resolution; use e.g. 16,32,64 or 16-64",
                                       param="layers") from None
        chosen = [r for r in resolutions if low <= r <= high]
        if not sep and low not in resolutions or not chosen:
            raise InvalidArgumentError(f"`layers` '{item}': the model's blocks are {list(resolutions)}; use some "
                                       f"of them, e.g. {resolutions[-3] if len(resolutions) > 2 else resolutions[0]}"
                                       f"-{resolutions[-1]}", param="layers")
        out.update(chosen)
    if not out:
        raise InvalidArgumentError("`layers` is empty; name the blocks to mix, e.g. 16-64", param="layers")
    return tuple(sorted(out))


def _gaussian_blur(m: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, 1, H, W] (edges replicated, so a mask touching the border stays 1 there)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad = torch.nn.functional.pad(m, (radius, radius, 0, 0), mode="replicate")
    m = torch.nn.functional.conv2d(pad, k.view(1, 1, 1, -1))
    pad = torch.nn.functional.pad(m, (0, 0, radius, radius), mode="replicate")
    return torch.nn.functional.conv2d(pad, k.view(1, 1, -1, 1))


def soft_region(region: torch.Tensor, img_resolution: int, feather: float = 1.0) -> torch.Tensor:
    """The region as a soft mask at the output size: float32 [N, 1, R, R] in [0, 1].

    Args:
        region: [N, S, S] or [S, S], bool or float in [0, 1]; S divides R or R divides S (a part map of a
            32 px layer, a painted mask of the image's size, ...). Enlarged by pixel repetition, shrunk by
            area averaging.
        feather: Gaussian sigma of the soft edge in output pixels; 0 keeps the hard edge.

    Raises:
        InvalidArgumentError: a mask that is not square, a size that does not divide, values outside [0, 1]
            or a feather outside [0, MAX_FEATHER].
    """
    if not 0.0 <= feather <= MAX_FEATHER or not math.isfinite(feather):
        raise InvalidArgumentError(f"`feather` {feather:g} must be in [0, {MAX_FEATHER:g}] output pixels "
                                   "(0: hard edge)", param="feather")
    if region.ndim == 2:
        region = region[None]
    if region.ndim != 3 or region.shape[-1] != region.shape[-2] or region.shape[-1] < 1:
        raise InvalidArgumentError(f"a region of shape {tuple(region.shape)} is not a square mask [N, S, S]")
    m = region.to(torch.float32)[:, None]
    if m.numel() and (float(m.min()) < 0 or float(m.max()) > 1):
        raise InvalidArgumentError("region values must be in [0, 1] (1 = inside)")
    s = m.shape[-1]
    if s < img_resolution:
        if img_resolution % s:
            raise InvalidArgumentError(f"a {s}x{s} region does not divide the {img_resolution} px output")
        m = m.repeat_interleave(img_resolution // s, dim=2).repeat_interleave(img_resolution // s, dim=3)
    elif s > img_resolution:
        if s % img_resolution:
            raise InvalidArgumentError(f"a {s}x{s} region is not a multiple of the {img_resolution} px output")
        m = torch.nn.functional.avg_pool2d(m, s // img_resolution)
    if feather > 0:
        m = _gaussian_blur(m, feather).clamp(0, 1)
        # Snap the blur's rounding (0.9999999, 1e-9) to the ends: far from the edge the mask must be exactly
        # 0 or 1, so that an untouched area stays the base's (and a full one the transfer's) bit for bit.
        m = torch.where(m > 1 - 1e-6, 1.0, torch.where(m < 1e-6, 0.0, m))
    return m


def _alphas(alpha: float | Mapping[int, float], layers: Sequence[int]) -> dict[int, float]:
    values = {r: float(alpha[r] if isinstance(alpha, Mapping) else alpha) for r in layers}
    for r, a in values.items():
        if not 0.0 <= a <= 1.0:
            raise InvalidArgumentError(f"`alpha` {a:g} at {r} px must be in [0, 1] (1 = the transfer inside the "
                                       "region)", param="alpha")
    return values


@torch.no_grad()
def feature_blend(base: Generator, transfer: Generator, ws: torch.Tensor, region: torch.Tensor,
                  layers: Sequence[int], alpha: float | Mapping[int, float] = 1.0, feather: float = 1.0,
                  noise_mode: str = "const") -> torch.Tensor:
    """Render ``ws`` with base and transfer side by side, mixing their features inside ``region`` at ``layers``.

    Args:
        base, transfer: StyleGAN2 generators of one architecture (eval mode, same device).
        ws: [N, num_ws, w_dim] latents both render (usually of the base's mapping network).
        region: [N, S, S] or [S, S] in [0, 1] (see :func:`soft_region`): where the transfer's features go.
        layers: block resolutions after which the features (and skip images) are mixed
            (:func:`parse_feature_layers`).
        alpha: the transfer's share inside the region, one value or one per layer resolution, in [0, 1].
        feather: soft edge, Gaussian sigma in output pixels (0: hard).
        noise_mode: 'const' (stored noise, as ``render_ws``), 'random' or 'none'.

    Returns:
        float32 images [N, C, R, R] (about [-1, 1]) on the generators' device.

    Raises:
        InvalidArgumentError: not StyleGAN2, different architectures, bad layers, α, region or ws shape.
    """
    resolutions = check_pair(base, transfer)
    chosen = parse_feature_layers(list(layers), resolutions)
    alphas = _alphas(alpha, chosen)
    G_b, G_t = base.synthesis, transfer.synthesis
    if ws.ndim != 3 or ws.shape[1:] != (base.num_ws, base.w_dim):
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {base.num_ws}, "
                                   f"{base.w_dim}]")
    n = ws.shape[0]
    device = next(base.parameters()).device
    mask = soft_region(region, base.img_resolution, feather).to(device)
    if mask.shape[0] not in (1, n):
        raise InvalidArgumentError(f"{mask.shape[0]} region masks for {n} images; give one, or one per image")
    ws = ws.to(device, torch.float32)
    last_mixed = max(chosen)
    xb = ib = xt = it = None
    w_idx = 0
    for res in resolutions:
        bb, bt = getattr(G_b, f"b{res}"), getattr(G_t, f"b{res}")
        block_ws = ws.narrow(1, w_idx, bb.num_conv + bb.num_torgb)
        w_idx += bb.num_conv
        xb, ib = bb(xb, ib, block_ws, noise_mode=noise_mode, fused=True)
        if res > last_mixed:
            continue  # the transfer stream is no longer needed
        xt, it = bt(xt, it, block_ws, noise_mode=noise_mode, fused=True)
        if res in alphas and alphas[res] > 0:
            m = torch.nn.functional.adaptive_avg_pool2d(mask, res) * alphas[res]
            # lerp is exact at the ends (weight 0 gives x_base, 1 gives x_transfer, bit for bit).
            xb = torch.lerp(xb, xt, m.to(xb.dtype))
            if ib is not None and it is not None:
                ib = torch.lerp(ib, it, m)
    assert isinstance(ib, torch.Tensor)  # the last block always has a torgb
    return ib


def iter_feature_blend(base: Generator, transfer: Generator, ws: torch.Tensor, region: RegionSource,
                       layers: Sequence[int], alpha: float | Mapping[int, float] = 1.0, feather: float = 1.0,
                       batch_size: int = 8, noise_mode: str = "const",
                       callback: Callable[[int, int], None] | None = None) -> Iterator[np.ndarray]:
    """:func:`feature_blend` of ws [T, num_ws, w_dim] in batches; yields uint8 frames [H, W, C] (for videos).

    ``region``: one mask for every frame ([S, S] or [1, S, S]), one per frame ([T, S, S]), or a function
    ws [B, ...] -> [B, S, S] called per batch (a part follows each frame's content).
    ``callback(done, total)`` after every batch.
    """
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    total = ws.shape[0]
    fixed = None if callable(region) else region
    if fixed is not None and fixed.ndim == 3 and fixed.shape[0] not in (1, total):
        raise InvalidArgumentError(f"{fixed.shape[0]} region masks for {total} frames; give one, or one per frame")
    for start in range(0, total, batch_size):
        batch = ws[start:start + batch_size]
        if fixed is None:
            masks = region(batch)  # type: ignore[operator]
        elif fixed.ndim == 3 and fixed.shape[0] == total and total > 1:
            masks = fixed[start:start + batch_size]
        else:
            masks = fixed
        img = feature_blend(base, transfer, batch, masks, layers, alpha, feather, noise_mode).cpu()
        if callback is not None:
            callback(min(start + batch_size, total), total)
        yield from to_uint8(img)
