"""The toonify pipeline (Pinkney & Adler 2020, "Resolution Dependent GAN Interpolation for Controllable
Image Synthesis Between Domains", Fig. 3): align a photo, embed it with the *base* model, and render the
same latent through one or more *blended* models.

The embedding is cached in ``outdir/embeddings/`` (see :mod:`styleblend.project.embedding`): a key of
(photo, base network, method, steps, space, alignment), so more blends - or re-running - do not re-project.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ArchitectureMismatchError, InvalidArgumentError
from ..io import load_checkpoint
from ..media.images import make_grid, save_png, to_uint8
from .batch import prepare_job
from .embedding import embed_photo
from .projector import ProjectionCallback, synthesize

log = logging.getLogger(__name__)


@dataclass
class ToonifyResult:
    """What the pipeline produced and where it wrote it.

    ws: the embedding [1, num_ws, w_dim]; cache_hit: it came from the cache; toons: blend file -> image.
    """

    ws: torch.Tensor
    cache_path: Path
    cache_hit: bool
    target: np.ndarray
    reconstruction: np.ndarray
    toons: dict[str, np.ndarray] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    warning: str | None = None


def toonify(base_ckpt: str | Path, blended_ckpts: Sequence[str | Path], photo: str | Path, outdir: str | Path, *,
            align: bool = True, detector=None, method: str = "image2stylegan", steps: int | None = None,
            space: str | None = None, seed: int = 0, vgg_path: str | None = None, download: bool = False,
            device: str | torch.device = "cpu", callback: ProjectionCallback | None = None) -> ToonifyResult:
    """Embed ``photo`` with the base model and render the latent through every blended model.

    Args:
        base_ckpt: the model the blends were made from (the photo is embedded in its latent space).
        blended_ckpts: blended models sharing the base's mapping/latent layout (same num_ws and w_dim).
        photo: the photo; aligned FFHQ-style first when ``align`` (the largest face is used).
        outdir: receives target.png, reconstruction.png, toon_<blend>.png, toonify.png (a strip
            target | reconstruction | toons...) and embeddings/<key>.npz.
        detector: landmark source for alignment (default dlib, see :mod:`styleblend.align.landmarks`).
        method, steps, space, seed, vgg_path, download: as for ``styleblend project``.
        callback: projection progress (not called on a cache hit).

    Raises:
        InvalidArgumentError: no blended models. ArchitectureMismatchError: a blend's latent layout differs.
        NoFaceError, ImageError, MissingDependencyError, MissingWeightsError: from alignment and loading.
    """
    if not blended_ckpts:
        raise InvalidArgumentError("toonify needs at least one blended model (--blend)")
    photo, outdir = Path(photo), Path(outdir)
    job = prepare_job(base_ckpt, method, space=space, steps=steps, seed=seed, vgg_path=vgg_path,
                      download=download, device=device)
    G = job.G
    embedded = embed_photo(job, photo, outdir / "embeddings", align=align, detector=detector, callback=callback)
    target_u8 = embedded.target
    result = ToonifyResult(ws=embedded.ws, cache_path=embedded.cache_path, cache_hit=embedded.cache_hit,
                           target=target_u8, reconstruction=target_u8, warning=job.warning)
    with torch.no_grad():
        result.reconstruction = to_uint8(synthesize(G, result.ws))[0]
    result.written += [save_png(target_u8, outdir / "target.png"),
                       save_png(result.reconstruction, outdir / "reconstruction.png")]
    res = G.img_resolution
    strip = [target_u8, result.reconstruction]
    for path in blended_ckpts:
        path = Path(path)
        Gb = load_checkpoint(path).generator(device)
        if (Gb.num_ws, Gb.w_dim) != (G.num_ws, G.w_dim):
            raise ArchitectureMismatchError(f"blended model {path.name} has num_ws={Gb.num_ws}, w_dim={Gb.w_dim}; the "
                                            f"base has {G.num_ws}, {G.w_dim} - blend models made from this base")
        with torch.no_grad():
            toon = to_uint8(synthesize(Gb, result.ws.to(next(Gb.parameters()).device)))[0]
        result.toons[str(path)] = toon
        result.written.append(save_png(toon, outdir / f"toon_{path.stem}.png"))
        if toon.shape[:2] != (res, res):
            toon = np.asarray(Image.fromarray(toon).resize((res, res), Image.LANCZOS))
        strip.append(toon)
    result.written.append(save_png(make_grid(np.stack(strip), cols=len(strip)), outdir / "toonify.png"))
    return result
