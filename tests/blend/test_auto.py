"""Automatic α search (styleblend.blend.auto) on tiny generators, with a fake clock for the budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from styleblend.blend.auto import AlphaObjective, Candidate, pareto_front, plain_swaps, search_alpha
from styleblend.blend.core import blend_two
from styleblend.blend.schedules import Table
from styleblend.errors import InvalidArgumentError
from styleblend.io.checkpoint import load_state_dict_strict
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn import Generator
from styleblend.render import render_ws

from .conftest import finetuned, tiny_checkpoint


class FakeClock:
    """A clock that only moves when a score runs (:class:`Timed`): each score 'takes' ``step`` seconds."""

    def __init__(self, step: float = 1.0) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        return self.t


class Timed:
    """The objective, with every score advancing the fake clock."""

    def __init__(self, objective: AlphaObjective, clock: FakeClock) -> None:
        self.objective, self.clock = objective, clock
        self.resolutions, self.ws, self.structure_res = objective.resolutions, objective.ws, objective.structure_res
        self.units = objective.units

    def score(self, alphas):
        self.clock.t += self.clock.step
        return self.objective.score(alphas)

    def score_latents(self, alphas):
        self.clock.t += self.clock.step
        return self.objective.score_latents(alphas)


def timed_search(obj: AlphaObjective, budget_s: float, seed: int = 0, step: float = 1.0, **options):
    clock = FakeClock(step)
    return search_alpha(Timed(obj, clock), budget_s, seed=seed, clock=clock, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def objective():
    base = tiny_checkpoint(0, res=16, with_d=True)
    transfer = finetuned(base, 0.3)
    return AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), [0, 1, 2, 3],
                          structure_res=4), base, transfer


def test_scores_are_those_of_the_blended_generator(objective):
    obj, base, transfer = objective
    alphas = (0.0, 0.5, 1.0)  # 4, 8, 16 px
    realism, distance = obj.score(alphas)
    G = Generator(base.g_config).eval()
    load_state_dict_strict(G, blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip((4, 8, 16), alphas))),
                                        base.g_config), what="blend")
    ws = seeds_to_ws(G, [0, 1, 2, 3])
    img, ref = render_ws(G, ws), render_ws(base.generator(), ws)
    D = transfer.discriminator().eval()
    with torch.no_grad():
        assert realism == pytest.approx(float(D(img).mean()), abs=1e-5)
    low = torch.nn.functional.adaptive_avg_pool2d
    assert distance == pytest.approx(float((low(img, 4) - low(ref, 4)).abs().mean()) * 127.5, abs=1e-4)
    assert obj.score((0.0, 0.0, 0.0))[1] == 0.0  # the base is at distance 0


def test_search_returns_a_pareto_optimal_choice_within_the_budget(objective):
    obj = objective[0]
    result = timed_search(obj, 30, seed=1)
    assert result.elapsed_s <= 30
    assert len(result.candidates) == 30  # the budget was used, not only the 6 fixed tables
    labels = [c.label for c in result.candidates]
    assert labels[:2] == ["base", "transfer"] and {s.label for s in result.swaps} == {
        "swap 4", "swap 4 flip", "swap 8", "swap 8 flip"}
    # the front: nothing scored dominates a front point, and every other point is dominated by one
    for f in result.front:
        assert not any(c.dominates(f) for c in result.candidates)
    for c in result.candidates:
        assert c.alphas in {f.alphas for f in result.front} or any(f.dominates(c) for f in result.front)
    assert result.chosen in result.front
    assert all(0.0 <= a <= 1.0 for c in result.candidates for a in c.alphas)
    again = timed_search(obj, 30, seed=1)
    assert again.candidates == result.candidates  # seeded: the same tables in the same order


def test_budget_stops_the_search_and_too_short_is_refused(objective):
    obj = objective[0]
    short, long = timed_search(obj, 12), timed_search(obj, 24)
    assert (len(short.candidates), len(long.candidates)) == (12, 24)  # one second per score, to the budget
    assert short.elapsed_s <= 12 and long.elapsed_s <= 24
    assert timed_search(obj, 12.5, step=0.5).elapsed_s <= 12.5
    with pytest.raises(InvalidArgumentError, match="too short"):
        timed_search(obj, 3)
    with pytest.raises(InvalidArgumentError, match="budget_s"):
        search_alpha(obj, budget_s=-1)


def test_pareto_front_and_swaps():
    pts = [Candidate((0.0,), 1.0, 5.0, "a"), Candidate((0.1,), 2.0, 5.0, "b"), Candidate((0.2,), 0.5, 1.0, "c"),
           Candidate((0.3,), 0.4, 2.0, "d"), Candidate((0.1,), 2.0, 5.0, "b")]
    assert [c.label for c in pareto_front(pts)] == ["c", "b"]
    assert plain_swaps((4, 8, 16)) == [("swap 4", (1.0, 0.0, 0.0)), ("swap 4 flip", (0.0, 1.0, 1.0)),
                                       ("swap 8", (1.0, 1.0, 0.0)), ("swap 8 flip", (0.0, 0.0, 1.0))]
    for a, b in itertools.permutations(pts, 2):
        assert not (a.dominates(b) and b.dominates(a))


def test_objective_checks(objective):
    _, base, transfer = objective
    D = transfer.discriminator()
    with pytest.raises(InvalidArgumentError, match="multiple of 4"):
        AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, D, [0, 1, 2, 3, 4, 5])
    with pytest.raises(InvalidArgumentError, match="structure_res"):
        AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, D, [0, 1, 2, 3], structure_res=5)


def test_chosen_beats_the_most_swaps_of_any_front_point(objective):
    result = timed_search(objective[0], 40, seed=2)
    count = len(result.beaten_swaps)
    assert all(sum(f.beats(s) for s in result.swaps) <= count for f in result.front)
    assert set(result.beaten_swaps) <= set(result.swaps_beaten_by_front)
    report = result.to_dict()
    assert report["beats_every_swap"] == (count == len(result.swaps))
    assert report["table"] == ",".join(f"{r}:{a:g}" for r, a in zip((4, 8, 16), result.chosen.alphas))


def test_validation_rescores_the_best_front_points_on_other_latents_within_the_budget(objective):
    obj, base, transfer = objective
    other = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), [4, 5, 6, 7],
                           structure_res=4)
    clock = FakeClock(1.0)
    result = search_alpha(Timed(obj, clock), 40, seed=2, clock=clock,  # type: ignore[arg-type]
                          validation=Timed(other, clock), validate_top=3)  # type: ignore[arg-type]
    checked = result.validation
    assert checked is not None and checked.samples == 4
    assert result.elapsed_s <= 40  # the validation scores fit in the budget too
    assert len(checked.rescored) == min(3, len(result.front)) and len(checked.swaps) == len(result.swaps)
    # fewer search scores than without validation: time was kept for the re-scoring
    assert len(result.candidates) + len(checked.rescored) + len(checked.swaps) <= 40 < len(
        timed_search(obj, 40, seed=2).candidates) + len(checked.rescored) + len(checked.swaps)
    # the validation scores are the other latents' scores of the same tables
    for c in (*checked.rescored[:1], checked.swaps[0]):
        assert (c.realism, c.distance) == pytest.approx(other.score(c.alphas))
        assert (c.realism, c.distance) != pytest.approx(obj.score(c.alphas))
    # the choice: a front point, the validated one, beating the most swaps there among the shortlist
    assert result.chosen in result.front and result.chosen.alphas == checked.chosen.alphas
    best = max(sum(c.beats(s) for s in checked.swaps) for c in pareto_front(checked.rescored))
    assert len(result.beaten_swaps) == best
    assert result.to_dict()["validation"]["beaten_swaps"] == [s.label for s in result.beaten_swaps]


def test_validation_needs_the_same_pair_and_time_for_itself(objective):
    obj, base, transfer = objective
    with pytest.raises(InvalidArgumentError, match="validate_top"):
        search_alpha(obj, 10, validation=obj, validate_top=0)
    clock = FakeClock(1.0)
    with pytest.raises(InvalidArgumentError, match="validation"):
        search_alpha(Timed(obj, clock), 10, clock=clock, validation=Timed(obj, clock))  # type: ignore[arg-type]


def test_a_structure_score_replaces_the_low_resolution_distance(objective):
    _, base, transfer = objective
    seen = {}

    def mean_colour_shift(references):
        seen["refs"] = references

        def score(images):
            return float(np.abs(images.astype(np.float64).mean((1, 2)) - references.mean((1, 2))).mean())
        return score

    obj = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), [0, 1, 2, 3],
                         structure=mean_colour_shift)
    ws = seeds_to_ws(base.generator(), [0, 1, 2, 3])
    assert np.array_equal(seen["refs"], to_uint8(render_ws(base.generator(), ws)))  # the base renderings
    alphas = (0.0, 1.0, 1.0)
    G = Generator(base.g_config).eval()
    load_state_dict_strict(G, blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip((4, 8, 16), alphas))),
                                        base.g_config), what="blend")
    img = to_uint8(render_ws(G, ws)).astype(np.float64)
    expected = float(np.abs(img.mean((1, 2)) - seen["refs"].mean((1, 2))).mean())
    assert obj.score(alphas)[1] == pytest.approx(expected) and expected > 0
    assert obj.score((0.0, 0.0, 0.0))[1] == 0.0


def test_one_slow_score_does_not_end_a_validated_search(objective):
    obj, base, transfer = objective
    other = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), [4, 5, 6, 7],
                           structure_res=4)
    clock = FakeClock(1.0)

    class OnceSlow(Timed):
        calls = 0

        def score(self, alphas):
            OnceSlow.calls += 1
            if OnceSlow.calls == 3:  # the machine was busy for a moment
                self.clock.t += 10.0
            return super().score(alphas)

    result = search_alpha(OnceSlow(obj, clock), 60, seed=3, clock=clock,  # type: ignore[arg-type]
                          validation=Timed(other, clock), validate_top=3)  # type: ignore[arg-type]
    assert result.elapsed_s <= 60
    assert sum(c.label == "search" for c in result.candidates) >= 10  # it searched on (it stopped at once before)
