"""The web UI's photo panel: embed a photo into the base's W+ and render it through the blend ("toonify").

Split from :mod:`.service` (one concept per module): the session owns the models and the blend; this panel
owns what only the photo needs - the encoder chosen for the base and its feature head, the embedding loss
(VGG-16 or the visible pixel fallback), the embedding jobs (started in :mod:`.jobs` with :mod:`.embedding`'s work)
and the embedding jobs' own copy of the base. It reaches the session only through :class:`PhotoHost`, a few
callables the session hands it, so it never touches the session's caches.

Rendering a photo's base latent through a blend that takes the structure from the base and the rendering
from a fine-tuned model is the "toonify" use of Pinkney & Adler 2020 (Sec. 4).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ArchitectureMismatchError, InvalidArgumentError
from ..io import Checkpoint
from ..io.atomic import write_bytes_atomic
from ..media.images import make_grid, to_uint8
from .embedding import (
    MAX_STEPS,
    Embedding,
    EncoderChoice,
    FeatureHeadChoice,
    choose_encoder,
    choose_feature_head,
    embedding_work,
    encoder_embedding,
    load_ui_encoder,
    load_ui_feature_head,
    photo_target,
    render_features,
)
from .images import PAD, png_bytes
from .inputs import safe_name
from .jobs import JobRunner
from .messages import PIXEL_LOSS_NOTE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoHost:
    """What the photo panel needs from its session.

    lock: the session's model lock (the panel renders through the session's generators under it).
    device: where generators run. jobs: the session's job runner (the page polls it).
    staging: () -> a fresh, not yet existing folder in the session's work folder (for an uploaded photo).
    base: () -> (the base checkpoint, its preview generator, the models' generation); call under ``lock``.
    render: (ws [1, num_ws, w_dim], alphas, mapping) -> uint8 [2, R, R, C], the latent through the base and
        through the blend; call under ``lock``.
    blend: (alphas, mapping) -> the blended generator (for W+ + features); call under ``lock``.
    """

    lock: threading.RLock
    device: torch.device
    jobs: JobRunner
    staging: Callable[[], Path]
    base: Callable[[], tuple[Checkpoint, torch.nn.Module, int]]
    render: Callable[[torch.Tensor, Sequence[float] | None, str | None], np.ndarray]
    blend: Callable[[Sequence[float] | None, str | None], torch.nn.Module]


class PhotoPanel:
    """Photo embedding and toonify for one :class:`~styleblend.ui.service.BlendSession`.

    Args:
        host: what it uses of the session (:class:`PhotoHost`).
        vgg_path, embed_steps, face_detector, refine_steps: as :class:`~styleblend.ui.service.BlendSession`.
        encoder: the user's encoder file for the base, or None (the bundled one for the bundled base).
        feature_head: the user's feature head for that encoder, or None (the bundled one for the bundled
            encoder): a photo is then shown as W+ + features (see :mod:`.embedding`) unless the page turns it off.

    Raises:
        ArchitectureMismatchError: ``encoder`` or ``feature_head`` does not fit the base. CheckpointError: an
        unreadable file. InvalidArgumentError: ``refine_steps`` out of range, or ``feature_head`` without an
        encoder for the base.
    """

    def __init__(self, host: PhotoHost, *, vgg_path: str | None, embed_steps: int, refine_steps: int,
                 face_detector: Any = None, encoder: str | Path | None = None,
                 feature_head: str | Path | None = None) -> None:
        self.host = host
        self.vgg_path = vgg_path
        self.embed_steps = int(embed_steps)
        self.refine_steps = int(refine_steps)
        if not 0 <= self.refine_steps <= MAX_STEPS:
            raise InvalidArgumentError(f"refine steps {refine_steps} must be in [0, {MAX_STEPS}]")
        self.face_detector = face_detector
        self._loss_lock = threading.Lock()
        self._loss: tuple[Any, str | None] | None = None
        self._embed_lock = threading.Lock()  # one photo starts at a time (it cancels the one before)
        self._holds: dict[str, threading.Event] = {}  # refinements waiting for their encoder result to be shown
        self._G_job: Any = None  # the embedding jobs' own copy of the base (a Generator, made when needed)
        with host.lock:
            _, G_base, _ = host.base()
            given: Any = None if encoder is None else load_ui_encoder(encoder, host.device)
            self._given_encoder, self._given_encoder_name = given, None if encoder is None else Path(encoder).name
            if given is not None:  # a given encoder must fit the base it was given with
                given.check_generator(G_base, f"the encoder {self._given_encoder_name}")
            self.encoder = self._choose_encoder()
            if feature_head is not None:
                from ..models import resolve_feature_head

                feature_head = resolve_feature_head(feature_head)  # 'bundled' names the bundled file
            head: Any = None if feature_head is None else load_ui_feature_head(feature_head, host.device)
            self._given_head, self._given_head_name = head, None if feature_head is None else Path(feature_head).name
            if head is not None:  # a given head must fit the base and have an encoder to refine
                try:
                    head.check_generator(G_base)
                except InvalidArgumentError as exc:  # not a StyleGAN2 base, or no such block
                    raise ArchitectureMismatchError(f"the feature head {self._given_head_name}: {exc}") from None
                if self.encoder.encoder is None:
                    raise InvalidArgumentError(f"the feature head {self._given_head_name} refines an encoder's "
                                               "prediction, and this base has none; give an encoder for it too",
                                               param=("feature_head", "encoder"))
                if encoder is not None:
                    from ..project.feature_encoder import check_head_encoder

                    check_head_encoder(head, encoder)  # a warning when it was trained with another encoder
            self.feature_head = self._choose_head()

    def _choose_encoder(self) -> EncoderChoice:
        """The encoder for the current base; call under the host's lock."""
        base, G_base, _ = self.host.base()
        found = choose_encoder(base, G_base, self.host.device, self._given_encoder, self._given_encoder_name)
        log.info("photo embedding: %s", found.note)
        return found

    def _choose_head(self) -> FeatureHeadChoice:
        """The feature head for the current encoder; call under the host's lock (after :meth:`_choose_encoder`)."""
        base, G_base, _ = self.host.base()
        found = choose_feature_head(base, G_base, self.host.device, self.encoder, self._given_head,
                                    self._given_head_name)
        log.info("photo embedding: %s", found.note)
        return found

    def info(self) -> dict[str, Any]:
        """The panel's part of the page info (JSON-able)."""
        return {"embed_steps": self.embed_steps, "encoder": self.encoder.name, "encoder_note": self.encoder.note,
                "refine_steps": self.refine_steps, "feature_head": self.feature_head.name,
                "feature_head_note": self.feature_head.note, "feature_block": self.feature_head.block,
                # a reloaded page finds a running embedding (to show it and cancel it)
                "embed_job": self.host.jobs.latest("embed")}

    def models_changed(self, base_changed: bool) -> None:
        """New models (call under the host's lock): drop the job generator, choose the base's encoder again."""
        self._G_job = None
        if base_changed:
            self.encoder = self._choose_encoder()
            self.feature_head = self._choose_head()

    # ------------------------------------------------------------------------------------------
    # Embedding

    def _embed_loss(self) -> tuple[Any, str | None]:
        """The 'fast' method's loss, resolved once: VGG-16 when found, else the visible pixel fallback."""
        from ..project.losses import resolve_loss

        with self._loss_lock:
            if self._loss is None:
                loss, _, warning = resolve_loss("fast", self.vgg_path, download=False, device=self.host.device)
                # The projector's advice names arguments the page does not have; say what the person can do.
                self._loss = (loss, PIXEL_LOSS_NOTE if loss.kind == "pixel" and warning else warning)
            return self._loss

    def _job_generator(self) -> torch.nn.Module:
        """The embedding jobs' own copy of the base (previews keep using theirs meanwhile); call under the lock."""
        if self._G_job is None:
            self._G_job = self.host.base()[0].generator(self.host.device)
        return self._G_job

    def start_embedding(self, image_bytes: bytes, steps: int | None = None, seed: int = 0,
                        filename: str | None = None, align: bool = False, features: bool | None = None) -> str:
        """See :meth:`styleblend.ui.service.BlendSession.start_embedding`."""
        encoder = self.encoder.encoder
        if features and self.feature_head.head is None:
            raise InvalidArgumentError(f"features were asked for, but {self.feature_head.note}; leave them off")
        low = 0 if encoder is not None else 1
        steps = (self.refine_steps if encoder is not None else self.embed_steps) if steps is None else int(steps)
        if not low <= steps <= MAX_STEPS:
            raise InvalidArgumentError(f"embedding steps {steps} must be in [{low}, {MAX_STEPS}]"
                                       + (" (0 needs an encoder for the base)" if steps == 0 else ""))
        if not 0 <= int(seed) < 2**32:
            raise InvalidArgumentError(f"embedding seed {seed} must be in [0, 2**32)")
        if not image_bytes:
            raise InvalidArgumentError("the uploaded photo is empty (0 bytes); choose an image file")
        host = self.host
        with self._embed_lock:
            folder = host.staging()
            path = write_bytes_atomic(folder / safe_name(filename, "photo"), image_bytes)
            try:
                with host.lock:
                    cfg = host.base()[0].g_config
                    if align and self.face_detector is None:
                        from ..align import default_detector

                        self.face_detector = default_detector()  # dlib's predictor is loaded once per session
                    target = photo_target(path, cfg.img_resolution, cfg.img_channels, align, self.face_detector)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            # The old photo's job is stale: it stops after its current step, and the new job's thread waits
            # for that (they share the job generator); this request does not.
            stale = self.cancel_embeddings("a new photo replaced it")
            with host.lock:  # the encoder may render through the base: the previews' copy, under the lock
                _, G_base, generation = host.base()
                G, found = self._job_generator(), self.encoder
                head = self.feature_head if features is not False else FeatureHeadChoice(None, None, "turned off")
                info: dict[str, Any] = {"stage": "optimised", "method": "fast", "encoder": None,
                                        "encoder_note": found.note, "latent": "W+", "feature_head": None}
                first = None
                if found.encoder is not None:
                    t0 = time.perf_counter()
                    first = encoder_embedding(found.encoder, G_base, target, generation, head=head.head)
                    info.update(stage="encoder", method="editable" if steps else "encoder", encoder=found.name,
                                encoder_ms=round(1000 * (time.perf_counter() - t0), 1), latent=first.latent,
                                feature_head=head.name)
            hold = threading.Event() if first is not None and steps else None
            work = embedding_work(G, target, steps, seed, self._embed_loss, generation, start=first, hold=hold)
            job = host.jobs.start("embed", work, total=steps, result=first, info=info, after=stale)
            if hold is not None:
                self._holds[job] = hold
            return job

    def cancel_embeddings(self, reason: str) -> list[str]:
        """Cancel running embeddings (stale: a new photo or new models) without waiting; returns their ids.
        Their status keeps ``reason``, so the page can say why they stopped."""
        for hold in list(self._holds.values()):
            hold.set()
        self._holds.clear()
        return self.host.jobs.cancel_kind("embed", reason=reason)

    def _embedding(self, job_id: str) -> Embedding:
        status = self.host.jobs.status(job_id)
        result = self.host.jobs.result(job_id)
        if not isinstance(result, Embedding):
            raise InvalidArgumentError(f"job {job_id} has no embedding yet (it is {status['state']}"
                                       + (f": {status['error']}" if status["error"] else "") + ")")
        return result

    # ------------------------------------------------------------------------------------------
    # Toonify

    def _cells(self, result: Embedding, alphas: Sequence[float] | None, mapping: str | None) -> np.ndarray:
        with self.host.lock:
            _, G_base, generation = self.host.base()
            if result.generation != generation:
                raise InvalidArgumentError("the models changed since this photo was embedded; embed it again")
            if result.features is None:
                rendered = self.host.render(result.ws.to(self.host.device), alphas, mapping)
            else:
                rendered = to_uint8(render_features(G_base, self.host.blend(alphas, mapping), result))
            return np.concatenate([result.target[None], rendered])

    def toonify_images(self, job_id: str, alphas: Sequence[float] | None = None,
                       mapping: str | None = None) -> np.ndarray:
        """See :meth:`styleblend.ui.service.BlendSession.toonify_images`."""
        return self._cells(self._embedding(job_id), alphas, mapping)

    def toonify_result(self, job_id: str, alphas: Sequence[float] | None = None,
                       mapping: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """See :meth:`styleblend.ui.service.BlendSession.toonify_result`."""
        result = self._embedding(job_id)
        png = png_bytes(make_grid(self._cells(result, alphas, mapping), 3, PAD))
        hold = self._holds.pop(job_id, None)
        if hold is not None:  # the encoder's result is on its way to the page: the refinement may start
            hold.set()
        return png, {"stage": result.stage, "steps": result.steps_done, "cancelled": result.cancelled,
                     "latent": result.latent}
