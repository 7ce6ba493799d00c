"""Measures of a latent's distance from W, and the W+ regulariser that keeps projections near W."""

from __future__ import annotations

import math

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.project import pixel_fallback_loss, project, settings_for, synthesize
from styleblend.project.settings import DEFAULT_W_REG
from styleblend.project.wspace import distance_from_w, row_spread, w_stats


def test_measures_on_known_latents():
    g = torch.Generator().manual_seed(0)
    w_avg, std = torch.zeros(8), 0.5
    w = torch.randn([2, 1, 8], generator=g)
    ws_w = w.repeat(1, 5, 1)  # W latents: all rows equal
    m = distance_from_w(ws_w, w_avg, std)
    assert m["row_spread"] == pytest.approx([0.0, 0.0], abs=1e-6)
    # Mean row distance: ||w - w_avg|| / (sqrt(w_dim) * std).
    assert m["mean_distance"] == pytest.approx((w[:, 0].norm(dim=1) / (math.sqrt(8) * std)).tolist(), rel=1e-5)
    # Two rows +-d from their mean along one axis: each row is d away -> spread d / (sqrt(w_dim) * std).
    ws = torch.zeros([1, 2, 8])
    ws[0, 0, 3], ws[0, 1, 3] = 2.0, -2.0
    assert distance_from_w(ws, w_avg, std)["row_spread"] == pytest.approx([2.0 / (math.sqrt(8) * 0.5)])
    # Spread grows with the size of per-row offsets; a given reference replaces the mean row.
    offsets = torch.randn([1, 5, 8], generator=g)
    spreads = [row_spread(ws_w[:1] + s * offsets, std).item() for s in (0.1, 0.5, 2.0)]
    assert spreads[0] < spreads[1] < spreads[2]
    assert row_spread(ws_w[:1], std, reference=w[:1, 0]).item() == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(InvalidArgumentError):
        distance_from_w(ws[0], w_avg, std)
    with pytest.raises(InvalidArgumentError):
        distance_from_w(ws, w_avg, 0.0)


def test_sampled_w_are_about_one_unit_from_w_avg(tiny_G):
    """The unit is the spread of W itself: mapped w of fresh z sit at RMS mean distance 1 from w_avg."""
    w_avg, std = w_stats(tiny_G, 2000, seed=0)
    z = torch.randn([500, tiny_G.z_dim], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ws = tiny_G.mapping(z)
    d = torch.tensor(distance_from_w(ws, w_avg, std)["mean_distance"])
    assert d.square().mean().sqrt().item() == pytest.approx(1.0, abs=0.1)
    assert max(distance_from_w(ws, w_avg, std)["row_spread"]) < 1e-5  # the mapping makes W latents


def test_regulariser_keeps_projections_nearer_w(tiny_G):
    """Projecting W+ targets (mapped w + per-layer perturbations) with and without the regulariser.

    Measured (3 targets, `fast`, 100 steps): the true latents have row spread 0.31; without the regulariser the
    projections end at 0.59 (22.2 dB), with w_reg = 0.03 at 0.32 (22.2 dB), with 0.1 at 0.13 (20.5 dB).
    The bar asks for a 1.5x smaller spread at DEFAULT_W_REG.
    """
    g = torch.Generator().manual_seed(5)
    w = tiny_G.mapping(torch.randn([3, tiny_G.z_dim], generator=g))
    ws_true = w + 0.3 * torch.randn(w.shape, generator=g)
    target = synthesize(tiny_G, ws_true)
    loss = pixel_fallback_loss()
    free = project(tiny_G, target, settings_for("fast", steps=100, num_w_samples=500), loss, seed=0)
    reg = project(tiny_G, target, settings_for("fast", steps=100, num_w_samples=500, w_reg=DEFAULT_W_REG), loss,
                  seed=0)
    assert free.settings.w_reg == 0 and "w_reg" not in free.history[-1]
    assert reg.term_weights["w_reg"] == DEFAULT_W_REG and "w_reg" in reg.history[-1]
    spread_free = sum(free.w_distance["row_spread"]) / 3
    spread_reg = sum(reg.w_distance["row_spread"]) / 3
    assert spread_reg < spread_free / 1.5, (spread_free, spread_reg)
    # Pulling towards a given base w instead: the rows end near that base.
    base = w.detach()
    to_base = project(tiny_G, target, settings_for("fast", steps=30, num_w_samples=500, w_reg=1.0), loss, seed=0,
                      w_base=base)
    assert row_spread(to_base.ws, 1.0, reference=base).mean() < row_spread(free.ws, 1.0, reference=base).mean()


def test_presets_keep_published_behaviour():
    assert settings_for("image2stylegan").w_reg == 0 and settings_for("fast").w_reg == 0
    assert settings_for("nvidia").w_reg == 0
    assert settings_for("editable").w_reg == DEFAULT_W_REG > 0
    assert settings_for("fast", w_reg=0.5).w_reg == 0.5
    with pytest.raises(InvalidArgumentError):
        settings_for("fast", w_reg=-1.0)
