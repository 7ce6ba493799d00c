"""Image parts from a generator's features, and which channels draw them (Collins et al., CVPR 2020).

Collins, Bala, McWilliams & Süsstrunk, "Editing in Style: Uncovering the Local Semantics of GANs"
(CVPR 2020, Sec. 3): the activation vectors of one synthesis layer, one per pixel, fall into a few
clusters that are semantic parts (eyes, mouth, background). They cluster them with *spherical*
k-means - vectors normalised to unit length, similarity = cosine - so that a part is decided by which
channels fire together, not by how strongly.

Here:

* :func:`layer_activations` renders samples and keeps one layer's feature maps [N, C, H, W];
* :func:`spherical_kmeans` clusters unit vectors (seeded k-means++ start, deterministic);
* :func:`find_parts` / :func:`assign_parts` turn feature maps into part maps [N, H, W];
* :func:`region_scores` scores every channel for a region (a part or a user mask);
* :func:`select_channels` and :func:`region_channel_masks` turn scores into
  :class:`~styleblend.blend.channels.ChannelMask` s, which the ordinary blend core applies.

**Score.** score_c = mean of channel c inside the region - mean outside, after standardising the
channel over every pixel of every sample (zero mean, unit spread). Why this and not the k-means
centroid weights: it is defined for any region, so a user's mask and a k-means part are scored the
same way; standardising stops a channel with large activations from outranking one that is silent
outside the region; and a channel that fires *only* inside the region gets the largest score, which
is what a region blend wants to change. The score is in units of the channel's own spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import GeneratorConfig
from ..config_sg3 import AnyGeneratorConfig, is_stylegan3
from ..errors import InvalidArgumentError
from ..nn.generator import Generator as StyleGAN2Generator
from ..nn.naming import generator_layers
from .channels import ChannelMask

if TYPE_CHECKING:
    from ..types import Generator

#: Largest activation tensor (elements) :func:`layer_activations` keeps in memory (1 GiB of float32).
MAX_ACTIVATION_ELEMENTS = 2**28


@dataclass(frozen=True)
class Parts:
    """The result of clustering a layer's features.

    Attributes:
        layer: the layer the features came from (``'b32'`` or ``'b32.conv0'``).
        labels: int64 [N, H, W], the part of every pixel of every sample (0 .. K-1).
        centroids: float32 [K, C], unit-length cluster centres (cosine k-means).
    """

    layer: str
    labels: torch.Tensor
    centroids: torch.Tensor

    @property
    def num_parts(self) -> int:
        return int(self.centroids.shape[0])


def stylegan2_config(cfg: AnyGeneratorConfig) -> GeneratorConfig:
    """``cfg`` when it is a StyleGAN2 one: parts are clustered in the features of StyleGAN2's resolution
    blocks (``b32``); StyleGAN3's layers have no such blocks.

    Raises:
        InvalidArgumentError: a StyleGAN3 config.
    """
    if is_stylegan3(cfg):
        raise _not_stylegan2("a StyleGAN3 generator")
    return cfg


def _stylegan2_generator(G: Generator) -> StyleGAN2Generator:
    if not isinstance(G, StyleGAN2Generator):
        raise _not_stylegan2("a StyleGAN3 generator" if is_stylegan3(getattr(G, "cfg", None)) else
                             f"a {type(G).__name__}")
    return G


def _not_stylegan2(what: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"region blends and parts work on StyleGAN2 generators (the features of a "
                                f"resolution block such as b32); this is {what}: blend it by resolution, size or "
                                "W+ row instead")


def parse_layer(text: str, cfg: AnyGeneratorConfig) -> str:
    """A feature layer name: ``'b32'`` (the block's output features), ``'b32.conv0'`` or ``'b32.conv1'``.

    Also accepts ``'synthesis.b32'`` and ``'32'``.

    Raises:
        InvalidArgumentError: the layer is not a feature layer of this architecture.
    """
    cfg = stylegan2_config(cfg)
    name = text.strip().removeprefix("synthesis.")
    if name.isdigit():
        name = f"b{name}"
    convs = {layer.name for layer in generator_layers(cfg) if layer.kind == "conv"}
    blocks = {f"b{r}" for r in cfg.block_resolutions}
    if name not in convs | blocks:
        raise InvalidArgumentError(f"`layer` '{text}' is not a feature layer of this {cfg.img_resolution} px model; "
                                   f"use a block b4..b{cfg.img_resolution} (e.g. b{_default_res(cfg)}) or a layer "
                                   f"such as b{_default_res(cfg)}.conv0", param="layer")
    return name


def default_layer(cfg: AnyGeneratorConfig) -> str:
    """b32 when the model has it (Collins et al. cluster 32x32 features), else the block below the output."""
    return f"b{_default_res(cfg)}"


def _default_res(cfg: AnyGeneratorConfig) -> int:
    cfg = stylegan2_config(cfg)
    return 32 if 32 in cfg.block_resolutions else max(4, cfg.img_resolution // 2)


def layer_channels(layer: str, cfg: AnyGeneratorConfig) -> int:
    """Number of channels of a feature layer (a block's output has its conv1's channels)."""
    return stylegan2_config(cfg).channels(int(layer.split(".")[0][1:]))


def producing_layer(layer: str) -> str:
    """The layer whose output channels *are* the features of ``layer``: a block's features come from conv1."""
    return layer if "." in layer else f"{layer}.conv1"


@torch.no_grad()
def layer_activations(G: Generator, ws: torch.Tensor, layer: str, noise_mode: str = "const",
                      batch_size: int = 8) -> torch.Tensor:
    """Render ``ws`` [N, num_ws, w_dim] and return the features of ``layer``: float32 [N, C, H, W] on the CPU.

    ``layer``: a name from :func:`parse_layer`. A block's features are what it passes to the next block
    (conv1's output; for 'resnet' the sum with the skip path).

    Raises:
        InvalidArgumentError: unknown layer, or the activations would exceed :data:`MAX_ACTIVATION_ELEMENTS`.
    """
    G = _stylegan2_generator(G)
    block_name, _, conv = layer.partition(".")
    module: Any = getattr(G.synthesis, block_name, None)
    if conv and module is not None:
        module = getattr(module, conv, None)
    if module is None:
        raise InvalidArgumentError(f"layer '{layer}' is not in this generator; use e.g. "
                                   f"b{G.synthesis.block_resolutions[-1]}")
    res = int(block_name[1:])
    channels = layer_channels(layer, G.cfg)
    if ws.shape[0] * channels * res * res > MAX_ACTIVATION_ELEMENTS:
        raise InvalidArgumentError(f"{ws.shape[0]} samples of '{layer}' ({channels} x {res} x {res}) exceed the "
                                   f"activation budget of {MAX_ACTIVATION_ELEMENTS} values; use fewer samples")
    captured: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, _inputs: object, output: Any) -> None:
        x = output[0] if isinstance(output, tuple) else output
        captured.append(x.detach().to(torch.float32).cpu())

    handle = module.register_forward_hook(hook)
    try:
        device = next(G.parameters()).device
        for start in range(0, ws.shape[0], batch_size):
            G.synthesis(ws[start:start + batch_size].to(device), noise_mode=noise_mode)
    finally:
        handle.remove()
    return torch.cat(captured)


