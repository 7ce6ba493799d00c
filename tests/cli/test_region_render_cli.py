"""styleblend region-render (feature region blends), in-process on tiny generators."""

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.blend.features import feature_blend
from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8

from ..blend.conftest import finetuned, tiny_checkpoint


@pytest.fixture
def pair(tmp_path):
    base = tiny_checkpoint(seed=0)
    return (str(save_checkpoint(base, tmp_path / "base.safetensors")),
            str(save_checkpoint(finetuned(base, 0.3, seed=1), tmp_path / "t.safetensors")))


@pytest.fixture
def mask_png(tmp_path):
    mask = np.zeros((32, 32), np.uint8)
    mask[:12, :12] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return str(tmp_path / "mask.png")


def test_mask_images_are_the_library_feature_blend(tmp_path, pair, mask_png, capsys):
    out = tmp_path / "out"
    assert main(["region-render", "--base", pair[0], "--transfer", pair[1], "--region", mask_png, "--layers", "16,32",
                 "--feather", "0", "--seeds", "0,1", "--outdir", str(out)]) == 0
    assert "blocks b16, b32" in capsys.readouterr().out
    Gb, Gt = load_checkpoint(pair[0]).generator(), load_checkpoint(pair[1]).generator()
    ws = seeds_to_ws(Gb, [0, 1])
    mask = torch.from_numpy(np.asarray(Image.open(mask_png)) >= 128)
    expected = to_uint8(feature_blend(Gb, Gt, ws, mask, [16, 32], feather=0.0))
    for seed, image in zip([0, 1], expected):
        assert np.array_equal(np.asarray(Image.open(out / f"seed{seed:04d}.png")), image)
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[0] > 2 * 32 and grid.shape[1] > 4 * 32  # 2 rows x 4 columns


def test_a_mask_region_runs_no_part_analysis(tmp_path, pair, mask_png, monkeypatch):
    import styleblend.blend.regions as regions

    def refuse(*args, **kwargs):
        raise AssertionError("a mask needs no sample renders")

    monkeypatch.setattr(regions, "layer_activations", refuse)
    assert main(["region-render", "--base", pair[0], "--transfer", pair[1], "--region", mask_png, "--seeds", "0",
                 "--outdir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "seed0000.png").is_file()


def test_part_video_follows_each_frame(tmp_path, pair):
    video = tmp_path / "v.gif"
    assert main(["region-render", "--base", pair[0], "--transfer", pair[1], "--region", "1", "--parts", "3",
                 "--region-layer", "b16", "--region-samples", "3", "--seeds", "0,1", "--frames-per-key", "3",
                 "--video", str(video)]) == 0
    with Image.open(video) as im:
        assert im.size == (32, 32) and im.n_frames >= 2


def test_errors_name_the_flags(tmp_path, pair, mask_png, capsys):
    base = ["region-render", "--base", pair[0], "--transfer", pair[1], "--outdir", str(tmp_path / "o")]
    for extra, flag in ((["--region", mask_png, "--layers", "12"], "--layers '12'"),
                        (["--region", mask_png, "--alpha", "2"], "--alpha 2"),
                        (["--region", "5", "--parts", "3"], "--region 5")):
        assert main([*base, *extra]) == 1
        assert flag in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_blend_features_points_to_region_render(tmp_path, pair, capsys):
    assert main(["blend", "--base", pair[0], "--transfer", pair[1], "--region", "1", "--features",
                 "--out", str(tmp_path / "x.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "cannot be saved as one weight file" in err and "region-render" in err
    assert not (tmp_path / "x.safetensors").exists()
