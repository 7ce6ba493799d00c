"""Projection of image files to output folders: one image, or a resumable, shardable batch.

This is the I/O layer over :func:`~styleblend.project.projector.project` (which never writes files).
Per image it writes, each atomically: ``target.png``, ``proj.png``, ``compare.png`` (target |
reconstruction), ``loss.png``, ``metrics.json``, optionally ``proj.mp4``, and last ``projected_w.npz`` -
the latent and the "done" marker: an image whose ``.npz`` exists is skipped when a batch is resumed.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import ImageError, InvalidArgumentError
from ..io.atomic import atomic_path, write_bytes_atomic
from ..io.digest import file_sha256
from ..media.images import from_uint8, make_grid, save_png, to_uint8
from ..media.load import load_image
from ..metrics.quality import summarize
from .losses import LPIPSLikeDistance, WeightedLoss
from .projector import (
    Cancelled,
    ProjectionCallback,
    ProjectionResult,
    ProjectionSettings,
    project,
    synthesize,
)
from .vgg import VGG16Features

log = logging.getLogger(__name__)

LATENT_NAME = "projected_w.npz"


# ----------------------------------------------------------------------------------------------
# Latent files


def save_latent(path: str | Path, ws: torch.Tensor, meta: dict[str, Any],
                noise: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``w`` [num_ws, w_dim] float32 plus metadata to an .npz atomically.

    Metadata: each JSON-scalar value of ``meta`` as its own 0-d array (readable with
    ``allow_pickle=False``) and everything as one ``meta_json`` string; optimised noise maps as
    ``noise.<buffer name>``.
    """
    w = ws.detach().to("cpu", torch.float32).numpy()
    w = w[0] if w.ndim == 3 else w
    arrays: dict[str, np.ndarray] = {"w": w.astype(np.float32), "meta_json": np.array(json.dumps(meta, sort_keys=True))}
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool)) and key not in arrays:
            arrays[key] = np.array(value)
    for name, buf in (noise or {}).items():
        arrays[f"noise.{name}"] = buf.detach().cpu().numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def load_latent(path: str | Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """Read ``w`` from our .npz ([num_ws, w_dim]) or NVIDIA's projected_w.npz ([1, num_ws, w_dim]).

    Returns (ws [1, num_ws, w_dim] float32, metadata dict - empty for NVIDIA's files).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "w" not in data:
                raise InvalidArgumentError(f"latent file '{path}' has no 'w' array (keys: {sorted(data.files)})")
            w = np.asarray(data["w"], dtype=np.float32)
            meta = json.loads(str(data["meta_json"])) if "meta_json" in data else {}
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"'{path}' is not a readable latent .npz ({exc})") from None
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[0] != 1:
        raise InvalidArgumentError(f"latent file '{path}' has w of shape {w.shape}; expected [num_ws, w_dim]")
    return torch.from_numpy(w), meta


# ----------------------------------------------------------------------------------------------
# Pictures


def loss_curve_image(history: Sequence[dict[str, float]], key: str = "loss", size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A log-scale line plot of ``history[i][key]`` over steps as uint8 [H, W, 3] (drawn with PIL)."""
    w, h = size
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    left, right, top, bottom = 70, 15, 25, 40
    draw.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    values = np.array([max(float(r.get(key, math.nan)), 1e-12) for r in history], dtype=np.float64)
    values = values[np.isfinite(values)]
    draw.text((left, 5), f"{key} (log scale) over {len(history)} steps", fill=(0, 0, 0))
    if len(values) >= 1:
        logs = np.log10(values)
        lo, hi = float(logs.min()), float(logs.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        xs = left + (np.arange(len(logs)) / max(1, len(logs) - 1)) * (w - right - left)
        ys = top + (hi - logs) / (hi - lo) * (h - bottom - top)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(200, 30, 30), width=2)
        for frac in (0.0, 0.5, 1.0):
            y = top + frac * (h - bottom - top)
            draw.text((4, y - 6), f"{10 ** (hi - frac * (hi - lo)):.3g}", fill=(0, 0, 0))
        draw.text((left, h - bottom + 8), "1", fill=(0, 0, 0))
        draw.text((w - right - 40, h - bottom + 8), str(len(history)), fill=(0, 0, 0))
        draw.text(((w - 30) // 2, h - bottom + 20), "step", fill=(0, 0, 0))
    return np.asarray(im)


# ----------------------------------------------------------------------------------------------
# One image


@dataclass
class ProjectionJob:
    """Everything needed to project files with one model (shared by every image of a batch)."""

    G: torch.nn.Module
    settings: ProjectionSettings
    loss: WeightedLoss
    network: str
    network_sha256: str
    seed: int = 0
    init_ws: torch.Tensor | None = None
    vgg: VGG16Features | None = None
    warning: str | None = None
    video: bool = False
    video_frames: int = 100


def prepare_job(network: str | Path, method: str = "image2stylegan", *, space: str | None = None,
                steps: int | None = None, init: str | None = None, lr: float | None = None, seed: int = 0,
                vgg_path: str | None = None, download: bool = False, device: str | torch.device = "cpu",
                video: bool = False) -> ProjectionJob:
    """Load the network, resolve the loss (VGG-16 or the visible pixel fallback) and the settings.

    ``init`` is 'mean', 'random' or a latent .npz path (see :func:`load_latent`); None keeps the method's
    default. ``space``/``steps``/``lr`` None keep the method's published values.
    """
    from ..io import load_checkpoint
    from .losses import resolve_loss
    from .projector import INITS, settings_for

    network = Path(network)
    ckpt = load_checkpoint(network)
    G = ckpt.generator(device)
    init_ws = None
    init_mode = init
    if init is not None and init not in INITS:
        init_ws, _ = load_latent(init)
        init_mode = None
        if tuple(init_ws.shape[1:]) != (G.num_ws, G.w_dim):
            raise InvalidArgumentError(f"--init '{init}' has w of shape {tuple(init_ws.shape[1:])}; the network "
                                       f"needs [{G.num_ws}, {G.w_dim}]")
    settings = settings_for(method, space=space, steps=steps, init=init_mode, lr=lr)
    loss, vgg, warning = resolve_loss(method, vgg_path, download, device)
    return ProjectionJob(G=G, settings=settings, loss=loss, network=str(network),
                         network_sha256=file_sha256(network), seed=seed, init_ws=init_ws, vgg=vgg,
                         warning=warning, video=video)


def output_dir_is_done(outdir: str | Path) -> bool:
    """An image's outputs are complete when its latent (written last) exists."""
    return (Path(outdir) / LATENT_NAME).is_file()


def project_file(job: ProjectionJob, image_path: str | Path, outdir: str | Path,
                 callback: ProjectionCallback | None = None) -> dict[str, Any] | None:
    """Project one image file and write its outputs into ``outdir``.

    Returns the metrics dict (also in metrics.json), or None when the callback cancelled the run, in
    which case the latent is not written (so a batch resume redoes this image).
    """
    G, outdir = job.G, Path(outdir)
    device = next(G.parameters()).device
    res, channels = G.img_resolution, G.img_channels
    target_u8 = load_image(image_path, resolution=res, channels=channels)
    target = from_uint8(target_u8).to(device)
    frames: list[np.ndarray] = []
    every = max(1, job.settings.steps // max(1, job.video_frames))

    def step_hook(step: int, parts: dict[str, float], ws: torch.Tensor) -> bool | None:
        if job.video and (step % every == 0 or step == 1):
            with torch.no_grad():
                frames.append(np.concatenate([target_u8, to_uint8(synthesize(G, ws))[0]], axis=1))
        return callback(step, parts, ws) if callback is not None else None

    result = project(G, target, job.settings, job.loss, seed=job.seed, init_ws=job.init_ws, callback=step_hook)
    if result.cancelled:
        return None
    with torch.no_grad():
        # The latent is rendered with the model's own noise maps: that is what `generate`, blending and
        # editing will reproduce from the saved w (NVIDIA's projector saves its proj.png the same way).
        proj_u8 = to_uint8(synthesize(G, result.ws))[0]
        metrics = _metrics(job, target_u8, proj_u8, result)
    save_png(target_u8, outdir / "target.png")
    save_png(proj_u8, outdir / "proj.png")
    save_png(make_grid(np.stack([target_u8, proj_u8]), cols=2), outdir / "compare.png")
    save_png(loss_curve_image(result.history), outdir / "loss.png")
    if job.video and frames:
        from ..media.video import write_video

        write_video(frames, outdir / "proj.mp4", fps=10)
    write_bytes_atomic(outdir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    meta = {"network": job.network, "network_sha256": job.network_sha256, "method": job.settings.method,
            "space": job.settings.space, "steps": result.steps_done, "final_loss": result.final_loss,
            "seed": job.seed, "target": str(image_path), "loss": job.loss.describe(),
            "settings": job.settings.to_dict(), "psnr": metrics["psnr"], "ssim": metrics["ssim"]}
    save_latent(outdir / LATENT_NAME, result.ws, meta, result.noise)
    return metrics


def _metrics(job: ProjectionJob, target_u8: np.ndarray, proj_u8: np.ndarray, result: ProjectionResult) -> dict[str, Any]:
    t, p = from_uint8(target_u8), from_uint8(proj_u8)
    out: dict[str, Any] = summarize(p, t, data_range=2.0)
    if job.vgg is not None:
        dist = LPIPSLikeDistance(job.vgg)
        out["lpips" if dist.learned else "vgg_distance"] = float(dist(p.to(job.vgg.mean.device),
                                                                      t.to(job.vgg.mean.device)))
    out.update(final_loss=result.final_loss, steps=result.steps_done, seconds=round(result.seconds, 3),
               steps_per_second=round(result.steps_done / max(result.seconds, 1e-9), 3),
               method=job.settings.method, space=job.settings.space, loss=job.loss.describe(),
               vgg=None if job.vgg is None else job.vgg.source, warning=job.warning)
    return out


# ----------------------------------------------------------------------------------------------
# Batches


def parse_shard(text: str | None, env: dict[str, str] | None = None) -> tuple[int, int]:
    """'i/n' (0-based i) -> (i, n); None -> torchrun's RANK/WORLD_SIZE if set, else (0, 1)."""
    env = os.environ if env is None else env
    if text is None:
        if "WORLD_SIZE" in env and "RANK" in env:
            text = f"{env['RANK']}/{env['WORLD_SIZE']}"
        else:
            return 0, 1
    try:
        i_s, n_s = str(text).split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise InvalidArgumentError(f"shard '{text}' must look like 'i/n', e.g. 0/4 (0-based index of n shards)") from None
    if n < 1 or not 0 <= i < n:
        raise InvalidArgumentError(f"shard '{text}': need n >= 1 and 0 <= i < n")
    return i, n


def shard_files(files: Sequence[Path], index: int, count: int) -> list[Path]:
    """Every ``count``-th file of the name-sorted list starting at ``index`` (shards are disjoint and cover all)."""
    return sorted(files, key=lambda p: p.name)[index::count]


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """Per-image output folder names, distinct for every file (also on case-insensitive file systems).

    A file whose stem no other file shares keeps its stem; files sharing a stem get ``stem_ext``; a name
    still taken (``a.png`` -> ``a_png`` beside ``a_png.jpg``, or two files in different folders) gets
    ``_2``, ``_3``, ... Decided over the whole list, so every shard of a batch agrees.
    """
    ordered = sorted(files, key=lambda f: (f.name, str(f)))
    stems: dict[str, int] = {}
    for f in ordered:
        stems[f.stem.lower()] = stems.get(f.stem.lower(), 0) + 1
    names: dict[Path, str] = {}
    taken: set[str] = set()
    # Unique stems first, so that they keep the name they always had (resumable batches).
    for f in ordered:
        if stems[f.stem.lower()] == 1 and f.stem.lower() not in taken:
            names[f] = f.stem
            taken.add(f.stem.lower())
    for f in ordered:
        if f in names:
            continue
        base = f"{f.stem}_{f.suffix.lstrip('.').lower()}" if f.suffix else f.stem
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}_{n}"
        names[f] = name
        taken.add(name.lower())
    return {f: names[f] for f in files}


def project_batch(job: ProjectionJob, files: Sequence[Path], outroot: str | Path, shard: tuple[int, int] = (0, 1),
                  callback_for: Callable[[Path], ProjectionCallback | None] | None = None,
                  on_done: Callable[[Path, Path, dict[str, Any] | None], None] | None = None) -> list[tuple[Path, Path, str]]:
    """Project this shard's files into ``outroot/<name>/``, skipping images whose latent exists.

    Args:
        callback_for: gives each image its step callback (e.g. a progress bar); cancelling one image
            stops the batch (already finished images stay done).
        on_done: called after each image with (file, its folder, metrics or None when skipped).

    Returns:
        [(file, folder, status)] with status 'done', 'skipped', 'failed' (unreadable image; ``on_done`` gets
        ``{'error': message}``) or 'cancelled' (the batch stops there).
    """
    names = output_names(list(files))
    report: list[tuple[Path, Path, str]] = []
    for f in shard_files(list(files), *shard):
        folder = Path(outroot) / names[f]
        if output_dir_is_done(folder):
            report.append((f, folder, "skipped"))
            if on_done:
                on_done(f, folder, None)
            continue
        try:
            metrics = project_file(job, f, folder, callback_for(f) if callback_for else None)
        except Cancelled:
            metrics = None
        except ImageError as exc:  # one unreadable file must not stop a long batch
            log.warning("skipping %s: %s", f, exc)
            report.append((f, folder, "failed"))
            if on_done:
                on_done(f, folder, {"error": str(exc)})
            continue
        if metrics is None:
            report.append((f, folder, "cancelled"))
            break
        report.append((f, folder, "done"))
        if on_done:
            on_done(f, folder, metrics)
    return report
