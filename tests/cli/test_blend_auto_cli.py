"""styleblend blend --auto, in-process on tiny generators."""

import json

import numpy as np
import pytest
from PIL import Image

from styleblend.blend.core import blend_two
from styleblend.blend.schedules import parse_table
from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint

from ..blend.conftest import finetuned, tiny_checkpoint


@pytest.fixture
def pair(tmp_path):
    base = tiny_checkpoint(seed=0, res=16, with_d=True)
    transfer = finetuned(base, 0.3, seed=1)
    return (str(save_checkpoint(base, tmp_path / "base.safetensors")),
            str(save_checkpoint(transfer, tmp_path / "t.safetensors")),
            str(save_checkpoint(transfer.generators_only(), tmp_path / "t-g.safetensors")))


def test_auto_writes_the_chosen_blend_its_table_and_the_front(tmp_path, pair, capsys):
    out = tmp_path / "auto.safetensors"
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--budget-s", "6", "--auto-samples", "8",
                 "--auto-validation", "8", "--structure-res", "4", "--out", str(out), "--no-hash"]) == 0
    printed = capsys.readouterr().out
    assert "plain swaps on both scores on 8 validation latents" in printed
    assert "beyond chance (95% one-sided paired bounds, 2 groups of latents) on the 8 validation latents" in printed
    assert "better than every plain swap on both scores (realism above" in printed
    report = json.loads((tmp_path / "auto.auto.json").read_text())
    assert report["validation"]["samples"] == 8 and report["validation"]["chosen"]["alphas"] == report["chosen"][
        "alphas"]
    assert report["settings"]["confidence"] == 0.95 and report["settings"]["family"] == "table"
    margins = report["validation"]["margins"]
    assert [m["label"] for m in margins] == [s["label"] for s in report["swaps"]]
    assert report["confident_swaps"] == [m["label"] for m in margins if m["confident"]]
    swaps = report["swaps"]
    assert report["box"]["realism_above"] == pytest.approx(max(s["realism"] for s in swaps), abs=1e-4)
    assert report["box"]["distance_below"] == pytest.approx(min(s["distance"] for s in swaps), abs=1e-4)
    assert all(m["realism_low"] <= m["realism_gain"] and m["distance_low"] <= m["distance_gain"] for m in margins)
    assert report["resolutions"] == [4, 8, 16] and len(report["swaps"]) == 4
    assert report["evaluations"] == len(report["candidates"]) >= 6
    assert report["chosen"] in report["front"]
    assert report["settings"]["critic"].startswith(pair[1])
    table = parse_table(report["table"])
    base, transfer = load_checkpoint(pair[0]), load_checkpoint(pair[1])
    expected = blend_two(base.g_ema, transfer.g_ema, table, base.g_config)
    got = load_checkpoint(out).g_ema
    assert all(np.array_equal(got[k].numpy(), expected[k].numpy()) for k in expected)
    plot = np.asarray(Image.open(tmp_path / "auto.front.png"))
    assert plot.ndim == 3 and plot.shape[1] >= 200 and (plot != 255).any()


def test_auto_needs_a_critic_and_no_schedule(tmp_path, pair, capsys):
    out = str(tmp_path / "x.safetensors")
    assert main(["blend", "--base", pair[0], "--transfer", pair[2], "--auto", "--out", out]) == 1
    assert "--critic" in capsys.readouterr().err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--swap-res", "8", "--out", out]) == 1
    assert "drop a schedule flag" in capsys.readouterr().err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--budget-s", "0", "--out", out]) == 1
    assert "--budget-s" in capsys.readouterr().err


@pytest.mark.parametrize("extra, flag", [(["--group", "noise=0"], "--group"),
                                         (["--channels", "b16.conv1:0-3"], "--channels"),
                                         (["--region", "1"], "--region"), (["--mapping", "transfer"], "--mapping")])
def test_auto_refuses_what_it_would_ignore(tmp_path, pair, capsys, extra, flag):
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", *extra,
                 "--out", str(tmp_path / "x.safetensors")]) == 1
    assert flag in capsys.readouterr().err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--transfer", pair[1], "--auto",
                 "--out", str(tmp_path / "x.safetensors")]) == 1
    assert "single --transfer" in capsys.readouterr().err


