"""Embed an image into W / W+ by optimisation: one loop, methods as settings, losses as weighted terms.

Data flow: ``(G, target) -> init ws -> loop{ws(t); synthesise; weighted loss (+ noise reg); Adam step;
callback} -> ProjectionResult``. The loop never prints or writes files; progress goes to ``callback``.

Methods (presets of :class:`~.settings.ProjectionSettings`, :func:`~.settings.settings_for`):

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

**W+ + features** (a feature head's prediction, :mod:`.feature_encoder`): with ``init_features`` the loop
optimises the feature map at one coarse block together with W+ and renders through
:func:`~styleblend.nn.feature_space.synthesize_from_features`. The features get their own learning rate,
``settings.feature_lr`` times their RMS (so one setting fits any model's feature scale), on the same schedule.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidArgumentError
from ..nn.feature_space import check_block, synthesize_from_features
from . import schedules, wspace
from .losses import WeightedLoss, noise_regularization
from .settings import ProjectionSettings

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

#: callback(step, losses, ws) -> False to stop; ``step`` counts completed steps from 1, ``losses`` has
#: every loss term plus 'loss' (the weighted total) and 'lr', ``ws`` is a detached [N, num_ws, w_dim].
ProjectionCallback = Callable[[int, dict[str, float], torch.Tensor], "bool | None"]


class Cancelled(Exception):
    """Raise from a projection callback to stop the loop; :func:`project` returns what it has so far."""


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
    features, feature_block: the optimised feature map [N, C, r, r] at block r when the projection started
        from ``init_features`` (W+ + features, not a pure latent), else None.
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
    features: torch.Tensor | None = None
    feature_block: int | None = None

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def w_statistics(G: Generator, num_samples: int, generator: torch.Generator) -> tuple[torch.Tensor, float]:
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


def synthesize(G: Generator, ws: torch.Tensor, noise: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Render ws [N, num_ws, w_dim] with the model's fixed noise, or with ``noise`` substituted.

    ``noise``: tensors of ``G.synthesis`` by name (noise buffers, or any parameters: PTI passes tuned
    weights), used in place of the stored ones for this call only (``G`` is not modified).

    Raises:
        InvalidArgumentError: tensors to substitute, but ``G.synthesis`` is not a torch.nn.Module.
    """
    if noise:
        synthesis = G.synthesis
        if not isinstance(synthesis, torch.nn.Module):
            raise InvalidArgumentError(f"the generator's synthesis is a {type(synthesis).__name__}; substituting "
                                       "its tensors needs a torch.nn.Module")
        out: torch.Tensor = torch.func.functional_call(synthesis, dict(noise), (ws,), {"noise_mode": "const"},
                                                       strict=False)
        return out
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


def _initial_ws(G: Generator, settings: ProjectionSettings, w_avg: torch.Tensor,
                generator: torch.Generator, n: int) -> torch.Tensor:
    num_ws, w_dim = G.num_ws, G.w_dim
    if settings.init == "random":
        rows = 1 if settings.space == "w" else num_ws
        w = torch.rand([n, rows, w_dim], generator=generator) * 2 - 1
        return w.to(w_avg.device).expand(n, num_ws, w_dim).clone()
    return w_avg.view(1, 1, w_dim).repeat([n, num_ws, 1])


def _check_ws(ws: torch.Tensor, n: int, G: Generator, what: str, rows_optional: bool = False) -> torch.Tensor:
    """[1 or n, num_ws, w_dim] (or [num_ws, w_dim]; or [1 or n, w_dim] when ``rows_optional``) -> [n, num_ws, w_dim]."""
    ws = ws.detach().to(device=next(G.parameters()).device, dtype=torch.float32)
    if rows_optional and ws.ndim == 2 and ws.shape[-1] == G.w_dim and ws.shape[0] in (1, n) and ws.shape[0] != G.num_ws:
        ws = ws[:, None].expand(-1, G.num_ws, -1)
    ws = ws[None] if ws.ndim == 2 else ws
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (G.num_ws, G.w_dim) or ws.shape[0] not in (1, n):
        raise InvalidArgumentError(f"{what} has shape {tuple(ws.shape)}; this model needs [{G.num_ws}, {G.w_dim}] "
                                   f"(num_ws, w_dim), or [1 or {n}, {G.num_ws}, {G.w_dim}] for {n} targets")
    return ws.expand(n, -1, -1).clone()


