"""Rendering: ws -> images, in batches, the way NVIDIA's generate.py does it.

The one home of inference-time synthesis: every command and the UI render through here. Getting the
ws (seeds, files, mapping, truncation, edits) is :mod:`styleblend.latents`' job; this module only
depends on it for the seed-noise convention of NVIDIA's TF tools.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InvalidArgumentError
from .latents.seeds import noise_from_seed
from .media.images import to_uint8

if TYPE_CHECKING:
    from .types import Generator

ProgressFn = Callable[[int, int], None]


def _check_ws(G: Generator, ws: torch.Tensor) -> None:
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {G.num_ws}, {G.w_dim}]")


def iter_batches(G: Generator, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
                 progress: ProgressFn | None = None) -> Iterator[torch.Tensor]:
    """Synthesise ws [N, num_ws, w_dim] batch by batch; yields float32 images [B, C, H, W] on the CPU.

    ``progress(done, total)`` is called after every batch. No gradients are kept.
    """
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    _check_ws(G, ws)
    device = next(G.parameters()).device
    total = ws.shape[0]
    for start in range(0, total, batch_size):
        with torch.no_grad():
            img = G.synthesis(ws[start:start + batch_size].to(device), noise_mode=noise_mode).cpu()
        if progress is not None:
            progress(min(start + batch_size, total), total)
        yield img


def render_ws(G: Generator, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
              progress: ProgressFn | None = None) -> torch.Tensor:
    """Synthesise images [N, C, H, W] (float32, about [-1, 1]) from ws [N, num_ws, w_dim] in batches."""
    out = list(iter_batches(G, ws, noise_mode, batch_size, progress))
    return torch.cat(out) if out else torch.zeros([0, G.img_channels, G.img_resolution, G.img_resolution])


def iter_frames(G: Generator, ws: torch.Tensor, batch_size: int = 8, noise_mode: str = "const",
                callback: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Render ws [T, num_ws, w_dim] in batches; yields uint8 frames [H, W, C] one by one (for videos).

    ``callback(done, total)`` is called after every batch (e.g. to drive a progress bar).
    """
    for img in iter_batches(G, ws, noise_mode, batch_size, callback):
        yield from to_uint8(img)


def render_frames(G: Generator, ws: torch.Tensor, batch_size: int = 8, noise_mode: str = "const",
                  callback: ProgressFn | None = None) -> np.ndarray:
    """All frames at once: uint8 [T, H, W, C] (see :func:`iter_frames`)."""
    _check_ws(G, ws)
    if ws.shape[0] == 0:
        return np.zeros([0, G.img_resolution, G.img_resolution, G.img_channels], dtype=np.uint8)
    return np.stack(list(iter_frames(G, ws, batch_size, noise_mode, callback)))


def noise_buffers(G: Generator) -> list[torch.Tensor]:
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
def render_with_seed_noise(G: Generator, ws: torch.Tensor, seeds: Sequence[int],
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


def set_user_transform(G: Generator, translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> None:
    """Translate (in image widths: +x right, +y down) and rotate (degrees) what a StyleGAN3 generator renders,
    as NVIDIA's gen_images.py ``--translate``/``--rotate`` do (they set the input's transform buffer);
    (0, 0) and 0 restore the stored transform of an unmodified snapshot (the identity).

    Raises:
        InvalidArgumentError: ``G`` is a StyleGAN2 generator (its input is a fixed 4x4 constant), or the
            values are not finite.
    """
    set_transform = getattr(G.synthesis, "set_transform", None)
    if set_transform is None:
        raise InvalidArgumentError("`translate`/`rotate` need a StyleGAN3 model (its Fourier-feature input can be "
                                   "moved); this is a StyleGAN2 model, whose input is a fixed 4x4 constant",
                                   param=("translate", "rotate"))
    values = [float(v) for v in translate] + [float(rotate)]
    if len(values) != 3 or not all(np.isfinite(values)):
        raise InvalidArgumentError(f"`translate` {tuple(translate)} and `rotate` {rotate} must be two and one finite "
                                   "numbers", param=("translate", "rotate"))
    set_transform((values[0], values[1]), values[2])
