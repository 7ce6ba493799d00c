"""Paired margins (blend/auto_stats.py), table families (blend/auto_family.py), per-latent scores and the
search deciding on paired lower bounds (blend/auto.py), on tiny generators with a fake clock."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from styleblend.blend import auto
from styleblend.blend.auto import AlphaObjective, critic_units, search_alpha
from styleblend.blend.auto_family import family
from styleblend.blend.auto_stats import PairedScores, lower_bound, margin, t_quantile
from styleblend.errors import InvalidArgumentError

from .conftest import finetuned, tiny_checkpoint
from .test_auto import FakeClock, Timed, timed_search


@pytest.fixture(scope="module")
def pair():
    base = tiny_checkpoint(0, res=16, with_d=True)
    return base, finetuned(base, 0.3)


def make(pair, seeds, structure_res=4):
    base, transfer = pair
    return AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), seeds,
                          structure_res=structure_res)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for dof in (3, 4, 7, 15, 63, 255):
        for p in (0.8, 0.9, 0.95):
            assert t_quantile(p, dof) == pytest.approx(stats.t.ppf(p, dof), abs=0.01)
    assert t_quantile(0.99, 6) == pytest.approx(stats.t.ppf(0.99, 6), abs=0.01)
    with pytest.raises(InvalidArgumentError):
        t_quantile(0.4, 3)


def test_margin_pairs_latents_and_averages_within_units():
    rng = np.random.default_rng(0)
    level = rng.normal(0, 3, 16)  # latent-to-latent spread far above the margin
    units = np.arange(16).reshape(4, 4)
    # b is a's realism + 0.1 on every latent, and 1.0 nearer the base: paired, the margin is exact
    m = margin(level + 0.1, np.full(16, 2.0), level, np.full(16, 3.0), units, "s")
    assert (m.realism, m.realism_low, m.distance, m.distance_low) == pytest.approx((0.1, 0.1, 1.0, 1.0))
    assert m.beats and m.confident and m.units == 4
    # per-latent noise that cancels inside each unit is not counted: the unit means are the observations
    noise = np.tile([1.0, -1.0, 2.0, -2.0], 4)
    m = margin(level + 0.1 + noise, np.full(16, 2.0), level, np.full(16, 3.0), units, "s")
    assert m.realism_low == pytest.approx(0.1)
    # noise that differs between units widens the bound below zero although the mean gain is positive
    unit_noise = np.repeat([1.0, -1.0, 0.8, -0.6], 4)
    m = margin(level + 0.1 + unit_noise, np.full(16, 2.0), level, np.full(16, 3.0), units, "s")
    assert m.realism == pytest.approx(0.15) and m.realism_low < 0 and m.beats and not m.confident
    mean, low = lower_bound(np.array([1.0, 2.0, 3.0]), 0.95)
    assert mean == 2.0 and low == pytest.approx(2.0 - t_quantile(0.95, 2) * 1.0 / math.sqrt(3))
    with pytest.raises(InvalidArgumentError, match="same latents"):
        margin(level, level, level[:8], level, units, "s")


def test_families_map_the_unit_cube_to_tables():
    res = (4, 8, 16, 32, 64)
    table = family("table", res)
    assert table.dims == 5 and table.table([0.1, 0.2, 1.5, -1, 0.123456]) == (0.1, 0.2, 1.0, 0.0, 0.1235)
    sig = family("sigmoid", res)
    assert sig.dims == 4
    assert sig.table([0.3, 0.5, 0.4, 0.4]) == (0.4,) * 5  # coarse = fine: constant
    # narrowest width, centre between 16 and 32 px (log2 4.5 of the range 1.5..6.5), coarse 1, fine 0: a swap
    near_swap = sig.table([0.6, 0.0, 1.0, 0.0])
    assert [round(a) for a in near_swap] == [1, 1, 1, 0, 0] and near_swap[0] > 0.99 and near_swap[-1] < 0.01
    for u in torch.rand([20, 4], generator=torch.Generator().manual_seed(0)).tolist():
        a = sig.table(u)
        assert all(0 <= x <= 1 for x in a)
        steps = np.diff(a)
        assert (steps >= -1e-4).all() or (steps <= 1e-4).all()  # monotone from coarse to fine
    with pytest.raises(InvalidArgumentError, match="family"):
        family("spline", res)


def test_per_latent_scores_average_to_the_score_and_chunks_keep_the_critic_groups(pair, monkeypatch):
    obj = make(pair, list(range(8)))
    alphas = (0.2, 0.7, 0.4)
    r, d = obj.score_latents(alphas)
    assert r.shape == d.shape == (8,)
    assert (float(r.mean()), float(d.mean())) == pytest.approx(obj.score(alphas))
    img = obj._render(alphas)
    with torch.no_grad():
        assert np.allclose(r, obj.critic(img).reshape(-1).double().numpy(), atol=1e-5)
    # the critic's minibatch stddev mixes image i with i + 2 in a batch of 8 (groups of 4, strided)
    assert critic_units(8, 4).tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert critic_units(12, 4).tolist() == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    # in chunks (of 8 here, 64 in use), each chunk is one batch of the critic and one set of groups
    monkeypatch.setattr(auto, "CHUNK", 8)
    assert critic_units(12, 4).tolist() == [[0, 2, 4, 6], [1, 3, 5, 7], [8, 9, 10, 11]]
    chunked = make(pair, list(range(12)))
    r12, d12 = chunked.score_latents(alphas)
    assert np.allclose(r12[:8], r, atol=1e-5) and np.allclose(d12[:8], d, atol=1e-4)
    with torch.no_grad():
        tail = chunked.critic(chunked._render(alphas)[8:]).reshape(-1).double().numpy()
    assert np.allclose(r12[8:], tail, atol=1e-5)


def test_sigmoid_search_scores_tables_of_its_parameters_within_the_budget(pair):
    obj = make(pair, [0, 1, 2, 3])
    result = timed_search(obj, 25, seed=4, family="sigmoid")
    fam = family("sigmoid", obj.resolutions)
    searched = [c for c in result.candidates if c.label == "search"]
    assert len(result.candidates) == 25 and len(searched) == 19 and result.elapsed_s <= 25
    for c in searched:
        assert c.params is not None and c.alphas == fam.table(c.params)
    assert result.settings["family"] == "sigmoid"
    assert timed_search(obj, 25, seed=4, family="sigmoid").candidates == result.candidates


def test_confident_search_reports_paired_margins_on_the_validation_latents(pair):
    obj, other = make(pair, list(range(8))), make(pair, list(range(8, 16)))
    clock = FakeClock(1.0)
    result = search_alpha(Timed(obj, clock), 40, seed=2, clock=clock, validation=Timed(other, clock),  # type: ignore[arg-type]
                          validate_top=3, confidence=0.9)
    checked = result.validation
    assert checked is not None and result.elapsed_s <= 40
    assert [m.label for m in checked.margins] == [s.label for s in result.swaps]
    # the margins are those of the chosen table and each swap on the validation latents
    r, d = other.score_latents(result.chosen.alphas)
    for m, s in zip(checked.margins, result.swaps):
        expect = margin(r, d, *other.score_latents(s.alphas), other.units, s.label, 0.9)
        assert (m.realism, m.realism_low, m.distance, m.distance_low) == pytest.approx(
            (expect.realism, expect.realism_low, expect.distance, expect.distance_low))
    assert result.confident_swaps == tuple(m.label for m in checked.margins if m.confident)
    # the choice: no shortlisted table beats more swaps beyond chance on the validation latents
    book = PairedScores(other.units, 0.9)
    for c in (*checked.rescored, *checked.swaps):
        book.add(c.alphas, *other.score_latents(c.alphas))
    best = max(sum(book.margin(c.alphas, s.alphas, s.label).confident for s in checked.swaps)
               for c in checked.rescored)
    assert len(result.confident_swaps) == best
    assert len(result.margins) == len(result.swaps)  # and on the search's own latents
    report = result.to_dict()
    assert report["confident_swaps"] == list(result.confident_swaps)
    assert [m["label"] for m in report["validation"]["margins"]] == [s.label for s in result.swaps]


def test_confidence_needs_two_groups_of_latents(pair):
    obj = make(pair, [0, 1, 2, 3])  # one group of 4
    with pytest.raises(InvalidArgumentError, match="2 groups") as err:
        search_alpha(obj, 10, confidence=0.95)
    assert err.value.params == ("samples",)
    with pytest.raises(InvalidArgumentError, match="confidence"):
        search_alpha(make(pair, list(range(8))), 10, confidence=1.5)


def test_box_says_how_near_the_searched_tables_came():
    from styleblend.blend.auto import AutoResult, Candidate
    from styleblend.blend.auto_report import box

    swaps = (Candidate((1.0, 0.0), -3.0, 10.0, "swap 4"), Candidate((0.0, 1.0), -2.0, 30.0, "swap 4 flip"))
    tables = [Candidate((0.0, 0.0), -4.0, 0.0, "base"), Candidate((1.0, 1.0), -1.0, 40.0, "transfer"), *swaps,
              Candidate((0.1, 0.1), -3.5, 8.0, "search"), Candidate((0.2, 0.2), -3.2, 9.0, "search"),
              Candidate((0.3, 0.7), -1.9, 25.0, "search")]

    def result(cands):
        return AutoResult((4, 8), tuple(cands), swaps, tuple(cands), cands[-1], 1.0, 1.0)

    b = box(result(tables))
    assert (b["realism_above"], b["most_realistic_swap"], b["distance_below"], b["closest_swap"]) == (
        -2.0, "swap 4 flip", 10.0, "swap 4")
    # the base (-4, 0) and the transfer (-1, 40) are not searched tables: they do not count
    assert b["inside"] == 0 and b["best_realism_closer"] == -3.2 and b["best_distance_more_realistic"] == 25.0
    inside = box(result([*tables, Candidate((0.4, 0.4), -1.5, 9.5, "search")]))
    assert inside["inside"] == 1 and inside["best_realism_closer"] == -1.5
    assert box(result(tables[:4]))["best_realism_closer"] is None
    no_swaps = AutoResult((4, 8), tuple(tables), (), tuple(tables), tables[0], 1.0, 1.0, {"structure_res": 4})
    assert box(no_swaps) is None and no_swaps.to_dict()["box"] is None


class Slow(Timed):
    """A validation objective whose scores 'take' 4 s on the shared fake clock (full renders there)."""

    def score(self, alphas):
        self.clock.t += 3.0
        return super().score(alphas)

    def score_latents(self, alphas):
        self.clock.t += 3.0
        return super().score_latents(alphas)


@pytest.mark.parametrize("confidence", [None, 0.9])
def test_time_kept_for_validation_is_measured_on_the_validation_latents(pair, confidence):
    obj, other = make(pair, list(range(8))), make(pair, list(range(8, 16)))
    clock = FakeClock(1.0)
    # same number of latents, so the sample ratio would keep 1 s per validation score; each takes 4 s
    result = search_alpha(Timed(obj, clock), 60, seed=1, clock=clock, validation=Slow(other, clock),  # type: ignore[arg-type]
                          validate_top=4, confidence=confidence)
    assert result.validation is not None and result.elapsed_s <= 60
    searched = sum(c.label == "search" for c in result.candidates)
    # 6 fixed (6 s) + 4 validated swaps (16 s) + the shortlist (at most 4 x 4 s) + its margin (4 s) leave >= 18 s
    assert searched >= 18 and len(result.validation.rescored) == min(4, len(result.front))
    # and the time kept is not wasted: at most the margin and one search score are left
    assert result.elapsed_s > 60 - 4 - 1 - 1e-9


def test_front_size_counts_the_pareto_front():
    from styleblend.blend.auto import Candidate, _front_size, pareto_front

    rng = np.random.default_rng(3)
    for trial in range(30):
        n = int(rng.integers(1, 40))
        # coarse values make ties in one score, both scores, and repeated tables
        # coarse scores make ties in one score and in both; a table always has the same scores, and two tables
        # may tie (tag)
        scores = rng.integers(0, 5, size=(n, 2)).astype(float)
        tags = rng.integers(0, 1 + trial % 3, size=n)
        cands = [Candidate((10 * r + d + 100 * t,), r, d, "x") for (r, d), t in zip(scores, tags)]
        assert _front_size(cands) == len(pareto_front(cands))
