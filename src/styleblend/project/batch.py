"""Projection of image files to output folders: one image, or a resumable, shardable batch.

This is the I/O layer over :func:`~styleblend.project.projector.project` (which never writes files).
Per image it writes, each atomically: ``target.png``, ``proj.png``, ``compare.png`` (target |
reconstruction), ``metrics.json``, then ``projected_w.npz`` - the latent and the "done" marker: an image
whose ``.npz`` exists is skipped when a batch is resumed - and last the optional extras ``loss.png`` (each
weighted loss term over the steps) and ``proj.mp4`` (with --video; imageio-ffmpeg is checked before any
work), so a failing extra never costs the latent or the metrics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import ImageError, InvalidArgumentError
from ..io.atomic import write_bytes_atomic
from ..io.digest import file_sha256
from ..io.memory import return_freed_memory
from ..latents.files import read_latent_file, save_latents
from ..media.images import from_uint8, make_grid, save_png, to_uint8
from ..media.load import load_image
from ..metrics.quality import summarize
from ..perceptual.lpips import LPIPS
from ..perceptual.vgg import VGG16Features
from .losses import WeightedLoss
from .projector import (
    Cancelled,
    ProjectionCallback,
    ProjectionResult,
    project,
    synthesize,
)
from .settings import ENCODER_DEFAULT_STEPS, ENCODER_METHOD, INITS, ProjectionSettings, settings_for

if TYPE_CHECKING:
    from ..config_sg3 import AnyGeneratorConfig
    from ..io.checkpoint import Checkpoint
    from ..nn.discriminator import Discriminator
    from ..types import Generator
    from .encoder import Encoder
    from .feature_encoder import FeatureHead

log = logging.getLogger(__name__)

LATENT_NAME = "projected_w.npz"


# ----------------------------------------------------------------------------------------------
# Latent files


# ----------------------------------------------------------------------------------------------
# Pictures


_CURVE_COLOURS = ((200, 30, 30), (30, 90, 200), (30, 150, 60), (200, 130, 0), (140, 60, 170), (0, 150, 160),
                  (120, 120, 120))


def loss_curve_image(history: Sequence[dict[str, float]], key: str = "loss", size: tuple[int, int] = (640, 360),
                     term_weights: dict[str, float] | None = None) -> np.ndarray:
    """A log-scale line plot over steps as uint8 [H, W, 3] (drawn with PIL).

    Plots ``history[i][key]``; with ``term_weights`` (e.g. :attr:`ProjectionResult.term_weights`) also each
    term times its weight - what it adds to the total - in its own colour with a legend, so one can see
    which term drives (or swamps) the optimisation.
    """
    w, h = size
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    left, right, top, bottom = 70, 15, 25, 40
    draw.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    curves = {key: [r.get(key, math.nan) for r in history]}
    for name, weight in (term_weights or {}).items():
        curves[f"{weight:g}*{name}"] = [weight * r.get(name, math.nan) for r in history]
    series = {k: np.log10(np.maximum(np.array(v, dtype=np.float64), 1e-12)) for k, v in curves.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()]) if history else np.array([])
    what = key if len(curves) == 1 else f"{key} and its weighted terms"
    draw.text((left, 5), f"{what} (log scale) over {len(history)} steps", fill=(0, 0, 0))
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        n = len(history)
        xs = left + (np.arange(n) / max(1, n - 1)) * (w - right - left)
        for i, (name, logs) in enumerate(series.items()):
            colour = _CURVE_COLOURS[i % len(_CURVE_COLOURS)]
            ys = top + (hi - logs) / (hi - lo) * (h - bottom - top)
            points = [(float(x), float(y)) for x, y in zip(xs, ys) if np.isfinite(y)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2 if i == 0 else 1)
            elif points:
                draw.point(points, fill=colour)
            if len(series) > 1:
                draw.text((w - right - 150, top + 4 + 12 * i), name[:24], fill=colour)
        for frac in (0.0, 0.5, 1.0):
            y = top + frac * (h - bottom - top)
            draw.text((4, y - 6), f"{10 ** (hi - frac * (hi - lo)):.3g}", fill=(0, 0, 0))
        draw.text((left, h - bottom + 8), "1", fill=(0, 0, 0))
        draw.text((w - right - 40, h - bottom + 8), str(n), fill=(0, 0, 0))
        draw.text(((w - 30) // 2, h - bottom + 20), "step", fill=(0, 0, 0))
    return np.asarray(im)


# ----------------------------------------------------------------------------------------------
# One image


@dataclass
class ProjectionJob:
    """Everything needed to project files with one model (shared by every image of a batch).

    warning: text to show the user (the pixel fallback, an approximate LPIPS, the dfeat choice), or None.
    discriminator: where the dfeat loss's discriminator came from, or None.
    """

    G: Generator
    settings: ProjectionSettings
    loss: WeightedLoss
    network: str
    network_sha256: str
    g_config: AnyGeneratorConfig  # G's architecture (latent files are checked against it)
    seed: int = 0
    init_ws: torch.Tensor | None = None
    vgg: VGG16Features | None = None
    warning: str | None = None
    video: bool = False
    video_frames: int = 100
    discriminator: str | None = None
    encoder: Encoder | None = None  # --method encoder: predicts the initial W+ (see project.encoder)
    encoder_path: str | None = None
    refine_steps: int | None = None  # --method encoder: steps after the prediction (0 = the prediction only)
    feature_head: FeatureHead | None = None  # with the encoder alone: also predicts block-r features (FS space)
    feature_head_path: str | None = None


def load_discriminator(ckpt: Checkpoint, G: Generator, path: str | Path | None,
                       device: str | torch.device) -> tuple[Discriminator | None, str | None]:
    """The discriminator for the dfeat loss: from ``path`` if given, else from ``ckpt`` if it has one.

    Returns (D or None, its source for the record). Raises InvalidArgumentError when ``path`` has no D or
    its D does not take the generator's images (resolution, channels).
    """
    from ..io import load_checkpoint

    source = ckpt
    if path is not None:
        source = load_checkpoint(path)
        if source.d is None:
            raise InvalidArgumentError(f"`discriminator` '{path}' has no discriminator; use a training snapshot "
                                       "(NVIDIA network-snapshot-*.pkl or a styleblend checkpoint with D)",
                                       param="discriminator")
    if source.d is None or source.d_config is None:
        return None, None
    cfg = source.d_config
    if (cfg.img_resolution, cfg.img_channels) != (G.img_resolution, G.img_channels):
        raise InvalidArgumentError(f"the discriminator of {source.describe()} takes {cfg.img_channels}x"
                                   f"{cfg.img_resolution}px images, the generator makes {G.img_channels}x"
                                   f"{G.img_resolution}px; use a discriminator of the same model")
    return source.discriminator(device), str(path) if path is not None else f"{source.describe()} (its own D)"


def prepare_job(network: str | Path, method: str = "image2stylegan", *, space: str | None = None,
                steps: int | None = None, init: str | None = None, lr: float | None = None, seed: int = 0,
                vgg_path: str | None = None, download: bool = False, device: str | torch.device = "cpu",
                video: bool = False, loss: str | None = None, discriminator: str | Path | None = None,
                w_reg: float | None = None, optimize_noise: bool | None = None,
                noise_init: str | None = None, encoder: str | Path | None = None,
                feature_head: str | Path | None = None, feature_lr: float | None = None) -> ProjectionJob:
    """Check optional dependencies, load the network, resolve the loss and the settings.

    ``init`` is 'mean', 'random' or a latent file (:func:`~styleblend.latents.files.read_latent_file`); None keeps
    the method's default. ``space``/``steps``/``lr``/``w_reg``/``optimize_noise``/``noise_init`` None keep the method's
    values. ``loss`` is 'pixel', 'vgg', 'dfeat' or None (VGG-16 when its weights are found, else dfeat when
    the network - or ``discriminator``, a checkpoint of the same model - has a discriminator, else pixel;
    see :func:`~styleblend.project.losses.resolve_loss`). ``video`` checks that MP4 can be written *before*
    anything is loaded or projected.

    ``method='encoder'`` needs ``encoder`` (a file of ``styleblend encoder train``): its prediction is the
    initial W+, followed by ``steps`` (default :data:`ENCODER_DEFAULT_STEPS`; 0 = none) steps with the
    'fast' method's settings. ``feature_head`` (a file of :mod:`~styleblend.project.feature_encoder_train`,
    encoder only) makes each result a W+ latent *plus* the generator's feature map at the head's block, which
    the image and the latent file carry (:mod:`styleblend.nn.feature_space`); ``steps`` > 0 then refine both
    together (the features at ``feature_lr``, None: the settings' default).
    """
    from ..io import load_checkpoint
    from ..media.video import check_video_path
    from .losses import resolve_loss
    from .projector import has_noise_inputs

    if video:
        check_video_path("proj.mp4", fps=10)  # MissingDependencyError now, not after the last step
    if method != ENCODER_METHOD and encoder is not None:
        raise InvalidArgumentError(f"`encoder` is used by `method` 'encoder' only (got `method` {method!r})",
                                   param=("encoder", "method"))
    if method == ENCODER_METHOD:
        if encoder is None:
            raise InvalidArgumentError("`method` 'encoder' needs an encoder file (`encoder`; train one with "
                                       "styleblend.project.encoder_train or 'styleblend encoder train')",
                                       param=("method", "encoder"))
        if init is not None:
            raise InvalidArgumentError("`init` does not apply to `method` 'encoder' (the encoder gives the start)",
                                       param=("init", "method"))
        if steps is not None and steps < 0:
            raise InvalidArgumentError(f"`steps` {steps} must be >= 0 (0: the encoder's prediction only)",
                                       param="steps")
    if feature_head is not None and method != ENCODER_METHOD:
        raise InvalidArgumentError("`feature_head` adds features to an encoder's prediction: use it with `method` "
                                   "'encoder'", param=("feature_head", "method"))
    if feature_lr is not None and feature_head is None:
        raise InvalidArgumentError("`feature_lr` applies to a feature head's features; give `feature_head` too",
                                   param=("feature_lr", "feature_head"))
    if feature_head is not None and video:
        raise InvalidArgumentError("`video` shows the W+ latent's steps; it is not drawn for W+ + features (leave "
                                   "out `video` or `feature_head`)", param=("feature_head", "video"))
    network = Path(network)
    ckpt = load_checkpoint(network)
    G = ckpt.generator(device)
    enc: Encoder | None = None
    refine: int | None = None
    if method == ENCODER_METHOD and encoder is not None:  # encoder is not None: checked above
        from .encoder import load_encoder

        enc = load_encoder(encoder, device)
        enc.check_generator(G, f"encoder '{encoder}'")
        refine = ENCODER_DEFAULT_STEPS if steps is None else int(steps)
    head: FeatureHead | None = None
    if feature_head is not None:
        from ..models import resolve_feature_head
        from .feature_encoder import check_head_encoder, load_feature_head

        feature_head = resolve_feature_head(feature_head)
        assert feature_head is not None and encoder is not None  # checked above
        head = load_feature_head(feature_head, device)
        head.check_generator(G)
        check_head_encoder(head, encoder)
    init_ws = None
    init_mode = init
    if init is not None and init not in INITS:
        start = read_latent_file(init, ckpt.g_config, kind="w")  # checks the shape against the network
        if start.data.shape[0] != 1:
            raise InvalidArgumentError(f"`init` '{init}' holds {start.data.shape[0]} latents; give a file with one",
                                       param="init")
        init_ws = torch.from_numpy(start.data)
        init_mode = None
    if enc is not None and refine is not None:
        # The start comes from the encoder, so the mean w is not sampled (num_w_samples=0) when the model
        # tracks one. ProjectionSettings needs >= 1 step; refine_steps=0 never runs the loop.
        num_w = 0 if getattr(G.mapping, "w_avg", None) is not None else None
        settings = settings_for("fast", space=space, steps=max(refine, 1), lr=lr, w_reg=w_reg, num_w_samples=num_w,
                                optimize_noise=optimize_noise, noise_init=noise_init, feature_lr=feature_lr)
        settings = dataclasses.replace(settings, method=ENCODER_METHOD)
    else:
        settings = settings_for(method, space=space, steps=steps, init=init_mode, lr=lr, w_reg=w_reg,
                                optimize_noise=optimize_noise, noise_init=noise_init)
    if settings.optimize_noise and not has_noise_inputs(G):
        if optimize_noise:
            raise InvalidArgumentError(f"`optimize_noise` is on, but {network.name} has no noise inputs to optimise "
                                       "(StyleGAN3 generators have none); leave it off", param="optimize_noise")
        settings = dataclasses.replace(settings, optimize_noise=False)  # the method's default: nothing to do
    D, d_source = (None, None)
    if loss in (None, "dfeat"):
        D, d_source = load_discriminator(ckpt, G, discriminator, device)
    # G (and D) are built: the file's tensors are not needed any more (see styleblend.io.memory).
    ckpt.release(g_ema=True)
    return_freed_memory()
    loss_method = "fast" if enc is not None else method
    weighted, vgg, warning = resolve_loss(loss_method, vgg_path, download, device, kind=loss, discriminator=D)
    return ProjectionJob(G=G, settings=settings, loss=weighted, network=str(network),
                         network_sha256=file_sha256(network), g_config=ckpt.g_config, seed=seed, init_ws=init_ws,
                         vgg=vgg, warning=warning, video=video and refine != 0,
                         discriminator=d_source if weighted.kind == "dfeat" else None, encoder=enc,
                         encoder_path=None if encoder is None else str(encoder), refine_steps=refine,
                         feature_head=head, feature_head_path=None if feature_head is None else str(feature_head))


@torch.no_grad()
def encode_targets(job: ProjectionJob, targets: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """The encoder's W+ for targets [N, C, R, R] in [-1, 1], ``chunk`` images per forward pass -> [N, num_ws, w_dim]."""
    if job.encoder is None:
        raise InvalidArgumentError("this projection job has no encoder (use method='encoder')")
    from .encoder import encode

    device = next(job.encoder.parameters()).device
    return torch.cat([encode(job.encoder, job.G, targets[i:i + chunk].to(device))
                      for i in range(0, len(targets), chunk)])


def _encoder_only(job: ProjectionJob, target: torch.Tensor, ws: torch.Tensor,
                  image: torch.Tensor | None = None) -> ProjectionResult:
    """The encoder's prediction as a projection result of 0 steps (its loss is the one history entry);
    ``image``: its rendering when it is not ``ws``'s alone (W+ + features)."""
    from . import wspace

    G = job.G
    with torch.no_grad():
        total, parts = job.loss(synthesize(G, ws) if image is None else image, target)
    parts["loss"], parts["lr"] = float(total), 0.0
    w_avg, coord_std = wspace.w_stats(G, 1000, job.seed)  # as project() measures W+ distances
    tracked = getattr(G.mapping, "w_avg", None)
    if tracked is not None:
        w_avg = tracked
    return ProjectionResult(ws=ws.detach().clone(), settings=job.settings, history=[parts], steps_done=0,
                            term_weights={t.name: t.weight for t in job.loss.terms},
                            w_distance=wspace.distance_from_w(ws.detach(), w_avg, coord_std))


def output_dir_is_done(outdir: str | Path) -> bool:
    """An image's outputs are complete when its latent (written last) exists."""
    return (Path(outdir) / LATENT_NAME).is_file()


def project_file(job: ProjectionJob, image_path: str | Path, outdir: str | Path,
                 callback: ProjectionCallback | None = None, init_ws: torch.Tensor | None = None,
                 init_seconds: float = 0.0) -> dict[str, Any] | None:
    """Project one image file and write its outputs into ``outdir``.

    ``init_ws`` [1, num_ws, w_dim]: a start computed by the caller (a batch's encoder predictions); None uses
    the job's (its encoder's prediction, its --init file, or the method's init); ``init_seconds`` is the
    time it took (counted in the image's ``seconds``).

    Order: the results first - target.png, proj.png, compare.png, metrics.json, then the latent (the
    "done" marker) - and only then the optional extras (loss.png, proj.mp4), so an extra that fails loses
    nothing that was computed. Returns the metrics dict (also in metrics.json), or None when the callback
    cancelled the run, in which case nothing is written (so a batch resume redoes this image).
    """
    G, outdir = job.G, Path(outdir)
    if job.video:
        from ..media.video import check_video_path

        check_video_path(outdir / "proj.mp4", fps=10)  # before the work, for jobs not made by prepare_job
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

    start = init_ws if init_ws is not None else job.init_ws
    encoder_seconds = init_seconds
    feats: torch.Tensor | None = None
    image: torch.Tensor | None = None
    if job.feature_head is not None:
        assert job.encoder is not None  # prepare_job allows a head with the encoder alone
        from ..nn.feature_space import synthesize_from_features
        from .feature_encoder import encode_features

        t0 = time.perf_counter()
        with torch.no_grad():
            start, feats = encode_features(job.encoder, job.feature_head, G, target)
            image = synthesize_from_features(G, start, feats, job.feature_head.cfg.block_res)
        encoder_seconds = time.perf_counter() - t0
    elif job.encoder is not None and start is None:
        t0 = time.perf_counter()
        start = encode_targets(job, target)
        encoder_seconds = time.perf_counter() - t0
    block = None if job.feature_head is None else job.feature_head.cfg.block_res
    if job.encoder is not None and job.refine_steps == 0:
        assert start is not None  # the encoder's prediction when no start was given
        result = _encoder_only(job, target, start.to(device), image)
    else:
        result = project(G, target, job.settings, job.loss, seed=job.seed, init_ws=start, callback=step_hook,
                         init_features=feats, feature_block=block)
        if result.features is not None:
            from ..nn.feature_space import synthesize_from_features

            feats = result.features
            with torch.no_grad():
                image = synthesize_from_features(G, result.ws, feats, int(block or 0))
    result.seconds += encoder_seconds
    if result.cancelled:
        return None
    with torch.no_grad():
        # The latent is rendered with the model's own noise maps: that is what `generate`, blending and
        # editing will reproduce from the saved w (NVIDIA's projector saves its proj.png the same way).
        proj_u8 = to_uint8(synthesize(G, result.ws) if image is None else image)[0]
        metrics = _metrics(job, target_u8, proj_u8, result)
    stale_video = outdir / "proj.mp4"
    if not job.video and stale_video.is_file() and output_dir_is_done(outdir):
        # A re-run without --video into an earlier projection's folder: its old video would sit beside the new
        # results and show a different optimisation.
        log.info("removing %s of an earlier run", stale_video)
        stale_video.unlink()
    save_png(target_u8, outdir / "target.png")
    save_png(proj_u8, outdir / "proj.png")
    save_png(make_grid(np.stack([target_u8, proj_u8]), cols=2), outdir / "compare.png")
    write_bytes_atomic(outdir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    meta = {"network": job.network, "network_sha256": job.network_sha256, "method": job.settings.method,
            "space": job.settings.space, "steps": result.steps_done, "final_loss": result.final_loss,
            "seed": job.seed, "target": str(image_path), "loss": job.loss.describe(), "loss_kind": job.loss.kind,
            "settings": _settings_dict(job), "psnr": metrics["psnr"], "ssim": metrics["ssim"],
            "row_spread": metrics["row_spread"], "mean_distance": metrics["mean_distance"]}
    if job.encoder_path is not None:
        meta["encoder"] = job.encoder_path
    if job.feature_head is not None:
        meta.update(feature_head=job.feature_head_path, latent=metrics["latent"])
    save_latents(outdir / LATENT_NAME, result.ws[:1], "w", meta, result.noise, features=feats, feature_block=block)
    # Optional extras last.
    save_png(loss_curve_image(result.history, term_weights=result.term_weights), outdir / "loss.png")
    if job.video and frames:
        from ..media.video import write_video

        write_video(frames, outdir / "proj.mp4", fps=10)
    return metrics


def _settings_dict(job: ProjectionJob) -> dict[str, Any]:
    out = job.settings.to_dict()
    if job.refine_steps is not None:
        out["steps"] = job.refine_steps  # 0 for the encoder alone (the settings object needs >= 1)
    return out


def _metrics(job: ProjectionJob, target_u8: np.ndarray, proj_u8: np.ndarray,
             result: ProjectionResult) -> dict[str, Any]:
    t, p = from_uint8(target_u8), from_uint8(proj_u8)
    out: dict[str, Any] = summarize(p, t, data_range=2.0)
    if job.vgg is not None:
        dist = LPIPS(job.vgg)
        out["lpips" if dist.learned else "vgg_distance"] = float(dist(p.to(job.vgg.mean.device),
                                                                      t.to(job.vgg.mean.device)).mean())
    # Distance of the latent from W (units of W's spread, see project.wspace): 0 row spread = a W latent.
    out.update(row_spread=result.w_distance["row_spread"][0], mean_distance=result.w_distance["mean_distance"][0])
    out.update(final_loss=result.final_loss, steps=result.steps_done, seconds=round(result.seconds, 3),
               steps_per_second=round(result.steps_done / max(result.seconds, 1e-9), 3),
               method=job.settings.method, space=job.settings.space, loss_kind=job.loss.kind,
               loss=job.loss.describe(), term_weights=result.term_weights,
               final_terms={k: v for k, v in result.history[-1].items() if k in result.term_weights}
               if result.history else {},
               w_reg=job.settings.w_reg, optimize_noise=job.settings.optimize_noise,
               vgg=None if job.vgg is None else job.vgg.source, discriminator=job.discriminator, warning=job.warning)
    if job.encoder_path is not None:
        out["encoder"] = job.encoder_path
    out["latent"] = "W+"
    if job.feature_head is not None:
        # Not a pure latent: the image needs the feature map too (editing the W+ part still works).
        out.update(latent=f"W+ + {job.feature_head.cfg.block_res} px features", feature_head=job.feature_head_path)
    return out


# ----------------------------------------------------------------------------------------------
# Batches


def parse_shard(text: str | None, env: Mapping[str, str] | None = None) -> tuple[int, int]:
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
        raise InvalidArgumentError(f"shard '{text}' must look like 'i/n', e.g. 0/4 (0-based index of n "
                                   "shards)") from None
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
                  on_done: Callable[[Path, Path, dict[str, Any] | None], None] | None = None,
                  ) -> list[tuple[Path, Path, str]]:
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
    mine = shard_files(list(files), *shard)
    pending = [f for f in mine if not output_dir_is_done(Path(outroot) / names[f])]
    t0 = time.perf_counter()
    starts = _batch_encode(job, pending)
    share = (time.perf_counter() - t0) / max(len(starts), 1)  # each image's part of the batched encoding
    for f in mine:
        folder = Path(outroot) / names[f]
        if output_dir_is_done(folder):
            report.append((f, folder, "skipped"))
            if on_done:
                on_done(f, folder, None)
            continue
        try:
            metrics = project_file(job, f, folder, callback_for(f) if callback_for else None, init_ws=starts.get(f),
                                   init_seconds=share if f in starts else 0.0)
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


def _batch_encode(job: ProjectionJob, files: Sequence[Path], chunk: int = 32) -> dict[Path, torch.Tensor]:
    """With an encoder: its predictions for ``files`` in batches of ``chunk`` ({} without one).

    Unreadable files are left out here; :func:`project_file` reports them when it reaches them.
    """
    if job.encoder is None or job.feature_head is not None:  # a feature head encodes each image itself
        return {}
    res, channels = job.G.img_resolution, job.G.img_channels
    out: dict[Path, torch.Tensor] = {}
    for i in range(0, len(files), chunk):
        part, targets = [], []
        for f in files[i:i + chunk]:
            try:
                targets.append(from_uint8(load_image(f, resolution=res, channels=channels)))
            except ImageError:
                continue
            part.append(f)
        if part:
            for f, ws in zip(part, encode_targets(job, torch.cat(targets), chunk)):
                out[f] = ws[None]
    return out
