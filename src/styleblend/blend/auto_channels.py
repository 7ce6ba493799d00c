"""Channel-dependent automatic α: one α per output channel of every layer, found by gradient ascent.

Why: Pinkney & Adler (2020, Sec. 5) propose α that depends on the channel as well as the resolution. On the
bundled pair no per-resolution table beats every plain swap on new latents (``docs/auto-alpha.md``): along the
front of tables, realism grows about linearly with the distance from the base. One α per output channel (591
values on the bundled 64 px models) lets a blend take from the transfer the channels the critic cares about and
keep the ones that move the low-resolution picture.

Both scores of :class:`~styleblend.blend.auto.AlphaObjective` are differentiable in the α: the blend's tensors
are ``lerp(base, transfer, α)`` (what :func:`~styleblend.blend.core.blend_two` computes, per output channel
as with :class:`~styleblend.blend.channels.ChannelMask`), and rendering, the critic and the area-averaged
distance are differentiable. :func:`search_channels` maximises the mean realism subject to the mean structure
distance staying below a target (a penalty above it), by Adam on the logits of α, starting from the closest
plain swap softened to 0.12 / 0.88. Tensors without an output-channel dimension (the affine layers, noise)
take one α per resolution, as in a table. Every ``every`` steps the current blend becomes a candidate, scored
on the search's latents by that step's own forward pass; with validation latents, the best candidates are
scored again there and the choice is made there, as :func:`~styleblend.blend.auto.search_alpha` does - which
also stops the ascent where it starts to fit the search's own latents.

The structure score must be the distance of low-resolution renderings (a face-identity score has no gradient
here). StyleGAN2 generators only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..errors import InvalidArgumentError
from ..nn.generator import Generator
from ..nn.naming import param_info
from .auto import (
    CHUNK,
    AlphaObjective,
    AutoResult,
    Candidate,
    ChannelAlphaItems,
    ProgressFn,
    pareto_front,
    plain_swaps,
    rank,
    rescore,
    validate_shortlist,
)
from .auto_stats import PairedScores
from .channels import ChannelMask

#: The distance the ascent keeps below, as a share of the closest plain swap's (on the search's latents): the
#: search's latents flatter the blend it fits to them, so it aims below the box's edge (measured on the bundled
#: pair: 11.0 on 64 search latents came out 11.4 on 256 others).
TARGET_SHARE = 0.9
#: Where the ascent starts: the closest plain swap, its 1 and 0 softened so that the logits have gradients.
SOFT_ONE = 0.88


class ChannelRenderer:
    """Renders blends with α per resolution and per output channel, differentiably in the α.

    Args:
        objective: the pair, its latents, critic and structure reference (:class:`AlphaObjective`).
    """

    def __init__(self, objective: AlphaObjective) -> None:
        base, transfer = objective.states
        config = objective.config
        self.objective = objective
        self.resolutions = tuple(objective.resolutions)
        device = objective.device
        # Only tensors that differ are blended (the others are the same in both models).
        self.keys = [k for k in base if k.startswith("synthesis.") and k in transfer
                     and base[k].is_floating_point() and not torch.equal(base[k], transfer[k])]
        self.info = {k: param_info(k, config) for k in self.keys}
        self.pair = {k: (base[k].to(device, torch.float32), transfer[k].to(device, torch.float32))
                     for k in self.keys}
        sizes: dict[str, int] = {}
        for k in self.keys:
            info = self.info[k]
            if info.channel_dim is not None:
                sizes.setdefault(info.layer, int(base[k].shape[info.channel_dim]))
        self.channel_sizes = dict(sorted(sizes.items()))
        self.G = Generator(config).to(device).eval().requires_grad_(False)
        self.G.load_state_dict({k: v.to(torch.float32) for k, v in base.items()}, strict=False)
        self._index = {r: i for i, r in enumerate(self.resolutions)}

    def weights(self, table: torch.Tensor, channels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The blended synthesis tensors (keys without 'synthesis.') for α ``table`` [R] and ``channels``."""
        out = {}
        for k in self.keys:
            info = self.info[k]
            b, t = self.pair[k]
            if info.channel_dim is not None and info.layer in channels:
                shape = [1] * b.ndim
                shape[info.channel_dim] = -1
                alpha = channels[info.layer].reshape(shape)
            else:
                assert info.resolution is not None
                alpha = table[self._index[info.resolution]]
            out[k.removeprefix("synthesis.")] = torch.lerp(b, t, alpha.expand_as(b))
        return out

    def render(self, table: torch.Tensor, channels: dict[str, torch.Tensor],
               ws: torch.Tensor | None = None) -> torch.Tensor:
        """Images [N, C, R, R] of the objective's latents (or ``ws``), in chunks of :data:`CHUNK`."""
        ws = self.objective.ws if ws is None else ws
        params = self.weights(table, channels)
        grad = torch.is_grad_enabled() and (table.requires_grad or any(c.requires_grad for c in channels.values()))
        return torch.cat([functional_call(self.G.synthesis, params, (ws[i:i + CHUNK],),
                                          {"noise_mode": "const", "fused_modconv": False if grad else None})
                          for i in range(0, ws.shape[0], CHUNK)])

    def scores(self, table: torch.Tensor, channels: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-latent (realism [N], structure distance [N]) as :meth:`AlphaObjective.score_latents` computes
        them, differentiable in ``table`` and ``channels``."""
        o = self.objective
        img = self.render(table, channels)
        realism = o._realism(img)
        distance = (o._low(img) - o._base_low).abs().mean((1, 2, 3)) * 127.5
        return realism, distance


def _tensors(renderer: ChannelRenderer, alphas: Sequence[float], channels: ChannelAlphaItems
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    device = renderer.objective.device
    known = renderer.channel_sizes
    out = {}
    for layer, values in channels:
        if layer not in known or len(values) != known[layer]:
            raise InvalidArgumentError(f"channel α for '{layer}' ({len(values)} values) does not fit this pair "
                                       f"(layers: {', '.join(f'{n}[{c}]' for n, c in known.items())})")
        out[layer] = torch.tensor(values, dtype=torch.float32, device=device)
    return torch.tensor(list(alphas), dtype=torch.float32, device=device), out


def render_channel_blend(objective: AlphaObjective, alphas: Sequence[float], channels: ChannelAlphaItems
                         ) -> torch.Tensor:
    """The objective's latents rendered by the blend of table ``alphas`` and ``channels`` (no gradient)."""
    renderer = getattr(objective, "_channel_renderer", None)
    if renderer is None:
        renderer = ChannelRenderer(objective)
        objective._channel_renderer = renderer  # type: ignore[attr-defined]
    table, chans = _tensors(renderer, alphas, channels)
    with torch.no_grad():
        return renderer.render(table, chans)


def score_channel_latents(objective: AlphaObjective, alphas: Sequence[float], channels: ChannelAlphaItems | None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-latent (realism [N], structure distance [N]) of the blend of table ``alphas`` and ``channels`` (None:
    the table alone), as :meth:`AlphaObjective.score_latents` scores a table."""
    if channels is None:
        return objective.score_latents(alphas)
    return objective.score_images(render_channel_blend(objective, alphas, channels))


def _score_candidate(objective: AlphaObjective, c: Candidate) -> tuple[np.ndarray, np.ndarray]:
    return score_channel_latents(objective, c.alphas, c.channels)


def channel_masks(channels: ChannelAlphaItems) -> list[ChannelMask]:
    """The channel α as the masks ``blend_two`` / ``blend --channels`` take (one full vector per layer)."""
    return [ChannelMask(layer, None, tuple(float(a) for a in values)) for layer, values in channels]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def search_channels(objective: AlphaObjective, budget_s: float = 120.0, *,
                    validation: AlphaObjective | None = None, confidence: float | None = None,
                    target_distance: float | None = None, validate_top: int = 8, every: int = 5,
                    lr: float = 0.1, clock: Callable[[], float] = time.monotonic,
                    progress: ProgressFn | None = None) -> AutoResult:
    """Search α per resolution and per output channel within ``budget_s`` seconds (see the module docstring).

    The models and plain swaps are scored first (and on ``validation``'s latents, when given); then Adam steps
    on the α's logits maximise the mean critic logit while a penalty keeps the mean structure distance below
    ``target_distance`` (default :data:`TARGET_SHARE` of the closest plain swap's), every ``every`` steps
    recording a candidate. The choice and the report are those of :func:`search_alpha` (``confidence``: paired
    bounds; ``validate_top`` candidates re-scored on the validation latents). ``progress(steps + tables,
    elapsed_s, budget_s)`` after every score and step.

    Raises:
        InvalidArgumentError: the budget is not positive or too short for the plain swaps and a few steps, a
            bad setting, or a structure score without a gradient.
    """
    if not budget_s > 0 or not math.isfinite(budget_s):
        raise InvalidArgumentError(f"`budget_s` {budget_s} must be a positive number of seconds", param="budget_s")
    if objective._structure is not None:
        raise InvalidArgumentError("channel α is found by gradients, and the structure score given has none; use "
                                   "the low-resolution distance", param="structure")
    if not 1 <= validate_top <= 64 or every < 1 or not 0 < lr <= 10:
        raise InvalidArgumentError(f"validate_top {validate_top}, every {every}, lr {lr}: out of range")
    if target_distance is not None and not target_distance > 0:
        raise InvalidArgumentError(f"`target_distance` {target_distance} must be positive", param="target_distance")
    if validation is not None and validation.resolutions != objective.resolutions:
        raise InvalidArgumentError("the validation objective must score the same generator pair")
    paired = None if confidence is None else PairedScores(objective.units, confidence)
    checked_pairs = (None if confidence is None or validation is None
                     else PairedScores(validation.units, confidence, param="validation"))
    start = clock()
    resolutions = tuple(objective.resolutions)
    n = len(resolutions)
    candidates: list[Candidate] = []
    slowest = 0.0

    def record(c: Candidate, per_r: np.ndarray, per_d: np.ndarray) -> Candidate:
        if paired is not None:
            paired.add(c.key, per_r, per_d)
        candidates.append(c)
        if progress is not None:
            progress(len(candidates), clock() - start, budget_s)
        return c

    fixed = [("base", (0.0,) * n), ("transfer", (1.0,) * n), *plain_swaps(resolutions)]
    for label, table in fixed:
        t0 = clock()
        per_r, per_d = objective.score_latents(table)
        slowest = max(slowest, clock() - t0)
        record(Candidate(table, float(per_r.mean()), float(per_d.mean()), label), per_r, per_d)
        if label == "base" and slowest * len(fixed) * (2 if validation is not None else 1) > budget_s:
            raise InvalidArgumentError(f"`budget_s` {budget_s:g} s is too short: one score takes {slowest:.2f} s "
                                       f"and the {len(fixed)} plain swaps and models need {slowest * len(fixed):.1f} "
                                       "s" + (" (and their validation as much again)" if validation else "")
                                       + "; give more time or fewer samples", param="budget_s")
    swaps = tuple(c for c in candidates if c.label.startswith("swap"))
    val_times: list[float] = []
    val_swaps: tuple[Candidate, ...] = ()
    if validation is not None:
        for s in swaps:
            t0 = clock()
            val_swaps += (rescore(validation, s, checked_pairs),)
            val_times.append(clock() - t0)
    if not swaps:
        raise InvalidArgumentError("a model of one block resolution has no plain swaps to start from")
    closest = min(swaps, key=lambda c: c.distance)
    target = TARGET_SHARE * closest.distance if target_distance is None else float(target_distance)

    renderer = ChannelRenderer(objective)
    objective._channel_renderer = renderer  # type: ignore[attr-defined]
    soft = [SOFT_ONE if a >= 0.5 else 1.0 - SOFT_ONE for a in closest.alphas]
    theta_table = torch.tensor([_logit(a) for a in soft], device=objective.device, requires_grad=True)
    theta_channels = {}
    for layer, size in renderer.channel_sizes.items():
        res = int(layer.split(".")[0][1:])
        theta_channels[layer] = torch.full([size], _logit(soft[resolutions.index(res)]), device=objective.device,
                                           requires_grad=True)
    opt = torch.optim.Adam([theta_table, *theta_channels.values()], lr=lr)

    def kept_time() -> float:
        return (validate_top + 1) * max(val_times) if val_times else 0.0

    def current() -> tuple[tuple[float, ...], ChannelAlphaItems]:
        table = tuple(float(a) for a in torch.sigmoid(theta_table).tolist())
        chans = tuple((layer, tuple(float(a) for a in torch.sigmoid(t).tolist()))
                      for layer, t in theta_channels.items())
        return table, chans

    step, step_time = 0, 0.0
    now = clock()
    while budget_s - (now - start) >= max(step_time, slowest) + kept_time():
        realism, distance = renderer.scores(torch.sigmoid(theta_table),
                                            {k: torch.sigmoid(t) for k, t in theta_channels.items()})
        if step % every == 0:
            table, chans = current()
            per_r, per_d = (x.detach().to(torch.float64).cpu().numpy() for x in (realism, distance))
            record(Candidate(table, float(per_r.mean()), float(per_d.mean()), "channels", None, chans), per_r, per_d)
        over = torch.relu(distance.mean() - target)
        loss = -realism.mean() + over.square() + 0.2 * over
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        later = clock()
        step_time, now = max(step_time, later - now), later
        if progress is not None and step % every:
            progress(len(candidates), clock() - start, budget_s)
    if step == 0:
        raise InvalidArgumentError(f"`budget_s` {budget_s:g} s left no time for a gradient step after the plain "
                                   "swaps; give more time", param="budget_s")
    front = pareto_front(candidates)
    shortlist = rank(front, swaps, paired)[:validate_top]
    checked = (None if validation is None
               else validate_shortlist(validation, shortlist, val_swaps, checked_pairs, _score_candidate))
    chosen = (rank(front, swaps, paired)[0] if checked is None
              else next(c for c in front if c.key == checked.chosen.key))
    own = () if paired is None else tuple(paired.margin(chosen.key, s.key, s.label) for s in swaps)
    settings = {"samples": int(objective.ws.shape[0]), "structure_res": objective.structure_res, "seed": 0,
                "family": "channels", "confidence": confidence, "target_distance": target, "steps": step,
                "lr": lr, "every": every}
    return AutoResult(resolutions, tuple(candidates), swaps, front, chosen, clock() - start, float(budget_s),
                      settings, checked, own)
