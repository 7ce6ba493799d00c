"""The lineage and model card of a model folder: a blend's parents and a training run's options, by SHA-256."""

from __future__ import annotations

import json

import pytest

from styleblend.blend.model import blend_checkpoints, save_blend
from styleblend.blend.schedules import Swap
from styleblend.errors import InvalidArgumentError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.digest import file_sha256
from styleblend.io.hub import save_pretrained
from styleblend.io.model_card import lineage_of, model_card

from ..conftest import tiny_checkpoint


@pytest.fixture
def two_files(tmp_path):
    base = save_checkpoint(tiny_checkpoint(seed=0), tmp_path / "base.safetensors")
    transfer = save_checkpoint(tiny_checkpoint(seed=1), tmp_path / "toon.safetensors")
    return base, transfer


def test_blend_lineage_names_the_parents_by_sha256(tmp_path, two_files):
    base, transfer = two_files
    blended, recipe = blend_checkpoints(load_checkpoint(base), [load_checkpoint(transfer)], Swap(16))
    parents = {"base": file_sha256(base), "transfer": file_sha256(transfer)}

    def check(folder, source_expected: bool):
        lineage = json.loads((folder / "config.json").read_text())["lineage"]
        got = {p["role"]: p["sha256"] for p in lineage["blend"]["parents"]}
        assert got == parents
        assert lineage["blend"]["schedule"] == recipe.schedule
        assert ("source" in lineage) == source_expected
        card = (folder / "README.md").read_text()
        assert all(sha in card for sha in parents.values()) and recipe.schedule in card

    # in memory, with the recipe: the blend's parents, not the base file it was "read from"
    check(save_pretrained(blended, tmp_path / "mem", recipe=recipe), source_expected=False)
    # in memory without the recipe: the note in the weights; the parents' files are hashed now
    check(save_pretrained(blended, tmp_path / "note"), source_expected=False)
    # a blend written to disk finds its .recipe.json; the blended file itself is the source
    out, _ = save_blend(blended, recipe, tmp_path / "blend.safetensors", "native")
    folder = save_pretrained(load_checkpoint(out), tmp_path / "disk")
    check(folder, source_expected=True)
    assert json.loads((folder / "config.json").read_text())["lineage"]["source"]["sha256"] == file_sha256(out)


def test_training_lineage_carries_the_runs_options(tmp_path):
    ckpt = tiny_checkpoint()
    options = {"data": "faces.zip", "outdir": "runs/x", "cfg": "emoji64", "kimg": 12.0, "resume": "base.pkl"}
    ckpt.meta.update(kimg=8.0, training_options=options,
                     started_from={"format": "nvidia-pkl", "path": "/data/base.pkl", "sha256": "ab" * 32})
    folder = save_pretrained(ckpt, tmp_path / "run")
    lineage = json.loads((folder / "config.json").read_text())["lineage"]
    assert lineage["training"] == {"kimg": 8.0, "options": options}
    assert lineage["started_from"]["sha256"] == "ab" * 32
    card = (folder / "README.md").read_text()
    assert '"data": "faces.zip"' in card and "for 8.0 kimg" in card and "ab" * 32 in card
    assert load_checkpoint(folder).meta["lineage"] == lineage


def test_card_of_a_blend_whose_parent_is_gone_says_so():
    config = {"g_config": tiny_checkpoint().g_config.to_dict(), "networks": ["g_ema"], "dtype": "float32",
              "license": None, "styleblend_version": "0.1.0",
              "lineage": {"blend": {"schedule": "swap:16", "mapping": "base",
                                    "parents": [
                                        {"role": "base", "file": "a.pkl", "format": "nvidia-pkl", "sha256": "cd" * 32},
                                        {"role": "transfer", "file": "gone.pkl", "format": None, "sha256": None}]}}}
    card = model_card(config, "m")
    assert "  - base: `a.pkl` (nvidia-pkl), SHA-256 `" + "cd" * 32 + "`" in card
    assert "  - transfer: `gone.pkl`, SHA-256 unknown" in card
    assert "license: other" in card and "Not stated" in card


def test_a_recipe_must_be_a_recipe():
    with pytest.raises(InvalidArgumentError, match="recipe must be a blend Recipe"):
        lineage_of(tiny_checkpoint(), recipe=["not", "a", "recipe"])
