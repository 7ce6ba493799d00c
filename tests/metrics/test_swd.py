"""SWD: the Laplacian pyramid, the distance's properties, and `styleblend metrics --metrics swd`."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.errors import InvalidArgumentError
from styleblend.io import save_checkpoint
from styleblend.metrics.swd import laplacian_pyramid, patch_descriptors, reconstruct, swd
from styleblend.train.dataset_tool import make_dataset

from ..conftest import tiny_checkpoint


def images(n, seed, res=32, smooth=False, two_colours=False):
    """Grey images with pixel noise; ``smooth`` box-blurs the noise (other textures), ``two_colours`` makes
    half of them red and half blue (other colour layout)."""
    rng = np.random.default_rng(seed)
    base = np.full((n, 3, 1, 1), 120.0)
    if two_colours:
        base[::2, :, 0, 0], base[1::2, :, 0, 0] = (200, 60, 60), (60, 60, 200)
    noise = rng.normal(0, 40, (n, 3, res, res))
    if smooth:
        noise = 3 * sum(np.roll(noise, (dy, dx), axis=(2, 3)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_pyramid_levels_and_exact_reconstruction():
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    levels = laplacian_pyramid(x, min_resolution=16)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    torch.testing.assert_close(reconstruct(levels), x, atol=1e-12, rtol=0)
    # A constant image has no band-pass content.
    flat = laplacian_pyramid(torch.full((1, 1, 32, 32), 0.5, dtype=torch.float64))
    assert flat[0].abs().max() < 1e-12 and torch.allclose(flat[-1], torch.full_like(flat[-1], 0.5))


def test_patch_descriptors_are_the_image_neighbourhoods():
    level = torch.arange(2 * 3 * 9 * 9, dtype=torch.float64).reshape(2, 3, 9, 9)
    desc = patch_descriptors(level, per_image=5, size=7, gen=torch.Generator().manual_seed(0))
    assert desc.shape == (10, 3 * 49)
    for row in desc:  # every descriptor is some 7x7 window of image 0 or 1, all channels
        patch = row.reshape(3, 7, 7)
        img, offset = divmod(int(patch[0, 0, 0]), 3 * 81)
        y, x = divmod(offset, 9)
        assert torch.equal(patch, level[img, :, y:y + 7, x:x + 7])


def test_distance_properties():
    a = images(40, 0)
    assert swd(a, a)[0] == 0  # same neighbourhoods, same directions
    same_kind = swd(a, images(40, 1))
    other_texture = swd(a, images(40, 1, smooth=True))
    assert other_texture[32] > 1.5 * same_kind[32]  # the finest level sees texture
    two = images(40, 0, two_colours=True)
    same_layout = swd(two, images(40, 1, two_colours=True))
    one_colour = swd(two, images(40, 1))
    assert one_colour[16] > 5 * same_layout[16]  # the coarse level sees colour; the fine one hardly
    assert one_colour[32] < 1.5 * same_layout[32]
    assert sorted(k for k in same_kind if k) == [16, 32] and same_kind[0] == pytest.approx(
        (same_kind[16] + same_kind[32]) / 2)


def test_refuses_unequal_sets():
    with pytest.raises(InvalidArgumentError, match="equal shape"):
        swd(images(4, 0), images(5, 0))


def test_cli_swd_needs_no_network_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))  # no Inception anywhere
    src = tmp_path / "src"
    src.mkdir()
    for i, img in enumerate(images(12, 3)):
        Image.fromarray(img.transpose(1, 2, 0)).save(src / f"{i:02d}.png")
    make_dataset(src, tmp_path / "data.zip", 32)
    net = save_checkpoint(tiny_checkpoint(), tmp_path / "g.safetensors")
    rc = main(["metrics", "--network", str(net), "--data", str(tmp_path / "data.zip"), "--metrics", "swd",
               "--num-gen", "100", "--batch", "5", "--json", str(tmp_path / "m.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "swd12 = " in out and "32 px" in out and "16 px" in out
    payload = json.loads((tmp_path / "m.json").read_text())
    assert payload["swd_images"] == 12 and payload["results"]["swd12"] > 0
    assert set(payload["results"]) == {"swd12", "swd12_32px", "swd12_16px"}
