"""Rendering: seeds or latents -> images, in batches, the way NVIDIA's generate.py does it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from .errors import InvalidArgumentError
from .latents.seeds import noise_from_seed, z_from_seeds

ProgressFn = Callable[[int, int], None]


def class_vector(c_dim: int, class_idx: int | None, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """One-hot labels [n, c_dim] for a conditional model; None for an unconditional one."""
    if c_dim == 0:
        if class_idx is not None:
            raise InvalidArgumentError(f"--class {class_idx} given, but the model is unconditional (c_dim=0)")
        return None
    if class_idx is None:
        raise InvalidArgumentError(f"the model is conditional (c_dim={c_dim}); pass --class in [0, {c_dim - 1}]")
    if not 0 <= class_idx < c_dim:
        raise InvalidArgumentError(f"--class {class_idx} is out of range; the model has classes 0..{c_dim - 1}")
    c = torch.zeros([n, c_dim], device=device)
    c[:, class_idx] = 1
    return c


@torch.no_grad()
def seeds_to_ws(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """ws [len(seeds), num_ws, w_dim] for seeds with NVIDIA's z convention and truncation."""
    device = next(G.parameters()).device
    z = z_from_seeds(seeds, G.z_dim, device=device)
    c = class_vector(G.c_dim, class_idx, len(seeds), device)
    return G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)


@torch.no_grad()
def render_ws(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
              progress: ProgressFn | None = None) -> torch.Tensor:
    """Synthesise images [N, C, H, W] (float32, about [-1, 1]) from ws [N, num_ws, w_dim] in batches."""
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {G.num_ws}, {G.w_dim}]")
    device = next(G.parameters()).device
    out = []
    for start in range(0, ws.shape[0], batch_size):
        out.append(G.synthesis(ws[start:start + batch_size].to(device), noise_mode=noise_mode).cpu())
        if progress is not None:
            progress(min(start + batch_size, ws.shape[0]), ws.shape[0])
    return torch.cat(out) if out else torch.zeros([0, G.img_channels, G.img_resolution, G.img_resolution])


def noise_buffers(G: torch.nn.Module) -> list[torch.Tensor]:
    """The constant-noise buffers of G's layers in layer order (4x4 conv, then conv0, conv1 per block);
    none for StyleGAN3, which has no noise inputs."""
    out = []
    for res in getattr(G.synthesis, "block_resolutions", ()):
        block = getattr(G.synthesis, f"b{res}")
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is not None and getattr(layer, "use_noise", False):
                out.append(layer.noise_const)
    return out


@contextlib.contextmanager
def _constant_noise(buffers: list[torch.Tensor], values: Sequence[np.ndarray]) -> Iterator[None]:
    """Temporarily fill the constant-noise buffers (restored afterwards, also on errors)."""
    saved = [b.clone() for b in buffers]
    try:
        for buf, value in zip(buffers, values):
            buf.copy_(torch.from_numpy(value.reshape(buf.shape)))
        yield
    finally:
        for buf, old in zip(buffers, saved):
            buf.copy_(old)


@torch.no_grad()
def render_with_seed_noise(G: torch.nn.Module, ws: torch.Tensor, seeds: Sequence[int],
                           progress: ProgressFn | None = None) -> torch.Tensor:
    """Render ws[i] with the noise that seed i draws after its z (NVIDIA's TensorFlow tools' convention).

    This is how StyleGAN2's TF ``run_generator.py`` renders seeds, so TF pickles give the same images
    as NVIDIA's TF code; see :func:`~styleblend.latents.seeds.noise_from_seed`. One image per pass.
    """
    if len(seeds) != ws.shape[0]:
        raise InvalidArgumentError(f"{len(seeds)} seeds for {ws.shape[0]} latents")
    buffers = noise_buffers(G)
    resolutions = [b.shape[-1] for b in buffers]
    out = []
    for i, seed in enumerate(seeds):
        with _constant_noise(buffers, noise_from_seed(seed, G.z_dim, resolutions)):
            out.append(render_ws(G, ws[i:i + 1], noise_mode="const"))
        if progress is not None:
            progress(i + 1, len(seeds))
    return torch.cat(out) if out else render_ws(G, ws, noise_mode="const")


def set_user_transform(G: torch.nn.Module, translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> None:
    """Translate (in image widths: +x right, +y down) and rotate (degrees) what a StyleGAN3 generator renders,
    as NVIDIA's gen_images.py ``--translate``/``--rotate`` do (they set the input's transform buffer);
    (0, 0) and 0 restore the stored transform of an unmodified snapshot (the identity).

    Raises:
        InvalidArgumentError: ``G`` is a StyleGAN2 generator (its input is a fixed 4x4 constant), or the
            values are not finite.
    """
    set_transform = getattr(G.synthesis, "set_transform", None)
    if set_transform is None:
        raise InvalidArgumentError("--translate/--rotate need a StyleGAN3 model (its Fourier-feature input can be "
                                   "moved); this is a StyleGAN2 model, whose input is a fixed 4x4 constant")
    values = [float(v) for v in translate] + [float(rotate)]
    if len(values) != 3 or not all(np.isfinite(values)):
        raise InvalidArgumentError(f"translate={tuple(translate)} and rotate={rotate} must be two and one finite numbers")
    set_transform((values[0], values[1]), values[2])


def mix_styles(row_ws: torch.Tensor, col_ws: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """Style-mixing grid latents as NVIDIA's style_mixing.py: cell (r, c) = row r's ws with ``styles`` from col c.

    Args:
        row_ws: [R, num_ws, w_dim]; col_ws: [C, num_ws, w_dim]; styles: W+ indices taken from the column.
    Returns:
        [R, C, num_ws, w_dim].
    """
    num_ws = row_ws.shape[1]
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise InvalidArgumentError(f"--styles {bad} out of range; this model has W+ indices 0..{num_ws - 1}")
    out = row_ws[:, None].repeat(1, col_ws.shape[0], 1, 1)
    idx = list(styles)
    out[:, :, idx] = col_ws[None, :, idx].expand(row_ws.shape[0], -1, -1, -1)
    return out
