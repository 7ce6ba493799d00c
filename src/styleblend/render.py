"""Rendering: ws -> images, in batches, the way NVIDIA's generate.py does it.

The one home of inference-time synthesis: every command and the UI render through here. Getting the
ws (seeds, files, mapping, truncation, edits) is :mod:`styleblend.latents`' job; this module only
depends on it for the seed-noise convention of NVIDIA's TF tools.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InvalidArgumentError
from .latents.seeds import noise_from_seed
from .media.images import make_grid, to_uint8

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


#: (translate x, translate y, rotate degrees) of one frame of a transform sweep.
TransformStep = tuple[float, float, float]
#: Most frames and images per frame of a sweep (a video of 100 000 frames is over 50 minutes at 30 fps).
MAX_SWEEP_FRAMES = 100_000
MAX_SWEEP_IMAGES = 256


def transform_sweep(num_frames: int, translate: tuple[Sequence[float], Sequence[float]] = ((0.0, 0.0), (0.0, 0.0)),
                    rotate: tuple[float, float] = (0.0, 0.0), *, loop: bool = False,
                    bounce: bool = False) -> list[TransformStep]:
    """The user transform of every frame of a translation and/or rotation sweep (StyleGAN3), linear in time.

    Args:
        num_frames: frames from the start to the end, 1 to :data:`MAX_SWEEP_FRAMES`.
        translate: (start (x, y), end (x, y)) in image widths, as :func:`set_user_transform` takes it.
        rotate: (start, end) in degrees.
        loop: stop one step short of the end (frame k at k / num_frames), so that a video of a full turn
            (``rotate=(0, 360)``) repeats without showing the same image twice.
        bounce: go from the start to the end and back, ends not repeated: 2 * num_frames - 2 frames, a loop
            for any sweep.
    Returns:
        [(x, y, degrees)] per frame.
    Raises:
        InvalidArgumentError: a frame count out of range, values that are not finite, loop with bounce.
    """
    if not 1 <= int(num_frames) <= MAX_SWEEP_FRAMES:
        raise InvalidArgumentError(f"`num_frames` {num_frames} must be in 1-{MAX_SWEEP_FRAMES}", param="num_frames")
    if loop and bounce:
        raise InvalidArgumentError("`loop` and `bounce` are two ways of closing a sweep; pick one",
                                   param=("loop", "bounce"))
    (x0, y0), (x1, y1) = ((float(a), float(b)) for a, b in translate)
    r0, r1 = (float(v) for v in rotate)
    if not all(np.isfinite([x0, y0, x1, y1, r0, r1])):
        raise InvalidArgumentError(f"`translate` {translate} and `rotate` {rotate} must be finite numbers",
                                   param=("translate", "rotate"))
    n = int(num_frames)
    denominator = n if loop else max(n - 1, 1)
    times = [k / denominator for k in range(n)]
    if bounce:
        times += times[-2:0:-1]
    return [(x0 + t * (x1 - x0), y0 + t * (y1 - y0), r0 + t * (r1 - r0)) for t in times]


def iter_transform_frames(G: Generator, ws: torch.Tensor, steps: Sequence[TransformStep], cols: int | None = None,
                          noise_mode: str = "const", batch_size: int = 8,
                          callback: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Render ws [N, num_ws, w_dim] once per transform of ``steps`` (a StyleGAN3 generator's user transform, see
    :func:`transform_sweep`); yields one uint8 frame per step: the N images in a grid of ``cols`` columns
    (default ceil(sqrt(N))), [rows*H, cols*W, C].

    G's transform is restored when the iteration ends, also when it is stopped early or fails.
    ``callback(done, total)`` is called after every frame.

    Raises (at the call, before any rendering):
        InvalidArgumentError: a StyleGAN2 generator, ws of another shape, no or too many images, no steps.
    """
    _check_ws(G, ws)
    if getattr(G.synthesis, "set_transform", None) is None:
        raise InvalidArgumentError("a translation or rotation sweep needs a StyleGAN3 model (its Fourier-feature "
                                   "input can be moved); this is a StyleGAN2 model", param="G")
    if not 1 <= ws.shape[0] <= MAX_SWEEP_IMAGES:
        raise InvalidArgumentError(f"a sweep renders 1-{MAX_SWEEP_IMAGES} images per frame, got {ws.shape[0]}",
                                   param="ws")
    if not steps:
        raise InvalidArgumentError("no transform steps to render; make them with transform_sweep", param="steps")
    cols = math.ceil(math.sqrt(ws.shape[0])) if cols is None else int(cols)
    if not 1 <= cols <= ws.shape[0]:
        raise InvalidArgumentError(f"`cols` {cols} must be in 1-{ws.shape[0]} (the images per frame)", param="cols")
    return _transform_frames(G, ws, list(steps), cols, noise_mode, batch_size, callback)


def _transform_frames(G: Generator, ws: torch.Tensor, steps: list[TransformStep], cols: int, noise_mode: str,
                      batch_size: int, callback: ProgressFn | None) -> Iterator[np.ndarray]:
    buffer = G.synthesis.input.transform  # type: ignore[attr-defined]  # checked: a StyleGAN3 synthesis
    saved = buffer.clone()
    try:
        for k, (x, y, degrees) in enumerate(steps):
            set_user_transform(G, (x, y), degrees)
            images = to_uint8(render_ws(G, ws, noise_mode=noise_mode, batch_size=batch_size))
            yield make_grid(images, cols=cols)
            if callback is not None:
                callback(k + 1, len(steps))
    finally:
        buffer.copy_(saved)