def test_auto_validation_can_be_turned_off_and_is_checked(tmp_path, pair, capsys):
    out = tmp_path / "auto.safetensors"
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--budget-s", "3", "--auto-samples", "4",
                 "--auto-validation", "0", "--auto-confidence", "0", "--structure-res", "4", "--out", str(out),
                 "--no-hash"]) == 0
    printed = capsys.readouterr().out
    assert "validation latents" not in printed and "beyond chance" not in printed
    report = json.loads((tmp_path / "auto.auto.json").read_text())
    assert report["validation"] is None and report["margins"] == [] and report["settings"]["confidence"] is None
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-samples", "4",
                 "--auto-validation", "6", "--out", str(tmp_path / "b.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "--auto-validation 6" in err and "multiple of 4" in err


def test_auto_confidence_and_family_options(tmp_path, pair, capsys):
    out = tmp_path / "auto.safetensors"
    # 4 validation latents are one group of the critic: no bound can rest on it
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-samples", "8",
                 "--auto-validation", "4", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--auto-validation" in err and "2 groups" in err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-confidence", "1.2",
                 "--out", str(out)]) == 1
    assert "--auto-confidence" in capsys.readouterr().err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--budget-s", "4", "--auto-samples", "8",
                 "--auto-validation", "0", "--auto-family", "sigmoid", "--structure-res", "4", "--out", str(out),
                 "--no-hash"]) == 0
    assert "on the search's own latents (optimistic" in capsys.readouterr().out
    report = json.loads((tmp_path / "auto.auto.json").read_text())
    assert report["settings"]["family"] == "sigmoid" and len(report["margins"]) == len(report["swaps"])


def test_identity_structure_refuses_a_model_without_faces(tmp_path, pair, capsys):
    pytest.importorskip("dlib")
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-samples", "4",
                 "--structure", "identity", "--out", str(tmp_path / "b.safetensors")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no face was found in any of the 4 reference images" in err and "\n" not in err
    assert not (tmp_path / "b.safetensors").exists()


def test_auto_family_channels_writes_the_channel_blend_it_chose(tmp_path, pair, capsys):
    from styleblend.blend.auto_channels import channel_masks

    out = tmp_path / "chan.safetensors"
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-family", "channels",
                 "--budget-s", "8", "--auto-samples", "8", "--auto-validation", "0", "--auto-confidence", "0",
                 "--structure-res", "4", "--out", str(out), "--no-hash"]) == 0
    printed = capsys.readouterr().out
    assert "gradient steps" in printed
    report = json.loads((tmp_path / "chan.auto.json").read_text())
    assert report["settings"]["family"] == "channels" and report["settings"]["steps"] >= 1
    chosen = report["chosen"]
    table = parse_table(report["table"])
    base, transfer = load_checkpoint(pair[0]), load_checkpoint(pair[1])
    masks = channel_masks(tuple((layer, tuple(v)) for layer, v in chosen.get("channels", {}).items()))
    assert ("with alpha per output channel" in printed) == bool(masks)
    expected = blend_two(base.g_ema, transfer.g_ema, table, base.g_config, channels=masks)
    got = load_checkpoint(out).g_ema
    # The JSON keeps 6 decimals of each channel alpha; the file was blended with the exact values.
    assert all(np.allclose(got[k].numpy(), expected[k].numpy(), atol=1e-5) for k in expected)


def test_auto_channel_options_are_checked_before_loading(tmp_path, pair, capsys):
    out = str(tmp_path / "x.safetensors")
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-distance", "3",
                 "--out", out]) == 1
    assert "--auto-distance is a positive distance for --auto-family channels" in capsys.readouterr().err
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--auto", "--auto-family", "channels",
                 "--structure", "identity", "--out", out]) == 1
    assert "use --structure lowres" in capsys.readouterr().err


def test_the_cli_default_confidence_is_the_librarys():
    from styleblend.blend import auto_stats
    from styleblend.cli import blend_auto

    assert blend_auto.DEFAULT_CONFIDENCE == auto_stats.DEFAULT_CONFIDENCE
