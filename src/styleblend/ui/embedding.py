"""Embedding a photo for the UI: the target image, the encoder that fits the base, and the background job.

With an encoder for the base (:mod:`styleblend.project.encoder`; the bundled base has one), the photo's W+
comes from one forward pass while the request waits (tens of milliseconds for a 64 px model), so the page
shows it at once; a background job then refines it with the ``editable`` method (``fast`` + the W+
regulariser, as ``styleblend toonify`` does) and replaces it. Without one, the job projects from the mean w
('fast' method: coarse-to-fine W+) and the page waits for it. This module prepares the target (centre crop,
or FFHQ face alignment) and adapts the projector's callback to a :class:`~styleblend.ui.jobs.JobContext`
(progress, loss, cancellation).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ArchitectureMismatchError, StyleblendError
from ..io import Checkpoint
from ..io.digest import file_sha256
from ..media.images import from_uint8, to_uint8
from .jobs import JobContext

MAX_STEPS = 5000
METHOD = "fast"
#: the refinement after an encoder's prediction: what ``styleblend toonify`` runs (a latent that renders well
#: through blends, not only through the base).
REFINE_METHOD = "editable"
#: default refinement steps after an encoder (toonify's default; ~3 s for a 64 px model on an idle core).
DEFAULT_REFINE_STEPS = 50
#: What an embedding job reports as its 'phase' before its first step (the page shows it while 'step 0' lasts).
PHASES = {"hold": "waiting for the encoder's result to be shown",
          "loss": "loading the image loss (VGG-16 features, once per server)",
          "first": "preparing the optimiser (sampling w statistics) and running the first step"}
#: longest a refinement waits for the page to fetch the encoder's result before it starts anyway: on 2 cores
#: the refinement would otherwise compete with that first render, which should come back at once.
HOLD_SECONDS = 2.0

#: what an :class:`Embedding` holds: the encoder's prediction, that prediction refined, or an optimisation
#: from the mean w (no encoder).
STAGES = ("encoder", "refined", "optimised")

#: () -> (loss, warning or None); called in the worker thread, so slow loading (VGG) does not block a request.
LossProvider = Callable[[], tuple[Any, "str | None"]]


@dataclass
class Embedding:
    """What an embedding job produces (with an encoder, also its result before it finishes).

    ws: [1, num_ws, w_dim] in the base's W+ space; target: the photo as the model saw it, uint8 [R, R, C];
    steps_done: optimisation steps behind ``ws`` (0 for the encoder's prediction); cancelled: stopped early;
    final_loss: the loss at the last step (NaN for the encoder's prediction); generation: the session's model
    generation at the start (a later base makes ``ws`` meaningless); stage: one of :data:`STAGES`.
    """

    ws: torch.Tensor
    target: np.ndarray
    steps_done: int
    cancelled: bool
    final_loss: float
    generation: int
    stage: str = "optimised"


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder the UI uses for the current base, or None with the reason (``note`` is shown in the page)."""

    encoder: torch.nn.Module | None
    name: str | None
    note: str


def load_ui_encoder(path: str | Path, device: str | torch.device) -> torch.nn.Module:
    """An encoder file for the UI (a :func:`styleblend.project.encoder.load_encoder`).

    Raises:
        CheckpointError: missing or unreadable file.
    """
    from ..project.encoder import load_encoder

    return load_encoder(path, device)


def choose_encoder(base: Checkpoint, G: torch.nn.Module, device: str | torch.device,
                   given: torch.nn.Module | None = None, given_name: str | None = None) -> EncoderChoice:
    """The encoder for ``base`` (whose generator is ``G``): ``given`` (the user's) when it fits G's latent
    shape, else the bundled encoder when ``base`` is the bundled base file (same SHA-256), else none.

    A given encoder trained for another network file (its metadata records the file's hash) is still used -
    the user chose it - and the note says so.
    """
    base_sha = file_sha256(base.source) if base.source is not None and Path(base.source).is_file() else None
    if given is not None:
        try:
            given.check_generator(G, f"the encoder {given_name}")
        except ArchitectureMismatchError as exc:
            return EncoderChoice(None, None, f"{exc}; embedding by optimisation instead")
        trained_for = getattr(given, "meta", {}).get("network_sha256")
        note = f"encoder {given_name}"
        if trained_for and base_sha and trained_for != base_sha:
            note += (f" (trained for another network file, {getattr(given, 'meta', {}).get('network')}; train one "
                     "for this base with 'styleblend encoder train' if its results look wrong)")
        return EncoderChoice(given, given_name, note)
    from ..project.toonify import bundled_encoder

    path = bundled_encoder(base_sha) if base_sha is not None else None
    if path is None:
        return EncoderChoice(None, None, "no encoder for this base (one is bundled for the bundled base only): the "
                                         "photo is embedded by optimisation; train one with 'styleblend encoder "
                                         "train' and pass it to 'styleblend ui --encoder FILE'")
    try:
        encoder = load_ui_encoder(path, device)
        encoder.check_generator(G, f"the bundled encoder {path.name}")
    except StyleblendError as exc:  # a damaged installation: the UI still embeds, by optimisation
        return EncoderChoice(None, None, f"the bundled encoder cannot be used ({exc}): the photo is embedded by "
                                         "optimisation; reinstall styleblend")
    return EncoderChoice(encoder, path.name, f"encoder {path.name} (bundled for this base)")


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


def encoder_embedding(encoder: torch.nn.Module, G: torch.nn.Module, target: torch.Tensor,
                      generation: int) -> Embedding:
    """The encoder's prediction for ``target`` [1, C, R, R] as an :class:`Embedding` of stage 'encoder'.

    The UI's one call of an encoder (:func:`styleblend.project.encoder.encode`: an iterative encoder renders
    its estimates through ``G``, so the caller must own ``G`` meanwhile). No gradients are tracked.

    Raises:
        ArchitectureMismatchError: the prediction does not have ``G``'s latent shape.
    """
    from ..project.encoder import encode

    device = next(G.parameters()).device
    with torch.no_grad():
        ws = encode(encoder, G, target.to(device)).to(dtype=torch.float32)
    if tuple(ws.shape) != (1, G.num_ws, G.w_dim):
        raise ArchitectureMismatchError(f"the encoder predicts latents of shape {tuple(ws.shape)}; the base needs "
                                        f"[1, {G.num_ws}, {G.w_dim}] - use an encoder trained for it")
    return Embedding(ws=ws.detach().cpu(), target=to_uint8(target)[0], steps_done=0, cancelled=False,
                     final_loss=math.nan, generation=generation, stage="encoder")


def embedding_work(G: torch.nn.Module, target: torch.Tensor, steps: int, seed: int, loss: LossProvider,
                   generation: int, start: Embedding | None = None,
                   hold: threading.Event | None = None) -> Callable[[JobContext], Embedding | None]:
    """The job callable: project ``target`` into ``G`` for ``steps`` steps, reporting every step.

    ``start``: an encoder's :class:`Embedding` to refine (:data:`REFINE_METHOD`, every W+ row free from step 1);
    None projects from the mean w (:data:`METHOD`). ``steps`` 0 (with ``start`` only) returns ``start``.
    ``hold``: the work waits for it (at most :data:`HOLD_SECONDS`) before optimising - set when the page has
    shown ``start``. Cancelling stops after the current step; the partial latent is still returned (and
    usable); cancelled before the first step, the job returns ``start``.
    """
    from ..project.projector import project
    from ..project.settings import settings_for

    target_u8 = to_uint8(target)[0]
    device = next(G.parameters()).device
    settings = settings_for(REFINE_METHOD if start is not None else METHOD, steps=max(1, steps))

    def work(ctx: JobContext) -> Embedding | None:
        if start is not None and steps == 0:
            return start
        # Before the first step the page would show 'step 0' for seconds with nothing moving; 'phase' says
        # what the job is doing meanwhile (the first use of the loss loads VGG-16; the projector then samples
        # the mapping network for its statistics).
        if hold is not None:
            ctx.report(0, steps, phase=PHASES["hold"])
            hold.wait(HOLD_SECONDS)
        ctx.report(0, steps, phase=PHASES["loss"])
        loss_fn, warning = loss()
        ctx.report(0, steps, warning=warning, loss=None, phase=PHASES["first"])
        if ctx.cancelled:
            return start

        def callback(step: int, parts: dict[str, float], ws: torch.Tensor) -> bool:
            ctx.report(step, loss=round(parts["loss"], 6), phase=None)
            return not ctx.cancelled

        init_ws = start.ws.to(device) if start is not None else None
        result = project(G, target.to(device), settings, loss_fn, seed=int(seed), init_ws=init_ws, callback=callback)
        return Embedding(ws=result.ws.detach().cpu(), target=target_u8, steps_done=result.steps_done,
                         cancelled=result.cancelled, final_loss=result.final_loss, generation=generation,
                         stage="refined" if start is not None else "optimised")

    return work
