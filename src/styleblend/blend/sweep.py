"""α sweeps of a two-model blend as frames: the swap resolution stepped through the model's resolutions, or
one resolution's α swept from 0 to 1, rendered for a few seeds and saved as a GIF, an MP4 or a zip of PNGs.

Why: an artist tuning a blend wants to see, and to show, what one choice does as it moves (Pinkney & Adler
2020, Fig. 2 is such a sweep of the swap resolution). A sweep is a list of :class:`SweepFrame` - an α per
block resolution and a name that says it - made by :func:`swap_frames` or :func:`slider_frames`; every
frame is a per-resolution :class:`~styleblend.blend.schedules.Table`, so ``styleblend blend --spec`` with a
frame's :attr:`SweepFrame.spec` rebuilds that frame's model.

:func:`iter_sweep` renders the frames with :class:`~styleblend.blend.live.LiveBlend`, which re-runs only the
blocks from the first resolution whose α changed since the previous frame (a slider sweep at r re-runs the
blocks from r up; consecutive swap frames differ from the next swap resolution up). :func:`iter_sweep_plain`
is the reference path - every frame blended with :func:`~styleblend.blend.core.blend_two` and rendered whole
- and the tests hold the two equal bit for bit. :func:`save_sweep` writes the frames (sizes are checked by
:func:`check_sweep_size` before any rendering).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import GeneratorConfig
from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..io.checkpoint import load_state_dict_strict
from ..latents.mapping import seeds_to_ws
from ..media.archive import write_png_zip
from ..media.images import make_grid, to_uint8
from ..media.video import check_video_path, write_video
from ..nn import Generator
from ..nn.naming import param_info
from ..render import render_ws
from .core import MappingChoice, StateDict, blend_two
from .live import LiveBlend
from .schedules import Swap, Table

log = logging.getLogger(__name__)

#: Most frames of a sweep (a slider sweep's N; a swap sweep has one frame per resolution, at most 9).
MAX_SWEEP_FRAMES = 64
#: Most seeds a sweep renders side by side.
MAX_SWEEP_SEEDS = 8
#: Most pixels of all frames together (frames x seeds x R x R): a GIF is assembled in memory, ~3 bytes a pixel.
MAX_SWEEP_PIXELS = 64 * 2**20
#: What a sweep can be saved as, by suffix.
SWEEP_SUFFIXES = (".gif", ".mp4", ".zip")
#: White pixels between the seeds of a video frame (even, so an MP4 frame keeps even sizes).
FRAME_PAD = 2

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SweepFrame:
    """One frame of a sweep: ``alphas`` (one per block resolution, coarse to fine) and a file-name-safe ``label``
    that says what the frame is ('swap16', 'alpha16px-0.250')."""

    label: str
    alphas: tuple[float, ...]
    resolutions: tuple[int, ...]

    @property
    def spec(self) -> str:
        """The frame's schedule in CLI syntax (``styleblend blend --spec``)."""
        return Table(tuple(zip(self.resolutions, self.alphas))).spec()


def sweep_config(config: AnyGeneratorConfig) -> GeneratorConfig:
    """``config`` if a sweep can render it: StyleGAN2 (per-resolution blocks), else an InvalidArgumentError."""
    if not isinstance(config, GeneratorConfig):
        raise InvalidArgumentError("an α sweep steps through per-resolution synthesis blocks, which StyleGAN2 "
                                   f"generators have; this model is a {type(config).__name__}")
    return config


def swap_frames(resolutions: Sequence[int], flip: bool = False, up_to: int | None = None) -> list[SweepFrame]:
    """One frame per swap resolution r (α = 1 up to r, 0 above; ``flip``: the reverse), r in ``resolutions``
    up to ``up_to`` (a transfer's resolution; None: all)."""
    res = tuple(int(r) for r in resolutions)
    frames = []
    for r in res:
        if up_to is not None and r > up_to:
            continue
        schedule = Swap(r, flip=flip)  # what each block's layers get from it (its conv1 stands for the block)
        alphas = tuple(float(schedule.alpha(param_info(f"synthesis.b{r2}.conv1.weight"))) for r2 in res)
        frames.append(SweepFrame(f"swap{r}" + ("-flip" if flip else ""), alphas, res))
    if not frames:
        raise InvalidArgumentError(f"no swap resolution of {list(res)} is at most {up_to} px (the transfer's "
                                   "resolution); a swap sweep needs one")
    return frames


