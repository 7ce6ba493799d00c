"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", Sec. 3.3/4.2).

PPL measures how much the image changes for a tiny step along an interpolation path:

    l = E[ d(G(path(t)), G(path(t + eps))) / eps^2 ],   eps = 1e-4,

with z0, z1 ~ N(0, I), t ~ U[0, 1] ('full' sampling) or t in {0, 1} ('end' sampling), the path being
slerp in Z (PPL_z) or lerp of the mapped codes in W (PPL_w). d is the LPIPS distance (VGG-16
features); as in StyleGAN the reported value is the mean over samples after dropping those below
the 1st and above the 99th percentile, and the stored noise inputs are re-drawn for every batch
(the same noise for both images of a pair). Images can be cropped to the face region and are
box-downsampled to 256 px before the distance, as NVIDIA's implementation does.

The distance is pluggable (any ``(img0, img1) -> [N]`` with a ``name``). Without VGG weights the
default is a **pixel proxy**: mean squared difference of the images box-downsampled to at most 64 px
(in [-1, 1] units). Pixel-proxy numbers are only comparable with each other, never with published
LPIPS-based PPL values, and every result carries the distance's name.

The path is pluggable too (:class:`PathScheme`), so the same measurement compares interpolation
schemes: lerp in W, slerp in Z, per-layer schedules in W+, PCA-subspace paths and psi schedules.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError, MissingWeightsError
from ..latents.interpolate import layer_schedule, lerp, psi_schedule, slerp, truncate_ws
from ..latents.mapping import generator_device, map_z
from ..latents.pca import PCA, project_to_subspace
from ..perceptual.lpips import LPIPS
from ..perceptual.vgg import load_vgg16

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

SAMPLINGS = ("full", "end")
ProgressCallback = Callable[[int, int], None]


class ImageDistance(Protocol):
    """A perceptual distance: images [N, C, H, W] in [-1, 1] (two batches) -> [N] distances."""

    name: str

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor: ...


class PixelProxyDistance:
    """Pixel-space proxy of LPIPS: mean squared difference of images box-downsampled to ``resolution`` px.

    Labelled 'pixel proxy' everywhere: it measures colour change, not perceived change.
    """

    def __init__(self, resolution: int = 64) -> None:
        self.resolution = resolution
        self.name = f"pixel proxy (MSE of images box-downsampled to <= {resolution} px)"

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        def down(x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] > self.resolution or x.shape[-2] > self.resolution:
                x = F.adaptive_avg_pool2d(x, self.resolution)
            return x.to(torch.float32)

        return (down(img0) - down(img1)).square().flatten(1).mean(dim=1)


def default_distance(vgg_path: str | None = None, device: torch.device | str = "cpu") -> ImageDistance:
    """The LPIPS-style VGG-16 distance when VGG weights are available, else :class:`PixelProxyDistance`.

    The distance is :class:`styleblend.perceptual.lpips.LPIPS` on the images as they are (PPL
    box-filters them to 256 px itself, so ``max_size=None``). VGG weights are looked up by
    :func:`styleblend.weights.find_weights` (``vgg_path``, the torch hub cache, NVIDIA's dnnlib
    cache; never downloaded from here). Without weights a warning is logged and the pixel proxy is
    returned - never silently.

    Raises:
        MissingWeightsError, CheckpointError: ``vgg_path`` was given explicitly but cannot be used.
    """
    try:
        return LPIPS(load_vgg16(vgg_path, download=False, device=device), max_size=None)
    except MissingWeightsError as exc:
        if vgg_path is not None:
            raise
        log.warning("PPL uses the pixel proxy distance, not LPIPS (no VGG-16 weights: %s)", exc)
        return PixelProxyDistance()


# --------------------------------------------------------------------------- interpolation schemes