def spherical_kmeans(vectors: torch.Tensor, k: int, seed: int = 0,
                     iterations: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine k-means of row vectors (Collins et al. 2020; Dhillon & Modha 2001).

    Rows are normalised to unit length; each iteration assigns a row to the centroid of highest cosine
    similarity and sets each centroid to the normalised mean of its rows. The start is k-means++
    (probability of a new centre ∝ 1 - cosine to the nearest chosen one) drawn from ``seed``, so the
    result depends only on the input and the seed. A part that loses all its rows takes the row worst
    served by its centroid.

    Args:
        vectors: [M, C] float. Zero rows are allowed (they stay zero and join cluster of best score).
        k: number of clusters, 2 <= k <= M.
        seed: the k-means++ draw.
        iterations: at most this many assignment steps (it stops when no label changes).

    Returns:
        (labels int64 [M], centroids float32 [k, C] of unit length).

    Raises:
        InvalidArgumentError: k < 2 or more clusters than rows.
    """
    if k < 2:
        raise InvalidArgumentError(f"`parts` {k}: clustering needs at least 2 parts", param="parts")
    if vectors.ndim != 2 or vectors.shape[0] < k:
        raise InvalidArgumentError(f"cannot cluster {vectors.shape[0] if vectors.ndim == 2 else 0} vectors into {k} "
                                   "parts; use fewer parts or more samples")
    x = torch.nn.functional.normalize(vectors.to(torch.float32), dim=1)
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(x.shape[0], [1], generator=gen))
    centres = [x[first]]
    best = x @ x[first]
    for _ in range(1, k):
        weight = (1 - best).clamp(min=0)
        if float(weight.sum()) <= 0:
            weight = torch.ones_like(weight)
        idx = int(torch.multinomial(weight.to(torch.float64), 1, generator=gen))
        centres.append(x[idx])
        best = torch.maximum(best, x @ x[idx])
    centroids = torch.stack(centres)
    labels = torch.full([x.shape[0]], -1, dtype=torch.int64)
    for _ in range(iterations):
        sims = x @ centroids.T
        new = sims.argmax(dim=1)
        if torch.equal(new, labels):
            break
        labels = new
        served = sims.gather(1, labels[:, None])[:, 0]
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k)
        for empty in (counts == 0).nonzero()[:, 0].tolist():
            worst = int(served.argmin())
            sums[empty] = x[worst]
            served[worst] = float("inf")
        centroids = torch.nn.functional.normalize(sums, dim=1)
    return labels, centroids


def _pixels(acts: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N*H*W, C]."""
    return acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])


