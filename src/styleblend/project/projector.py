"""Embed an image into W / W+ by optimisation: one loop, methods as settings, losses as weighted terms.

Data flow: ``(G, target) -> init ws -> loop{ws(t); synthesise; weighted loss (+ noise reg); Adam step;
callback} -> ProjectionResult``. The loop never prints or writes files; progress goes to ``callback``.

Methods (:func:`settings_for`):

* ``image2stylegan`` - Abdal, Qin & Wonka, "Image2StyleGAN", ICCV 2019, Sec. 4 and Algorithm 1: W+,
  init at the mean w (or U[-1, 1]), Adam lr 0.01, betas (0.9, 0.999), eps 1e-8, 5000 steps, noise inputs
  fixed; loss = VGG perceptual (conv1_1, conv1_2, conv3_2, conv4_2 at 256x256) + 1 * pixel MSE.
* ``nvidia`` - Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020,
  Appendix D / NVIDIA's projector: W space from w_avg, 1000 steps, lr 0.1 with ramp-up 0.05 and cosine
  ramp-down 0.25, Gaussian noise on w of 0.05 * std(w) decaying quadratically to 0 at 75 % of the run,
  per-layer noise maps optimised too (re-normalised to zero mean / unit variance after every step) with a
  noise autocorrelation regulariser of weight 1e5; loss = LPIPS-style VGG distance.
* ``fast`` - ours: W+ from the mean w at a 10x higher lr (0.1) with a 2 % warm-up and NVIDIA's cosine
  ramp-down over the last 25 %, reached coarse to fine (first one shared w, then per-layer offsets
  unlocked from the coarsest to the finest layer over the first 25 % of the run); 300 steps; same loss
  as image2stylegan. Measured on 8 held-out emoji (benchmarks/bench_project.py, early 64 px model, pixel
  fallback loss): 18.7 dB after 100 steps, where image2stylegan's published settings reach 14.8 dB at
  100 and 18.1 dB at 300 steps. Most of the gain is the learning rate (constant lr 0.1: 18.5 dB at 100
  steps); coarse-to-fine adds ~0.6 dB at 100 steps and nothing measurable at 300.
* ``editable`` - ``fast`` plus the W+ regulariser (``w_reg`` = :data:`DEFAULT_W_REG`, see
  :mod:`.wspace`): latents stay nearer W, so they render well through blends and edits (toonify).

Any method takes ``w_reg`` (W+ regulariser), ``optimize_noise`` and ``noise_init`` as overrides; the published
presets keep the regulariser off.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InvalidArgumentError
from . import schedules, wspace
from .losses import WeightedLoss, noise_regularization

log = logging.getLogger(__name__)

METHODS = ("image2stylegan", "nvidia", "fast", "editable")

#: W+ regulariser weight of the ``editable`` method. Measured on 8 held-out emoji with the bundled base, `fast`
#: 100 steps, pixel loss (docs/projection.md): w_reg 0 / 0.003 / 0.01 / 0.03 -> row spread 0.83 / 0.75 / 0.60 /
#: 0.35 at PSNR 23.2 / 23.2 / 23.1 / 22.5 dB: 0.03 more than halves the spread for 0.6 dB. The weight is
#: relative to the image loss, so a loss of a larger scale (dfeat) is regularised less by the same weight.
DEFAULT_W_REG = 0.03
SPACES = ("w", "w+")
INITS = ("mean", "random")
LR_SCHEDULES = ("constant", "nvidia", "warmup_cosine")
NOISE_INITS = ("random", "model")

#: callback(step, losses, ws) -> False to stop; ``step`` counts completed steps from 1, ``losses`` has
#: every loss term plus 'loss' (the weighted total) and 'lr', ``ws`` is a detached [N, num_ws, w_dim].
ProjectionCallback = Callable[[int, dict[str, float], torch.Tensor], "bool | None"]


class Cancelled(Exception):
    """Raise from a projection callback to stop the loop; :func:`project` returns what it has so far."""


@dataclass(frozen=True)
class ProjectionSettings:
    """Knobs of the projection loop (a method is a preset of these; see :func:`settings_for`).

    space: 'w' (one w shared by all layers) or 'w+' (one w per layer).
    steps: optimisation steps.
    lr, betas, eps: Adam's base learning rate and constants.
    lr_schedule: 'constant', 'nvidia' (ramp-up ``lr_rampup``, cosine ramp-down ``lr_rampdown``, as fractions
        of the run) or 'warmup_cosine' (warm-up ``lr_rampup``, cosine decay to 5 %).
    init: 'mean' (mean mapping output) or 'random' (U[-1, 1] per coordinate, Image2StyleGAN's alternative).
        A caller-given ``init_ws`` to :func:`project` overrides it.
    num_w_samples: z samples averaged for the mean w and its std; 0 uses the model's tracked ``w_avg``
        (and std 1 for the w noise).
    w_noise, w_noise_ramp: NVIDIA's w-noise annealing factor (times std of w) and its ramp length; 0 = off.
    optimize_noise: also optimise the per-layer noise maps (NVIDIA); else they stay fixed ('const').
    noise_reg_weight: weight of :func:`~styleblend.project.losses.noise_regularization` (used only when
        optimize_noise; NVIDIA's 1e5 by default, so turning noise optimisation on for any method keeps the
        maps from absorbing image content).
    unlock_until: coarse-to-fine W+ - per-layer offsets are unlocked progressively until this fraction of
        the run (0 = all layers free from the start). Ignored when :func:`project` gets ``init_ws``.
    noise_init: where optimised noise maps start: 'random' (fresh N(0, 1) maps, NVIDIA's projector) or
        'model' (the model's own stored maps, the ones ``proj.png`` and ``generate`` render with).
    w_reg: weight of the W+ regulariser (:func:`~styleblend.project.wspace.row_spread`: mean distance of
        each row from the mean row - or from ``w_base`` given to :func:`project` - in units of the spread
        of W); 0 = off. :data:`DEFAULT_W_REG` is the measured default of the ``editable`` method.
    """

    method: str = "image2stylegan"
    space: str = "w+"
    steps: int = 5000
    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_schedule: str = "constant"
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    init: str = "mean"
    num_w_samples: int = 10000
    w_noise: float = 0.0
    w_noise_ramp: float = 0.75
    optimize_noise: bool = False
    noise_reg_weight: float = 1e5
    unlock_until: float = 0.0
    noise_init: str = "random"
    w_reg: float = 0.0

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise InvalidArgumentError(f"space {self.space!r} must be one of {SPACES}")
        if self.steps < 1:
            raise InvalidArgumentError(f"steps={self.steps} must be at least 1")
        if self.init not in INITS:
            raise InvalidArgumentError(f"init {self.init!r} must be one of {INITS} (or pass init_ws)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InvalidArgumentError(f"lr_schedule {self.lr_schedule!r} must be one of {LR_SCHEDULES}")
        if not self.lr > 0:
            raise InvalidArgumentError(f"lr={self.lr} must be positive")
        if self.noise_init not in NOISE_INITS:
            raise InvalidArgumentError(f"noise_init {self.noise_init!r} must be one of {NOISE_INITS}")
        if not self.w_reg >= 0:
            raise InvalidArgumentError(f"w_reg={self.w_reg} must be >= 0 (0 turns the W+ regulariser off)")

    def lr_at(self, t: float) -> float:
        if self.lr_schedule == "nvidia":
            return self.lr * schedules.nvidia_lr(t, self.lr_rampdown, self.lr_rampup)
        if self.lr_schedule == "warmup_cosine":
            return self.lr * schedules.warmup_cosine_lr(t, self.lr_rampup)
        return self.lr * schedules.constant_lr(t)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PRESETS: dict[str, dict[str, Any]] = {
    "image2stylegan": {"space": "w+", "steps": 5000, "lr": 0.01, "lr_schedule": "constant", "init": "mean"},
    "nvidia": {"space": "w", "steps": 1000, "lr": 0.1, "lr_schedule": "nvidia", "lr_rampup": 0.05,
               "lr_rampdown": 0.25, "init": "mean", "w_noise": 0.05, "w_noise_ramp": 0.75, "optimize_noise": True,
               "noise_reg_weight": 1e5},
    "fast": {"space": "w+", "steps": 300, "lr": 0.1, "lr_schedule": "nvidia", "lr_rampup": 0.02,
             "lr_rampdown": 0.25, "init": "mean", "unlock_until": 0.25},
}
# editable: fast plus the W+ regulariser - what toonify and edits want (a latent that renders well through
# other models, not only the one it was fitted with).
_PRESETS["editable"] = dict(_PRESETS["fast"], w_reg=DEFAULT_W_REG)


def settings_for(method: str, **overrides: Any) -> ProjectionSettings:
    """The published settings of ``method`` (see the module docstring), with explicit overrides.

    ``None`` values in ``overrides`` are ignored, so CLI options left unset keep the method's defaults.
    """
    if method not in _PRESETS:
        raise InvalidArgumentError(f"method {method!r} must be one of {METHODS}")
    values = dict(_PRESETS[method], method=method)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ProjectionSettings(**values)


@dataclass
class ProjectionResult:
    """What a projection found.

    ws: [N, num_ws, w_dim] (in W space all rows are equal).
    noise: optimised noise maps by buffer name relative to ``G.synthesis`` (``b8.conv0.noise_const``), [H, W]
        for one target and [N, 1, H, W] for N, or None when the model's fixed noise was used.
    history: per step, every loss term (unweighted, batch mean), 'loss' (the weighted total) and 'lr'.
    term_weights: the weight of each term of ``history`` in the total ('noise_reg' and 'w_reg' included
        when they are on), so a plot can show what each term contributes.
    w_distance: :func:`~styleblend.project.wspace.distance_from_w` of ``ws``: {'row_spread': [N],
        'mean_distance': [N]}, in units of the spread of W.
    """

    ws: torch.Tensor
    settings: ProjectionSettings
    noise: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    term_weights: dict[str, float] = field(default_factory=dict)
    w_distance: dict[str, list[float]] = field(default_factory=dict)
    steps_done: int = 0
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def w_statistics(G: torch.nn.Module, num_samples: int, generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """Mean w [w_dim] and the scalar std sqrt(E||w - mean||^2) of ``num_samples`` mapped z ~ N(0, I).

    With ``num_samples == 0`` returns the model's tracked ``mapping.w_avg`` and std 1.
    """
    device = next(G.parameters()).device
    if num_samples == 0:
        w_avg = getattr(G.mapping, "w_avg", None)
        if w_avg is None:
            raise InvalidArgumentError("the model tracks no w_avg; use num_w_samples > 0")
        return w_avg.detach().clone(), 1.0
    ws = []
    with torch.no_grad():
        for start in range(0, num_samples, 1000):
            n = min(1000, num_samples - start)
            z = torch.randn([n, G.z_dim], generator=generator).to(device)
            ws.append(G.mapping(z, None)[:, 0])
    w = torch.cat(ws)
    mean = w.mean(dim=0)
    std = float(((w - mean).square().sum() / num_samples).sqrt())
    return mean, std


def synthesize(G: torch.nn.Module, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Render ws [N, num_ws, w_dim] with the model's fixed noise, or with ``noise`` buffers substituted."""
    if noise:
        return torch.func.functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const"}, strict=False)
    return G.synthesis(ws, noise_mode="const")


class _Latent:
    """The optimised latent: W (one shared w), W+, or coarse-to-fine W+ (shared w + unlocked offsets)."""

    def __init__(self, init_ws: torch.Tensor, settings: ProjectionSettings, unlock_until: float) -> None:
        self.num_ws = init_ws.shape[1]
        self.space, self.unlock_until = settings.space, unlock_until
        if self.space == "w":
            self.w = init_ws.mean(dim=1, keepdim=True).clone().requires_grad_(True)
            self.params = [self.w]
        elif self.unlock_until > 0:
            base = init_ws.mean(dim=1, keepdim=True)
            self.w = base.clone().requires_grad_(True)
            self.offset0 = (init_ws - base).detach()
            self.delta = torch.zeros_like(init_ws, requires_grad=True)
            self.params = [self.w, self.delta]
        else:
            self.w = init_ws.clone().requires_grad_(True)
            self.params = [self.w]

    def ws(self, t: float, w_noise: torch.Tensor | None = None) -> torch.Tensor:
        w = self.w if w_noise is None else self.w + w_noise
        if self.space == "w":
            return w.expand(-1, self.num_ws, -1)
        if self.unlock_until > 0:
            k = schedules.unlocked_ws(t, self.num_ws, self.unlock_until)
            mask = (torch.arange(self.num_ws, device=w.device) < k).to(w.dtype).view(1, -1, 1)
            return w + self.offset0 + self.delta * mask
        return w


def _initial_ws(G: torch.nn.Module, settings: ProjectionSettings, w_avg: torch.Tensor,
                generator: torch.Generator, n: int) -> torch.Tensor:
    num_ws, w_dim = G.num_ws, G.w_dim
    if settings.init == "random":
        rows = 1 if settings.space == "w" else num_ws
        w = torch.rand([n, rows, w_dim], generator=generator) * 2 - 1
        return w.to(w_avg.device).expand(n, num_ws, w_dim).clone()
    return w_avg.view(1, 1, w_dim).repeat([n, num_ws, 1])


def _check_ws(ws: torch.Tensor, n: int, G: torch.nn.Module, what: str, rows_optional: bool = False) -> torch.Tensor:
    """[1 or n, num_ws, w_dim] (or [num_ws, w_dim]; or [1 or n, w_dim] when ``rows_optional``) -> [n, num_ws, w_dim]."""
    ws = ws.detach().to(device=next(G.parameters()).device, dtype=torch.float32)
    if rows_optional and ws.ndim == 2 and ws.shape[-1] == G.w_dim and ws.shape[0] in (1, n) and ws.shape[0] != G.num_ws:
        ws = ws[:, None].expand(-1, G.num_ws, -1)
    ws = ws[None] if ws.ndim == 2 else ws
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (G.num_ws, G.w_dim) or ws.shape[0] not in (1, n):
        raise InvalidArgumentError(f"{what} has shape {tuple(ws.shape)}; this model needs [{G.num_ws}, {G.w_dim}] "
                                   f"(num_ws, w_dim), or [1 or {n}, {G.num_ws}, {G.w_dim}] for {n} targets")
    return ws.expand(n, -1, -1).clone()


def has_noise_inputs(G: torch.nn.Module) -> bool:
    """True when ``G.synthesis`` has per-layer noise maps (``*.noise_const``): StyleGAN2 has, StyleGAN3 has none."""
    return any(name.endswith("noise_const") for name, _ in G.synthesis.named_buffers())


def _noise_maps(G: torch.nn.Module, settings: ProjectionSettings, n: int,
                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The noise maps to optimise: [H, W] for one target (the model's buffer shape), [n, 1, H, W] for n.

    'random' draws fresh N(0, 1) maps (NVIDIA); 'model' starts from the model's stored maps, normalised to
    zero mean and unit variance like every later step (a no-op for maps the model drew as N(0, 1)).
    """
    maps = {}
    for name, buf in G.synthesis.named_buffers():
        if not name.endswith("noise_const"):
            continue
        shape = list(buf.shape) if n == 1 else [n, 1, *buf.shape]
        if settings.noise_init == "random":
            value = torch.randn(shape, generator=generator).to(buf.device)
        else:
            value = buf.detach().float().expand(shape).clone()
        maps[name] = _normalise_noise(value).requires_grad_(True)
    return maps


def _normalise_noise(buf: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per map (over H, W), in place; NVIDIA does this after every step."""
    dims = (-2, -1)
    buf -= buf.mean(dim=dims, keepdim=True)
    buf *= buf.square().mean(dim=dims, keepdim=True).rsqrt()
    return buf


def project(G: torch.nn.Module, target: torch.Tensor, settings: ProjectionSettings, loss: WeightedLoss, *,
            seed: int = 0, init_ws: torch.Tensor | None = None, w_base: torch.Tensor | None = None,
            callback: ProjectionCallback | None = None) -> ProjectionResult:
    """Find ws whose image ``G.synthesis(ws)`` matches ``target`` under ``loss``.

    Args:
        G: a generator (eval mode); it is not modified (its noise maps are substituted, not overwritten).
        target: [N, img_channels, R, R] in [-1, 1] with R = G.img_resolution, on G's device. N > 1 projects
            N images at once, independently (each has its own latent and noise maps; every loss term is a
            mean over the batch, so Adam - invariant to the scale of a gradient - takes the same steps).
        settings: method knobs, see :class:`ProjectionSettings` and :func:`settings_for`.
        loss: weighted image loss, e.g. :func:`~styleblend.project.losses.image2stylegan_loss`.
        seed: seeds every random draw (w samples, random init, noise maps, w noise): same seed, same result.
        init_ws: optional start [1 or N, num_ws, w_dim] (or [num_ws, w_dim]) instead of ``settings.init``:
            the refinement path (e.g. an encoder's prediction). Coarse-to-fine unlocking is skipped then.
        w_base: what the W+ regulariser (``settings.w_reg``) pulls every row towards, [1 or N, w_dim] or
            [1 or N, num_ws, w_dim] (e.g. an encoder's base w); None = each latent's own mean row.
        callback: called after every step, see :data:`ProjectionCallback`; returning False or raising
            :class:`Cancelled` stops early (the result then has ``cancelled=True``). Other exceptions propagate.

    Returns:
        :class:`ProjectionResult` with the best-effort ws [N, num_ws, w_dim] after the last completed step.

    Raises:
        InvalidArgumentError: target of the wrong shape, bad init_ws / w_base, conditional model.
    """
    device = next(G.parameters()).device
    res, channels = G.img_resolution, G.img_channels
    if target.ndim != 4 or tuple(target.shape[1:]) != (channels, res, res) or target.shape[0] < 1:
        raise InvalidArgumentError(f"target has shape {tuple(target.shape)}; this model needs [N, {channels}, {res}, "
                                   f"{res}] - load it with styleblend.media.load.load_target(path, {res})")
    if getattr(G, "c_dim", 0):
        raise InvalidArgumentError(f"the model is class-conditional (c_dim={G.c_dim}); projection supports "
                                   "unconditional models only")
    n = target.shape[0]
    target = target.to(device=device, dtype=torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    w_avg, w_std = w_statistics(G, settings.num_w_samples, gen)
    # Per-coordinate std of W, the unit of the W+ measures; the tracked-w_avg mode (num_w_samples=0) has
    # no measured std, so a small seeded sample gives one (it does not touch ``gen``: same draws as before).
    coord_std = w_std / math.sqrt(G.w_dim) if settings.num_w_samples > 0 else wspace.w_stats(G, 1000, seed)[1]

    if init_ws is not None:
        init = _check_ws(init_ws, n, G, "init latent")
        # A given start is already a fit (an encoder's prediction, an earlier projection): locking its
        # per-layer offsets and unlocking them coarse to fine would first throw its W+ detail away - the
        # shared w is only their mean - and spend the first quarter of the run re-finding it. Coarse-to-fine
        # exists to keep a start at w_avg from fitting fine layers before the coarse ones have found the
        # layout; an initialised start has the layout already, so all rows are free from step 1.
        unlock_until = 0.0
    else:
        init = _initial_ws(G, settings, w_avg, gen, n)
        unlock_until = settings.unlock_until
    base = _check_ws(w_base, n, G, "w_base", rows_optional=True) if w_base is not None else None
    latent = _Latent(init, settings, unlock_until)

    noise: dict[str, torch.Tensor] | None = None
    params = list(latent.params)
    if settings.optimize_noise and has_noise_inputs(G):  # a StyleGAN3 generator has none to optimise
        noise = _noise_maps(G, settings, n, gen)
        params += list(noise.values())
    opt = torch.optim.Adam(params, lr=settings.lr, betas=settings.betas, eps=settings.eps)

    weights = {t.name: t.weight for t in loss.terms}
    if noise is not None and settings.noise_reg_weight > 0:
        weights["noise_reg"] = settings.noise_reg_weight
    if settings.w_reg > 0:
        weights["w_reg"] = settings.w_reg
    result = ProjectionResult(ws=latent.ws(0.0).detach().clone(), settings=settings, term_weights=weights)
    start = time.perf_counter()
    for step in range(settings.steps):
        t = step / settings.steps
        lr = settings.lr_at(t)
        for group in opt.param_groups:
            group["lr"] = lr
        w_noise = None
        noise_scale = w_std * schedules.nvidia_w_noise(t, settings.w_noise, settings.w_noise_ramp)
        if noise_scale > 0:
            w_noise = torch.randn(latent.w.shape, generator=gen).to(device) * noise_scale
        ws = latent.ws(t, w_noise)
        synth = synthesize(G, ws, noise)
        total, parts = loss(synth, target)
        if "noise_reg" in weights:
            reg = noise_regularization(noise.values())
            parts["noise_reg"] = float(reg.detach())
            total = total + settings.noise_reg_weight * reg
        if settings.w_reg > 0:
            # On the latent without the exploration noise: the regulariser judges the latent, not the probe.
            reg = wspace.row_spread(latent.ws(t), coord_std, base).mean()
            parts["w_reg"] = float(reg.detach())
            total = total + settings.w_reg * reg
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if noise is not None:
            with torch.no_grad():  # keep the noise maps white: zero mean, unit variance (NVIDIA)
                for buf in noise.values():
                    _normalise_noise(buf)
        parts["loss"], parts["lr"] = float(total.detach()), lr
        result.history.append(parts)
        result.steps_done = step + 1
        result.ws = latent.ws((step + 1) / settings.steps).detach().clone()
        if callback is not None:
            try:
                keep_going = callback(step + 1, parts, result.ws)
            except Cancelled:
                keep_going = False
            if keep_going is False:
                result.cancelled = True
                break
    result.seconds = time.perf_counter() - start
    if noise is not None:
        result.noise = {k: v.detach().clone() for k, v in noise.items()}
    result.w_distance = wspace.distance_from_w(result.ws, w_avg, coord_std)
    log.debug("projection: %d steps in %.1f s, final loss %.4g", result.steps_done, result.seconds, result.final_loss)
    return result
