"""The web UI's region and auto-α panels, with no web imports: parts of the base, feature region blends, auto α.

* **Parts** (Collins et al., "Editing in Style", CVPR 2020; :mod:`styleblend.blend.regions`): the base's layer
  features over the analysis samples (seeds 0..S-1, ψ = 1) are clustered into K parts by spherical k-means -
  the same computation, so the same part numbers, as ``styleblend regions`` with the same ``--layer``,
  ``--parts`` and ``--samples``. The page is shown the part map of every preview seed (its features assigned
  to those parts) with the numbers drawn on it, and the part map itself as numbers, so a click picks a part.
* **Feature region blend** (:func:`styleblend.blend.features.feature_blend`): the preview seeds rendered with
  base and transfer side by side, mixing their features inside the region (a picked part, found again in each
  seed's own features, or a painted mask) after the chosen blocks, with a spatial α and a feathered edge -
  next to the ordinary blend of the sliders. A feature blend is a renderer, not a weight file.
* **Auto α** (:func:`styleblend.blend.auto.search_alpha`): a background job of the session's
  :class:`~styleblend.ui.jobs.JobRunner` (progress, cancel, one job at a time; a model upload stops it with
  the reason) that returns the chosen per-resolution table, the Pareto front picture and the scores; the page
  puts the table on its α sliders. The critic is ``styleblend ui --critic CKPT``'s discriminator, else the
  transfer checkpoint's own; without either the panel says why auto α is unavailable.

Every size or count a request carries (seeds, parts, samples, mask size, budget) is checked against the
limits below before any work. The generators this module renders with are its own copies (the part analysis
hooks a layer of the base, which must not catch a preview's render), rebuilt when the models change.
"""

from __future__ import annotations

import base64
import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..blend.auto_stats import DEFAULT_CONFIDENCE
from ..errors import InvalidArgumentError, StyleblendError
from ..io import Checkpoint
from .inputs import MAX_SEEDS, parse_int, parse_psi, parse_seeds
from .jobs import JobCancelled, JobContext
from .messages import page_status
from .service import PAD, BlendSession, png_bytes

#: Parts a map may have (the part colours repeat beyond 12, so more would be ambiguous to pick by eye).
MAX_PARTS = 12
#: Analysis samples (each is rendered and its features kept in memory).
MAX_REGION_SAMPLES = 64
#: Largest painted mask side; a mask travels as S*S characters of '0'/'1' in a JSON body (256: 64 KiB).
MAX_MASK_SIZE = 256
#: Bounds of the auto-α search budget, in seconds (the job holds the only job slot meanwhile).
MIN_BUDGET_S, MAX_BUDGET_S, DEFAULT_BUDGET_S = 1.0, 600.0, 120.0
#: Latents each candidate renders (search and validation); the CLI allows 256, the page keeps it interactive.
MAX_AUTO_SAMPLES = 64
DEFAULTS = {"parts": 6, "samples": 16, "alpha": 1.0, "feather": 1.0, "budget_s": DEFAULT_BUDGET_S,
            "auto_samples": 16, "auto_validation": 64, "auto_confidence": DEFAULT_CONFIDENCE}
#: Where a part map cell is drawn at least this large (small models are enlarged by pixel repetition).
MIN_CELL = 128

#: The page's controls for the library's parameter names in errors ('`feather` 99 ...' -> "the 'feather' field").
REGION_CONTROLS = {
    "layer": "the 'layer' field", "parts": "the 'parts' field", "samples": "the 'samples' field",
    "layers": "the 'mix after blocks' field", "alpha": "the 'region α' slider", "feather": "the 'feather' field",
    "region": "the part picked", "budget_s": "the 'budget' field", "structure_res": "the structure resolution",
}
AUTO_CONTROLS = {"samples": "the 'auto samples' field", "budget_s": "the 'budget' field",
                 "validation": "the 'validation' field", "confidence": "the 'confidence' field"}

NO_CRITIC = ("auto α needs a discriminator of the transfer's domain to score realism, and the transfer model "
             "has none (the bundled models are generators only); restart the server with 'styleblend ui --critic "
             "CKPT', e.g. --critic runs/bundle/twemoji-072.safetensors for the bundled pair")