def find_parts(acts: torch.Tensor, k: int, layer: str = "", seed: int = 0) -> Parts:
    """Cluster the per-pixel feature vectors of ``acts`` [N, C, H, W] into ``k`` parts (spherical k-means)."""
    n, _, h, w = acts.shape
    labels, centroids = spherical_kmeans(_pixels(acts), k, seed=seed)
    return Parts(layer, labels.reshape(n, h, w), centroids)


def assign_parts(acts: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The part of every pixel of new features [N, C, H, W] under given centroids: int64 [N, H, W]."""
    if acts.shape[1] != centroids.shape[1]:
        raise InvalidArgumentError(f"features with {acts.shape[1]} channels cannot use parts of {centroids.shape[1]}")
    n, _, h, w = acts.shape
    x = torch.nn.functional.normalize(_pixels(acts), dim=1)
    return (x @ centroids.T).argmax(dim=1).reshape(n, h, w)


def region_scores(acts: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Contribution of every channel to a region: float32 [C] (see the module docstring).

    Args:
        acts: features [N, C, H, W].
        region: bool [N, H, W] (one mask per sample) or [H, W] (the same mask for every sample).

    Raises:
        InvalidArgumentError: a region of the wrong size, or one that covers no pixel or every pixel.
    """
    n, _, h, w = acts.shape
    if region.ndim == 2 and tuple(region.shape) == (h, w):
        region = region[None].expand(n, h, w)
    if tuple(region.shape) != (n, h, w):
        raise InvalidArgumentError(f"a region of size {tuple(region.shape[-2:])} does not fit features of "
                                   f"{h}x{w}; give a mask of the layer's or the image's size")
    region = region.to(torch.bool)
    inside = int(region.sum())
    if inside == 0 or inside == region.numel():
        raise InvalidArgumentError("the region covers " + ("no pixel" if inside == 0 else "every pixel")
                                   + "; a region must mark part of the image (white inside, black outside)")
    x = _pixels(acts).to(torch.float64)
    x = (x - x.mean(dim=0)) / x.std(dim=0).clamp(min=1e-8)
    mask = region.reshape(-1)
    return (x[mask].mean(dim=0) - x[~mask].mean(dim=0)).to(torch.float32)


def part_scores(acts: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """:func:`region_scores` of every part: float32 [K, C]; a part with no pixel scores 0."""
    rows = []
    for part in range(k):
        region = labels == part
        covered = int(region.sum())
        rows.append(region_scores(acts, region) if 0 < covered < region.numel()
                    else torch.zeros(acts.shape[1]))
    return torch.stack(rows)


def select_channels(scores: torch.Tensor, top_k: int | None = None, threshold: float | None = None) -> tuple[int, ...]:
    """The channels a region blend changes: the ``top_k`` highest scores, or every score >= ``threshold``.

    Exactly one of ``top_k`` and ``threshold``. Ties are broken by the lower channel index, so the choice
    is deterministic. Returns sorted channel indices (possibly none).
    """
    if (top_k is None) == (threshold is None):
        raise InvalidArgumentError("choose the channels with either `top_k` or `threshold`, not both",
                                   param=("top_k", "threshold"))
    c = int(scores.shape[0])
    if top_k is not None:
        if not 0 <= top_k <= c:
            raise InvalidArgumentError(f"`top_k` {top_k} must be in [0, {c}] (the layer has {c} channels)",
                                       param="top_k")
        order = sorted(range(c), key=lambda i: (-float(scores[i]), i))
        return tuple(sorted(order[:top_k]))
    return tuple(i for i in range(c) if float(scores[i]) >= float(threshold))  # type: ignore[arg-type]


def region_channel_masks(channels: Sequence[int], layers: Sequence[str], num_channels: int,
                         cfg: AnyGeneratorConfig, alpha: float = 1.0) -> list[ChannelMask]:
    """One :class:`ChannelMask` per layer giving ``channels`` the α ``alpha``.

    Raises:
        InvalidArgumentError: a layer is not a conv layer of the model, or its channel count differs from
            the scored layer's (its channel i would not be the scored channel i).
    """
    convs = {layer.name: layer for layer in generator_layers(cfg) if layer.kind in ("conv", "const")}
    masks = []
    for name in layers:
        layer = convs.get(name)
        if layer is None:
            raise InvalidArgumentError(f"`layers` '{name}' is not a conv layer of this model; use e.g. "
                                       f"b{_default_res(cfg)}.conv1", param="layers")
        if layer.channels != num_channels:
            raise InvalidArgumentError(f"`layers` '{name}' has {layer.channels} channels but the scored layer "
                                       f"has {num_channels}; choose layers of the scored resolution", param="layers")
        masks.append(ChannelMask(name, tuple(channels), float(alpha)))
    return masks


def load_region_mask(path: str | Path, sizes: Sequence[int]) -> torch.Tensor:
    """A user's region PNG as bool [H, W]: white (>= 128) inside. Its size must be one of ``sizes``."""
    from ..media.load import load_image

    data = load_image(path, channels=1)[:, :, 0]
    if data.shape[0] != data.shape[1] or data.shape[0] not in sizes:
        raise InvalidArgumentError(f"mask {path} is {data.shape[1]}x{data.shape[0]} px; it must be square, "
                                   f"{' or '.join(f'{s}x{s}' for s in sizes)}")
    return torch.from_numpy(data >= 128)


def resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A bool mask [..., S, S] at ``size``: area average > 0.5 when shrinking, repetition when enlarging."""
    s = mask.shape[-1]
    if s == size:
        return mask
    lead = mask.shape[:-2]
    m = mask.reshape(-1, 1, s, s).to(torch.float32)
    if s > size:
        m = torch.nn.functional.adaptive_avg_pool2d(m, size) > 0.5
    else:
        m = torch.nn.functional.interpolate(m, size=size, mode="nearest") > 0.5
    return m.reshape(*lead, size, size)


def mark_region(images: np.ndarray, masks: torch.Tensor) -> np.ndarray:
    """uint8 images [N, H, W, C] with the outside of ``masks`` (bool [N, h, w] or [h, w]) darkened to 30%."""
    inside = resize_mask(masks, images.shape[1]).numpy()
    if inside.ndim == 2:
        inside = np.broadcast_to(inside, images.shape[:3])
    out = images.astype(np.float32)
    out[~inside] *= 0.3
    return out.astype(np.uint8)


def sample_seeds(samples: int) -> list[int]:
    """The seeds the analysis renders: 0 .. samples-1 (so the ``regions`` command and region blends agree)."""
    if samples < 1:
        raise InvalidArgumentError(f"`samples` {samples} must be >= 1", param="samples")
    return list(range(samples))


@dataclass(frozen=True)
class RegionBlend:
    """The channel masks of a region blend and what chose them.

    Attributes:
        masks: one :class:`ChannelMask` (α = 1 on the chosen channels) per blended layer.
        record: JSON-ready description (region, layer, parts, samples, selection, channels, layers).
        layer: the analysed feature layer.
        centroids: [K, C] part centres when the region is a part (None for a user mask).
        part: the part number, or None.
        mask: the user's mask bool [S, S], or None.
    """

    masks: list[ChannelMask]
    record: dict[str, Any]
    layer: str
    centroids: torch.Tensor | None
    part: int | None
    mask: torch.Tensor | None

    @torch.no_grad()
    def region_maps(self, G: Generator, ws: torch.Tensor) -> torch.Tensor:
        """The region of each image rendered from ``ws``: bool [N, H, W] at the analysed layer's size."""
        if self.mask is not None:
            res = int(self.layer.split(".")[0][1:])
            return resize_mask(self.mask, res)[None].expand(ws.shape[0], res, res)
        acts = layer_activations(G, ws, self.layer)
        assert self.centroids is not None and self.part is not None
        return torch.eq(assign_parts(acts, self.centroids), self.part)


def plan_region_blend(G: Generator, region: int | str | Path, layer: str | None = None, parts: int = 8,
                      samples: int = 16, top_k: int | None = None, threshold: float | None = None,
                      layers: Sequence[str] | None = None, seed: int = 0,
                      truncation_psi: float = 1.0) -> RegionBlend:
    """Choose the channels of a region blend on the base generator ``G``.

    Args:
        G: the base generator (eval mode).
        region: a part number (of :func:`find_parts` with ``parts``, ``samples`` and ``seed`` - the numbers
            ``styleblend regions`` shows with the same options), or the path of a mask PNG (white = region)
            of the image's or the layer's size.
        layer: the analysed feature layer (default :func:`default_layer`).
        top_k, threshold: the selection (:func:`select_channels`); neither: a quarter of the channels.
        layers: the layers whose output channels are blended (default: the layer producing the features).

    Raises:
        InvalidArgumentError: bad layer, part, mask, selection or blend layer.
    """
    cfg = _stylegan2_generator(G).cfg
    name = parse_layer(layer or default_layer(cfg), cfg)
    res = int(name.split(".")[0][1:])
    channels = layer_channels(name, cfg)
    if top_k is None and threshold is None:
        top_k = max(1, channels // 4)
    blend_layers = [parse_layer(x, cfg) for x in layers] if layers else [name]
    blend_layers = [producing_layer(x) for x in blend_layers]
    part: int | None = None
    user_mask: torch.Tensor | None = None
    if isinstance(region, int) or (isinstance(region, str) and region.strip().isdigit()):
        part = int(region)
        if not 0 <= part < parts:
            raise InvalidArgumentError(f"`region` {part}: with `parts` {parts} the parts are 0..{parts - 1}",
                                       param=("region", "parts"))
    else:
        user_mask = load_region_mask(region, sorted({res, cfg.img_resolution}))
    seeds = sample_seeds(samples)
    from ..latents.mapping import seeds_to_ws

    acts = layer_activations(G, seeds_to_ws(G, seeds, truncation_psi), name)
    centroids = None
    if part is not None:
        found = find_parts(acts, parts, name, seed)
        centroids = found.centroids
        scores = region_scores(acts, found.labels == part)
    else:
        scores = region_scores(acts, resize_mask(user_mask, res))  # type: ignore[arg-type]
    chosen = select_channels(scores, top_k, threshold)
    masks = region_channel_masks(chosen, blend_layers, channels, cfg)
    record = {"region": f"part {part}" if part is not None else str(region), "layer": name,
              "parts": parts if part is not None else None, "samples": samples, "seed": seed,
              "truncation_psi": truncation_psi, "selection": {"top_k": top_k} if threshold is None
              else {"threshold": threshold}, "blended_layers": blend_layers, "channels": list(chosen),
              "scores": [round(float(scores[c]), 4) for c in chosen]}
    return RegionBlend(masks, record, name, centroids, part, user_mask)
