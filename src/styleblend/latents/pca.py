"""Principal directions of W (GANSpace, Haerkoenen et al. 2020, Sec. 2.2), as edits and as a subspace.

GANSpace samples many z, maps them to w and runs PCA on the w; the leading components are
interpretable edit directions (pose, gender, lighting...) when applied to chosen layers only.
The same basis gives a low-dimensional subspace in which interpolation avoids the low-variance,
often noisy directions of W.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InvalidArgumentError

log = logging.getLogger(__name__)

_Z_BLOCK = 4096


@dataclass(frozen=True)
class PCA:
    """A PCA basis of W.

    Attributes:
        mean: [w_dim] sample mean of w.
        components: [K, w_dim] orthonormal rows, sorted by decreasing variance; the sign of each is
            fixed so that its largest-magnitude entry is positive (deterministic across runs).
        variance: [K] variance of w along each component (eigenvalues of the covariance).
        explained_ratio: [K] variance / total variance of w.
        num_samples: how many w the basis was fitted on.
    """

    mean: torch.Tensor
    components: torch.Tensor
    variance: torch.Tensor
    explained_ratio: torch.Tensor
    num_samples: int

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def stdev(self) -> torch.Tensor:
        """[K] standard deviation along each component (the unit of edit strengths)."""
        return self.variance.sqrt()


def fit_pca(w: torch.Tensor, num_components: int | None = None) -> PCA:
    """PCA of sampled w [N, w_dim] (computed in float64 by SVD of the centred data).

    Args:
        w: [N, w_dim] samples, N >= 2.
        num_components: how many components to keep (default: all, at most min(N, w_dim)).
    Returns:
        A :class:`PCA` in float32 on the device of ``w``.
    Raises:
        InvalidArgumentError: fewer than 2 samples or a bad ``num_components``.
    """
    if w.ndim != 2 or w.shape[0] < 2:
        raise InvalidArgumentError(f"PCA needs samples w [N >= 2, w_dim], got shape {tuple(w.shape)}")
    n, dim = w.shape
    max_k = min(n, dim)
    k = max_k if num_components is None else int(num_components)
    if not 1 <= k <= max_k:
        raise InvalidArgumentError(
            f"num_components={num_components} must be in 1-{max_k} for {n} samples of dimension {dim}; "
            "sample more w or ask for fewer components")
    x = w.detach().to(torch.float64)
    mean = x.mean(dim=0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    variance = s**2 / (n - 1)
    total = variance.sum().clamp_min(1e-300)
    comps = vh[:k]
    # Fix the arbitrary sign of each singular vector.
    idx = comps.abs().argmax(dim=1, keepdim=True)
    comps = comps * comps.gather(1, idx).sign()
    f32: dict[str, Any] = dict(dtype=torch.float32, device=w.device)
    return PCA(mean=mean.to(**f32), components=comps.to(**f32), variance=variance[:k].to(**f32),
               explained_ratio=(variance[:k] / total).to(**f32), num_samples=n)


def sample_w(mapping: Callable[[torch.Tensor], torch.Tensor], z_dim: int, num_samples: int, seed: int = 0,
             batch_size: int = 1024, device: torch.device | str = "cpu") -> torch.Tensor:
    """Draw ``num_samples`` w = mapping(z) with z ~ N(0, I) from a seeded generator.

    Args:
        mapping: z [B, z_dim] -> w [B, w_dim] or ws [B, num_ws, w_dim] (then layer 0 is used); e.g.
            ``lambda z: G.mapping(z, None)``.
        z_dim, num_samples, seed, batch_size, device: sampling set-up.
    Returns:
        float32 [num_samples, w_dim].
    """
    if num_samples < 1:
        raise InvalidArgumentError(f"num_samples={num_samples} must be >= 1")
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size={batch_size} must be >= 1")
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    with torch.no_grad():
        # z is drawn in fixed blocks so the samples do not depend on batch_size.
        for block_start in range(0, num_samples, _Z_BLOCK):
            z_block = torch.randn([min(_Z_BLOCK, num_samples - block_start), z_dim], generator=gen)
            for start in range(0, z_block.shape[0], batch_size):
                w = mapping(z_block[start:start + batch_size].to(device))
                out.append((w[:, 0] if w.ndim == 3 else w).to(torch.float32))
    return torch.cat(out)


def _check_component(pca: PCA, index: int) -> None:
    if not 0 <= index < pca.num_components:
        raise InvalidArgumentError(
            f"component {index} does not exist; this PCA has components 0-{pca.num_components - 1}")


def apply_component(ws: torch.Tensor, pca: PCA, index: int, strength: float,
                    layers: Sequence[int] | None = None, in_stdevs: bool = True) -> torch.Tensor:
    """Move W+ codes along PCA component ``index``: ``ws[:, l] += strength * sigma_k * v_k`` for l in layers.

    Args:
        ws: [N, num_ws, w_dim] (or [num_ws, w_dim]).
        pca: a fitted basis with the same w_dim.
        index: component (0 = largest variance).
        strength: step; in standard deviations of that component when ``in_stdevs`` (GANSpace's unit),
            else in raw W units.
        layers: W+ indices to edit (None: all). GANSpace edits e.g. pose on the coarse layers only.
    Returns:
        Edited copy of ``ws``.
    """
    _check_component(pca, index)
    if ws.shape[-1] != pca.components.shape[1]:
        raise InvalidArgumentError(
            f"latents have w_dim={ws.shape[-1]} but the PCA was fitted on w_dim={pca.components.shape[1]}; "
            "fit the PCA on this network")
    step = pca.components[index].to(ws) * (strength * (float(pca.stdev[index]) if in_stdevs else 1.0))
    out = ws.clone()
    num_ws = ws.shape[-2]
    sel = list(range(num_ws)) if layers is None else list(layers)
    bad = [i for i in sel if not 0 <= i < num_ws]
    if bad:
        raise InvalidArgumentError(f"layers {bad} are outside 0-{num_ws - 1}")
    out[..., sel, :] += step
    return out


def project_to_subspace(ws: torch.Tensor, pca: PCA, num_components: int) -> torch.Tensor:
    """Orthogonal projection onto the affine subspace ``mean + span(v_0..v_{k-1})``.

    Args:
        ws: [..., w_dim] latents.
        num_components: k, 1 <= k <= pca.num_components.
    Returns:
        ``mean + (ws - mean) V_k^T V_k`` with the shape of ``ws``.
    """
    if not 1 <= num_components <= pca.num_components:
        raise InvalidArgumentError(
            f"subspace size {num_components} must be in 1-{pca.num_components} (components in this PCA)")
    v = pca.components[:num_components].to(ws)
    mean = pca.mean.to(ws)
    return mean + ((ws - mean) @ v.T) @ v
