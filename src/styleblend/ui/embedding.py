"""Embedding a photo for the UI: the target image, and the job that projects it into the base's W+.

The projection itself is :func:`styleblend.project.project` ('fast' method: coarse-to-fine W+); this
module only prepares the target (centre crop, or FFHQ face alignment) and adapts the projector's
callback to a :class:`~styleblend.ui.jobs.JobContext` (progress, loss, cancellation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..media.images import from_uint8, to_uint8
from .jobs import JobContext

MAX_STEPS = 5000
METHOD = "fast"

#: () -> (loss, warning or None); called in the worker thread, so slow loading (VGG) does not block a request.
LossProvider = Callable[[], tuple[Any, "str | None"]]


@dataclass
class Embedding:
    """What an embedding job produces.

    ws: [1, num_ws, w_dim] in the base's W+ space; target: the photo as the model saw it, uint8 [R, R, C];
    generation: the session's model generation at the start (a later base makes ``ws`` meaningless).
    """

    ws: torch.Tensor
    target: np.ndarray
    steps_done: int
    cancelled: bool
    final_loss: float
    generation: int


def photo_target(path: Path, resolution: int, channels: int, align: bool = False,
                 detector: Any = None) -> torch.Tensor:
    """The projection target [1, channels, R, R] in [-1, 1] from a photo file.

    Without ``align`` the photo is centre-cropped and resized (:func:`styleblend.media.load.load_target`);
    with it, the photo's main face (the largest, :func:`styleblend.align.main_face`) is aligned as FFHQ
    was, ``detector`` None meaning dlib.

    Raises:
        ImageError: not an image; NoFaceError: no face (``align``); MissingDependencyError: no dlib.
    """
    if not align:
        from ..media.load import load_target

        return load_target(path, resolution, channels=channels)
    from ..align import align_main_face

    image = align_main_face(path, resolution, detector)
    if channels == 1:
        image = image.mean(axis=2, keepdims=True).round().astype(np.uint8)
    return from_uint8(image)


def embedding_work(G: torch.nn.Module, target: torch.Tensor, steps: int, seed: int, loss: LossProvider,
                   generation: int) -> Callable[[JobContext], Embedding]:
    """The job callable: project ``target`` into ``G`` for ``steps`` steps, reporting every step.

    Cancelling stops after the current step; the partial latent is still returned (and usable).
    """
    from ..project.projector import project, settings_for

    settings = settings_for(METHOD, steps=steps)
    target_u8 = to_uint8(target)[0]
    device = next(G.parameters()).device

    def work(ctx: JobContext) -> Embedding:
        loss_fn, warning = loss()
        ctx.report(0, steps, warning=warning, loss=None)

        def callback(step: int, parts: dict[str, float], ws: torch.Tensor) -> bool:
            ctx.report(step, loss=round(parts["loss"], 6))
            return not ctx.cancelled

        result = project(G, target.to(device), settings, loss_fn, seed=int(seed), callback=callback)
        return Embedding(ws=result.ws.detach().cpu(), target=target_u8, steps_done=result.steps_done,
                         cancelled=result.cancelled, final_loss=result.final_loss, generation=generation)

    return work