PathFn = Callable[["Generator", torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PathScheme:
    """An interpolation scheme: ``path(G, z0 [N, z_dim], z1 [N, z_dim], t [N]) -> ws [N, num_ws, w_dim]``."""

    name: str
    path: PathFn


def _mapped(G: Generator, z0: torch.Tensor, z1: torch.Tensor,
            class_idx: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = map_z(G, torch.cat([z0, z1]), class_idx)
    return w[: z0.shape[0]], w[z0.shape[0]:]


def slerp_z_scheme(class_idx: int | None = None) -> PathScheme:
    """StyleGAN's PPL_z path: slerp between z0 and z1, then the mapping."""
    return PathScheme("slerp Z", lambda G, z0, z1, t: map_z(G, slerp(z0, z1, t), class_idx))


def lerp_w_scheme(class_idx: int | None = None) -> PathScheme:
    """StyleGAN's PPL_w path: lerp between the mapped W codes."""
    def path(G: Generator, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        w0, w1 = _mapped(G, z0, z1, class_idx)
        return lerp(w0, w1, t)

    return PathScheme("lerp W", path)


def layer_schedule_scheme(order: str = "coarse-first", spread: float = 0.5,
                          class_idx: int | None = None) -> PathScheme:
    """Lerp in W+ with a per-layer schedule (:func:`~styleblend.latents.interpolate.layer_schedule`)."""
    def path(G: Generator, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        w0, w1 = _mapped(G, z0, z1, class_idx)
        return lerp(w0, w1, layer_schedule(t, w0.shape[1], order, spread).to(w0.device))

    return PathScheme(f"lerp W+ per-layer ({order}, spread {spread:g})", path)


def pca_subspace_scheme(pca: PCA, num_components: int, class_idx: int | None = None) -> PathScheme:
    """Lerp in W projected onto the top-``num_components`` PCA subspace (endpoints are projected too)."""
    def path(G: Generator, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        w0, w1 = _mapped(G, z0, z1, class_idx)
        return project_to_subspace(lerp(w0, w1, t), pca, num_components)

    return PathScheme(f"lerp W in PCA subspace (k={num_components})", path)


def psi_schedule_scheme(psi_middle: float = 0.7, psi_ends: float = 1.0, class_idx: int | None = None) -> PathScheme:
    """Lerp in W with a truncation psi that dips to ``psi_middle`` mid-path (ends untouched)."""
    def path(G: Generator, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        w0, w1 = _mapped(G, z0, z1, class_idx)
        ws = lerp(w0, w1, t)
        w_avg = getattr(G.mapping, "w_avg", None)  # not part of the interface (see styleblend.types.MappingNet)
        if w_avg is None:
            raise InvalidArgumentError("a psi schedule pulls towards the model's w_avg, and this model tracks none")
        return truncate_ws(ws, w_avg, psi_schedule(t, psi_ends, psi_ends, psi_middle).to(ws.device))

    return PathScheme(f"lerp W, psi {psi_ends:g}->{psi_middle:g}->{psi_ends:g}", path)


# --------------------------------------------------------------------------- the metric


@dataclass
class PPLResult:
    """PPL outcome. ``filtered_mean`` is the StyleGAN number (1%-99% percentile filter)."""

    filtered_mean: float
    mean: float
    distances: np.ndarray
    scheme: str
    sampling: str
    distance: str
    epsilon: float
    crop: bool

    @property
    def num_samples(self) -> int:
        return int(self.distances.shape[0])

    def summary(self) -> str:
        return (f"PPL {self.filtered_mean:.4g} (mean {self.mean:.4g}, 1-99% filtered) | {self.scheme}, "
                f"{self.sampling} sampling, {self.num_samples} samples, eps {self.epsilon:g}, "
                f"crop {'on' if self.crop else 'off'}, distance: {self.distance}")


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the distances between the 1st (lower) and 99th (higher) percentiles, as StyleGAN reports."""
    d = np.asarray(distances, dtype=np.float64)
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(d[(d >= lo) & (d <= hi)].mean())


def crop_face(img: torch.Tensor) -> torch.Tensor:
    """StyleGAN's face crop of a square image: rows 3/8..7/8 and columns 2/8..6/8."""
    if img.shape[-1] != img.shape[-2]:
        raise InvalidArgumentError(f"face crop needs square images, got {img.shape[-2]}x{img.shape[-1]}")
    c = img.shape[-1] // 8
    return img[..., 3 * c:7 * c, 2 * c:6 * c]


def _prepare(img: torch.Tensor, crop: bool) -> torch.Tensor:
    if crop:
        img = crop_face(img)
    factor = img.shape[-1] // 256
    if factor > 1:  # box filter to 256 px, as NVIDIA does before LPIPS
        img = F.avg_pool2d(img, factor)
    return img


def _noise_buffers(G: Generator) -> list[torch.Tensor]:
    return [buf for name, buf in G.named_buffers() if name.endswith("noise_const")]


def path_times(n: int, sampling: str, epsilon: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(t, t + eps) for n samples: t ~ U[0, 1] for 'full'; t in {0, 1} for 'end' (the pair at 1 is (1 - eps, 1))."""
    if sampling == "full":
        t0 = torch.rand([n], generator=gen)
    elif sampling == "end":
        at_end = torch.rand([n], generator=gen) < 0.5
        t0 = torch.where(at_end, torch.full([n], 1 - epsilon), torch.zeros([n]))
    else:
        raise InvalidArgumentError(f"sampling {sampling!r} is unknown; choose one of {SAMPLINGS}")
    return t0, t0 + epsilon


def perceptual_path_length(G: Generator, num_samples: int = 1000, epsilon: float = 1e-4,
                           scheme: PathScheme | None = None, sampling: str = "end", crop: bool = False,
                           batch_size: int = 8, distance: ImageDistance | None = None, seed: int = 0,
                           randomize_noise: bool = True, callback: ProgressCallback | None = None) -> PPLResult:
    """Perceptual path length of ``G`` along ``scheme`` (default: StyleGAN's PPL_z, slerp in Z).

    Args:
        G: generator in eval mode (not modified: noise is re-drawn in a private copy).
        num_samples: pairs to measure (StyleGAN uses 100k in the paper, NVIDIA's tool 50k).
        epsilon: step (1e-4 as published).
        scheme: path; :func:`slerp_z_scheme` (PPL_z) or :func:`lerp_w_scheme` (PPL_w) reproduce the paper.
        sampling: 'full' (t ~ U[0, 1]) or 'end' (t in {0, 1}).
        crop: crop to the face region before the distance (for face models).
        batch_size: pairs per forward pass.
        distance: image distance; default :func:`default_distance`.
        seed: seeds z, t and the noise inputs, so results are reproducible.
        randomize_noise: re-draw the stored noise inputs every batch, as StyleGAN does.
        callback: ``callback(done, total)`` after every batch.
    Returns:
        :class:`PPLResult` (mean, filtered mean, per-sample distances, labels).
    """
    if num_samples < 1 or batch_size < 1:
        raise InvalidArgumentError(f"num_samples={num_samples} and batch_size={batch_size} must be >= 1")
    if not 0 < epsilon < 0.5:
        raise InvalidArgumentError(f"epsilon={epsilon} must be a small positive step (1e-4 as published)")
    if sampling not in SAMPLINGS:
        raise InvalidArgumentError(f"sampling {sampling!r} is unknown; choose one of {SAMPLINGS}")
    scheme = scheme or slerp_z_scheme()
    distance = distance or default_distance(device=generator_device(G))
    if G.z_dim == 0:
        raise InvalidArgumentError("PPL needs a generator with z_dim > 0")
    gen = torch.Generator().manual_seed(int(seed))
    device = generator_device(G)
    net = copy.deepcopy(G) if randomize_noise else G
    buffers = _noise_buffers(net) if randomize_noise else []
    out = []
    with torch.no_grad():
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            t0, t1 = path_times(n, sampling, epsilon, gen)
            z0 = torch.randn([n, G.z_dim], generator=gen)
            z1 = torch.randn([n, G.z_dim], generator=gen)
            for buf in buffers:
                buf.copy_(torch.randn(buf.shape, generator=gen))
            z0, z1, t0, t1 = (x.to(device) for x in (z0, z1, t0, t1))
            ws = torch.cat([scheme.path(net, z0, z1, t0), scheme.path(net, z0, z1, t1)])
            img = _prepare(net.synthesis(ws, noise_mode="const"), crop)
            if img.shape[1] == 1:
                img = img.repeat(1, 3, 1, 1)
            d = distance(img[:n], img[n:]) / epsilon**2
            out.append(d.detach().to(torch.float64).cpu())
            if callback is not None:
                callback(start + n, num_samples)
    dist = torch.cat(out).numpy()
    result = PPLResult(filtered_mean=filtered_mean(dist), mean=float(dist.mean()), distances=dist,
                       scheme=scheme.name, sampling=sampling, distance=distance.name, epsilon=epsilon, crop=crop)
    log.info("%s", result.summary())
    return result


def frame_distances(G: Generator, ws: torch.Tensor, distance: ImageDistance, lags: tuple[int, ...] = (1,),
                    batch_size: int = 8, crop: bool = False, closed: bool = False) -> dict[int, np.ndarray]:
    """Distances between frames ``lag`` apart along a rendered path ws [T, num_ws, w_dim].

    Lag 1 gives the step sizes of a video (T - 1 values; T if ``closed``, i.e. including the step from
    the last frame back to the first). Frames are rendered once, in batches, with the generator's
    stored noise ('const'); only the last ``max(lags)`` frames are kept between batches.
    Returns {lag: distances}, the i-th value comparing frames i and i + lag.
    """
    if not lags or min(lags) < 1:
        raise InvalidArgumentError(f"lags {lags} must be positive integers")
    device = generator_device(G)
    max_lag = max(lags)
    if closed:
        ws = torch.cat([ws, ws[:max_lag]])
    out: dict[int, list[torch.Tensor]] = {lag: [] for lag in lags}
    prev: torch.Tensor | None = None
    with torch.no_grad():
        for start in range(0, ws.shape[0], batch_size):
            img = _prepare(G.synthesis(ws[start:start + batch_size].to(device), noise_mode="const"), crop)
            if img.shape[1] == 1:
                img = img.repeat(1, 3, 1, 1)
            seq = img if prev is None else torch.cat([prev, img])
            first_new = seq.shape[0] - img.shape[0]
            for lag in lags:
                # pairs (j, j + lag) whose second frame is new in this batch
                lo = max(first_new - lag, 0)
                if seq.shape[0] - lag > lo:
                    out[lag].append(distance(seq[lo:seq.shape[0] - lag], seq[lo + lag:]).detach().double().cpu())
            prev = seq[-max_lag:]
    num_frames = ws.shape[0] - (max_lag if closed else 0)
    result = {}
    for lag in lags:
        d = torch.cat(out[lag]).numpy() if out[lag] else np.zeros([0])
        result[lag] = d[:num_frames] if closed else d
    return result


def step_distances(G: Generator, ws: torch.Tensor, distance: ImageDistance, batch_size: int = 8,
                   crop: bool = False, closed: bool = False) -> np.ndarray:
    """Distances between consecutive frames of a path (T - 1 values, T if closed); see :func:`frame_distances`."""
    return frame_distances(G, ws, distance, (1,), batch_size, crop, closed)[1]


def path_smoothness(d1: np.ndarray, d2: np.ndarray, closed: bool = False) -> dict[str, float]:
    """Evenness and straightness of a video path from lag-1 and lag-2 frame distances.

    With a squared distance (the pixel proxy, LPIPS), ``v_i = sqrt(d1_i)`` is the speed of step i.
    ``straightness_i = sqrt(d2_i) / (v_i + v_{i+1})`` is 1 when frames i, i+1, i+2 lie on a straight
    line in the distance's space and smaller at a turn (triangle inequality). Returns the mean speed,
    the largest relative speed jump ``max |v_{i+1} - v_i| / mean v``, and the mean and minimum
    straightness (the sharpest turn, typically at a keyframe).
    """
    v = np.sqrt(np.maximum(d1, 0))
    v_next = np.roll(v, -1) if closed else v[1:]
    v_here = v if closed else v[:-1]
    chord = np.sqrt(np.maximum(d2[: len(v_here)], 0))
    denom = np.maximum(v_here + v_next, 1e-12)
    straight = np.clip(chord / denom, 0, 1)
    mean_v = float(v.mean()) if v.size else 0.0
    return {"mean_speed": mean_v,
            "max_speed_jump": float(np.abs(v_next - v_here).max() / max(mean_v, 1e-12)) if v_here.size else 0.0,
            "mean_straightness": float(straight.mean()) if straight.size else 1.0,
            "min_straightness": float(straight.min()) if straight.size else 1.0}