def slider_frames(resolutions: Sequence[int], alphas: Sequence[float], resolution: int,
                  num_frames: int) -> list[SweepFrame]:
    """``num_frames`` frames (>= 2) in which the α at ``resolution`` goes from 0 to 1 in equal steps and every
    other α keeps its value in ``alphas`` (one per resolution, in [0, 1])."""
    res = tuple(int(r) for r in resolutions)
    if resolution not in res:
        raise InvalidArgumentError(f"sweep resolution {resolution} is not one of the model's block resolutions "
                                   f"{list(res)}; pick one of them", param="resolution")
    if len(alphas) != len(res):
        raise InvalidArgumentError(f"{len(alphas)} α values for {len(res)} resolutions {list(res)}; give one each")
    fixed = [float(a) for a in alphas]
    if not all(0.0 <= a <= 1.0 for a in fixed):
        raise InvalidArgumentError(f"α values {fixed} must be in [0, 1]")
    check_frame_count(num_frames)
    if num_frames < 2:
        raise InvalidArgumentError(f"a slider sweep of {num_frames} frame(s) does not move; give at least 2",
                                   param="frames")
    i = res.index(resolution)
    frames = []
    for k in range(num_frames):
        a = k / (num_frames - 1)
        values = tuple(fixed[:i] + [a] + fixed[i + 1:])
        frames.append(SweepFrame(f"alpha{resolution}px-{a:.3f}", values, res))
    return frames


def check_frame_count(num_frames: int) -> None:
    if not 1 <= int(num_frames) <= MAX_SWEEP_FRAMES:
        raise InvalidArgumentError(f"{num_frames} frames asked for; a sweep has 1 to {MAX_SWEEP_FRAMES} frames",
                                   param="frames")


