"""Everything the web UI does, with no web imports: a :class:`BlendSession` over a base/transfer pair.

The session holds the loaded checkpoints and one generator per role, and caches what a person tuning
sliders asks for again and again: blended state dicts keyed by the α vector (Pinkney & Adler 2020,
resolution-dependent interpolation; see :mod:`styleblend.blend.schedules`), the base and transfer
columns of a preview (they do not depend on α), and recent preview PNGs. Images are returned as PNG
bytes. The photo panel (embedding a photo with :func:`styleblend.project.project` in a worker thread with
progress and cancellation, and rendering it through the blend) is :mod:`.photo`; the session hands it
the few things it needs (:class:`~styleblend.ui.photo.PhotoHost`) and keeps its public methods.

Every method that touches the models takes one lock, so the threaded HTTP server may call it from any
thread. User errors are :class:`~styleblend.errors.StyleblendError` subclasses with the library's
messages; the server shows them in the page.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..blend.compat import check_configs, check_states
from ..blend.core import blend_two
from ..blend.live import LiveBlend, RenderStopped
from ..blend.model import blend_checkpoints
from ..blend.schedules import Linear, Schedule, Sigmoid, Swap
from ..config_sg3 import is_stylegan3
from ..errors import (
    ArchitectureMismatchError,
    CheckpointError,
    InvalidArgumentError,
    MissingWeightsError,
)
from ..io import Checkpoint, load_checkpoint, save_checkpoint
from ..io.atomic import write_bytes_atomic
from ..io.checkpoint import load_state_dict_strict
from ..io.digest import file_sha256
from ..io.registry import output_format, suffix_for
from ..latents.crossover import crossover, parse_layers
from ..latents.interpolate import lerp
from ..latents.mapping import seeds_to_ws
from ..media.images import make_grid, to_uint8
from ..nn.build import build_generator
from ..nn.naming import generator_layers, param_info
from ..render import render_ws
from .embedding import DEFAULT_REFINE_STEPS
from .images import PAD, enlarge, png_bytes, shrink
from .inputs import MAX_SEEDS, choice, parse_alphas, parse_psi, parse_seeds, safe_name
from .jobs import JobRunner
from .layer_groups import group_preset, group_ws_layers, page_schedule, slider_groups
from .photo import PhotoHost, PhotoPanel
from .progressive import PreviewGate, low_resolution
from .recipes import recipe_for_page, sliders_from_recipe
from .seeds import COLUMNS, PAGE_SEEDS, SeedBrowser

log = logging.getLogger(__name__)

MAPPINGS = ("base", "transfer", "blend")
MODELS = ("base", "transfer", "blend")
PRESETS = ("swap", "linear", "sigmoid")
ROLES = ("base", "transfer")
MAX_MORPH_STEPS = 16

AlphaKey = tuple[tuple[float, ...], str]


def _state_nbytes(state: dict[str, torch.Tensor], shared: Sequence[dict[str, torch.Tensor]]) -> int:
    """Bytes a blended state dict adds: tensors selected whole from an input are shared, not counted."""
    known = {id(t) for s in shared for t in s.values()}
    return sum(t.numel() * t.element_size() for t in state.values() if id(t) not in known)


class BlendSession:
    """A base/transfer pair and the cached state behind the web UI.

    Args:
        base, transfer: the two checkpoints (the transfer is usually fine-tuned from the base; it may
            have a lower resolution). Class-conditional models are not supported.
        device: where generators run.
        vgg_path: VGG-16 weights for the embedding loss; None looks in the usual places and otherwise
            falls back (visibly, in the job's info) to pixel MSE + MS-SSIM.
        embed_steps: default optimisation steps of an embedding ('fast' method).
        cache_mb: memory budget of the blended state dict cache (tensors shared with the inputs are free).
        workdir: where uploads and downloads are staged; default a new temporary folder removed by :meth:`close`.
        face_detector: landmark source for aligned embeddings (a
            :class:`~styleblend.align.landmarks.LandmarkDetector`); None means dlib, loaded when first needed.
        encoder: an encoder file for the base (``styleblend encoder train``); None uses the bundled one when
            the base is the bundled base. With an encoder a photo's latent is shown at once and refined in
            the background; without one it is optimised ('fast', ``embed_steps``).
        refine_steps: default refinement steps after the encoder's prediction (0: the prediction alone).
        feature_head: a feature head for that encoder (``styleblend encoder train-features``); None uses the
            bundled one with the bundled encoder. With one, a photo is shown as W+ + the base's features at the
            head's block (sharper, not a pure latent) unless :meth:`start_embedding` is asked for W+ only.
        low_preview: the block resolution of the previews' low-resolution stage (:mod:`.progressive`); None: 64 px
            from 256 px up, none below; 0: none. A later base of another size falls back to its default.

    Raises:
        ArchitectureMismatchError: the two models cannot be blended, or ``encoder`` does not fit the base.
        InvalidArgumentError: a class-conditional model. CheckpointError: an unreadable ``encoder`` file.
    """

    def __init__(self, base: Checkpoint, transfer: Checkpoint, *, device: str | torch.device = "cpu",
                 vgg_path: str | None = None, embed_steps: int = 200, cache_mb: float = 256,
                 workdir: str | Path | None = None, face_detector: Any = None, encoder: str | Path | None = None,
                 refine_steps: int = DEFAULT_REFINE_STEPS, low_preview: int | None = None,
                 feature_head: str | Path | None = None) -> None:
        self.device = torch.device(device)
        self._low_requested = low_preview
        self._gate = PreviewGate()
        self.cache_bytes = int(cache_mb * 2**20)
        # The folder's name is known before it exists, so that Ctrl-C / SIGTERM at any moment (mkdtemp would
        # not name a folder it made just before the interrupt) and a refused pair leave no folder behind.
        self._own_workdir = workdir is None
        self.workdir = _workdir_candidate() if workdir is None else Path(workdir)
        self.jobs = JobRunner(max_running=1)
        try:
            self._make_workdir()
            self._setup(base, transfer)
            self.photo = PhotoPanel(PhotoHost(lock=self._lock, device=self.device, jobs=self.jobs,
                                              staging=self._staging, base=self._photo_base,
                                              render=self._photo_render, blend=self._photo_blend),
                                    vgg_path=vgg_path, embed_steps=embed_steps, refine_steps=refine_steps,
                                    face_detector=face_detector, encoder=encoder, feature_head=feature_head)
        except BaseException:
            self.close()
            raise

    def _make_workdir(self) -> None:
        if not self._own_workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
            return
        while True:
            try:
                self.workdir.mkdir(mode=0o700)  # private, as mkdtemp makes it
                return
            except FileExistsError:
                self.workdir = _workdir_candidate()

    def _setup(self, base: Checkpoint, transfer: Checkpoint) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._uploads: dict[str, Path] = {}
        self._model_listeners: list[Callable[[str], None]] = []  # panels in other modules (ui/regions.py)
        self.stats = {"blend_hits": 0, "blend_misses": 0, "png_hits": 0, "png_misses": 0, "live_blocks": 0}
        for ckpt in (base, transfer):
            _check_unconditional(ckpt)
        _check_pair(base, transfer)
        self._base, self._transfer = base, transfer
        self._pair_error: str | None = None
        self._generation = 0
        self._reset_models()

    # ------------------------------------------------------------------------------------------
    # Models

    def _reset_models(self) -> None:
        """(Re)build generators and drop every cache after the base or the transfer changed."""
        self._generation += 1
        self._G = {"base": self._base.generator(self.device), "transfer": self._transfer.generator(self.device)}
        self._G_blend = build_generator(self._base.g_config).eval().requires_grad_(False).to(self.device)
        self._G_blend_key: AlphaKey | None = None
        # Previews render the blend column with a live renderer per mapping choice: a slider move re-runs only
        # the blocks from its resolution up (blend/live.py); mixing, morphs and photos use the blended generator.
        self._lives: dict[str, LiveBlend] = {}
        self._seed_browser: SeedBrowser | None = None
        architecture = getattr(self._base.g_config.synthesis, "architecture", "")
        try:
            self._low = low_resolution(self.resolutions, architecture, self._low_requested)
        except InvalidArgumentError:
            if self._generation == 1:  # the session's own argument: refuse it
                raise
            self._low = low_resolution(self.resolutions, architecture)  # an uploaded base of another size
        self._states: OrderedDict[AlphaKey, tuple[dict[str, torch.Tensor], int]] = OrderedDict()
        self._columns: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pngs: OrderedDict[tuple, tuple[bytes, dict[str, Any]]] = OrderedDict()
        self._current: AlphaKey = (tuple(self.preset("swap")), "base")
        self._digests: tuple[str | None, ...] | None = None  # the inputs' SHA-256 for recipes (made when needed)

    def on_models_changed(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` after every model upload, so that a panel kept in another module (ui/regions.py)
        can stop its work on the old pair."""
        self._model_listeners.append(listener)

    def current_pair(self) -> tuple[Checkpoint, Checkpoint, int]:
        """(base, transfer, generation) read together; the generation changes with every model upload.

        Raises:
            ArchitectureMismatchError: the loaded pair cannot be blended (a new base waits for its transfer).
        """
        with self._lock:
            if self._pair_error is not None:
                raise ArchitectureMismatchError(self._pair_error)
            return self._base, self._transfer, self._generation

    @property
    def resolutions(self) -> list[int]:
        """The sliders' keys, coarse to fine: the base's block resolutions (StyleGAN3: its layer groups' output
        sizes, :mod:`.layer_groups`)."""
        return [group.key for group in slider_groups(self._base.g_config)]

    def info(self) -> dict[str, Any]:
        """What the page needs to build its controls (JSON-able)."""
        with self._lock:
            cfg = self._base.g_config
            return {"base": self._base.describe(), "transfer": self._transfer.describe(),
                    "resolutions": self.resolutions, "img_resolution": cfg.img_resolution,
                    "transfer_resolution": self._transfer.g_config.img_resolution, "num_ws": cfg.num_ws,
                    "alphas": list(self._current[0]), "mapping": self._current[1], "mappings": list(MAPPINGS),
                    "models": list(MODELS), "presets": self.preset_defaults(), "max_seeds": MAX_SEEDS,
                    "max_morph_steps": MAX_MORPH_STEPS, **self.photo.info(),
                    "pair_error": self._pair_error, "download_format": output_format(self._base),
                    "family": "stylegan3" if is_stylegan3(cfg) else "stylegan2",
                    "sliders": [group.to_dict() for group in slider_groups(cfg)],
                    "ws_layers": group_ws_layers(cfg) if is_stylegan3(cfg) else ws_layers(cfg)}

    def load_uploaded(self, kind: str, data: bytes, filename: str | None = None) -> dict[str, Any]:
        """Replace the base or the transfer by an uploaded checkpoint file.

        The bytes are written to the session's folder and read with :func:`styleblend.io.load_checkpoint`
        (content-detected format; pickles through the restricted unpickler, so a hostile file is refused
        without running anything). A transfer that does not fit the base is refused and the old one
        kept. A new base that does not fit the current transfer is kept, but blending is blocked (with
        that message) until a matching transfer is uploaded - so a whole new pair can be loaded one file
        at a time.

        Returns:
            :meth:`info` plus 'warning' (the mismatch message for a base, else None).
        Raises:
            CheckpointError / UnsafeCheckpointError / UnsupportedArchitectureError: unreadable file.
            ArchitectureMismatchError: a transfer that cannot be blended into the base.
            InvalidArgumentError: unknown ``kind``, a class-conditional model.
        """
        choice(kind, ROLES, "upload kind")
        if not data:
            raise CheckpointError(f"the uploaded {kind} file is empty (0 bytes); choose a checkpoint file")
        folder = self._staging("upload")
        path = write_bytes_atomic(folder / safe_name(filename, f"{kind}.bin"), data)
        try:
            ckpt = load_checkpoint(path)
            _check_unconditional(ckpt)
            warning = None
            with self._lock:
                if kind == "transfer":
                    _check_pair(self._base, ckpt)
                else:
                    try:
                        _check_pair(ckpt, self._transfer)
                    except ArchitectureMismatchError as exc:
                        warning = f"{exc}; now upload a transfer model that matches this base"
                if kind == "transfer":
                    self._transfer, self._pair_error = ckpt, None
                else:
                    self._base, self._pair_error = ckpt, warning
                self._reset_models()
                self.photo.models_changed(base_changed=kind == "base")
                old, self._uploads[kind] = self._uploads.get(kind), folder
            # A running embedding belongs to the old models.
            self.photo.cancel_embeddings("the models changed: embed the photo again")
            for listener in list(self._model_listeners):
                listener("the models changed")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log.info("loaded uploaded %s %s", kind, ckpt.describe())
        return dict(self.info(), warning=warning)

    def blend_pair(self) -> tuple[Checkpoint, Checkpoint]:
        """The current base and transfer, for work done outside the session's lock (an export): an upload replaces
        them rather than changing them, so they stay valid. Raises ArchitectureMismatchError while they do not fit."""
        with self._lock:
            if self._pair_error is not None:
                raise ArchitectureMismatchError(self._pair_error)
            return self._base, self._transfer

    # ------------------------------------------------------------------------------------------
    # Blending

    def preset_defaults(self) -> dict[str, dict[str, float]]:
        """Each preset's default arguments for this base - the one place they are defined; the page
        shows them (``info()["presets"]``) and :meth:`preset` fills in what a request leaves out.

        'swap': the middle resolution; 'linear': from the second to the second-to-last resolution;
        'sigmoid': centred on the middle resolution, one octave wide.
        """
        res_list = self.resolutions
        mid = res_list[len(res_list) // 2]
        lo, hi = (res_list[1], res_list[-2]) if len(res_list) > 2 else (res_list[0], res_list[-1])
        return {"swap": {"res": mid}, "linear": {"from_res": lo, "to_res": hi},
                "sigmoid": {"centre": mid, "width": 1.0}}

    def preset(self, kind: str, res: int | None = None, from_res: int | None = None, to_res: int | None = None,
               centre: float | None = None, width: float | None = None, flip: bool = False) -> list[float]:
        """α per block resolution from a schedule preset (what the preset buttons put on the sliders).

        kind: 'swap' (α = 1 up to ``res``), 'linear' (1 at ``from_res``, 0 at ``to_res``) or 'sigmoid'
        (α(centre) = 0.5, ``width`` in octaves); ``flip`` reverses. Arguments left out take
        :meth:`preset_defaults`. See :mod:`styleblend.blend.schedules`.
        """
        d = self.preset_defaults()
        kind = choice(kind, PRESETS, "preset")
        if is_stylegan3(self._base.g_config):  # over the layer groups in order (layer_groups.group_preset)
            return group_preset(self._base.g_config, kind, res if res is not None else d["swap"]["res"],
                                from_res or d["linear"]["from_res"], to_res or d["linear"]["to_res"],
                                centre if centre is not None else d["sigmoid"]["centre"],
                                width if width is not None else d["sigmoid"]["width"], bool(flip))
        schedule: Schedule
        if kind == "swap":
            schedule = Swap(int(res if res is not None else d["swap"]["res"]), flip=bool(flip))
        elif kind == "linear":
            schedule = Linear(int(from_res or d["linear"]["from_res"]), int(to_res or d["linear"]["to_res"]),
                              flip=bool(flip))
        else:
            schedule = Sigmoid(float(centre if centre is not None else d["sigmoid"]["centre"]),
                               float(width if width is not None else d["sigmoid"]["width"]), flip=bool(flip))
        schedule.validate(self._base.g_config)
        # The conv1 of each block stands for its resolution (every block has one, b4 included).
        return [round(schedule.alpha(param_info(f"synthesis.b{r}.conv1.weight")), 4) for r in self.resolutions]

    def _alpha_key(self, alphas: Sequence[float] | None, mapping: str | None) -> AlphaKey:
        if alphas is None and mapping is None:
            return self._current
        mapping = choice(mapping or self._current[1], MAPPINGS, "mapping")
        if alphas is None:
            return (self._current[0], mapping)
        return (parse_alphas(alphas, self.resolutions), mapping)

    def schedule(self, alphas: Sequence[float] | None = None) -> Schedule:
        """The blend's schedule: a per-resolution :class:`Table` (StyleGAN3: a size table); ``spec()`` is CLI syntax."""
        with self._lock:
            key = self._alpha_key(alphas, None)
            return page_schedule(self._base.g_config, self.resolutions, key[0])

    def _blend_state(self, key: AlphaKey) -> dict[str, torch.Tensor]:
        if self._pair_error is not None:
            raise ArchitectureMismatchError(self._pair_error)
        hit = self._states.get(key)
        if hit is not None:
            self._states.move_to_end(key)
            self.stats["blend_hits"] += 1
            return hit[0]
        self.stats["blend_misses"] += 1
        alphas, mapping = key
        state = blend_two(self._base.g_ema, self._transfer.g_ema, page_schedule(self._base.g_config, self.resolutions,
                                                                                   alphas),
                          self._base.g_config, mapping=mapping)
        self._states[key] = (state, _state_nbytes(state, [self._base.g_ema, self._transfer.g_ema]))
        while len(self._states) > 1 and sum(n for _, n in self._states.values()) > self.cache_bytes:
            self._states.popitem(last=False)
        return state

    def _generator(self, model: str, key: AlphaKey) -> torch.nn.Module:
        if choice(model, MODELS, "model") != "blend":
            return self._G[model]
        if self._G_blend_key != key:
            load_state_dict_strict(self._G_blend, self._blend_state(key), what="the blend")
            self._G_blend_key = key
        return self._G_blend

    def _render_seeds(self, model: str, key: AlphaKey, seeds: tuple[int, ...], psi: float) -> np.ndarray:
        if choice(model, MODELS, "model") == "blend":
            return self._render_blend(key, seeds, psi)[0]
        G = self._generator(model, key)
        images = to_uint8(render_ws(G, seeds_to_ws(G, seeds, psi), batch_size=MAX_SEEDS))
        return enlarge(images, self._base.g_config.img_resolution)

    def _render_blend(self, key: AlphaKey, seeds: tuple[int, ...], psi: float, full_rows: int | None = None,
                      superseded: Callable[[], bool] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """The blend column from the first block whose α moved: bit for bit the blended generator's images
        (rendered one by one where the model has a low stage, else as one batch), [len(seeds), R, R, C], and
        what the render reached.

        ``full_rows`` None renders every seed at full resolution; k renders the first k at full resolution,
        seed k at the low resolution (:mod:`.progressive`) and the others at the low resolution only where
        that is already cached (else a grey placeholder). ``superseded`` is asked between blocks.
        """
        if self._pair_error is not None:
            raise ArchitectureMismatchError(self._pair_error)
        if is_stylegan3(self._base.g_config):
            return self._render_blend_full(key, seeds, psi)
        alphas, mapping = key
        live = self._lives.get(mapping)
        if live is None:
            # With a low stage (big models) per seed, so that the first seed's image does not wait for the
            # others (batch 1 is also the CPU's fastest per image from 128 px up): two sets of seeds are kept.
            live = LiveBlend(self._base.g_ema, self._transfer.g_ema, self._base.g_config, mapping=mapping,
                             device=self.device, max_latents=2 * MAX_SEEDS)
            self._lives[mapping] = live
        low = self._low if full_rows is not None and full_rows < len(seeds) else None
        # The first stage is drawn small (see preview_result): its cells stay at the low resolution.
        size = low if low is not None and full_rows == 0 else self._base.g_config.img_resolution
        ws = live.latents(seeds, psi)
        before, cells = live.blocks_run, []
        # Without a low stage (small models) the seeds render as one batch: 15-25 % faster than one by one for
        # the bundled 64 px pair (bench_ui.py, docs/benchmarks.md), and nothing waits for a first seed.
        rows = [((seeds, psi), ws)] if self._low is None else \
            [((seed, psi), ws[i:i + 1]) for i, seed in enumerate(seeds)]
        try:
            for i, (row_key, row_ws) in enumerate(rows):
                stop = None
                if low is not None and i >= (full_rows or 0):
                    start = live.start_resolution(row_key, row_ws, alphas)
                    if i > (full_rows or 0) and start is not None and start <= low:
                        cells.append(np.full((1, size, size, self._base.g_config.img_channels), 230, np.uint8))
                        continue  # a placeholder: this seed's turn comes later
                    stop = low
                stage = live.render(row_key, row_ws, alphas, stop_resolution=stop, should_stop=superseded)
                cells.append(enlarge(to_uint8(stage.image), size))
        except RenderStopped:
            raise self._gate.stop() from None
        finally:
            self.stats["live_blocks"] += live.blocks_run - before
        final = low is None
        return np.concatenate(cells), {"stage": "full" if final else "low", "final": final,
                                       "full_rows": len(seeds) if final else full_rows, "rows": len(seeds),
                                       "low_resolution": self._low, "blocks": live.blocks_run - before}

    def _render_blend_full(self, key: AlphaKey, seeds: tuple[int, ...],
                           psi: float) -> tuple[np.ndarray, dict[str, Any]]:
        """The blend column of a StyleGAN3 pair: the whole blended generator per render (LiveBlend, which re-runs
        only the blocks from the moved slider up, is StyleGAN2-only), in one final stage."""
        G = self._generator("blend", key)
        images = enlarge(to_uint8(render_ws(G, seeds_to_ws(G, seeds, psi), batch_size=1)),
                         self._base.g_config.img_resolution)
        return images, {"stage": "full", "final": True, "full_rows": len(seeds), "rows": len(seeds),
                        "low_resolution": None, "blocks": 0}

    def _column(self, model: str, seeds: tuple[int, ...], psi: float, size: int | None = None) -> np.ndarray:
        """Base or transfer images for ``seeds`` (independent of α, so cached across slider moves), shrunk to
        ``size`` px for a low-resolution stage."""
        full = self._base.g_config.img_resolution
        ck = (model, seeds, psi, size or full)
        if ck not in self._columns:
            self._columns[ck] = self._render_seeds(model, self._current, seeds, psi) if size in (None, full) \
                else shrink(self._column(model, seeds, psi), full // size)
            while len(self._columns) > 32:
                self._columns.popitem(last=False)
        return self._columns[ck]

    def preview_images(self, alphas: Sequence[float] | None, seeds: str | Sequence[int], psi: float = 0.7,
                       mapping: str | None = None) -> np.ndarray:
        """uint8 [len(seeds), 3, R, R, C]: base, transfer and blend for the same z of every seed.

        Args:
            alphas: one α in [0, 1] per block resolution (:attr:`resolutions`); None keeps the current ones.
            seeds: '1,2,3' / '0-3' or a list (at most :data:`MAX_SEEDS`), NVIDIA's z convention.
            psi: truncation ψ (every column truncates towards its own w_avg).
            mapping: the blend's mapping network and w_avg: 'base' (default, as in the paper),
                'transfer' or 'blend'; None keeps the current choice.
        """
        return self._preview_cells(alphas, seeds, psi, mapping)[0]

    def _preview_cells(self, alphas: Sequence[float] | None, seeds: str | Sequence[int], psi: float,
                       mapping: str | None, full_rows: int | None = None,
                       superseded: Callable[[], bool] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        with self._lock:
            self._gate.check(superseded)  # superseded while it waited for the lock: nothing to do
            key, seeds_t, psi = self._alpha_key(alphas, mapping), parse_seeds(seeds), parse_psi(psi)
            blend, meta = self._render_blend(key, seeds_t, psi, full_rows, superseded)
            self._current = key
            size = blend.shape[1]
            cells = np.stack([self._column("base", seeds_t, psi, size), self._column("transfer", seeds_t, psi, size),
                              blend], 1)
            return cells, meta

    def preview(self, alphas: Sequence[float] | None, seeds: str | Sequence[int], psi: float = 0.7,
                mapping: str | None = None) -> bytes:
        """PNG of :meth:`preview_images` as a grid: one row per seed, columns base | transfer | blend."""
        return self.preview_result(alphas, seeds, psi, mapping)[0]

    def preview_result(self, alphas: Sequence[float] | None, seeds: str | Sequence[int], psi: float = 0.7,
                       mapping: str | None = None, full_rows: int | None = None, stream: str | None = None,
                       seq: int | None = None) -> tuple[bytes, dict[str, Any]]:
        """:meth:`preview`, progressively and cancellably (:mod:`.progressive`), with what it shows.

        Args:
            full_rows: None: every seed at full resolution; k >= 0: a stage - the first k seeds at full
                resolution, the next one at the low resolution (placeholders after it unless cached).
                Models without a low stage always render in full.
            stream, seq: the request's tab and number: a request of the same stream with a higher number,
                even one still waiting, makes this one stop between two blocks with :class:`PreviewSuperseded`.
        Returns:
            the PNG and {'stage': 'low' | 'full', 'final', 'full_rows', 'rows', 'low_resolution', 'blocks',
            'scale', 'width'}: the first stage (``full_rows`` 0) is the grid at the low resolution, every cell
            shrunk by 'scale' (the page draws it 'width' px wide, the full grid's width); the others are full size.
        """
        if full_rows is not None and not 0 <= int(full_rows) <= MAX_SEEDS:
            raise InvalidArgumentError(f"full rows {full_rows} must be in [0, {MAX_SEEDS}]")
        superseded = self._gate.enter(stream, seq)
        with self._lock:
            key, seeds_t, psi = self._alpha_key(alphas, mapping), parse_seeds(seeds), parse_psi(psi)
            pk = (key, seeds_t, psi)
            if pk in self._pngs:  # the final grid, seen before
                self.stats["png_hits"] += 1
                self._pngs.move_to_end(pk)
                self._current = key
                png, meta = self._pngs[pk]
                return png, dict(meta, blocks=0)  # cached: no block ran
            self.stats["png_misses"] += 1
            cells, meta = self._preview_cells(key[0], seeds_t, psi, key[1], full_rows, superseded)
            # The first stage's answer is the whole grid at the low resolution (a 1024 px grid would take longer to
            # shrink and encode than the blocks up to 64 px take to run); the page draws it at the full width.
            full = self._base.g_config.img_resolution
            meta = dict(meta, scale=full // cells.shape[2], width=3 * full + 2 * PAD)
            png = png_bytes(make_grid(cells.reshape(-1, *cells.shape[2:]), cols=3, pad=PAD))
            if meta["final"]:  # a stage depends on what happened to be cached: only the final grid is kept
                self._pngs[pk] = (png, meta)
                while len(self._pngs) > 64:
                    self._pngs.popitem(last=False)
            return png, meta

    def seed_page(self, start: int, psi: float = 0.7, count: int = PAGE_SEEDS) -> tuple[bytes, dict[str, Any]]:
        """The seed browser (:mod:`.seeds`): a PNG grid of base thumbnails for ``count`` seeds from ``start``,
        and {'seeds', 'columns', 'thumb'} (the thumbnails' size in px) for the page to map a click to a seed."""
        with self._lock:
            psi = parse_psi(psi)
            if self._seed_browser is None:
                self._seed_browser = SeedBrowser(self._base, self._G["base"], self.device)
            png, seeds = self._seed_browser.page(start, psi, count)
            return png, {"seeds": seeds, "columns": COLUMNS, "thumb": self._seed_browser.resolution}

    # ------------------------------------------------------------------------------------------
    # Editing

    def mix_images(self, seed_a: int, seed_b: int, layers: str | Sequence[int], psi: float = 0.7,
                   model: str = "blend", alphas: Sequence[float] | None = None,
                   mapping: str | None = None) -> np.ndarray:
        """Style mixing: uint8 [3, R, R, C] = A, B, and A with the W+ ``layers`` taken from B.

        Low indices (coarse, 4-8 px) carry pose and shape, high ones colour and texture (Karras et al.
        2019, Sec. 3.1). ``model`` renders it: 'base', 'transfer' or 'blend' (the given or current α).
        """
        with self._lock:
            key, psi = self._alpha_key(alphas, mapping), parse_psi(psi)
            G = self._generator(model, key)
            idx = parse_layers(layers, G.num_ws)
            ws = seeds_to_ws(G, parse_seeds([seed_a, seed_b]), psi)
            mixed = crossover(ws[1:2], ws[0:1], idx)  # B's rows at ``idx``, A's elsewhere
            return enlarge(to_uint8(render_ws(G, torch.cat([ws, mixed]))), self._base.g_config.img_resolution)

    def mix(self, seed_a: int, seed_b: int, layers: str | Sequence[int], psi: float = 0.7, model: str = "blend",
            alphas: Sequence[float] | None = None, mapping: str | None = None) -> bytes:
        """PNG of :meth:`mix_images` as one row: A | B | mixed."""
        return png_bytes(make_grid(self.mix_images(seed_a, seed_b, layers, psi, model, alphas, mapping), 3, PAD))

    def morph_images(self, seed_a: int, seed_b: int, steps: int = 8, psi: float = 0.7, model: str = "blend",
                     alphas: Sequence[float] | None = None, mapping: str | None = None) -> np.ndarray:
        """Morph in W (lerp of the two seeds' ws, Image2StyleGAN Sec. 4.1): uint8 [steps, R, R, C]."""
        steps = int(steps)
        if not 2 <= steps <= MAX_MORPH_STEPS:
            raise InvalidArgumentError(f"morph steps {steps} must be in [2, {MAX_MORPH_STEPS}]")
        with self._lock:
            key, psi = self._alpha_key(alphas, mapping), parse_psi(psi)
            G = self._generator(model, key)
            ws = seeds_to_ws(G, parse_seeds([seed_a, seed_b]), psi)
            path = lerp(ws[0:1], ws[1:2], torch.linspace(0, 1, steps))
            return enlarge(to_uint8(render_ws(G, path)), self._base.g_config.img_resolution)

    def morph(self, seed_a: int, seed_b: int, steps: int = 8, psi: float = 0.7, model: str = "blend",
              alphas: Sequence[float] | None = None, mapping: str | None = None) -> bytes:
        """PNG of :meth:`morph_images` as one row."""
        images = self.morph_images(seed_a, seed_b, steps, psi, model, alphas, mapping)
        return png_bytes(make_grid(images, len(images), PAD))

    # ------------------------------------------------------------------------------------------
    # Embedding a photo and rendering it through the blend ("toonify"): :mod:`.photo`

    @property
    def embed_steps(self) -> int:
        """Default optimisation steps of an embedding without an encoder."""
        return self.photo.embed_steps

    @property
    def refine_steps(self) -> int:
        """Default refinement steps after an encoder's prediction."""
        return self.photo.refine_steps

    def _staging(self, what: str = "photo") -> Path:
        """A fresh folder name in the session's folder (not made yet) for an upload or a download."""
        return self.workdir / f"{what}-{next(self._ids)}"

    def _photo_base(self) -> tuple[Checkpoint, torch.nn.Module, int]:
        return self._base, self._G["base"], self._generation

    def _photo_render(self, ws: torch.Tensor, alphas: Sequence[float] | None, mapping: str | None) -> np.ndarray:
        """uint8 [2, R, R, C]: ``ws`` through the base and through the blend (call under the lock)."""
        key = self._alpha_key(alphas, mapping)
        return np.concatenate([to_uint8(render_ws(self._G["base"], ws)),
                               to_uint8(render_ws(self._generator("blend", key), ws))])

    def _photo_blend(self, alphas: Sequence[float] | None, mapping: str | None) -> torch.nn.Module:
        """The blended generator for ``alphas`` and ``mapping`` (call under the lock)."""
        return self._generator("blend", self._alpha_key(alphas, mapping))

    def start_embedding(self, image_bytes: bytes, steps: int | None = None, seed: int = 0,
                        filename: str | None = None, align: bool = False, features: bool | None = None) -> str:
        """Embed a photo into the base's W+: at once with an encoder, refined in a worker thread.

        The photo is decoded here, so a file that is not an image fails at once with an ImageError.
        It is centre-cropped to a square and resized to the base's resolution, or with ``align`` its main
        face (the largest, :func:`styleblend.align.main_face`) is cropped the way FFHQ was made, with the
        session's ``face_detector`` (dlib by default).
        A running embedding is cancelled first: a new photo makes it stale.

        With an encoder for the base (see :attr:`info`'s 'encoder'), its prediction is computed before this
        returns and is the job's result at once (stage 'encoder'); the job then refines it for ``steps``
        (default ``refine_steps``; 0: none) steps of the 'editable' method and replaces it (stage 'refined').
        Without one, the job optimises from the mean w for ``steps`` (default ``embed_steps``) steps of the
        'fast' method, and has a result when it ends (stage 'optimised').
        With a feature head for the encoder (:attr:`info`'s 'feature_head') and ``features`` not False, the
        prediction and its refinement are W+ + features (the job's info says which: 'latent'); ``features``
        False keeps to W+ (an editable latent); True without a head is refused.

        Returns:
            the job id for :meth:`job_status`, :meth:`cancel` and :meth:`toonify`.
        Raises:
            ImageError: not an image (NoFaceError: ``align`` found no face); InvalidArgumentError: bad steps,
            or the previous embedding did not stop; MissingDependencyError: ``align`` without dlib.
        """
        return self.photo.start_embedding(image_bytes, steps, seed, filename, align, features)

    def job_status(self, job_id: str) -> dict[str, Any]:
        """State ('running', 'done', 'cancelled', 'failed'), done/total steps, seconds, error, info (with 'stage'
        and, for an encoder, 'encoder_ms'), and 'has_result' (an encoder's latent is there from the start)."""
        return self.jobs.status(job_id)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a job to stop after its current step; its partial result stays usable."""
        return self.jobs.cancel(job_id)

    def toonify_images(self, job_id: str, alphas: Sequence[float] | None = None,
                       mapping: str | None = None) -> np.ndarray:
        """uint8 [3, R, R, C]: the photo, its reconstruction by the base, and the same ws through the blend.

        Rendering a photo's base latent through a blend that takes the structure from the base and the
        rendering from a fine-tuned model is the "toonify" use of Pinkney & Adler 2020 (Sec. 4). While an
        encoder's latent is being refined, this is the encoder's latent.
        """
        return self.photo.toonify_images(job_id, alphas, mapping)

    def toonify_result(self, job_id: str, alphas: Sequence[float] | None = None,
                       mapping: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """:meth:`toonify` and what it shows: {'stage': 'encoder' | 'refined' | 'optimised', 'steps': steps
        behind the latent, 'cancelled': a refinement stopped early, 'latent': 'W+' or 'W+ + <r> px features'}
        (one result, so the two always agree)."""
        return self.photo.toonify_result(job_id, alphas, mapping)

    def toonify(self, job_id: str, alphas: Sequence[float] | None = None, mapping: str | None = None) -> bytes:
        """PNG of :meth:`toonify_images` as one row: photo | base | blend."""
        return self.toonify_result(job_id, alphas, mapping)[0]

    # ------------------------------------------------------------------------------------------
    # Recipes (:mod:`.recipes`)

    def _input_digests(self) -> tuple[str | None, ...]:
        """SHA-256 of the base's and the transfer's files (None for one not read from a file); call under the lock."""
        if self._digests is None:
            self._digests = tuple(file_sha256(c.source) if c.source is not None and Path(c.source).is_file() else None
                                  for c in (self._base, self._transfer))
        return self._digests

    def _download_name(self) -> str:
        stem = Path(self._base.source).stem if self._base.source is not None else "styleblend"
        return f"{stem}-blend{suffix_for(output_format(self._base))}"

    def recipe(self, alphas: Sequence[float] | None = None, mapping: str | None = None) -> dict[str, Any]:
        """The blend's recipe (the keys ``styleblend blend`` writes) and the command that rebuilds it."""
        with self._lock:
            if self._pair_error is not None:
                raise ArchitectureMismatchError(self._pair_error)
            key = self._alpha_key(alphas, mapping)
            return recipe_for_page(self._base, self._transfer, self.resolutions, key[0], key[1],
                                   self._input_digests(), self._download_name())

    def apply_recipe(self, recipe: Any) -> dict[str, Any]:
        """A recipe (a CLI ``<out>.recipe.json`` or one from :meth:`recipe`) as the page's sliders:
        {'alphas', 'mapping', 'spec', 'notes'}; refused when the sliders cannot express it."""
        with self._lock:
            if self._pair_error is not None:
                raise ArchitectureMismatchError(self._pair_error)
            alphas, mapping, notes = sliders_from_recipe(recipe, self._base, self._transfer, self.resolutions,
                                                         self._input_digests())
            return {"alphas": alphas, "mapping": mapping,
                    "spec": page_schedule(self._base.g_config, self.resolutions, alphas).spec(), "notes": notes}

    # ------------------------------------------------------------------------------------------
    # Download

    def download_blend(self, alphas: Sequence[float] | None = None,
                       mapping: str | None = None) -> tuple[bytes, str]:
        """The blended checkpoint as file bytes in the base's format, and a file name for it.

        G_ema (and G when both models have one) are blended with the per-resolution table; the format
        is the base's when writable (an NVIDIA pickle is the base's own pickle with its tensors
        replaced), else native safetensors. Written with :func:`styleblend.io.save_checkpoint`.
        """
        with self._lock:
            key = self._alpha_key(alphas, mapping)
            if self._pair_error is not None:
                raise ArchitectureMismatchError(self._pair_error)
            ckpt, _ = blend_checkpoints(self._base, [self._transfer],
                                        page_schedule(self._base.g_config, self.resolutions, key[0]),
                                        mapping=key[1], hash_inputs=False)
            fmt = output_format(ckpt)
            name = self._download_name()
            folder = self._staging("download")
            try:
                path = save_checkpoint(ckpt, folder / name, fmt)
                return path.read_bytes(), name
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Cancel running jobs and remove the session's temporary folder."""
        self.jobs.shutdown()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BlendSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _workdir_candidate() -> Path:
    """A fresh name for a session folder in the system's temporary folder (``styleblend-ui-*``, not yet made)."""
    return Path(tempfile.gettempdir()) / f"styleblend-ui-{secrets.token_hex(6)}"


def ws_layers(cfg: Any) -> dict[str, Any]:
    """Which W+ rows each block resolution reads, for the page's layer row (sliders speak px, mixing W+ rows).

    'blocks': [{res, ws}] - every W+ index a block's layers read (its conv0 shares one with the torgb below it);
    'owner': per W+ index, the resolution of the conv layer that reads it (the last torgb's index: its block),
    so that the row shows each index once.
    """
    layers = [layer for layer in generator_layers(cfg) if layer.ws_index is not None]
    blocks = [{"res": r, "ws": sorted({layer.ws_index for layer in layers if layer.resolution == r})}
              for r in cfg.block_resolutions]
    owner: dict[int, int] = {}
    for layer in sorted(layers, key=lambda layer: layer.kind != "conv"):  # a conv claims its index first
        owner.setdefault(layer.ws_index, layer.resolution)
    return {"blocks": blocks, "owner": [owner[i] for i in range(cfg.num_ws)]}


def _check_unconditional(ckpt: Checkpoint) -> None:
    if ckpt.g_config.c_dim:
        raise InvalidArgumentError(f"{ckpt.describe()} is class-conditional (c_dim={ckpt.g_config.c_dim}); the UI "
                                   "renders unconditional models only - use the CLI with --class")


def _check_pair(base: Checkpoint, transfer: Checkpoint) -> None:
    """Raise ArchitectureMismatchError (the blending library's message) if they cannot be blended."""
    check_configs(base.g_config, transfer.g_config, name=f"the transfer {transfer.describe()}")
    check_states([base.g_ema, transfer.g_ema], base.g_config)


def open_session(base: str | Path | None = None, transfer: str | Path | None = None, *,
                 device: str | torch.device = "cpu", vgg_path: str | None = None, embed_steps: int = 200,
                 cache_mb: float = 256, encoder: str | Path | None = None,
                 feature_head: str | Path | None = None) -> BlendSession:
    """A session over checkpoint files, or the bundled emoji pair for a role given None (other args: BlendSession).

    Raises:
        MissingWeightsError: the bundled models are not installed and no path was given.
        CheckpointError and friends: unreadable files; ArchitectureMismatchError: not a blendable pair.
    """
    from ..models import bundled_checkpoint

    def load(path: str | Path | None, role: str) -> Checkpoint:
        if path is not None:
            return load_checkpoint(path)
        try:
            return bundled_checkpoint(role)
        except MissingWeightsError as exc:
            raise MissingWeightsError(f"{exc}; pass --base and --transfer to use your own checkpoints") from None

    t0 = time.perf_counter()
    session = BlendSession(load(base, "base"), load(transfer, "transfer"), device=device, vgg_path=vgg_path,
                           embed_steps=embed_steps, cache_mb=cache_mb, encoder=encoder, feature_head=feature_head)
    log.info("models ready in %.1f s", time.perf_counter() - t0)
    return session