@contextlib.contextmanager
def controls_in_errors(controls: dict[str, str]) -> Iterator[None]:
    """Name the page's controls in library errors about these parameters (``messages.PAGE_CONTROLS`` means
    other controls for some of the same names, e.g. 'layers' is the mixing field there)."""
    try:
        yield
    except StyleblendError as exc:
        if not exc.params:
            raise
        text = str(exc)
        for name in exc.params:
            text = text.replace(f"`{name}`", controls.get(name, name))
        raise InvalidArgumentError(text) from None


def _int_in(value: Any, what: str, low: int, high: int) -> int:
    number = parse_int(value, what)
    if not low <= number <= high:
        raise InvalidArgumentError(f"{what} {number} must be in [{low}, {high}]")
    return number


def _float_in(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgumentError(f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidArgumentError(f"{what} {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidArgumentError(f"{what} {number:g} must be in [{low:g}, {high:g}]")
    return number


def _seeds(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (str, list)):
        raise InvalidArgumentError(f"seeds {str(value)[:40]!r} must be a list such as '1,3,5'")
    return parse_seeds(value)


def mask_sizes(img_resolution: int) -> list[int]:
    """The painted-mask sides a model accepts: powers of two from 4 to :data:`MAX_MASK_SIZE` that divide its
    output size or that it divides (a feature blend resizes the mask to every block)."""
    sizes = [2**k for k in range(2, 9)]
    return [s for s in sizes if s <= MAX_MASK_SIZE and (img_resolution % s == 0 or s % img_resolution == 0)]


def parse_mask(value: Any, img_resolution: int) -> torch.Tensor:
    """A painted mask {'size': S, 'bits': '0110...'} (row-major, '1' = inside) as bool [S, S].

    The size is checked against :func:`mask_sizes` and the length of ``bits`` against it before anything
    is allocated.

    Raises:
        InvalidArgumentError: not such an object, a size the model cannot use, wrong length or characters, or
            a mask with no pixel painted.
    """
    if not isinstance(value, dict):
        raise InvalidArgumentError("the mask must be an object {size, bits}")
    allowed = mask_sizes(img_resolution)
    size = parse_int(value.get("size"), "mask size")
    if size not in allowed:
        raise InvalidArgumentError(f"mask size {size} must be one of {allowed} for this {img_resolution} px model")
    bits = value.get("bits")
    if not isinstance(bits, str) or len(bits) != size * size:
        shown = len(bits) if isinstance(bits, str) else type(bits).__name__
        raise InvalidArgumentError(f"the mask of size {size} needs {size * size} characters '0'/'1', got {shown}")
    if bits.strip("01"):
        raise InvalidArgumentError("the mask may only contain the characters '0' and '1'")
    if "1" not in bits:
        raise InvalidArgumentError("the mask is empty: paint the region on the image first (or pick a part)")
    return torch.from_numpy(np.frombuffer(bits.encode("ascii"), dtype=np.uint8).reshape(size, size) == ord("1"))


def data_url(png: bytes) -> str:
    """PNG bytes as a data: URL the page can show (the CSP allows data: images)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 [N, R, R, C] as RGB cells [N, size, size, 3]: enlarged by repetition, shrunk by box filtering."""
    if images.shape[3] == 1:
        images = images.repeat(3, axis=3)
    r = images.shape[1]
    if size % r == 0:
        return images.repeat(size // r, axis=1).repeat(size // r, axis=2)
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BOX)) for im in images])


@dataclass(frozen=True)
class AutoOutcome:
    """An auto-α job's result: the search's result, the front picture (PNG) and the models it belongs to."""

    result: Any  # styleblend.blend.auto.AutoResult
    plot: bytes
    generation: int
    critic: str


