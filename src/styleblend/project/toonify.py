"""The toonify pipeline (Pinkney & Adler 2020, "Resolution Dependent GAN Interpolation for Controllable
Image Synthesis Between Domains", Fig. 3): align a photo, embed it with the *base* model, and render the
same latent through one or more *blended* models.

The embedding is cached in ``outdir/embeddings/`` (see :mod:`styleblend.project.embedding`): a key of
(photo, base network, method, steps, space, alignment, start - the encoder file and a feature head's file -,
every setting), so more blends - or re-running - do not re-project. Default embedding: an encoder's
prediction refined by :data:`~.settings.DEFAULT_REFINE_STEPS` steps when an encoder is given or bundled for this
base, else the ``fast`` method with :data:`~.settings.DEFAULT_FAST_STEPS` steps (seconds at 64 px on a CPU).

With pivotal tuning (:mod:`styleblend.project.pti`) the base is tuned on the photo as a low-rank delta
(cached beside the embedding), and every blend renders with the delta added by the base's weight in it.
What the toonify keeps is measured (:mod:`styleblend.project.toonify_measures`) and written to
``outdir/metrics.json`` with the list of files written; a re-run removes the files of the previous run
that it did not write again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..errors import (
    ArchitectureMismatchError,
    InvalidArgumentError,
    MissingDependencyError,
    MissingWeightsError,
    StyleblendError,
)
from ..io import Checkpoint, load_checkpoint
from ..io.atomic import write_bytes_atomic
from ..io.digest import file_sha256
from ..latents.files import save_latents
from ..media.images import from_uint8, make_grid, save_png, to_uint8
from ..metrics.quality import summarize
from ..nn.feature_space import blend_features, synthesize_from_features
from .batch import prepare_job
from .embedding import embed_photo
from .projector import ProjectionCallback, synthesize
from .pti import (
    Delta,
    PTICallback,
    PTISettings,
    apply_delta,
    check_delta_base,
    delta_fraction,
    export_tuned,
    load_delta,
    pivotal_tuning,
    save_delta,
)
from .pti_blend import blend_base_weights, blend_record, check_blend_of_base
from .settings import DEFAULT_FAST_STEPS, DEFAULT_REFINE_STEPS, TOONIFY_METHOD
from .toonify_measures import (
    MANIFEST,
    Critic,
    latent_distance_from_w,
    previous_outputs,
    remove_stale,
    transfer_snapshot,
)

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)



@dataclass
class ToonifyResult:
    """What the pipeline produced and where it wrote it.

    ws: the embedding [1, num_ws, w_dim]; cache_hit: it came from the cache; toons: blend file -> image;
    metrics: everything written to metrics.json; delta: the PTI delta (None without --pti).
    """

    ws: torch.Tensor
    cache_path: Path
    cache_hit: bool
    target: np.ndarray
    reconstruction: np.ndarray
    toons: dict[str, np.ndarray] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    warning: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    delta: Delta | None = None
    delta_path: Path | None = None


def bundled_encoder(base_sha256: str) -> Path | None:
    """The encoder bundled for the bundled base, when ``base_sha256`` is the bundled base's file hash; else None."""
    from ..models import bundled_encoder_path, bundled_path

    try:
        if file_sha256(bundled_path("base")) != base_sha256:
            return None
    except (MissingWeightsError, OSError):
        return None
    return bundled_encoder_path()


