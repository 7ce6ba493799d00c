"""Embedding a photo for the UI: the target image, the encoder that fits the base, and the background job.

With an encoder for the base (:mod:`styleblend.project.encoder`; the bundled base has one), the photo's W+
comes from one forward pass while the request waits (tens of milliseconds for a 64 px model), so the page
shows it at once; a background job then refines it with the ``editable`` method (``fast`` + the W+
regulariser, as ``styleblend toonify`` does) and replaces it. Without one, the job projects from the mean w
('fast' method: coarse-to-fine W+) and the page waits for it. This module prepares the target (centre crop,
or FFHQ face alignment) and adapts the projector's callback to a :class:`~styleblend.ui.jobs.JobContext`
(progress, loss, cancellation).

**W+ + features.** With a feature head for the encoder (:mod:`styleblend.project.feature_encoder`; the bundled
base has one), the answer at once is W+ *plus* the base's feature map at the head's block (FS space,
:mod:`styleblend.nn.feature_space`): sharper than the W+ latent alone, but not a pure latent. The base renders
it with :func:`~styleblend.nn.feature_space.synthesize_from_features`, a blend with the pair's change of the
base's features added to its own (:func:`~styleblend.nn.feature_space.blend_features`), and the background job
refines W+ and the features together (:func:`styleblend.project.project` with ``init_features``). The page can
turn the head off (the W+ path above: an editable latent).
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

from ..errors import ArchitectureMismatchError, InvalidArgumentError, StyleblendError
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
    features: torch.Tensor | None = None
    feature_block: int | None = None

    @property
    def latent(self) -> str:
        """What renders the image: 'W+', or 'W+ + <r> px features' (not a pure latent)."""
        return "W+" if self.features is None else f"W+ + {self.feature_block} px features"


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder the UI uses for the current base, or None with the reason (``note`` is shown in the page)."""

    encoder: torch.nn.Module | None
    name: str | None
    note: str
    bundled: bool = False  # the bundled encoder of the bundled base (which has a bundled feature head too)


@dataclass(frozen=True)
class FeatureHeadChoice:
    """The feature head the UI uses with the encoder, or None with the reason (``note`` is shown in the page)."""

    head: torch.nn.Module | None
    name: str | None
    note: str

    @property
    def block(self) -> int | None:
        return None if self.head is None else int(self.head.cfg.block_res)


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
    return EncoderChoice(encoder, path.name, f"encoder {path.name} (bundled for this base)", bundled=True)


def load_ui_feature_head(path: str | Path, device: str | torch.device) -> torch.nn.Module:
    """A feature head file for the UI (a :func:`styleblend.project.feature_encoder.load_feature_head`).

    Raises:
        CheckpointError: missing or unreadable file.
    """
    from ..project.feature_encoder import load_feature_head

    return load_feature_head(path, device)


