"""Paths through latent space (morphs, keyframe loops); :mod:`styleblend.render` renders them.

A path is built from K keyframe latents: an open path visits them in order ((K-1) F + 1 frames, the
last frame is the last key exactly); a closed path returns to the first key (K F frames, so a video
loops seamlessly). Between two keys the latents move by lerp (W/W+) or slerp (Z), optionally with an
easing, a per-layer schedule, a truncation-psi schedule and a gentle Gaussian post-filter - see
:mod:`styleblend.latents.interpolate` for each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import InvalidArgumentError
from .interpolate import (
    ease,
    gaussian_smooth,
    layer_schedule,
    lerp,
    psi_schedule,
    slerp,
    truncate_ws,
)
from .mapping import generator_device, map_z
from .pca import PCA, project_to_subspace

if TYPE_CHECKING:
    from ..types import Generator

SPACES = ("w", "z")


def keyframe_times(num_keys: int, frames_per_segment: int, closed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Segment index and local time in [0, 1] of every frame of a keyframe path.

    Returns:
        (segment [T] int64, local_t [T] float32); segment k runs from key k to key k+1 (mod K if closed).
    """
    if num_keys < 2:
        raise InvalidArgumentError(f"a path needs at least 2 keyframes, got {num_keys}")
    if frames_per_segment < 1:
        raise InvalidArgumentError(f"frames per segment must be >= 1, got {frames_per_segment}")
    total = num_keys * frames_per_segment if closed else (num_keys - 1) * frames_per_segment + 1
    frame = torch.arange(total)
    segment = torch.div(frame, frames_per_segment, rounding_mode="floor")
    if not closed:
        segment = segment.clamp(max=num_keys - 2)
    local = (frame - segment * frames_per_segment).to(torch.float32) / frames_per_segment
    return segment, local


def interpolate_keys(keys: torch.Tensor, segment: torch.Tensor, local_t: torch.Tensor, method: str = "lerp",
                     easing: str = "linear", layer_order: str = "uniform", spread: float = 0.0) -> torch.Tensor:
    """Latents along a keyframe path.

    Args:
        keys: [K, ...] keyframes: z [K, z_dim] for slerp, ws [K, num_ws, w_dim] for lerp.
        segment, local_t: from :func:`keyframe_times`.
        method: 'lerp' (W/W+) or 'slerp' (Z).
        easing: easing of the local time (per layer when a layer order is given).
        layer_order, spread: per-layer schedule (:func:`layer_schedule`); lerp of W+ keys only.
    Returns:
        [T, ...] latents.
    """
    nxt = (segment + 1) % keys.shape[0]
    a, b = keys[segment], keys[nxt]
    local_t = local_t.to(keys.device)
    if method == "slerp":
        if layer_order != "uniform" and spread > 0:
            raise InvalidArgumentError("per-layer schedules need W+ keys; interpolate in W (`space` 'w')",
                                       param="space")
        return slerp(a, b, ease(local_t, easing))
    if method != "lerp":
        raise InvalidArgumentError(f"interpolation {method!r} is unknown; choose 'lerp' or 'slerp'")
    if keys.ndim == 3:
        t = layer_schedule(local_t, keys.shape[1], layer_order, spread, easing).to(keys.device)
    elif layer_order != "uniform" and spread > 0:
        raise InvalidArgumentError("per-layer schedules need W+ keys [K, num_ws, w_dim]")
    else:
        t = ease(local_t, easing)
    return lerp(a, b, t)


def build_path(G: Generator, keys: torch.Tensor, space: str = "w", frames_per_segment: int = 30,
               closed: bool = False, easing: str = "linear", layer_order: str = "uniform", spread: float = 0.0,
               psi: float = 1.0, psi_middle: float | None = None, truncation_cutoff: int | None = None,
               smooth_sigma: float = 0.0, class_idx: int | None = None, pca: PCA | None = None,
               pca_components: int | None = None) -> torch.Tensor:
    """ws [T, num_ws, w_dim] along a path through keyframes.

    Args:
        G: generator (its mapping maps Z keys; its ``w_avg`` serves truncation).
        keys: z [K, z_dim] when ``space='z'`` (slerp in Z, then mapping), untruncated ws
            [K, num_ws, w_dim] when ``space='w'`` (lerp in W/W+).
        frames_per_segment: frames from one key to the next (a two-key morph of N frames uses N - 1).
        closed: loop back to the first key.
        easing, layer_order, spread: see :func:`interpolate_keys`.
        psi, psi_middle: truncation schedule within each segment (:func:`psi_schedule` with
            start = end = psi, middle = psi_middle); psi = 1 and no middle means no truncation.
        truncation_cutoff: truncate only the first layers.
        smooth_sigma: Gaussian post-filter width in frames (0: off).
        class_idx: class of a conditional model (Z keys only).
        pca, pca_components: if given, every latent of the path is projected onto the affine subspace
            of the first ``pca_components`` PCA directions of W (GANSpace basis; the keyframes move too,
            by what the subspace cannot represent).
    Order: interpolate -> (map) -> PCA projection -> truncation schedule -> smoothing.
    """
    if space not in SPACES:
        raise InvalidArgumentError(f"space {space!r} is unknown; choose one of {SPACES}")
    segment, local = keyframe_times(keys.shape[0], frames_per_segment, closed)
    if space == "z":
        if keys.ndim != 2:
            raise InvalidArgumentError(f"Z keyframes must be z [K, z_dim], got shape {tuple(keys.shape)}")
        z = interpolate_keys(keys, segment, local, "slerp", easing, layer_order, spread)
        ws = map_z(G, z, class_idx)
    else:
        if keys.ndim != 3:
            raise InvalidArgumentError(f"W keyframes must be ws [K, num_ws, w_dim], got shape {tuple(keys.shape)}")
        ws = interpolate_keys(keys.to(generator_device(G)), segment, local, "lerp", easing, layer_order, spread)
    if pca is not None:
        ws = project_to_subspace(ws, pca, pca_components or pca.num_components)
    if psi != 1 or psi_middle is not None:
        w_avg = getattr(G.mapping, "w_avg", None)
        if not isinstance(w_avg, torch.Tensor):
            raise InvalidArgumentError("this network tracks no w_avg, so truncation is impossible; use psi 1")
        ws = truncate_ws(ws, w_avg, psi_schedule(local, psi, psi, psi_middle).to(ws.device),
                         truncation_cutoff)
    if smooth_sigma > 0:
        ws = gaussian_smooth(ws, smooth_sigma, closed=closed)
    return ws


def strip_indices(num_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frame indices including the first and last (for a strip image)."""
    count = max(1, min(count, num_frames))
    if count == 1:
        return [0]
    return [round(i * (num_frames - 1) / (count - 1)) for i in range(count)]