def load_encoder_fn(path: Path, G: Generator, device: str | torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The encoder of ``path`` for generator ``G`` as a function img [N, C, R, R] -> ws."""
    from .encoder import encode, load_encoder

    enc = load_encoder(path, device)
    enc.check_generator(G, f"encoder '{path}'")
    return lambda img: encode(enc, G, img)


def _feature_encoder(head_path: Path, encoder_path: Path, G: Generator, device: str | torch.device
                     ) -> tuple[Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], int]:
    """The encoder of ``encoder_path`` with the feature head of ``head_path`` as img -> (ws, features) for ``G``
    (:func:`~.feature_encoder.encode_features`: the encoder passes the head's config names), and the head's block.
    """
    from .encoder import load_encoder
    from .feature_encoder import check_head_encoder, encode_features, load_feature_head

    enc = load_encoder(encoder_path, device)
    head = load_feature_head(head_path, device)
    head.check_generator(G)
    check_head_encoder(head, encoder_path)
    return (lambda img: encode_features(enc, head, G, img)), int(head.cfg.block_res)


def _render(G: Generator, ws: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(synthesize(G, ws.to(next(G.parameters()).device)))[0]


def _render_fs(G: Generator, Gb: Generator, ws: torch.Tensor, feats: torch.Tensor, block: int) -> np.ndarray:
    """(ws, feats), a pair of the base ``G``, rendered through ``Gb`` (``G`` itself or a blend of it)."""
    with torch.no_grad():
        ws = ws.to(next(Gb.parameters()).device)
        return to_uint8(synthesize_from_features(Gb, ws, blend_features(G, Gb, ws, feats, block), block))[0]


def _quality(render_u8: np.ndarray, target_u8: np.ndarray) -> dict[str, float]:
    q = summarize(from_uint8(render_u8), from_uint8(target_u8))
    return {"psnr": round(q["psnr"], 4), "ssim": round(q["ssim"], 5)}


def _pti_cache_path(cache_path: Path, settings: PTISettings, loss: str, seed: int) -> Path:
    text = json.dumps({"settings": asdict(settings), "loss": loss, "seed": seed}, sort_keys=True)
    return cache_path.with_name(f"{cache_path.stem}-pti-{hashlib.sha256(text.encode()).hexdigest()[:12]}.safetensors")


def toonify(base_ckpt: str | Path, blended_ckpts: Sequence[str | Path], photo: str | Path, outdir: str | Path, *,
            align: bool = True, detector=None, method: str | None = None, steps: int | None = None,
            space: str | None = None, init: str | None = None, lr: float | None = None, seed: int = 0,
            vgg_path: str | None = None, download: bool = False, device: str | torch.device = "cpu",
            callback: ProjectionCallback | None = None, encoder: str | Path | None = None,
            pti: PTISettings | None = None, pti_delta: str | Path | None = None,
            pti_schedule: str | None = None, pti_export: str | Path | None = None,
            pti_callback: PTICallback | None = None, critic: str | Path | None = None,
            identity: bool | None = None, feature_head: str | Path | None = None,
            feature_lr: float | None = None) -> ToonifyResult:
    """Embed ``photo`` with the base model and render the latent through every blended model.

    Args:
        base_ckpt: the model the blends were made from (the photo is embedded in its latent space).
        blended_ckpts: blended models sharing the base's mapping/latent layout (same num_ws and w_dim).
        photo: the photo; aligned FFHQ-style first when ``align`` (the largest face is used).
        outdir: receives target.png, reconstruction.png (reconstruction_pti.png), toon_<blend>.png, toonify.png
            (a strip target | reconstruction | toons...), metrics.json and embeddings/<key>.npz (+ the delta).
        detector: landmark source for alignment (default dlib, see :mod:`styleblend.align.landmarks`).
        method: None picks the encoder (given or bundled) + refinement, else ``fast``; or 'image2stylegan',
            'nvidia', 'fast' as for ``styleblend project``, or 'encoder'.
        steps: optimisation steps - with an encoder the refinement steps (0: the encoder's prediction alone);
            None: :data:`DEFAULT_REFINE_STEPS`, :data:`DEFAULT_FAST_STEPS` for the picked ``fast``, else the
            method's own.
        space, init, lr, seed, vgg_path, download: as for ``styleblend project`` (``init`` is unused with an
            encoder, whose prediction is the start).
        callback: projection progress (not called on a cache hit).
        encoder: an encoder file for the base (see ``styleblend encoder train``).
        pti: tune the base on the photo (pivotal tuning) with these settings; the delta is cached.
        pti_delta: use this delta file instead of tuning (it must belong to the base).
        pti_schedule: the blends' schedule when a blend recorded none (e.g. 'swap:16').
        pti_export: also write the tuned base here (format from the suffix, else the base's).
        pti_callback: tuning progress.
        critic: a checkpoint whose discriminator scores the toons (default: each blend's recorded transfer
            file, when it has a discriminator).
        identity: measure face identity (dlib); None: when ``align`` (a face photo).
        feature_head: a feature head for the encoder (``styleblend encoder train-features``, 'bundled' for the
            bundled encoder's; encoder only, no PTI): the embedding is W+ *plus* the base's feature map at the
            head's block - the head's prediction (with the encoder passes its config names), then ``steps``
            refinement steps of both together - rendered through each blend by
            :func:`~styleblend.nn.feature_space.blend_features` (the blend's own features plus the pair's change
            of the base's). Not a pure latent; cached with the embedding (the key covers the head's SHA-256 and
            ``feature_lr``) and written to embeddings/features.npz.
        feature_lr: the features' learning rate in refinement, in units of their RMS (None:
            :data:`~.settings.DEFAULT_FEATURE_LR`; 0 keeps the head's features); with ``feature_head`` only.

    Raises:
        InvalidArgumentError: no blended models, bad options. ArchitectureMismatchError: a blend's latent
        layout differs. DeltaMismatchError: a delta or blend of another base. NoFaceError, ImageError,
        MissingDependencyError, MissingWeightsError: from alignment and loading.
    """
    if not blended_ckpts:
        raise InvalidArgumentError("toonify needs at least one blended model (`blended_ckpts`)", param="blended_ckpts")
    if steps is not None and steps < 0:
        raise InvalidArgumentError(f"`steps` {steps} must be >= 0 (0: the encoder's prediction alone)", param="steps")
    started = time.perf_counter()
    photo, outdir, base_ckpt = Path(photo), Path(outdir), Path(base_ckpt)
    old_files = previous_outputs(outdir)
    base_sha = file_sha256(base_ckpt)
    encoder_path = Path(encoder) if encoder is not None else None
    if encoder_path is not None and not encoder_path.is_file():
        raise InvalidArgumentError(f"encoder '{encoder_path}' does not exist; train one (styleblend.project."
                                   "encoder_train, 'styleblend encoder train') or leave `encoder` out", param="encoder")
    if method in (None, "encoder") and encoder_path is None:
        encoder_path = bundled_encoder(base_sha)
        if method == "encoder" and encoder_path is None:
            raise InvalidArgumentError("`method` 'encoder' needs an encoder file "
                                       "(`encoder`; none is bundled for this base)",
                                       param=("method", "encoder"))
    use_encoder = encoder_path is not None and method in (None, "encoder")
    if feature_head is not None and not use_encoder:
        raise InvalidArgumentError("`feature_head` adds features to an encoder's prediction: use it with an encoder "
                                   "(`method` None or 'encoder', and `encoder` or the bundled one)",
                                   param=("feature_head", "method"))
    if feature_head is not None and (pti is not None or pti_delta is not None):
        raise InvalidArgumentError("`feature_head` cannot be combined with pivotal tuning: PTI tunes the base around a "
                                   "W+ latent, and W+ + features is not one; leave out `pti`/`pti_delta` (sharper "
                                   "detail from the features) or `feature_head` (PTI on a pure W+ latent)",
                                   param=("feature_head", "pti"))
    if feature_lr is not None and feature_head is None:
        raise InvalidArgumentError("`feature_lr` applies to a feature head's features; give `feature_head` too",
                                   param=("feature_lr", "feature_head"))
    encoder_id = ""
    if encoder_path is not None and use_encoder:
        encoder_id = file_sha256(encoder_path)[:16]
        refine_steps = DEFAULT_REFINE_STEPS if steps is None else steps
        # With 0 steps and no PTI nothing is optimised, so no perceptual loss is looked up (nor its absence
        # warned about): the fast path, well under a second at 64 px once Python and torch are loaded.
        no_loss = refine_steps == 0 and pti is None and pti_delta is None
        # 'editable' = fast + the W+ regulariser: a toon renders the latent through OTHER models, so it must stay
        # near W (Tov et al., e4e 2021), not only reconstruct through the base.
        job = prepare_job(base_ckpt, TOONIFY_METHOD, space=space, steps=max(1, refine_steps), lr=lr, seed=seed,
                          vgg_path=vgg_path, download=download, device=device, loss="pixel" if no_loss else None)
        enc = load_encoder_fn(encoder_path, job.G, device)
        described = f"encoder {encoder_path.name} + {refine_steps} {TOONIFY_METHOD} refinement steps"
        if feature_lr is not None:
            job = dataclasses.replace(job, settings=dataclasses.replace(job.settings, feature_lr=feature_lr))
    else:
        no_loss = False
        if steps == 0:
            raise InvalidArgumentError("`steps` 0 needs an encoder file (`encoder`)", param=("steps", "encoder"))
        run_method = method or TOONIFY_METHOD
        job_steps = steps if steps is not None else (DEFAULT_FAST_STEPS if method is None else None)
        job = prepare_job(base_ckpt, run_method, space=space, steps=job_steps, init=init, lr=lr, seed=seed,
                          vgg_path=vgg_path, download=download, device=device)
        enc, refine_steps = None, job.settings.steps
        described = f"{run_method}, {job.settings.steps} steps"
    G = job.G
    features_fn, head_block, head_id = None, None, ""
    if feature_head is not None:
        from ..models import resolve_feature_head

        feature_head = resolve_feature_head(feature_head)
        assert feature_head is not None and encoder_path is not None  # checked above
        features_fn, head_block = _feature_encoder(feature_head, encoder_path, G, device)
        head_id = file_sha256(feature_head)
        described += (f", with the feature head {Path(feature_head).name} (W+ + {head_block} px features"
                      + (f", refined together, feature_lr {job.settings.feature_lr:g})" if refine_steps else ")"))
    t0 = time.perf_counter()
    embedded = embed_photo(job, photo, outdir / "embeddings", align=align, detector=detector, callback=callback,
                           encoder=enc, encoder_id=encoder_id, refine=refine_steps > 0, features=features_fn,
                           feature_block=head_block, features_id=head_id)
    seconds = {"embed": round(time.perf_counter() - t0, 3)}
    target_u8, ws, feats = embedded.target, embedded.ws, embedded.features
    if feats is not None:
        assert head_block is not None  # features come from the head
        save_latents(outdir / "embeddings" / "features.npz", ws, meta={"feature_head": str(feature_head),
                     "latent": f"W+ + {head_block} px features", "steps": refine_steps}, features=feats,
                     feature_block=head_block)
    reconstruction = _render(G, ws) if feats is None else _render_fs(G, G, ws, feats, int(head_block or 0))
    result = ToonifyResult(ws=ws, cache_path=embedded.cache_path, cache_hit=embedded.cache_hit,
                           target=target_u8, reconstruction=reconstruction, warning=job.warning)
    loss_used = "none (no optimisation)" if use_encoder and no_loss else job.loss.describe()
    metrics: dict[str, Any] = {"embedding": {"method": described, "loss": loss_used,
                                             "cache": str(embedded.cache_path), "cache_hit": embedded.cache_hit},
                               "reconstruction": _quality(result.reconstruction, target_u8),
                               **latent_distance_from_w(G, ws, seed)}
    metrics["embedding"]["latent"] = "W+" if feats is None else f"W+ + {head_block} px features (not a pure latent)"
    if feature_head is not None:
        metrics["embedding"]["feature_head"] = str(feature_head)
    result.written += [save_png(target_u8, outdir / "target.png"),
                       save_png(result.reconstruction, outdir / "reconstruction.png")]
    shown = result.reconstruction
    base_state = G.state_dict()

    if pti is not None or pti_delta is not None:
        t0 = time.perf_counter()
        if pti_delta is not None:
            delta_path = Path(pti_delta)
            delta = load_delta(delta_path)
            check_delta_base(delta, base_state, f"base {base_ckpt.name}")
            if delta.meta.get("photo_sha256") not in (None, file_sha256(photo)):
                log.warning("the delta %s was tuned on another photo", delta_path)
        else:
            assert pti is not None  # the condition above
            delta_path = _pti_cache_path(embedded.cache_path, pti, job.loss.describe(), seed)
            if delta_path.is_file():
                delta = load_delta(delta_path)
                check_delta_base(delta, base_state, f"base {base_ckpt.name}")
            else:
                tuned = pivotal_tuning(G, ws, from_uint8(target_u8), job.loss, pti, seed=seed,
                                       meta={"photo_sha256": file_sha256(photo), "base_sha256": base_sha,
                                             "base": str(base_ckpt)}, callback=pti_callback)
                delta = tuned.delta
                save_delta(delta, delta_path)
        result.delta, result.delta_path = delta, delta_path
        seconds["pti"] = round(time.perf_counter() - t0, 3)
        G_tuned = Checkpoint(g_config=job.g_config, g_ema=apply_delta(base_state, delta)).generator(device)
        shown = _render(G_tuned, ws)
        result.written.append(save_png(shown, outdir / "reconstruction_pti.png"))
        metrics["reconstruction_pti"] = _quality(shown, target_u8)
        metrics["pti"] = {"delta": str(delta_path), "bytes": delta_path.stat().st_size,
                          "params": delta.num_params, "fraction_of_G": round(delta_fraction(delta), 6),
                          "rank": delta.rank, "steps": delta.meta.get("steps"), "loss": delta.meta.get("loss"),
                          "initial_loss": delta.meta.get("initial_loss"), "final_loss": delta.meta.get("final_loss")}
        if pti_export is not None:
            metrics["pti"]["export"] = str(export_tuned(load_checkpoint(base_ckpt), delta, pti_export))

    t0 = time.perf_counter()
    res = G.img_resolution
    strip = [target_u8, shown]
    toons: dict[str, dict[str, Any]] = {}
    critic_model = Critic(critic, device) if critic is not None else None
    references: dict[str, float | None] = {}
    for path in map(Path, blended_ckpts):
        blend = load_checkpoint(path)
        cfg = blend.g_config
        if (cfg.num_ws, cfg.w_dim) != (G.num_ws, G.w_dim):
            raise ArchitectureMismatchError(f"blended model {path.name} has num_ws={cfg.num_ws}, w_dim={cfg.w_dim}; "
                                            f"the base has {G.num_ws}, {G.w_dim} - blend models made from this base")
        state = blend.g_ema
        entry: dict[str, Any] = {}
        if result.delta is not None:
            w0 = blend_base_weights(blend, path, schedule=pti_schedule, base_sha256=base_sha)
            check_blend_of_base(state, base_state, w0, f"blend {path.name}")
            state = apply_delta(state, result.delta, scale=w0)
        Gb = Checkpoint(g_config=cfg, g_ema=state).generator(device)
        toon = _render(Gb, ws) if feats is None else _render_fs(G, Gb, ws, feats, int(head_block or 0))
        result.toons[str(path)] = toon
        result.written.append(save_png(toon, outdir / f"toon_{path.stem}.png"))
        scorer, why = critic_model, "no transfer discriminator (pass critic: the transfer's training snapshot)"
        if scorer is None:
            snapshot = transfer_snapshot(blend_record(path, blend))
            try:
                scorer = Critic(snapshot, device) if snapshot is not None else None
            except StyleblendError as exc:  # a recorded transfer without a usable D: a note, not a failure
                why = f"the recorded transfer {snapshot} gives no discriminator ({exc})"
        if scorer is not None and (scorer.c_dim or scorer.D.img_resolution != toon.shape[0]):
            scorer, why = None, "the critic is class-conditional or of another resolution than the toon"
        if scorer is not None:
            if str(scorer.path) not in references:
                references[str(scorer.path)] = scorer.reference()
            entry.update(realism_logit=round(scorer.logit(toon), 4), critic=str(scorer.path),
                         critic_reference_logit=references[str(scorer.path)],
                         critic_target_logit=round(scorer.logit(_resize(target_u8, toon.shape[0])), 4))
        else:
            entry["realism_note"] = f"not measured: {why}"
        toons[path.name] = entry
        strip.append(_resize(toon, res))
    seconds["render"] = round(time.perf_counter() - t0, 3)
    metrics["toons"] = toons
    _identity(metrics, target_u8, result, shown, align if identity is None else identity)
    result.written.append(save_png(make_grid(np.stack(strip), cols=len(strip)), outdir / "toonify.png"))
    seconds["total"] = round(time.perf_counter() - started, 3)
    metrics["seconds"] = seconds
    metrics["files"] = sorted(p.name for p in result.written)
    write_bytes_atomic(outdir / MANIFEST, (json.dumps(metrics, indent=2) + "\n").encode())
    result.written.append(outdir / MANIFEST)
    result.removed = remove_stale(outdir, old_files, result.written)
    result.metrics = metrics
    return result


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[:2] == (size, size):
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.LANCZOS))


def _identity(metrics: dict[str, Any], target_u8: np.ndarray, result: ToonifyResult, shown: np.ndarray,
              enabled: bool) -> None:
    if not enabled:
        metrics["identity_note"] = "not measured: not a face photo (align off); pass identity=True to measure"
        return
    from ..metrics.identity import FaceIdentity

    try:
        model = FaceIdentity()
    except (MissingDependencyError, MissingWeightsError) as exc:
        metrics["identity_note"] = f"not measured: {exc}"
        return
    names = ("target", "reconstruction")
    metrics["reconstruction"].update(model.compare(target_u8, result.reconstruction, names).to_dict())
    if "reconstruction_pti" in metrics:
        metrics["reconstruction_pti"].update(model.compare(target_u8, shown, names).to_dict())
    for (path, toon) in result.toons.items():
        metrics["toons"][Path(path).name].update(model.compare(target_u8, toon, ("target", "toon")).to_dict())
