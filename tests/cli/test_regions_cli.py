"""styleblend regions and blend --region, in-process on tiny generators."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint

from ..blend.conftest import finetuned, tiny_checkpoint


@pytest.fixture
def pair(tmp_path):
    base = tiny_checkpoint(seed=0)
    return (str(save_checkpoint(base, tmp_path / "base.safetensors")),
            str(save_checkpoint(finetuned(base, seed=1), tmp_path / "t.safetensors")))


@pytest.fixture
def mask_png(tmp_path):
    mask = np.zeros((32, 32), np.uint8)
    mask[4:20, 8:28] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return str(tmp_path / "mask.png")


def test_regions_writes_parts_grid_and_scores(tmp_path, pair, capsys):
    out = tmp_path / "r"
    assert main(["regions", "--network", pair[0], "--layer", "b16", "--parts", "3", "--samples", "3",
                 "--outdir", str(out)]) == 0
    report = json.loads((out / "regions.json").read_text())
    assert report["layer"] == "b16" and report["parts"] == 3 and report["channels"] == 16
    assert [r["region"] for r in report["regions"]] == ["0", "1", "2"]
    assert all(len(r["scores"]) == 16 for r in report["regions"])
    assert abs(sum(r["area"] for r in report["regions"]) - 1) < 1e-3
    best = report["regions"][0]
    assert best["top_channels"][0] == int(np.argmax(best["scores"]))
    # 3 samples x (image | part map) in rows of 4 cells of 128 px with 2 px gaps.
    assert Image.open(out / "parts.png").size == (4 * 128 + 3 * 2, 2 * 128 + 2)
    assert "region 0:" in capsys.readouterr().out


def test_regions_with_a_mask(tmp_path, pair, mask_png):
    out = tmp_path / "m"
    assert main(["regions", "--network", pair[0], "--layer", "b16", "--samples", "2", "--mask", mask_png,
                 "--outdir", str(out)]) == 0
    report = json.loads((out / "regions.json").read_text())
    assert len(report["regions"]) == 1 and report["regions"][0]["area"] == pytest.approx(16 * 20 / 32 ** 2, abs=0.01)


@pytest.mark.parametrize("extra, message", [
    (["--parts", "1"], "at least 2 parts"),
    (["--layer", "b64"], "--layer 'b64' is not a feature layer"),
    (["--mask", "SMALL"], "must be square"),
])
def test_regions_bad_inputs_are_one_line(tmp_path, pair, capsys, extra, message):
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "small.png")
    extra = [str(tmp_path / "small.png") if x == "SMALL" else x for x in extra]
    assert main(["regions", "--network", pair[0], "--samples", "2", "--outdir", str(tmp_path / "x"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_blend_region_top_k_zero_is_the_base(tmp_path, pair):
    out = tmp_path / "zero.safetensors"
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--region", "1", "--parts", "3",
                 "--region-layer", "b16", "--region-samples", "2", "--top-k", "0", "--out", str(out),
                 "--no-hash"]) == 0
    blended, base = load_checkpoint(out), load_checkpoint(pair[0])
    assert all(torch.equal(blended.g_ema[k], base.g_ema[k]) for k in base.g_ema)


def test_blend_region_mask_with_preview_and_recipe(tmp_path, pair, mask_png, capsys):
    out, preview = tmp_path / "reg.safetensors", tmp_path / "p.png"
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--region", mask_png, "--region-layer", "b16",
                 "--region-layers", "b16.conv0,b16.conv1", "--region-samples", "2", "--top-k", "3",
                 "--out", str(out), "--preview", str(preview), "--seeds", "0-1", "--no-hash"]) == 0
    assert "columns: base, transfer, blend, region" in capsys.readouterr().out
    assert Image.open(preview).size == (4 * 32, 2 * 32)
    recipe = json.loads((tmp_path / "reg.safetensors.recipe.json").read_text())
    assert recipe["schedule"] == "0"
    assert [c["layer"] for c in recipe["channels"]] == ["b16.conv0", "b16.conv1"]
    region = recipe["channels"][0]["region"]
    assert region["region"] == mask_png and region["selection"] == {"top_k": 3} and len(region["channels"]) == 3
    blended, base = load_checkpoint(out), load_checkpoint(pair[0])
    changed = {k for k in base.g_ema if not torch.equal(blended.g_ema[k], base.g_ema[k])}
    assert changed == {f"synthesis.b16.{c}.{p}" for c in ("conv0", "conv1") for p in ("weight", "bias")}


@pytest.mark.parametrize("extra, message", [
    (["--top-k", "2"], "need --region"),
    (["--region", "0", "--parts", "1"], "at least 2 parts"),
    (["--region", "5", "--parts", "3", "--region-layer", "b16"], "--region 5: with --parts 3 the parts are 0..2"),
    (["--region", "0", "--region-layer", "b16", "--top-k", "99"], "--top-k 99 must be in [0, 16]"),
    (["--region", "0", "--region-layer", "b64"], "--region-layer 'b64' is not a feature layer"),
    (["--region", "0", "--region-layer", "b16", "--region-layers", "b32.conv1"], "channels"),
])
def test_blend_region_bad_inputs_are_one_line(tmp_path, pair, capsys, extra, message):
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--region-samples", "2",
                 "--out", str(tmp_path / "o.safetensors"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
