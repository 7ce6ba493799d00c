"""styleblend blend-sweep, in-process: the same frames and names as the library (and the web UI's export)."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from styleblend.blend.sweep import iter_sweep_plain, slider_frames
from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.media.video import read_video

from ..blend.conftest import finetuned, tiny_checkpoint


@pytest.fixture
def models(tmp_path):
    base = tiny_checkpoint(seed=0)
    return [str(save_checkpoint(base, tmp_path / "base.safetensors")),
            str(save_checkpoint(finetuned(base, scale=0.5), tmp_path / "t.safetensors"))]


def test_a_slider_sweep_zip_equals_the_plain_reference(tmp_path, models, capsys):
    base, transfer = models
    out = tmp_path / "s.zip"
    assert main(["blend-sweep", "--base", base, "--transfer", transfer, "--slider", "16", "--frames", "3",
                 "--table", "4:1,8:1,*:0", "--seeds", "2,5", "--mapping", "blend", "--out", str(out)]) == 0
    assert "3 frames: alpha16px-0.000 .. alpha16px-1.000" in capsys.readouterr().out
    b, t = load_checkpoint(base), load_checkpoint(transfer)
    frames = slider_frames([4, 8, 16, 32], [1, 1, 0, 0], 16, 3)
    expected = list(iter_sweep_plain(b.g_ema, t.g_ema, b.g_config, frames, [2, 5], 0.7, mapping="blend"))
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("sweep.json"))
        for i, frame in enumerate(frames):
            png = np.asarray(Image.open(zf.open(f"seed5_{i:02d}_{frame.label}.png")))
            assert np.array_equal(png, expected[i][1])
    assert meta["frames"][0]["alphas"] == [1.0, 1.0, 0.0, 0.0] and meta["mapping"] == "blend"


def test_a_swap_sweep_gif_and_errors_before_any_frame(tmp_path, models, capsys):
    base, transfer = models
    out = tmp_path / "s.gif"
    assert main(["blend-sweep", "--base", base, "--transfer", transfer, "--out", str(out), "--flip"]) == 0
    assert read_video(out).shape == (4, 32, 32, 3)
    assert main(["blend-sweep", "--base", "missing.pkl", "--transfer", transfer, "--out", str(tmp_path / "s.avi")]) == 1
    assert "must end in one of" in capsys.readouterr().err
    assert main(["blend-sweep", "--base", base, "--transfer", transfer, "--out", str(tmp_path / "t.gif"),
                 "--seeds", "0-8"]) == 1
    assert "1 to 8 seeds" in capsys.readouterr().err and not (tmp_path / "t.gif").exists()
