"""styleblend blend / diff, in-process."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint

from ..blend.conftest import finetuned, tiny_checkpoint


@pytest.fixture
def models(tmp_path):
    base = tiny_checkpoint(seed=0)
    paths = [save_checkpoint(base, tmp_path / "base.safetensors"),
             save_checkpoint(finetuned(base, seed=1), tmp_path / "t1.safetensors"),
             save_checkpoint(finetuned(base, seed=2), tmp_path / "t2.safetensors")]
    return [str(p) for p in paths]


def test_blend_swap_with_preview(tmp_path, models, capsys):
    base, t1, _ = models
    out, preview = tmp_path / "out.safetensors", tmp_path / "p.png"
    assert main(["blend", "--base", base, "--transfer", t1, "--swap-res", "8", "--out", str(out),
                 "--preview", str(preview), "--seeds", "0-1", "--trunc", "0.7", "--show-alpha"]) == 0
    text = capsys.readouterr().out
    assert "b8.conv0" in text and f"wrote {out}" in text
    assert Image.open(preview).size == (3 * 32, 2 * 32)
    recipe = json.loads((tmp_path / "out.safetensors.recipe.json").read_text())
    assert recipe["schedule"] == "swap:8"
    blended, b, t = load_checkpoint(out), load_checkpoint(base), load_checkpoint(t1)
    assert torch.equal(blended.g_ema["synthesis.b8.conv1.weight"], t.g_ema["synthesis.b8.conv1.weight"])
    assert torch.equal(blended.g_ema["synthesis.b16.conv1.weight"], b.g_ema["synthesis.b16.conv1.weight"])


@pytest.mark.parametrize("extra", [
    ["--schedule", "linear", "--from-res", "8", "--to-res", "32"],
    ["--schedule", "sigmoid", "--centre", "16", "--width", "0.5", "--group", "noise=0", "--mapping", "blend"],
    ["--table", "4:1,8:1,16:0.5,*:0", "--channels", "b32.conv1:0-3"],
    ["--schedule", "layers", "--layers", "b4.const:1,0:1,*:0"],
    ["--spec", "swap:16:flip;torgb=1"],
])
def test_schedules_from_flags(models, extra, capsys):
    base, t1, _ = models
    assert main(["blend", "--base", base, "--transfer", t1, "--dry-run", *extra]) == 0
    assert "mapping.fc0" in capsys.readouterr().out


def test_three_models_with_bands(tmp_path, models, capsys):
    base, t1, t2 = models
    out = tmp_path / "three.safetensors"
    assert main(["blend", "--base", base, "--transfer", t1, "--transfer", t2, "--edges", "8,16", "--out", str(out),
                 "--show-alpha"]) == 0
    assert "0/1/0" in capsys.readouterr().out
    blended = load_checkpoint(out)
    key = "synthesis.b16.conv0.weight"
    assert torch.equal(blended.g_ema[key], load_checkpoint(t2).g_ema[key])


def test_sweep_preview_and_save(tmp_path, models, capsys):
    base, t1, _ = models
    out, preview = tmp_path / "s.safetensors", tmp_path / "sweep.png"
    assert main(["blend", "--base", base, "--transfer", t1, "--sweep", "--out", str(out),
                 "--preview", str(preview), "--seeds", "0"]) == 0
    assert "columns: base, swap 4, swap 8, swap 16, swap 32, transfer" in capsys.readouterr().out
    assert Image.open(preview).size == (6 * 32, 32)
    assert sorted(p.name for p in tmp_path.glob("s-swap*.safetensors")) == \
        ["s-swap16.safetensors", "s-swap32.safetensors", "s-swap4.safetensors", "s-swap8.safetensors"]
    grid = np.asarray(Image.open(preview))
    assert not np.array_equal(grid[:, :32], grid[:, 32:64])


@pytest.mark.parametrize("argv,match", [
    (["--schedule", "swap", "--out", "x"], "needs --swap-res"),
    (["--swap-res", "12", "--out", "x"], "power of two"),
    (["--swap-res", "8"], "give --out"),
    (["--table", "4:1", "--out", "x"], "no entry for resolutions"),
    (["--swap-res", "8", "--mapping", "both", "--out", "x"], "--mapping 'both'"),
    (["--swap-res", "8", "--group", "buffer=1", "--out", "x"], "unknown parameter group"),
])
def test_bad_input_is_one_line(models, argv, match, capsys):
    base, t1, _ = models
    assert main(["blend", "--base", base, "--transfer", t1, *argv]) == 1
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_diff_command(tmp_path, models, capsys):
    base, t1, _ = models
    assert main(["diff", base, t1, "--per-layer"]) == 0
    text = capsys.readouterr().out
    assert "b16" in text and "b8.conv0" in text and "warning" not in text
    other = save_checkpoint(tiny_checkpoint(seed=7), tmp_path / "other.safetensors")
    assert main(["diff", base, str(other)]) == 0
    assert "unrelated models" in capsys.readouterr().out