class RegionTools:
    """The Regions and Auto α panels over a :class:`~styleblend.ui.service.BlendSession`.

    Args:
        session: the session whose pair, preview blend and job runner are used.
        critic: a checkpoint with a discriminator of the transfer's domain for auto α (``styleblend ui
            --critic``); None uses the transfer checkpoint's own discriminator when it has one.
        critic_name: how the page names it (its file name).

    Raises:
        InvalidArgumentError: ``critic`` has no discriminator.
    """

    def __init__(self, session: BlendSession, critic: Checkpoint | None = None, critic_name: str | None = None) -> None:
        if critic is not None and (critic.d is None or critic.d_config is None):
            raise InvalidArgumentError(f"the critic {critic_name or critic.describe()} has no discriminator; give a "
                                       "training snapshot of the transfer (e.g. runs/bundle/twemoji-072.safetensors)")
        self.session = session
        self.critic, self.critic_name = critic, critic_name or (critic.describe() if critic is not None else None)
        self._lock = threading.Lock()
        self._models: tuple[int, Any, Any] | None = None  # StyleGAN2 or StyleGAN3 generators
        self._parts: dict[tuple, tuple[str, torch.Tensor]] = {}
        session.on_models_changed(self._models_changed)

    def _models_changed(self, reason: str) -> None:
        self.session.jobs.cancel_kind("auto", reason=f"{reason}: run the search again for the new pair")

    def _generators(self) -> tuple[int, Any, Any]:
        """(generation, base G, transfer G): this module's own copies of the current pair; call under the lock."""
        base, transfer, generation = self.session.current_pair()
        if self._models is None or self._models[0] != generation:
            device = self.session.device
            self._models = (generation, base.generator(device), transfer.generator(device))
            self._parts.clear()
        return self._models

    # ------------------------------------------------------------------------------------------
    # Parts

    def info(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults, limits, whether auto α can run (with the reason when not) and the newest auto job's status
        (a reloaded page takes it up), for the page; ``data`` is unused (the route's query)."""
        available, reason = True, None
        try:
            base, transfer, _ = self.session.current_pair()
            name = self._critic_for(base, transfer)[1]
        except StyleblendError as exc:
            available, reason, name = False, str(exc), None
        job = self.session.jobs.latest("auto")
        return {"defaults": DEFAULTS, "max_parts": MAX_PARTS, "max_samples": MAX_REGION_SAMPLES,
                "mask_sizes": mask_sizes(self.session.info()["img_resolution"]), "max_seeds": MAX_SEEDS,
                "budget": {"min": MIN_BUDGET_S, "max": MAX_BUDGET_S}, "max_auto_samples": MAX_AUTO_SAMPLES,
                "auto": {"available": available, "reason": reason, "critic": name},
                "auto_job": None if job is None else page_status(job, self.session.workdir)}

    def _centroids(self, G: Any, layer: str | None, parts: int, samples: int) -> tuple[str, torch.Tensor]:
        """The analysed layer and its part centroids [K, C], as ``styleblend regions`` finds them (cached)."""
        from ..blend.regions import default_layer, find_parts, layer_activations, parse_layer, sample_seeds
        from ..latents.mapping import seeds_to_ws

        name = parse_layer(layer or default_layer(G.cfg), G.cfg)
        key = (name, parts, samples)
        if key not in self._parts:
            acts = layer_activations(G, seeds_to_ws(G, sample_seeds(samples)), name)
            self._parts[key] = (name, find_parts(acts, parts, name, seed=0).centroids)
        return self._parts[key]

    def _analysis(self, data: dict[str, Any]) -> tuple[str | None, int, int]:
        layer = data.get("layer") or None
        if layer is not None and (not isinstance(layer, str) or len(layer) > 40):
            raise InvalidArgumentError("the layer must be a block name such as b32")
        parts = _int_in(data.get("parts", DEFAULTS["parts"]), "parts", 2, MAX_PARTS)
        samples = _int_in(data.get("samples", DEFAULTS["samples"]), "samples", 1, MAX_REGION_SAMPLES)
        return layer, parts, samples

    def _part_labels(self, G: Any, layer: str | None, parts: int, samples: int,
                     ws: torch.Tensor) -> tuple[str, torch.Tensor]:
        from ..blend.regions import assign_parts, layer_activations

        name, centroids = self._centroids(G, layer, parts, samples)
        return name, assign_parts(layer_activations(G, ws, name), centroids)

    def part_map(self, data: dict[str, Any]) -> dict[str, Any]:
        """The part maps of the preview seeds.

        ``data``: seeds, psi, parts (2..:data:`MAX_PARTS`), samples (1..:data:`MAX_REGION_SAMPLES`), layer.
        Returns {'png': a grid, one row per seed: base image | part map with numbers; 'cols', 'cell', 'pad'
        (the grid's geometry, to find the clicked cell); 'res' and 'labels' (per seed, res*res part numbers,
        row-major); 'layer', 'parts', 'samples', 'seeds', 'areas' (share of the pixels per part); 'base_png':
        the first seed's base image at the cell size, for painting a mask on}.
        """
        from ..latents.mapping import seeds_to_ws
        from ..media.images import make_grid, to_uint8
        from ..media.parts import part_map_image
        from ..render import render_ws

        seeds = _seeds(data.get("seeds", "1"))
        psi = parse_psi(data.get("psi", 0.7))
        layer, parts, samples = self._analysis(data)
        with controls_in_errors(REGION_CONTROLS), self._lock:
            _, G, _ = self._generators()
            ws = seeds_to_ws(G, seeds, psi)
            name, labels = self._part_labels(G, layer, parts, samples, ws)
            images = to_uint8(render_ws(G, ws))
        res = int(labels.shape[-1])
        cell = max(MIN_CELL, images.shape[1])
        cell -= cell % res  # a multiple of the map's size, so a cell pixel maps to one label
        shown = _cell(images, cell)
        cells = [c for image, lab in zip(shown, labels) for c in (image, part_map_image(lab, cell))]
        counts = torch.bincount(labels.reshape(-1), minlength=parts)
        return {"png": data_url(png_bytes(make_grid(np.stack(cells), cols=2, pad=PAD))), "cols": 2, "cell": cell,
                "pad": PAD, "res": res, "labels": [lab.reshape(-1).tolist() for lab in labels], "layer": name,
                "parts": parts, "samples": samples, "seeds": list(seeds),
                "areas": [round(float(c) / labels.numel(), 4) for c in counts],
                "base_png": data_url(png_bytes(shown[0]))}

    # ------------------------------------------------------------------------------------------
    # Feature region blend

    def render(self, data: dict[str, Any]) -> bytes:
        """PNG, one row per preview seed: base | transfer | blend (the sliders) | feature region blend | region.

        ``data``: seeds, psi, alphas and mapping (the ordinary blend, as /api/preview), the region - 'part'
        (a number, with the analysis' parts, samples and layer) or 'mask' (:func:`parse_mask`) - and the
        feature blend's 'layers' (blocks to mix after, e.g. '32-64'; default from the analysed layer to the
        output), 'alpha' (the transfer's share inside the region, [0, 1]) and 'feather' (output pixels).
        """
        from ..blend.features import MAX_FEATHER, feature_blend, parse_feature_layers
        from ..blend.regions import default_layer, mark_region, parse_layer, resize_mask
        from ..latents.mapping import seeds_to_ws
        from ..media.images import make_grid, to_uint8

        seeds = _seeds(data.get("seeds", "1"))
        psi = parse_psi(data.get("psi", 0.7))
        layer, parts, samples = self._analysis(data)
        alpha = _float_in(data.get("alpha", DEFAULTS["alpha"]), "region α", 0.0, 1.0)
        feather = _float_in(data.get("feather", DEFAULTS["feather"]), "feather", 0.0, MAX_FEATHER)
        has_part, has_mask = data.get("part") is not None, data.get("mask") is not None
        if has_part == has_mask:
            raise InvalidArgumentError("pick a part on the part map or paint a mask (one region, not both)")
        part = _int_in(data["part"], "part", 0, parts - 1) if has_part else None
        resolution = self.session.info()["img_resolution"]
        mask = parse_mask(data["mask"], resolution) if has_mask else None
        blocks = data.get("layers") or None
        if blocks is not None and (not isinstance(blocks, str) or len(blocks) > 80):
            raise InvalidArgumentError("the blocks to mix after are a short list such as 32-64 or 16,32")
        alphas, mapping = data.get("alphas"), data.get("mapping")
        if alphas is not None and not isinstance(alphas, list):
            raise InvalidArgumentError("alphas must be a list, one α per resolution")
        if mapping is not None and not isinstance(mapping, str):
            raise InvalidArgumentError("mapping must be 'base', 'transfer' or 'blend'")
        ordinary = self.session.preview_images(alphas, seeds, psi, mapping)  # [N, 3, R, R, C]
        with controls_in_errors(REGION_CONTROLS), self._lock:
            _, Gb, Gt = self._generators()
            ws = seeds_to_ws(Gb, seeds, psi)
            if part is not None:
                name, labels = self._part_labels(Gb, layer, parts, samples, ws)
                region = labels == part
            else:
                name = parse_layer(layer or default_layer(Gb.cfg), Gb.cfg)
                assert mask is not None
                region = mask[None].expand(len(seeds), *mask.shape)
            res = int(name.split(".")[0][1:])
            resolutions = tuple(Gb.synthesis.block_resolutions)
            chosen = parse_feature_layers(blocks or f"{res}-{resolutions[-1]}", resolutions)
            mixed = to_uint8(feature_blend(Gb, Gt, ws, region, chosen, alpha, feather).cpu())
        marked = mark_region(ordinary[:, 0], region if part is not None else resize_mask(region, resolution))
        cells = np.concatenate([ordinary, mixed[:, None], marked[:, None]], axis=1)
        return png_bytes(make_grid(cells.reshape(-1, *cells.shape[2:]), cols=5, pad=PAD))

    # ------------------------------------------------------------------------------------------
    # Auto α

    def _critic_for(self, base: Checkpoint, transfer: Checkpoint) -> tuple[Checkpoint, str]:
        """The critic auto α uses for this pair and its name; raises with the reason when there is none."""
        from ..config import GeneratorConfig

        if not isinstance(base.g_config, GeneratorConfig):
            raise InvalidArgumentError("auto α needs StyleGAN2 models (per-resolution blocks); this base is StyleGAN3")
        if self.critic is not None:
            critic, name = self.critic, f"{self.critic_name} (--critic)"
        elif transfer.d is not None and transfer.d_config is not None:
            critic, name = transfer, "the transfer's own discriminator"
        else:
            raise InvalidArgumentError(NO_CRITIC)
        assert critic.d_config is not None
        if critic.d_config.img_resolution != base.g_config.img_resolution:
            raise InvalidArgumentError(f"the critic {name} judges {critic.d_config.img_resolution} px images and the "
                                       f"base renders {base.g_config.img_resolution} px; restart the server with a "
                                       "critic checkpoint of the base's size")
        return critic, name

    def start_auto(self, data: dict[str, Any]) -> dict[str, Any]:
        """Start the search as a background job: ``data`` {budget_s, samples, validation}, all checked first.

        Returns {'job', 'status'} (poll /api/job; the result is :meth:`auto_result`).
        Raises:
            InvalidArgumentError: a value out of range, no critic, or another job (an embedding) running.
        """
        budget = _float_in(data.get("budget_s", DEFAULT_BUDGET_S), "budget (seconds)", MIN_BUDGET_S, MAX_BUDGET_S)
        samples = _int_in(data.get("samples", DEFAULTS["auto_samples"]), "auto samples", 1, MAX_AUTO_SAMPLES)
        validation = _int_in(data.get("validation", DEFAULTS["auto_validation"]), "validation samples", 0,
                             MAX_AUTO_SAMPLES)
        # As `blend --auto --auto-confidence`: 0 compares the means only.
        confidence = _float_in(data.get("confidence", DEFAULTS["auto_confidence"]), "confidence", 0.0, 0.999)
        if 0 < confidence <= 0.5:
            raise InvalidArgumentError(f"confidence {confidence:g} must be 0 (means only) or in (0.5, 0.999]")
        base, transfer, generation = self.session.current_pair()
        critic_ckpt, critic_name = self._critic_for(base, transfer)
        work = auto_work(base, transfer, critic_ckpt, critic_name, generation, budget, samples, validation,
                         self.session.device, confidence or None)
        job = self.session.jobs.start("auto", work, total=int(math.ceil(budget)),
                                      info={"evaluations": 0, "stage": "preparing", "critic": critic_name})
        return {"job": job, "status": page_status(self.session.jobs.status(job), self.session.workdir)}

    def auto_result(self, data: dict[str, Any]) -> dict[str, Any]:
        """The finished search of job ``data['id']``: {'alphas' (the chosen table, one per slider), 'table',
        'chosen', 'beaten_swaps', 'swaps', 'front', 'validation', 'evaluations', 'elapsed_s', 'budget_s',
        'critic', 'plot' (the front picture as a data: URL)}.

        Raises:
            InvalidArgumentError: no such job, not finished with a result, or the models changed since.
        """
        job_id = data.get("id")
        if not isinstance(job_id, str) or not job_id.startswith("auto-"):
            raise InvalidArgumentError(f"{str(job_id)[:40]!r} is not an auto α job")
        status = self.session.jobs.status(job_id)
        outcome = self.session.jobs.result(job_id)
        if not isinstance(outcome, AutoOutcome):
            raise InvalidArgumentError(f"the search {job_id} has no result (it is {status['state']}"
                                       + (f": {status['error']}" if status["error"] else "") + ")")
        if outcome.generation != self.session.current_pair()[2]:
            raise InvalidArgumentError("the models changed since this search ran; run auto α again")
        full = outcome.result.to_dict()
        chosen = outcome.result.chosen if outcome.result.validation is None else outcome.result.validation.chosen
        keep = ("table", "chosen", "beaten_swaps", "confident_swaps", "swaps_beaten_by_front", "swaps", "front",
                "validation", "evaluations", "elapsed_s", "budget_s", "beats_every_swap")
        out = {k: full[k] for k in keep}
        if out["validation"] is not None:
            out["validation"] = {k: v for k, v in out["validation"].items() if k != "rescored"}
        return dict(out, alphas=list(chosen.alphas), resolutions=list(outcome.result.resolutions),
                    confidence=outcome.result.settings.get("confidence"), critic=outcome.critic,
                    plot=data_url(outcome.plot), job=job_id)


ProgressHook = Callable[[int, float, float], None]


def auto_work(base: Checkpoint, transfer: Checkpoint, critic: Checkpoint, critic_name: str, generation: int,
              budget_s: float, samples: int, validation: int, device: torch.device,
              confidence: float | None = DEFAULT_CONFIDENCE) -> Callable[[JobContext], AutoOutcome]:
    """The auto-α job: score seeds 0..samples-1 (and ``validation`` more for the choice) as ``blend --auto``
    does (``confidence``: its ``--auto-confidence``, None for the means only), report seconds used of the budget
    and tables scored, and stop at the next score once cancelled."""
    from ..blend.auto import AlphaObjective, front_plot, search_alpha
    from ..blend.regions import stylegan2_config

    config = stylegan2_config(base.g_config)

    def work(ctx: JobContext) -> AutoOutcome:
        structure_res = min(16, config.img_resolution)
        with controls_in_errors(AUTO_CONTROLS):
            D = critic.discriminator(device)
            ctx.report(0, stage="scoring the base")
            objective = AlphaObjective(base.g_ema, transfer.g_ema, config, D, list(range(samples)),
                                       structure_res, device=device)
            checker = None
            if validation:
                with controls_in_errors({"samples": "the 'validation' field"}):
                    checker = AlphaObjective(base.g_ema, transfer.g_ema, config, D,
                                             list(range(samples, samples + validation)), structure_res, device=device)
            ctx.check()
            ctx.report(0, stage="searching")

            def progress(evaluations: int, elapsed: float, budget: float) -> None:
                ctx.report(min(int(elapsed), int(math.ceil(budget))), evaluations=evaluations)
                if ctx.cancelled:
                    raise JobCancelled()

            result = search_alpha(objective, budget_s, progress=progress, validation=checker, confidence=confidence)
        result.settings.update(critic=critic_name, structure="lowres")
        ctx.report(int(math.ceil(budget_s)), stage="done", evaluations=len(result.candidates))
        return AutoOutcome(result, png_bytes(front_plot(result)), generation, critic_name)

    return work


#: The API routes this module answers (server.py registers them): (method, path) -> (method of RegionTools,
#: what it returns: 'json' or 'png'). GET routes get the query string as their data.
ROUTES: dict[tuple[str, str], tuple[Callable[[RegionTools, dict[str, Any]], Any], str]] = {
    ("GET", "/api/regions/info"): (RegionTools.info, "json"),
    ("POST", "/api/regions/parts"): (RegionTools.part_map, "json"),
    ("POST", "/api/regions/render"): (RegionTools.render, "png"),
    ("POST", "/api/auto/start"): (RegionTools.start_auto, "json"),
    ("GET", "/api/auto/result"): (RegionTools.auto_result, "json"),
}
