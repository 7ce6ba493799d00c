"""Recipes in the page: the page's blend as a CLI recipe, and recipes as sliders (or refused, with the reason)."""

from __future__ import annotations

import pytest

from styleblend.blend.schedules import Sigmoid
from styleblend.errors import InvalidArgumentError
from styleblend.io import load_checkpoint
from styleblend.nn.naming import param_info
from styleblend.ui.recipes import recipe_for_page, sliders_from_recipe

RES = [4, 8, 16, 32]


@pytest.fixture(scope="module")
def pair(pair_paths):
    return load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1])


def test_the_page_recipe_reads_back_as_the_same_sliders(pair):
    recipe = recipe_for_page(*pair, RES, [1, 0.8808, 0.5, 0], "transfer", ("aa", "bb"), "base-blend.safetensors")
    assert recipe["schedule"] == "table:4:1,8:0.8808,16:0.5,32:0"
    assert recipe["command"] == ("styleblend blend --base base.safetensors --transfer transfer.safetensors --spec "
                                 "table:4:1,8:0.8808,16:0.5,32:0 --mapping transfer --out base-blend.safetensors")
    assert sliders_from_recipe(recipe, *pair, RES, ("aa", "bb")) == ([1, 0.8808, 0.5, 0], "transfer", [])


def test_a_sigmoid_is_rounded_with_a_note_and_other_inputs_are_named(pair):
    alphas, mapping, notes = sliders_from_recipe({"schedule": "sigmoid:16:1", "inputs": [
        {"role": "base", "path": "/x/other.pkl", "sha256": "ff" * 32}]}, *pair, RES, ("aa" * 32, None))
    exact = [Sigmoid(16, 1).alpha(param_info(f"synthesis.b{r}.conv1.weight")) for r in RES]
    assert alphas == [round(a, 4) for a in exact] and alphas != exact and mapping == "base"
    assert "rounded" in notes[0] and "/x/other.pkl" in notes[1] and "base.safetensors" in notes[1]


@pytest.mark.parametrize("recipe, match", [
    ([1, 2], "JSON object"),
    ({"mapping": "base"}, "'schedule' must be"),
    ({"schedule": "x" * 20_000}, "at most"),
    ({"schedule": "swap:16", "mapping": 0.3}, "mapping '0.3' is not one the page offers"),
    ({"schedule": "swap:16", "channels": [{"layer": "b16.conv1"}]}, "per channel"),
    ({"schedule": "swap:16", "inputs": [{"role": "transfer"}, {"role": "transfer"}]}, "2 transfer models"),
    ({"schedule": "swap:16;noise=0"}, "noise"),
    ({"schedule": "layers:0:1,*:0"}, "one α per resolution"),
    ({"schedule": "swap:7"}, "power of two"),
])
def test_recipes_the_sliders_cannot_express_are_refused(pair, recipe, match):
    with pytest.raises(InvalidArgumentError, match=match):
        sliders_from_recipe(recipe, *pair, RES)
