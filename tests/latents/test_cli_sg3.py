"""Latent edits on StyleGAN3 generators: mixing, crossover, morph and PCA through the commands and the library.

StyleGAN3's W+ rows drive the input (row 0) and one layer each; the edits work row by row as on StyleGAN2,
and what a row styles is named by its layer's sampling rate instead of a resolution.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.config import MappingConfig
from styleblend.config_sg3 import SG3SynthesisConfig, StyleGAN3Config
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.crossover import default_mix_styles, layer_resolution, mix_styles, scale_label
from styleblend.latents.files import load_pca, read_latent_file
from styleblend.latents.mapping import seeds_to_ws
from styleblend.latents.pca import apply_component
from styleblend.media.images import to_uint8
from styleblend.media.video import read_video

from ..conftest import tiny_config, tiny_sg3_checkpoint


@pytest.fixture(scope="module")
def sg3_net(tmp_path_factory):
    return str(save_checkpoint(tiny_sg3_checkpoint(kind="T"), tmp_path_factory.mktemp("sg3") / "t.safetensors"))


def run(*argv):
    return main(["-q", *map(str, argv)])


def test_rows_are_named_by_sampling_rate():
    cfg = StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=64, mapping=MappingConfig(num_layers=2, w_avg_beta=0.998),
                          synthesis=SG3SynthesisConfig(channel_base=256, channel_max=8, num_layers=6, num_critical=1))
    rates = [layer_resolution(cfg, i) for i in range(cfg.num_ws)]
    # The input samples at 16 cycles per image; the rates double up to the output's 64 and never fall.
    assert rates[0] == 16 and rates[-1] == 64 and rates == sorted(rates) and len(set(rates)) == 3
    assert scale_label(cfg, [0, 1]) == "sampling rate 16"
    assert scale_label(cfg, range(cfg.num_ws)) == "sampling rate 16-64"
    assert scale_label(tiny_config(32), [0, 1, 2, 3]) == "4-16 px"  # StyleGAN2 keeps its resolutions


def test_default_mix_styles_fit_every_network():
    assert default_mix_styles(18) == list(range(7)) and default_mix_styles(16) == list(range(7))
    for num_ws in range(1, 8):
        styles = default_mix_styles(num_ws)
        assert styles and max(styles) < num_ws and styles == list(range(len(styles)))
    assert len(default_mix_styles(6)) < 6  # a small network keeps some rows of its own


def test_mix_grid_with_the_default_styles(tmp_path, sg3_net):
    assert run("mix", "--network", sg3_net, "--rows", "1,2", "--cols", "3", "--outdir", tmp_path) == 0
    G = load_checkpoint(sg3_net).generator(mixed_precision=True)  # as the command renders (--precision nvidia)
    ws = seeds_to_ws(G, [1, 2, 3])
    mixed = mix_styles(ws[:2], ws[2:], default_mix_styles(G.num_ws))
    with torch.no_grad():
        expected = to_uint8(G.synthesis(mixed[1]))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "2-3.png")), expected)
    assert Image.open(tmp_path / "grid.png").size == (2 * 16, 3 * 16)


def test_crossover_keeps_rows_and_names_sampling_rates(tmp_path, sg3_net, capsys):
    assert main(["crossover", "--network", sg3_net, "--a", "1", "--b", "2", "--layers", "0-2", "--layers", "4",
                 "--outdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sampling rate 16" in out and " px)" not in out
    G = load_checkpoint(sg3_net).generator()
    a, b = seeds_to_ws(G, [1])[0].numpy(), seeds_to_ws(G, [2])[0].numpy()
    res = read_latent_file(tmp_path / "crossover.npz", G.cfg).data
    assert res.shape[1:] == (6, 16)
    assert np.array_equal(res[0, :3], a[:3]) and np.array_equal(res[0, 3:], b[3:])
    assert np.array_equal(res[1, 4], a[4]) and np.array_equal(res[1, :4], b[:4]) and np.array_equal(res[1, 5], b[5])


def test_morph_per_layer_schedule_and_video(tmp_path, sg3_net):
    assert run("morph", "--network", sg3_net, "--from", "1", "--to", "2", "--steps", 5, "--layer-order", "coarse-first",
               "--save-latents", "--gif", "--outdir", tmp_path) == 0
    G = load_checkpoint(sg3_net).generator()
    path = read_latent_file(tmp_path / "path.npz", G.cfg).data
    a, b = seeds_to_ws(G, [1]).numpy()[0], seeds_to_ws(G, [2]).numpy()[0]
    assert path.shape == (5, 6, 16) and np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    # Coarse first: halfway, the input's row is nearer B than the ToRGB row is.
    mid = path[2]
    frac = np.linalg.norm(mid - a, axis=1) / np.linalg.norm(b - a, axis=1)
    assert frac[0] > frac[-1]
    assert read_video(tmp_path / "morph.gif").shape == (5, 16, 16, 3)


def test_pca_edit_moves_only_the_chosen_rows(tmp_path, sg3_net):
    assert run("pca", "--network", sg3_net, "--samples", 400, "--components", 4, "--edit", "3", "--component", 1,
               "--strengths=-2,2", "--layers", "1-3", "--outdir", tmp_path) == 0
    assert Image.open(tmp_path / "component1.png").size == (2 * 16, 16)
    pca = load_pca(tmp_path / "pca.npz")
    G = load_checkpoint(sg3_net).generator()
    ws = seeds_to_ws(G, [3])
    edited = apply_component(ws, pca, 1, 2.0, layers=[1, 2, 3])
    moved = (edited - ws).norm(dim=2)[0]
    assert bool((moved[1:4] > 0).all()) and float(moved[0]) == 0 and float(moved[4:].abs().sum()) == 0
    saved = read_latent_file(tmp_path / "component1.npz", G.cfg).data
    assert np.allclose(saved[-1], edited[0].numpy(), atol=1e-6)


def test_interp_video_loops_through_stylegan3_seeds(tmp_path, sg3_net):
    assert run("interp-video", "--network", sg3_net, "--seeds", "0-2", "--frames-per-key", 2, "--layer-order",
               "fine-first", "--out", tmp_path / "loop.gif") == 0
    video = read_video(tmp_path / "loop.gif")
    assert video.shape == (6, 16, 16, 3)
    G = load_checkpoint(sg3_net).generator()
    with torch.no_grad():
        first = to_uint8(G.synthesis(seeds_to_ws(G, [0])))[0]
    assert np.abs(video[0].astype(int) - first.astype(int)).mean() < 3  # GIF's palette