def has_noise_inputs(G: Generator) -> bool:
    """True when ``G.synthesis`` has per-layer noise maps (``*.noise_const``): StyleGAN2 has, StyleGAN3 has none."""
    return any(name.endswith("noise_const") for name, _ in G.synthesis.named_buffers())


def _noise_maps(G: Generator, settings: ProjectionSettings, n: int,
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


def _initial_features(G: Generator, init_features: torch.Tensor | None, feature_block: int | None, n: int,
                      has_init_ws: bool, optimizes_noise: bool) -> torch.Tensor | None:
    """The feature map to optimise (a leaf tensor) or None; checks that it fits and what it needs."""
    if init_features is None and feature_block is None:
        return None
    if init_features is None or feature_block is None:
        raise InvalidArgumentError("`init_features` and `feature_block` go together: give both or neither")
    if not has_init_ws:
        raise InvalidArgumentError("`init_features` needs `init_ws`: the features are predicted for a given W+")
    if optimizes_noise:
        raise InvalidArgumentError("`init_features` cannot be combined with noise optimisation; turn "
                                   "`optimize_noise` off")
    channels = check_block(G, int(feature_block))
    device = next(G.parameters()).device
    feats = init_features.detach().to(device=device, dtype=torch.float32)
    if feats.ndim != 4 or tuple(feats.shape[1:]) != (channels, feature_block, feature_block) \
            or feats.shape[0] not in (1, n):
        raise InvalidArgumentError(f"`init_features` has shape {tuple(feats.shape)}; block {feature_block} of this "
                                   f"model needs [1 or {n}, {channels}, {feature_block}, {feature_block}]")
    if not bool(torch.isfinite(feats).all()):
        raise InvalidArgumentError("`init_features` holds values that are not finite")
    return feats.expand(n, -1, -1, -1).clone().requires_grad_(True)


def project(G: Generator, target: torch.Tensor, settings: ProjectionSettings, loss: WeightedLoss, *,
            seed: int = 0, init_ws: torch.Tensor | None = None, w_base: torch.Tensor | None = None,
            callback: ProjectionCallback | None = None, init_features: torch.Tensor | None = None,
            feature_block: int | None = None) -> ProjectionResult:
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
        init_features, feature_block: a feature map [N, C, r, r] at block ``feature_block`` (a feature head's
            prediction for ``init_ws``) to optimise together with W+ (see the module docstring); needs
            ``init_ws`` and no noise optimisation. The result's ``features`` holds it.

    Returns:
        :class:`ProjectionResult` with the best-effort ws [N, num_ws, w_dim] after the last completed step.

    Raises:
        InvalidArgumentError: target of the wrong shape, bad init_ws / w_base / init_features, conditional model.
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
    groups: list[dict] = [{"params": params, "lr": settings.lr, "scale": 1.0}]
    feats = _initial_features(G, init_features, feature_block, n, init_ws is not None, noise is not None)
    if feats is not None:
        # Adam's step is about lr in absolute units: scale it to the features' own size (their RMS).
        rms = float(feats.detach().square().mean().sqrt()) or 1.0
        groups.append({"params": [feats], "lr": settings.feature_lr * rms, "scale": settings.feature_lr * rms
                       / settings.lr})
    opt = torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)

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
            group["lr"] = lr * group["scale"]
        w_noise = None
        noise_scale = w_std * schedules.nvidia_w_noise(t, settings.w_noise, settings.w_noise_ramp)
        if noise_scale > 0:
            w_noise = torch.randn(latent.w.shape, generator=gen).to(device) * noise_scale
        ws = latent.ws(t, w_noise)
        if feats is None:
            synth = synthesize(G, ws, noise)
        else:
            synth = synthesize_from_features(G, ws, feats, int(feature_block or 0))
        total, parts = loss(synth, target)
        if noise is not None and "noise_reg" in weights:
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
    if feats is not None:
        result.features, result.feature_block = feats.detach().clone(), feature_block
    result.w_distance = wspace.distance_from_w(result.ws, w_avg, coord_std)
    log.debug("projection: %d steps in %.1f s, final loss %.4g", result.steps_done, result.seconds, result.final_loss)
    return result