def check_sweep_size(num_frames: int, num_seeds: int, img_resolution: int) -> None:
    """Refuse a sweep too large to render and assemble, before any work (frames, seeds, total pixels)."""
    check_frame_count(num_frames)
    if not 1 <= num_seeds <= MAX_SWEEP_SEEDS:
        raise InvalidArgumentError(f"{num_seeds} seeds asked for; a sweep renders 1 to {MAX_SWEEP_SEEDS} seeds",
                                   param="seeds")
    pixels = num_frames * num_seeds * img_resolution**2
    if pixels > MAX_SWEEP_PIXELS:
        most = max(1, MAX_SWEEP_PIXELS // (num_seeds * img_resolution**2))
        raise InvalidArgumentError(
            f"{num_frames} frames x {num_seeds} seeds of {img_resolution} px are {pixels / 2**20:.0f} M pixels, more "
            f"than the {MAX_SWEEP_PIXELS // 2**20} M a sweep may have; use at most {most} frames with "
            f"{num_seeds} seed(s), or fewer seeds", param="frames")


def check_sweep_path(path: str | Path, fps: float = 8.0) -> str:
    """The suffix ('.gif', '.mp4' or '.zip') of a sweep file name, checked before any rendering (MP4 also needs
    imageio-ffmpeg: :class:`~styleblend.errors.MissingDependencyError` otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SWEEP_SUFFIXES:
        raise InvalidArgumentError(f"sweep file '{Path(path).name}' must end in one of {SWEEP_SUFFIXES}")
    if suffix != ".zip":
        check_video_path(path, fps)
    return suffix


def iter_sweep(base: StateDict, transfer: StateDict, config: AnyGeneratorConfig, frames: Sequence[SweepFrame],
               seeds: Sequence[int], truncation_psi: float = 1.0, mapping: MappingChoice = "base",
               device: str | torch.device = "cpu", progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Render every frame for ``seeds``: yields uint8 [len(seeds), R, R, C] per frame, in order.

    The seeds' latents come from the blend's mapping network (``mapping``, NVIDIA's seed convention, ψ towards
    its w_avg) and stay fixed through the sweep; ``progress(done, total)`` is called after each frame.
    Bit for bit :func:`iter_sweep_plain`, with fewer blocks run (see the module doc).
    """
    config = sweep_config(config)
    check_sweep_size(len(frames), len(seeds), config.img_resolution)
    live = LiveBlend(base, transfer, config, mapping=mapping, device=device, max_latents=1)
    ws = live.latents(list(seeds), truncation_psi)
    for i, frame in enumerate(frames):
        stage = live.render("sweep", ws, frame.alphas)
        if progress is not None:
            progress(i + 1, len(frames))
        yield to_uint8(stage.image)
    log.info("rendered a sweep of %d frames x %d seeds (%d blocks)", len(frames), len(seeds), live.blocks_run)


def iter_sweep_plain(base: StateDict, transfer: StateDict, config: AnyGeneratorConfig, frames: Sequence[SweepFrame],
                     seeds: Sequence[int], truncation_psi: float = 1.0, mapping: MappingChoice = "base",
                     device: str | torch.device = "cpu") -> Iterator[np.ndarray]:
    """The reference of :func:`iter_sweep`: each frame's blended state dict loaded into a generator and rendered."""
    config = sweep_config(config)
    check_sweep_size(len(frames), len(seeds), config.img_resolution)
    G = Generator(config).to(device).eval().requires_grad_(False)
    for frame in frames:
        state = blend_two(base, transfer, Table(tuple(zip(frame.resolutions, frame.alphas))), config,
                          mapping=mapping)
        load_state_dict_strict(G, state, what="the sweep frame")
        yield to_uint8(render_ws(G, seeds_to_ws(G, list(seeds), truncation_psi)))


@dataclass(frozen=True)
class SweepFile:
    """What :func:`save_sweep` wrote: the path, the frame count and, for a zip, the PNG names in it."""

    path: Path
    num_frames: int
    names: tuple[str, ...] = ()


def png_name(seed: int, index: int, frame: SweepFrame) -> str:
    """A sweep PNG's name in a zip: the seed, the frame's place and what the frame is (sorts by seed, then
    frame): 'seed3_02_swap16.png', 'seed3_05_alpha16px-0.250.png'."""
    return f"seed{seed}_{index:02d}_{frame.label}.png"


def save_sweep(images: Iterator[np.ndarray] | Sequence[np.ndarray], frames: Sequence[SweepFrame],
               seeds: Sequence[int], path: str | Path, fps: float = 8.0,
               manifest: dict[str, object] | None = None) -> SweepFile:
    """Write rendered sweep frames (uint8 [len(seeds), R, R, C] each, as :func:`iter_sweep` yields) atomically.

    '.gif' / '.mp4': one video frame per sweep frame, the seeds side by side (:data:`FRAME_PAD` white pixels
    apart). '.zip': one PNG per seed and frame named by :func:`png_name`, and ``sweep.json`` with every
    frame's label, α and schedule spec, the seeds and ``manifest`` (e.g. ψ and mapping).

    Raises:
        InvalidArgumentError: a bad suffix or fps, frames of another count or shape than announced.
        MissingDependencyError: '.mp4' without imageio-ffmpeg (checked before the first frame is rendered).
    """
    path = Path(path)
    suffix = check_sweep_path(path, fps)
    seeds = [int(s) for s in seeds]

    def checked() -> Iterator[np.ndarray]:
        for i, cells in enumerate(images):
            if cells.ndim != 4 or cells.shape[0] != len(seeds):
                raise InvalidArgumentError(f"sweep frame {i} has shape {list(cells.shape)}; expected "
                                           f"[{len(seeds)} seeds, H, W, C]")
            yield cells

    if suffix == ".zip":
        meta = {"frames": [{"label": f.label, "alphas": list(f.alphas), "spec": f.spec,
                            "files": [png_name(s, i, f) for s in seeds]} for i, f in enumerate(frames)],
                "resolutions": list(frames[0].resolutions) if frames else [], "seeds": seeds, **(manifest or {})}

        def named() -> Iterator[tuple[str, np.ndarray]]:
            for i, (frame, cells) in enumerate(zip(frames, checked(), strict=True)):
                for seed, image in zip(seeds, cells):
                    yield png_name(seed, i, frame), image

        names = write_png_zip(named(), path, {"sweep.json": json.dumps(meta, indent=2).encode()})
        return SweepFile(path, len(frames), names)
    video = (make_grid(cells, cols=len(seeds), pad=FRAME_PAD) for cells in checked())
    info = write_video(video, path, fps=fps, expected_frames=len(frames))
    return SweepFile(path, info.num_frames)
