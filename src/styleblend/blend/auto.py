"""Automatic α: search a per-resolution α table for realism in the target domain and structure from the base.

Why: users tune a blend's α by trial and error. DualStyleGAN (Yang et al., CVPR 2022) and StyleGAN-NADA (Gal
et al., 2022) choose per-layer weights by an objective; here the two objectives of a blend are measured and
the search keeps the whole trade-off (the Pareto front), not one weighted sum.

Two scores of a per-resolution table α (one value per block resolution, α = the transfer's share):

* **realism** (higher is better): the mean logit of a *critic* - a discriminator trained on the target
  domain, usually the transfer model's own D - on images the blend renders for fixed latents;
* **structure distance** (lower is better): mean |blend - base| of the renderings area-averaged to
  ``structure_res`` px (8-bit units, RGB mean), i.e. how far the blend moves the base's layout and colours;
  or, for face models, a given ``structure`` score such as the identity distance of the faces
  (:class:`styleblend.metrics.identity.IdentityKeeping`: dlib descriptors of blend vs base renderings).

The search (:func:`search_alpha`) first scores every *plain swap* (α = 1 up to a resolution and 0 above,
and its flip, for every inner resolution - the blends the paper makes by hand), then spends the rest of the
time budget on a seeded evolutionary search. Each step draws a new table, refines the table nearest to the
*box* of tables better than every swap on both scores (realism above the best swap's, distance below the
closest swap's), or mutates a point of the current front to widen it, and scores it. Rendering reuses
:class:`~styleblend.blend.live.LiveBlend`, which re-runs only the blocks whose α changed. The result keeps
every scored table, the front, the swaps and the chosen table: the front point that beats (is better on
both scores than) the most plain swaps, then the one with the best balance of the two normalised scores.

**Validation.** Scores on a few latents are noisy, and a search that scores hundreds of tables on the same
latents finds tables that win there by chance (measured: 8 of 8 swaps beaten on the search's own 16 seeds,
3 of 8 on new seeds). Given a second objective on *other* latents, :func:`search_alpha` keeps time to
re-score the plain swaps and the best ``validate_top`` front points there, and chooses on those scores alone:
the selection then rests on latents the search never saw.

StyleGAN2 generators only (per-resolution blocks), like LiveBlend.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from .auto_family import family as make_family
from .auto_report import box
from .auto_stats import Margin, PairedScores
from .core import StateDict
from .live import LiveBlend

#: (layer, α per output channel) for each layer a channel-dependent blend sets, sorted by layer.
ChannelAlphaItems = tuple[tuple[str, tuple[float, ...]], ...]

#: Most latents one score renders (each candidate renders all of them).
MAX_SAMPLES = 256

#: Latents rendered and judged as one batch; a score of more latents runs several (the critic's groups then
#: lie within a chunk: :func:`critic_units`).
CHUNK = 64


@dataclass(frozen=True)
class Candidate:
    """One scored table: ``alphas`` per resolution (ascending), the two scores and where it came from; with
    ``channels`` also α per output channel of every layer listed (:mod:`styleblend.blend.auto_channels`)."""

    alphas: tuple[float, ...]
    realism: float
    distance: float
    label: str  # 'swap 16', 'swap 16 flip', 'base', 'transfer', 'search' or 'channels'
    params: tuple[float, ...] | None = None  # the family's parameters (None: the table itself is the point)
    channels: ChannelAlphaItems | None = None

    @property
    def key(self) -> Hashable:
        """What identifies the blend (the table, and the channel α when there are any)."""
        return self.alphas if self.channels is None else (self.alphas, self.channels)

    def beats(self, other: Candidate) -> bool:
        """Strictly better on both scores."""
        return self.realism > other.realism and self.distance < other.distance

    def dominates(self, other: Candidate) -> bool:
        """Pareto dominance: no worse on both scores and better on one."""
        return (self.realism >= other.realism and self.distance <= other.distance
                and (self.realism > other.realism or self.distance < other.distance))


@dataclass(frozen=True)
class AutoResult:
    """What :func:`search_alpha` found.

    Attributes:
        resolutions: the block resolutions the α values belong to (ascending).
        candidates: every scored table, in the order scored.
        swaps: the plain swaps (labels 'swap R' and 'swap R flip'), also in ``candidates``.
        front: the Pareto-optimal candidates, sorted by distance.
        chosen: the selected front point.
        elapsed_s: seconds the search took (by its clock); budget_s: the budget it had.
    """

    resolutions: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    swaps: tuple[Candidate, ...]
    front: tuple[Candidate, ...]
    chosen: Candidate
    elapsed_s: float
    budget_s: float
    settings: dict[str, Any] = field(default_factory=dict)
    validation: Validation | None = None
    margins: tuple[Margin, ...] = ()  # the chosen table's paired margins over each swap on the search's latents

    @property
    def confident_swaps(self) -> tuple[str, ...]:
        """Labels of the swaps the chosen table beats on both scores beyond chance (paired lower bounds at the
        search's ``confidence``): on the validation latents if validated, else on the search's own latents
        (where the bounds are optimistic: the search selected the table there). Empty without confidence."""
        source = self.validation.margins if self.validation is not None else self.margins
        return tuple(m.label for m in source if m.confident)

    @property
    def beaten_swaps(self) -> tuple[Candidate, ...]:
        """The plain swaps the chosen table beats on both scores (on the validation latents if validated)."""
        if self.validation is not None:
            return self.validation.beaten_swaps
        return tuple(s for s in self.swaps if self.chosen.beats(s))

    @property
    def swaps_beaten_by_front(self) -> tuple[Candidate, ...]:
        """The plain swaps some scored table beats on both scores (not necessarily the chosen one)."""
        return tuple(s for s in self.swaps if any(c.beats(s) for c in self.front))

    def table_spec(self) -> str:
        """The chosen α as a ``--table`` string, e.g. '4:0,8:0.25,16:1,32:1,64:1'."""
        return ",".join(f"{r}:{a:g}" for r, a in zip(self.resolutions, self.chosen.alphas))

    def to_dict(self) -> dict[str, Any]:
        def row(c: Candidate, full: bool = False) -> dict[str, Any]:
            out = {"alphas": dict(zip(map(str, self.resolutions), c.alphas)), "realism": round(c.realism, 5),
                   "distance": round(c.distance, 5), "label": c.label}
            if c.channels is not None:  # every value for the choice (it rebuilds the blend), else the means
                out["channels"] = {layer: ([round(a, 6) for a in values] if full else
                                           {"mean": round(sum(values) / len(values), 4), "count": len(values)})
                                   for layer, values in c.channels}
            return out

        return {"resolutions": list(self.resolutions), "table": self.table_spec(), "chosen": row(self.chosen, True),
                "beats_every_swap": len(self.beaten_swaps) == len(self.swaps),
                "beaten_swaps": [s.label for s in self.beaten_swaps],
                "swaps_beaten_by_front": [s.label for s in self.swaps_beaten_by_front],
                "confident_swaps": list(self.confident_swaps), "box": box(self),
                "margins": [m.to_dict() for m in self.margins],
                "swaps": [row(s) for s in self.swaps],
                "front": [row(c) for c in self.front], "evaluations": len(self.candidates),
                "elapsed_s": round(self.elapsed_s, 2), "budget_s": self.budget_s, "settings": self.settings,
                "validation": None if self.validation is None else {
                    "samples": self.validation.samples, "chosen": row(self.validation.chosen, True),
                    "beaten_swaps": [s.label for s in self.validation.beaten_swaps],
                    "margins": [m.to_dict() for m in self.validation.margins],
                    "swaps": [row(s) for s in self.validation.swaps],
                    "rescored": [row(c) for c in self.validation.rescored]},
                "candidates": [row(c) for c in self.candidates]}


@dataclass(frozen=True)
class Validation:
    """The re-scoring on the validation latents: the shortlisted front points (``rescored``), the plain swaps
    and the chosen table, all with their validation scores (same tables as in the search's candidates)."""

    samples: int
    rescored: tuple[Candidate, ...]
    swaps: tuple[Candidate, ...]
    chosen: Candidate
    margins: tuple[Margin, ...] = ()  # the chosen table's paired margins over each swap (with confidence)

    @property
    def beaten_swaps(self) -> tuple[Candidate, ...]:
        return tuple(s for s in self.swaps if self.chosen.beats(s))


def pareto_front(candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """The candidates no other candidate dominates (duplicates of a table kept once), sorted by distance."""
    out: list[Candidate] = []
    seen = set()
    for c in candidates:
        if c.key in seen or any(o.dominates(c) for o in candidates):
            continue
        seen.add(c.key)
        out.append(c)
    return tuple(sorted(out, key=lambda c: (c.distance, -c.realism)))


def _front_size(candidates: Sequence[Candidate]) -> int:
    """``len(pareto_front(candidates))`` in O(n log n) (the search asks at every step): by distance, a group of
    equal distance is on the front with its most realistic tables when they beat every closer table."""
    count, best = 0, -math.inf
    ordered = sorted(candidates, key=lambda c: (c.distance, -c.realism))
    for _, group in itertools.groupby(ordered, key=lambda c: c.distance):
        tied = list(group)
        top = tied[0].realism
        if top > best:
            count += len({c.key for c in tied if c.realism == top})
            best = top
    return count


def plain_swaps(resolutions: Sequence[int]) -> list[tuple[str, tuple[float, ...]]]:
    """Every plain swap of the paper: α = 1 for r <= R else 0, and its flip, for each inner resolution R."""
    out = []
    for res in resolutions[:-1]:
        low = tuple(1.0 if r <= res else 0.0 for r in resolutions)
        out.append((f"swap {res}", low))
        out.append((f"swap {res} flip", tuple(1.0 - a for a in low)))
    return out


def rank(front: Sequence[Candidate], swaps: Sequence[Candidate], paired: PairedScores | None = None
         ) -> list[Candidate]:
    """Front points best first: most swaps beaten, then the best sum of the min-max normalised scores. With
    ``paired`` scores (every table's per-latent scores), first the most swaps beaten beyond chance."""
    r_lo, r_hi = min(c.realism for c in front), max(c.realism for c in front)
    d_lo, d_hi = min(c.distance for c in front), max(c.distance for c in front)

    def balance(c: Candidate) -> float:
        return ((c.realism - r_lo) / max(r_hi - r_lo, 1e-12)) - ((c.distance - d_lo) / max(d_hi - d_lo, 1e-12))

    def confident(c: Candidate) -> int:
        return 0 if paired is None else sum(paired.margin(c.key, s.key, s.label).confident for s in swaps)

    return sorted(front, key=lambda c: (confident(c), sum(c.beats(s) for s in swaps), balance(c)), reverse=True)


def choose(front: Sequence[Candidate], swaps: Sequence[Candidate], paired: PairedScores | None = None
           ) -> Candidate:
    """The first of :func:`rank`: the front point that beats the most swaps (beyond chance first, with
    ``paired``); among those, the best sum of the min-max normalised scores."""
    return rank(front, swaps, paired)[0]


#: base renderings (uint8 [N, H, W, 3]) -> a structure score of renderings (lower = nearer the base).
StructureFactory = Callable[[np.ndarray], Callable[[np.ndarray], float]]


class AlphaObjective:
    """Scores per-resolution α tables of a base/transfer pair (see the module docstring).

    Args:
        base, transfer: generator state dicts of one StyleGAN2 architecture ``config``.
        critic: a discriminator ``D(img) -> logits [N, 1]`` of the target domain at the model's resolution.
        seeds: the latents scored (base mapping network, ψ = ``truncation_psi``, stored noise).
        structure_res: size the renderings are area-averaged to for the structure distance.
        structure: replaces that distance: ``make(base_images) -> score(images) -> float`` (uint8 [N, H, W, 3]
            renderings; lower = nearer the base), e.g. ``IdentityKeeping`` for face models.
    """

    def __init__(self, base: StateDict, transfer: StateDict, config: GeneratorConfig, critic: torch.nn.Module,
                 seeds: Sequence[int], structure_res: int = 16, truncation_psi: float = 1.0,
                 device: str | torch.device = "cpu", structure: StructureFactory | None = None) -> None:
        if not isinstance(config, GeneratorConfig):
            raise InvalidArgumentError("automatic α needs StyleGAN2 generators (per-resolution blocks); got a "
                                       f"{type(config).__name__}")
        if not 1 <= len(seeds) <= MAX_SAMPLES:
            raise InvalidArgumentError(f"`samples` {len(seeds)} must be in [1, {MAX_SAMPLES}]", param="samples")
        group = min(getattr(getattr(critic, "b4", None), "mbstd_group_size", None) or 1, len(seeds))
        if len(seeds) % group or (len(seeds) > CHUNK and CHUNK % group):
            raise InvalidArgumentError(f"`samples` {len(seeds)}: the critic compares images in groups of {group}; "
                                       f"use a multiple of {group}", param="samples")
        if structure_res < 1 or config.img_resolution % structure_res:
            raise InvalidArgumentError(f"`structure_res` {structure_res} must divide the {config.img_resolution} px "
                                       "output, e.g. 16", param="structure_res")
        chunks = math.ceil(len(seeds) / CHUNK)
        self.states, self.config, self.device = (base, transfer), config, torch.device(device)
        self.live = LiveBlend(base, transfer, config, mapping="base", device=device, max_latents=chunks)
        self.resolutions = self.live.resolutions
        self.critic = critic.eval().requires_grad_(False).to(device)
        self.ws = self.live.latents(list(seeds), truncation_psi)
        self.structure_res = structure_res
        self.group = group
        base_img = self._render([0.0] * len(self.resolutions))
        self._base_low = self._low(base_img)
        self._structure = None if structure is None else structure(_uint8(base_img))
        self.units = critic_units(len(seeds), self.group)

    def _render(self, alphas: Sequence[float]) -> torch.Tensor:
        # In chunks: one batch of 256 latents renders 2.5x slower per latent than four of 64 (cache-bound CPU).
        return torch.cat([self.live.render(("samples", i), self.ws[i:i + CHUNK], alphas).image
                          for i in range(0, self.ws.shape[0], CHUNK)])

    def _realism(self, img: torch.Tensor) -> torch.Tensor:
        """Per-image critic logits [N], the critic run on each chunk as one batch (its minibatch-stddev groups
        are those of :func:`critic_units`)."""
        return torch.cat([self.critic(img[i:i + CHUNK]).reshape(-1) for i in range(0, img.shape[0], CHUNK)])

    def _low(self, img: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(img.to(torch.float32), self.structure_res)

    @torch.no_grad()
    def score(self, alphas: Sequence[float]) -> tuple[float, float]:
        """(realism, structure distance) of one table (one α per resolution, ascending): the means of
        :meth:`score_latents`."""
        realism, distance = self.score_latents(alphas)
        return float(realism.mean()), float(distance.mean())

    @torch.no_grad()
    def score_latents(self, alphas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Per-latent (realism [N], structure distance [N]) of one table, float64. With a ``structure`` score
        (a score of the whole set), every entry of the distance is that score."""
        return self.score_images(self._render(alphas))

    @torch.no_grad()
    def score_images(self, img: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score_latents` of renderings ``img`` [N, C, R, R] of this objective's latents (by any blend)."""
        realism = self._realism(img).to(torch.float64).numpy()
        if self._structure is not None:
            return realism, np.full(len(realism), float(self._structure(_uint8(img))))
        diff = (self._low(img) - self._base_low).abs().to(torch.float64)
        return realism, diff.mean((1, 2, 3)).numpy() * 127.5


def critic_units(n: int, group: int) -> np.ndarray:
    """The latents whose critic logits depend on each other, int [n // group, group]: the critic's minibatch
    standard deviation mixes image ``i`` of a batch of ``b`` with images ``i + k * b // group`` (NVIDIA's
    strided grouping), and :class:`AlphaObjective` judges chunks of :data:`CHUNK` latents. Paired statistics
    treat each unit (its mean) as one independent observation."""
    out: list[list[int]] = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        stride = size // group
        out.extend([start + j + k * stride for k in range(group)] for j in range(stride))
    return np.asarray(out, dtype=np.int64).reshape(-1, group)


def _uint8(img: torch.Tensor) -> np.ndarray:
    from ..media.images import to_uint8

    return to_uint8(img)


ProgressFn = Callable[[int, float, float], None]


def _box_shortfall(swaps: Sequence[Candidate], scored: Sequence[Candidate], paired: PairedScores | None = None
                   ) -> Callable[[Candidate], float]:
    """How far a table is from beating every swap: max of its realism shortfall below the best swap's and its
    distance above the closest swap's, each over the spread of the fixed tables' scores (< 0: inside the box).
    With ``paired`` scores the shortfall below each swap is that of the paired lower bound of the margin (a
    table whose win is within chance is not counted inside)."""
    r_scale = max(c.realism for c in scored) - min(c.realism for c in scored) or 1.0
    d_scale = max(c.distance for c in scored) - min(c.distance for c in scored) or 1.0
    if paired is None:
        best_r, best_d = max(s.realism for s in swaps), min(s.distance for s in swaps)
        return lambda c: max((best_r - c.realism) / r_scale, (c.distance - best_d) / d_scale)
    cache: dict[Hashable, float] = {}

    def shortfall(c: Candidate) -> float:
        if c.key not in cache:
            ms = [paired.margin(c.key, s.key, s.label) for s in swaps]
            cache[c.key] = max(max(-m.realism_low / r_scale, -m.distance_low / d_scale) for m in ms)
        return cache[c.key]
    return shortfall


def search_alpha(objective: AlphaObjective, budget_s: float = 60.0, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic, progress: ProgressFn | None = None,
                 validation: AlphaObjective | None = None, validate_top: int = 8, family: str = "table",
                 confidence: float | None = None) -> AutoResult:
    """Search per-resolution α tables within ``budget_s`` seconds (see the module docstring).

    The plain swaps and the two models are scored first; the search then runs while the time left is at least
    the slowest score so far, so the whole call stays within the budget (measured by ``clock``).
    ``progress(evaluations, elapsed_s, budget_s)`` after every score.

    With ``validation`` (the same pair and critic, other latents), the swaps are scored there after the fixed
    tables, and the search stops early enough to re-score its best front points there too (at most
    ``validate_top``; kept: one more than the front can fill, at the slowest validation score so far); the
    choice is made on those scores (``AutoResult.validation``).

    ``family``: 'table' searches free tables, 'sigmoid' smooth schedules of 4 parameters
    (:mod:`styleblend.blend.auto_family`). ``confidence`` (e.g. 0.95): "beats a swap" is decided on paired
    per-latent differences (:mod:`styleblend.blend.auto_stats`): the search aims at tables whose lower
    bounds clear every swap, the choice counts the swaps beaten beyond chance first, and the result reports the
    chosen table's margins (``AutoResult.margins``, ``Validation.margins``). None: the means, as before.

    Raises:
        InvalidArgumentError: the budget is not positive, or too short to score the plain swaps.
    """
    if not budget_s > 0 or not math.isfinite(budget_s):
        raise InvalidArgumentError(f"`budget_s` {budget_s} must be a positive number of seconds", param="budget_s")
    if not 1 <= validate_top <= 64:
        raise InvalidArgumentError(f"`validate_top` {validate_top} must be in [1, 64]", param="validate_top")
    if validation is not None and validation.resolutions != objective.resolutions:
        raise InvalidArgumentError("the validation objective must score the same generator pair")
    fam = make_family(family, objective.resolutions)
    paired = None if confidence is None else PairedScores(objective.units, confidence)
    checked_pairs = (None if confidence is None or validation is None
                     else PairedScores(validation.units, confidence, param="validation"))
    start = clock()
    resolutions = objective.resolutions
    n = len(resolutions)
    candidates: list[Candidate] = []
    slowest = 0.0

    def evaluate(alphas: Sequence[float], label: str, params: tuple[float, ...] | None = None) -> Candidate:
        nonlocal slowest
        t0 = clock()
        values = tuple(round(min(1.0, max(0.0, float(a))), 4) for a in alphas)
        if paired is None:
            realism, distance = objective.score(values)
        else:
            per_r, per_d = objective.score_latents(values)
            paired.add(values, per_r, per_d)
            realism, distance = float(per_r.mean()), float(per_d.mean())
        took = clock() - t0
        slowest = max(slowest, took)
        cand = Candidate(values, realism, distance, label, params)
        candidates.append(cand)
        if progress is not None:
            progress(len(candidates), clock() - start, budget_s)
        return cand

    fixed = [("base", (0.0,) * n), ("transfer", (1.0,) * n), *plain_swaps(resolutions)]
    evaluate(fixed[0][1], fixed[0][0])
    # Before anything is timed on the validation latents: one score there costs about one here times the ratio.
    ratio = 0.0 if validation is None else validation.ws.shape[0] / objective.ws.shape[0]
    kept_scores = ratio * (validate_top + len(fixed) - 2)
    if slowest * (len(fixed) + kept_scores) > budget_s:
        raise InvalidArgumentError(f"`budget_s` {budget_s:g} s is too short: one score takes {slowest:.2f} s and the "
                                   f"{len(fixed)} plain swaps and models need {slowest * len(fixed):.1f} s"
                                   + (" (and their validation as much again)" if validation is not None else "")
                                   + "; give more time or fewer samples", param="budget_s")
    for label, table in fixed[1:]:
        evaluate(table, label)
    swaps = tuple(c for c in candidates if c.label.startswith("swap"))
    # The swaps' validation scores do not depend on the search: score them now, and time them, so that the time
    # kept for the shortlist is measured on the validation latents themselves (a search score often re-runs
    # only the fine blocks, a validation score runs them all: the sample ratio alone under-kept by 20 % or more).
    val_times: list[float] = []

    def rescore_timed(c: Candidate) -> Candidate:
        assert validation is not None
        t0 = clock()
        out = rescore(validation, c, checked_pairs)
        val_times.append(clock() - t0)
        return out

    val_swaps = () if validation is None else tuple(rescore_timed(s) for s in swaps)
    shortfall = _box_shortfall(swaps, candidates, paired)
    gen = torch.Generator().manual_seed(seed)
    dims = fam.dims

    def point(c: Candidate) -> tuple[float, ...] | None:
        """The candidate in the family's parameter cube (a table is its own point; the fixed tables are not
        points of the sigmoid family)."""
        return c.alphas if fam.name == "table" else c.params

    def kept_time() -> float:
        # The shortlist's validation scores at the slowest validation score so far, plus one more as the margin:
        # at the median time a 240 s run on a machine whose load rose from 9 to 10 took 248 s.
        if not val_times:
            return 0.0
        return (min(validate_top, _front_size(candidates)) + 1) * max(val_times)

    while budget_s - (clock() - start) >= slowest + kept_time():
        u = float(torch.rand([], generator=gen))
        points = [c for c in candidates if point(c) is not None]
        params: Sequence[float]
        if u < 0.15 or not points:  # explore: a fresh random point
            params = torch.rand([dims], generator=gen).tolist()
        elif u < 0.55:  # aim at the box of tables better than every swap: refine the one nearest to it
            parent = point(min(points, key=shortfall))
            assert parent is not None
            sigma = 0.15 if u < 0.35 else 0.05  # big and small steps: reach the box, then creep into it
            params = [a + float(s) for a, s in zip(parent, torch.randn([dims], generator=gen) * sigma)]
        else:  # widen the front: mutate a front point, a few parameters at a time
            ends = pareto_front(points)
            parent = point(ends[int(torch.randint(len(ends), [1], generator=gen))])
            assert parent is not None
            step = torch.randn([dims], generator=gen) * 0.3
            keep = torch.rand([dims], generator=gen) < 0.5
            params = [a if k else a + float(s) for a, s, k in zip(parent, step, keep.tolist())]
        clipped = tuple(round(min(1.0, max(0.0, float(a))), 4) for a in params)
        evaluate(fam.table(clipped), "search", None if fam.name == "table" else clipped)
    front = pareto_front(candidates)
    checked = None if validation is None else validate_shortlist(validation, rank(front, swaps, paired)[:validate_top],
                                                        val_swaps, checked_pairs)
    chosen = (choose(front, swaps, paired) if checked is None
              else next(c for c in front if c.key == checked.chosen.key))
    own = () if paired is None else tuple(paired.margin(chosen.key, s.key, s.label) for s in swaps)
    return AutoResult(tuple(resolutions), tuple(candidates), swaps, front, chosen, clock() - start,
                      float(budget_s), {"samples": int(objective.ws.shape[0]),
                                        "structure_res": objective.structure_res, "seed": seed,
                                        "family": fam.name, "confidence": confidence}, checked, own)


#: Per-latent scores of a candidate's blend on an objective's latents (default: its table, ``score_latents``).
CandidateScore = Callable[[AlphaObjective, Candidate], tuple[np.ndarray, np.ndarray]]


def rescore(objective: AlphaObjective, c: Candidate, paired: PairedScores | None,
            score: CandidateScore | None = None) -> Candidate:
    """``c``'s blend scored on ``objective``'s latents (its per-latent scores added to ``paired``); ``score``
    scores blends that are more than a table (:mod:`styleblend.blend.auto_channels`)."""
    per_r, per_d = objective.score_latents(c.alphas) if score is None else score(objective, c)
    if paired is not None:
        paired.add(c.key, per_r, per_d)
    return Candidate(c.alphas, float(per_r.mean()), float(per_d.mean()), c.label, c.params, c.channels)


def validate_shortlist(objective: AlphaObjective, shortlist: Sequence[Candidate], val_swaps: tuple[Candidate, ...],
                       paired: PairedScores | None = None, score: CandidateScore | None = None) -> Validation:
    """Re-score ``shortlist`` on ``objective``'s latents (``val_swaps``: the swaps already scored there) and
    choose among it there (with ``paired``: on the paired margins first, and report the chosen one's)."""
    # A shortlisted swap was scored there already (its per-latent scores are in ``paired``).
    done = {s.key: s for s in val_swaps}
    rescored = tuple(done[c.key] if c.key in done else rescore(objective, c, paired, score) for c in shortlist)
    pool = pareto_front(rescored) if paired is None else rescored
    chosen = choose(pool, val_swaps, paired)
    margins = () if paired is None else tuple(paired.margin(chosen.key, s.key, s.label) for s in val_swaps)
    return Validation(int(objective.ws.shape[0]), rescored, val_swaps, chosen, margins)


def front_plot(result: AutoResult) -> np.ndarray:
    """The Pareto front picture, uint8 RGB [400, 560, 3]: every scored table, the front, the plain swaps, the
    models, the choice (``blend --auto`` writes it as <stem>.front.png; the web UI shows it)."""
    from ..media.plot import Series, scatter_plot

    def xy(cands: Sequence[Candidate]) -> list[tuple[float, float]]:
        return [(c.distance, c.realism) for c in cands]

    models = [c for c in result.candidates if c.label in ("base", "transfer")]
    series = [Series(xy(result.candidates), (170, 170, 170), "dot", "scored tables", size=2),
              Series(xy(result.front), (31, 119, 180), "line"),
              Series(xy(result.front), (31, 119, 180), "dot", "Pareto front"),
              Series(xy(result.swaps), (214, 39, 40), "square", "plain swaps",
                     labels=[s.label.removeprefix("swap ") for s in result.swaps]),
              Series(xy(models), (0, 0, 0), "square", "base / transfer", labels=[m.label for m in models]),
              Series(xy([result.chosen]), (44, 160, 44), "star", "chosen", size=5)]
    xlabel = ("face identity distance to the base (lower is better)"
              if result.settings.get("structure") == "identity" else
              f"structure distance to the base at {result.settings['structure_res']} px (lower is better)")
    return scatter_plot(series, xlabel, "realism (critic logit)",
                        title=f"auto alpha: {len(result.candidates)} "
                              f"{'blends' if result.settings.get('family') == 'channels' else 'tables'} in "
                              f"{result.elapsed_s:.0f} s")
