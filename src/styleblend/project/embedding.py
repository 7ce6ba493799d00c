"""Embed a photo into a model's W+ once and reuse it: the cached step of toonify and style-fusion.

The cache file is ``<cache_dir>/<key>.npz`` where the key covers everything that determines the
result (photo bytes, network bytes, method, steps, space, alignment, the encoder and feature head files,
the features' learning rate), so re-running a command - or trying more blends - does not re-project, and
any change of input projects again. With a feature head the file also holds the features (W+ + features,
:mod:`styleblend.nn.feature_space`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ArchitectureMismatchError, InvalidArgumentError
from ..io.digest import file_sha256
from ..latents.files import read_latent_file, save_latents
from ..media.images import from_uint8
from ..media.load import load_image
from .batch import ProjectionJob
from .projector import ProjectionCallback, project

log = logging.getLogger(__name__)


@dataclass
class CachedEmbedding:
    """ws [1, num_ws, w_dim] on the job's device; target: the photo as the model saw it (uint8 [R, R, C]);
    features [1, C, r, r] at block ``feature_block`` (on the job's device) with a feature head, else None."""

    ws: torch.Tensor
    target: np.ndarray
    cache_path: Path
    cache_hit: bool
    features: torch.Tensor | None = None
    feature_block: int | None = None


def embedding_key(photo_sha256: str, base_sha256: str, settings: dict[str, Any], loss: str, seed: int,
                  aligned: bool, init: str = "default") -> str:
    """A short stable key of everything that determines the embedding: the photo, the network, every projection
    setting (steps, space, regulariser, noise...), the loss terms, the seed, alignment and the start."""
    text = json.dumps([photo_sha256, base_sha256, settings, loss, seed, "aligned" if aligned else "raw", init],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def target_image(photo: Path, resolution: int, align: bool, detector=None) -> np.ndarray:
    """The photo centre-cropped and resized, or FFHQ-aligned on its main face (:func:`styleblend.align.main_face`)."""
    if not align:
        return load_image(photo, resolution=resolution)
    from ..align import align_main_face

    return align_main_face(photo, resolution, detector)


#: an encoder: img [N, C, R, R] in [-1, 1] -> ws [N, num_ws, w_dim] (e.g. styleblend.project.encoder's)
EncoderFn = Callable[[torch.Tensor], torch.Tensor]
#: an encoder with a feature head: img -> (ws, features [N, C, r, r]) (e.g.
#: :func:`styleblend.project.feature_encoder.encode_features`)
FeatureEncoderFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def embed_photo(job: ProjectionJob, photo: str | Path, cache_dir: str | Path, *, align: bool = False,
                detector=None, callback: ProjectionCallback | None = None, encoder: EncoderFn | None = None,
                encoder_id: str = "", refine: bool = True, features: FeatureEncoderFn | None = None,
                feature_block: int | None = None, features_id: str = "") -> CachedEmbedding:
    """Project ``photo`` with ``job`` (see :func:`~styleblend.project.batch.prepare_job`), or reuse the cache.

    With ``encoder``, its prediction is the start of the projection (``job.init_ws`` is ignored); with
    ``refine=False`` it is the result (no optimisation). ``encoder_id`` (e.g. the encoder file's hash) goes
    into the cache key. ``features`` (an encoder with a feature head, used instead of ``encoder``) predicts
    W+ + the features at block ``feature_block``; the projection then refines both together (the features
    at ``job.settings.feature_lr``, which the key covers as every setting), and ``features_id`` (e.g. the
    head file's hash) goes into the key too.

    Raises:
        InvalidArgumentError: the projection was cancelled (nothing is cached).
        ArchitectureMismatchError: a cached file does not fit the network.
        ImageError, NoFaceError, MissingDependencyError: from loading and alignment.
    """
    G, photo = job.G, Path(photo)
    if (features is None) != (feature_block is None):
        raise InvalidArgumentError("`features` and `feature_block` go together: give both or neither")
    device = next(G.parameters()).device
    target = target_image(photo, G.img_resolution, align, detector)
    if features is not None:
        init = f"encoder:{encoder_id}+feature-head:{features_id}"
    elif encoder is not None:
        init = f"encoder:{encoder_id}"
    elif job.init_ws is not None:
        init = hashlib.sha256(job.init_ws.cpu().numpy().tobytes()).hexdigest()[:16]
    else:
        init = str(job.settings.init)
    steps = job.settings.steps if (encoder is None and features is None) or refine else 0
    settings = dict(job.settings.to_dict(), steps=steps)
    key = embedding_key(file_sha256(photo), job.network_sha256, settings, job.loss.describe(), job.seed, align, init)
    cache_path = Path(cache_dir) / f"{key}.npz"
    if cache_path.is_file():
        try:
            cached = read_latent_file(cache_path, job.g_config, kind="w")
            if (cached.features is None) != (features is None) or cached.feature_block != feature_block:
                raise InvalidArgumentError(f"its features (block {cached.feature_block}) are not the expected "
                                           f"ones (block {feature_block})")
        except InvalidArgumentError as exc:
            raise ArchitectureMismatchError(f"cached embedding {cache_path} does not fit the network ({exc}); "
                                            "delete the file to re-embed") from None
        log.info("reusing the embedding %s", cache_path)
        ws = torch.from_numpy(cached.data[:1]).to(device)
        feats = None if cached.features is None else torch.from_numpy(cached.features[:1]).to(device)
        return CachedEmbedding(ws, target, cache_path, cache_hit=True, features=feats, feature_block=feature_block)
    init_ws, init_feats = job.init_ws, None
    if features is not None:
        with torch.no_grad():
            init_ws, init_feats = features(from_uint8(target).to(device))
        init_ws = init_ws.to(device=device, dtype=torch.float32)
        init_feats = init_feats.to(device=device, dtype=torch.float32)
    elif encoder is not None:
        with torch.no_grad():
            init_ws = encoder(from_uint8(target).to(device)).to(device=device, dtype=torch.float32)
        if tuple(init_ws.shape) != (1, G.num_ws, G.w_dim):
            raise ArchitectureMismatchError(f"the encoder predicts latents of shape {tuple(init_ws.shape)}; the "
                                            f"network needs [1, {G.num_ws}, {G.w_dim}] - use an encoder trained "
                                            "for this network")
    meta = {"network": job.network, "network_sha256": job.network_sha256, "photo": str(photo), "seed": job.seed,
            "aligned": align, "init": init}
    if steps == 0:
        assert init_ws is not None  # steps is 0 only with an encoder, whose prediction it is
        save_latents(cache_path, init_ws[:1], "w", {**meta, "method": "encoder", "steps": 0}, features=init_feats,
                     feature_block=feature_block)
        return CachedEmbedding(init_ws, target, cache_path, cache_hit=False, features=init_feats,
                               feature_block=feature_block)
    proj = project(G, from_uint8(target).to(device), job.settings, job.loss, seed=job.seed, init_ws=init_ws,
                   callback=callback, init_features=init_feats, feature_block=feature_block)
    if proj.cancelled:
        raise InvalidArgumentError(f"the embedding of {photo.name} was cancelled; nothing was written")
    save_latents(cache_path, proj.ws[:1], "w", {**meta, "method": job.settings.method, "steps": proj.steps_done,
                                               "space": job.settings.space, "final_loss": proj.final_loss},
                 features=proj.features, feature_block=proj.feature_block)
    feats = None if proj.features is None else proj.features.to(device)
    return CachedEmbedding(proj.ws.to(device), target, cache_path, cache_hit=False, features=feats,
                           feature_block=proj.feature_block)
