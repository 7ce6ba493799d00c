"""Blend outputs: the model and its recipe replaced together, warnings for shares a transfer cannot take."""

import logging

import pytest

from styleblend.blend.model import blend_checkpoints, recipe_matches, save_blend, unmet_resolutions
from styleblend.blend.recipe import recipe_path
from styleblend.blend.schedules import Swap
from styleblend.io import save_checkpoint

from .conftest import finetuned, tiny_checkpoint


@pytest.fixture
def pair(tmp_path):
    base = tiny_checkpoint(seed=0)
    return base, finetuned(base, scale=0.3)


def test_recipe_records_the_model_hash_and_matches_it(tmp_path, pair):
    base, transfer = pair
    out = tmp_path / "blend.safetensors"
    ckpt, recipe = blend_checkpoints(base, [transfer], Swap(8), hash_inputs=False)
    save_blend(ckpt, recipe, out)
    assert recipe_matches(out) is True
    # A model replaced behind the recipe's back is detected.
    ckpt2, recipe2 = blend_checkpoints(base, [transfer], Swap(16), hash_inputs=False)
    save_checkpoint(ckpt2, out)
    assert recipe_matches(out) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.safetensors", "blend.safetensors.recipe.json"]


def test_killed_reblend_never_leaves_new_model_beside_old_recipe(tmp_path, pair, monkeypatch):
    base, transfer = pair
    out = tmp_path / "blend.safetensors"
    ckpt, recipe = blend_checkpoints(base, [transfer], Swap(8), hash_inputs=False)
    save_blend(ckpt, recipe, out)
    old_model, old_recipe = out.read_bytes(), recipe_path(out).read_text()

    # A failure while the recipe is written (after the model's temp file is complete) keeps the old pair.
    import styleblend.blend.model as model

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "write_recipe", broken)
    ckpt2, recipe2 = blend_checkpoints(base, [transfer], Swap(16), hash_inputs=False)
    with pytest.raises(KeyboardInterrupt):
        save_blend(ckpt2, recipe2, out)
    assert out.read_bytes() == old_model and recipe_path(out).read_text() == old_recipe
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.safetensors", "blend.safetensors.recipe.json"]

    # A kill between the two renames leaves the new model without any recipe, never with the old one.
    monkeypatch.undo()
    import styleblend.io.atomic as atomic

    real = atomic._finish

    def die_after_first(tmp, target):
        if target == recipe_path(out):  # the model is in place; the kill comes before the recipe's rename
            raise KeyboardInterrupt
        real(tmp, target)

    monkeypatch.setattr(atomic, "_finish", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        save_blend(ckpt2, recipe2, out)
    assert out.read_bytes() != old_model
    assert not recipe_path(out).exists()
    assert recipe_matches(out) is None


def test_low_resolution_transfer_warns_when_the_schedule_reaches_above_it(pair, caplog):
    base, _ = pair
    low = finetuned(tiny_checkpoint(seed=0, res=16))
    states = [base.g_ema, low.g_ema]
    with caplog.at_level(logging.WARNING, logger="styleblend.blend.model"):
        blend_checkpoints(base, [low], Swap(16), hash_inputs=False)
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="styleblend.blend.model"):
        blend_checkpoints(base, [low], Swap(32), hash_inputs=False)
    assert len(caplog.records) == 1 and "32 px, which it does not have" in caplog.records[0].getMessage()
    from styleblend.blend.core import two_model_weights

    assert unmet_resolutions(states, two_model_weights(Swap(32), "base", ()), base.g_config) == {1: [32]}
    assert unmet_resolutions(states, two_model_weights(Swap(8), "base", ()), base.g_config) == {}