def choose_feature_head(base: Checkpoint, G: torch.nn.Module, device: str | torch.device, encoder: EncoderChoice,
                        given: torch.nn.Module | None = None, given_name: str | None = None) -> FeatureHeadChoice:
    """The feature head for ``encoder`` (the UI's choice for ``base``, whose generator is ``G``): ``given`` (the
    user's) when it fits G, else the bundled head when ``encoder`` is the bundled encoder of the bundled base
    (the rule of :func:`choose_encoder`), else none with the reason.

    A head needs an encoder (it corrects the encoder's prediction) and a StyleGAN2 base (features of a block
    of fixed resolution); a head that does not fit is not used and the note says why.
    """
    from ..models import bundled_feature_head_path

    if encoder.encoder is None:
        return FeatureHeadChoice(None, None, "no feature head: it refines an encoder's prediction, and there is none")
    if given is not None:
        try:
            given.check_generator(G)
        except (ArchitectureMismatchError, InvalidArgumentError) as exc:
            return FeatureHeadChoice(None, None, f"the feature head {given_name} does not fit the base ({exc}); "
                                                 "showing W+ only")
        return FeatureHeadChoice(given, given_name, f"feature head {given_name}")
    if not encoder.bundled:
        return FeatureHeadChoice(None, None, "no feature head for this encoder (one is bundled for the bundled "
                                             "encoder only; train one with 'styleblend encoder train-features' and "
                                             "pass it to 'styleblend ui --feature-head FILE')")
    path = bundled_feature_head_path()
    if path is None:
        return FeatureHeadChoice(None, None, "this installation has no bundled feature head: showing W+ only")
    try:
        head = load_ui_feature_head(path, device)
        head.check_generator(G)
    except StyleblendError as exc:  # a damaged installation: the UI still embeds, in W+
        return FeatureHeadChoice(None, None, f"the bundled feature head cannot be used ({exc}): showing W+ only; "
                                             "reinstall styleblend")
    return FeatureHeadChoice(head, path.name, f"feature head {path.name} (bundled for this encoder)")


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
                      generation: int, head: torch.nn.Module | None = None) -> Embedding:
    """The encoder's prediction for ``target`` [1, C, R, R] as an :class:`Embedding` of stage 'encoder'.

    The UI's one call of an encoder (:func:`styleblend.project.encoder.encode`: an iterative encoder renders
    its estimates through ``G``, so the caller must own ``G`` meanwhile). With ``head`` (a feature head that
    fits ``G``) the prediction is W+ + features (:func:`styleblend.project.feature_encoder.encode_features`,
    with the encoder passes the head's config names). No gradients are tracked.

    Raises:
        ArchitectureMismatchError: the prediction does not have ``G``'s latent shape.
    """
    from ..project.encoder import encode
    from ..project.feature_encoder import encode_features

    device = next(G.parameters()).device
    feats = None
    with torch.no_grad():
        if head is None:
            ws = encode(encoder, G, target.to(device))
        else:
            ws, feats = encode_features(encoder, head, G, target.to(device))
        ws = ws.to(dtype=torch.float32)
    if tuple(ws.shape) != (1, G.num_ws, G.w_dim):
        raise ArchitectureMismatchError(f"the encoder predicts latents of shape {tuple(ws.shape)}; the base needs "
                                        f"[1, {G.num_ws}, {G.w_dim}] - use an encoder trained for it")
    return Embedding(ws=ws.detach().cpu(), target=to_uint8(target)[0], steps_done=0, cancelled=False,
                     final_loss=math.nan, generation=generation, stage="encoder",
                     features=None if feats is None else feats.detach().to("cpu", torch.float32),
                     feature_block=None if head is None else int(head.cfg.block_res))


def render_features(G: torch.nn.Module, blend: torch.nn.Module, result: Embedding) -> torch.Tensor:
    """A W+ + features :class:`Embedding` of the base ``G`` rendered through ``G`` and through ``blend`` (a blend
    of it, same architecture): float32 [2, C, R, R] - :func:`~styleblend.nn.feature_space.synthesize_from_features`
    of the pair, and of the blend's own features plus the pair's change of the base's
    (:func:`~styleblend.nn.feature_space.blend_features`)."""
    from ..nn.feature_space import blend_features, synthesize_from_features

    assert result.features is not None and result.feature_block is not None  # the caller checks
    block = result.feature_block
    device = next(G.parameters()).device
    ws, feats = result.ws.to(device), result.features.to(device)
    with torch.no_grad():
        base = synthesize_from_features(G, ws, feats, block)
        toon = synthesize_from_features(blend, ws, blend_features(G, blend, ws, feats, block), block)
    return torch.cat([base, toon])


def embedding_work(G: torch.nn.Module, target: torch.Tensor, steps: int, seed: int, loss: LossProvider,
                   generation: int, start: Embedding | None = None,
                   hold: threading.Event | None = None) -> Callable[[JobContext], Embedding | None]:
    """The job callable: project ``target`` into ``G`` for ``steps`` steps, reporting every step.

    ``start``: an encoder's :class:`Embedding` to refine (:data:`REFINE_METHOD`, every W+ row free from step 1;
    W+ and the features together when it has features, the features at the settings' ``feature_lr``); None
    projects from the mean w (:data:`METHOD`). ``steps`` 0 (with ``start`` only) returns ``start``.
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
        feats = start.features.to(device) if start is not None and start.features is not None else None
        block = start.feature_block if feats is not None and start is not None else None
        result = project(G, target.to(device), settings, loss_fn, seed=int(seed), init_ws=init_ws, callback=callback,
                         init_features=feats, feature_block=block)
        return Embedding(ws=result.ws.detach().cpu(), target=target_u8, steps_done=result.steps_done,
                         cancelled=result.cancelled, final_loss=result.final_loss, generation=generation,
                         stage="refined" if start is not None else "optimised",
                         features=None if result.features is None else result.features.detach().cpu(),
                         feature_block=result.feature_block)

    return work
