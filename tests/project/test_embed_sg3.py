"""Embedding into StyleGAN3 generators: `project` (W, W+, NVIDIA's method, an encoder), encoder training,
style-fusion of a photo and toonify, on tiny StyleGAN3-T models (16 px, 6 W+ rows, no noise inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.errors import InvalidArgumentError
from styleblend.io import save_checkpoint
from styleblend.latents.files import read_latent_file
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import from_uint8, to_uint8
from styleblend.project.batch import LATENT_NAME, prepare_job, project_batch
from styleblend.project.encoder import encode, load_encoder
from styleblend.project.encoder_train import EncoderTrainOptions, train_encoder
from styleblend.project.losses import pixel_fallback_loss
from styleblend.project.projector import has_noise_inputs, project
from styleblend.project.settings import settings_for
from styleblend.project.toonify import toonify

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """A tiny StyleGAN3-T base and a second model of the same layout standing in for a blend of it."""
    d = tmp_path_factory.mktemp("sg3")
    return (save_checkpoint(tiny_sg3_checkpoint(seed=0), d / "base.safetensors"),
            save_checkpoint(tiny_sg3_checkpoint(seed=1), d / "toon.safetensors"))


@pytest.fixture(scope="module")
def encoder(nets, tmp_path_factory):
    """An encoder trained briefly on the base's W samples (latent loss only), and its log records."""
    out = tmp_path_factory.mktemp("enc") / "enc.safetensors"
    opts = EncoderTrainOptions(network=str(nets[0]), out=str(out), kimg=0.8, batch=16, recon_weight=0, mix_prob=0,
                               perturb_prob=0, snap=0, tick=0.16, w_samples=1000, input_resolution=16, lr=3e-3)
    torch.set_num_threads(1)
    records: list[dict] = []
    train_encoder(opts, show_progress=False, callback=records.append)
    return out, records


def _targets(G, folder, seeds):
    """Images of known W latents of G, written as PNGs: {stem: ws [1, num_ws, w_dim]}."""
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for s in seeds:
        ws = seeds_to_ws(G, [s])
        with torch.no_grad():
            Image.fromarray(to_uint8(G.synthesis(ws))[0]).save(folder / f"t{s}.png")
        truths[f"t{s}"] = ws
    return truths


@pytest.mark.parametrize("method,space", [("fast", "w"), ("fast", "w+"), ("image2stylegan", "w+"), ("editable", "w+"),
                                          ("nvidia", "w")])
def test_project_command_writes_a_latent_of_the_stylegan3_layout(nets, tmp_path, method, space, no_vgg):
    G = tiny_sg3_checkpoint(seed=0).generator()
    _targets(G, tmp_path / "in", [3])
    assert main(["-q", "project", "--network", str(nets[0]), "--target", str(tmp_path / "in" / "t3.png"), "--outdir",
                 str(tmp_path / "out"), "--method", method, "--space", space, "--steps", "8", "--loss", "pixel"]) == 0
    ws = read_latent_file(tmp_path / "out" / LATENT_NAME, G.cfg).data
    assert ws.shape == (1, G.num_ws, G.w_dim)
    rows_equal = bool(np.all(ws[0] == ws[0, :1]))
    assert rows_equal == (space == "w")
    assert Image.open(tmp_path / "out" / "proj.png").size == (16, 16)


def test_nvidia_method_has_no_noise_maps_to_optimise(nets, no_vgg):
    assert not has_noise_inputs(tiny_sg3_checkpoint().generator())
    assert has_noise_inputs(tiny_checkpoint().generator())
    job = prepare_job(nets[0], "nvidia", steps=3, loss="pixel")
    assert job.settings.space == "w" and not job.settings.optimize_noise
    with pytest.raises(InvalidArgumentError, match="no noise inputs") as info:
        prepare_job(nets[0], "nvidia", steps=3, loss="pixel", optimize_noise=True)
    assert info.value.params == ("optimize_noise",)
    # The library's loop, given settings that ask for noise maps, optimises the latent alone.
    G = job.G
    target = G.synthesis(seeds_to_ws(G, [4])).detach()
    result = project(G, target, settings_for("nvidia", steps=3, num_w_samples=0), pixel_fallback_loss())
    assert result.noise is None and "noise_reg" not in result.term_weights and result.steps_done == 3


def test_encoder_trains_on_stylegan3_and_predicts_nearer_than_the_mean(nets, encoder, tmp_path, no_vgg):
    enc, records = encoder
    assert records[-1]["latent"] < 0.8 * records[0]["latent"]
    job = prepare_job(nets[0], "encoder", steps=0, encoder=enc)
    G = job.G
    # Measured after 50 steps: 35 of 40 predictions nearer the true latent than w_avg, mean distance 0.75 of it.
    ws = seeds_to_ws(G, list(range(100, 140)))
    with torch.no_grad():
        predicted = encode(job.encoder, G, G.synthesis(ws))
    d_enc = (predicted - ws).flatten(1).norm(dim=1)
    d_avg = (G.mapping.w_avg.view(1, 1, -1) - ws).flatten(1).norm(dim=1)
    assert int((d_enc < d_avg).sum()) >= 28 and float(d_enc.mean()) < 0.9 * float(d_avg.mean())
    # The command's path: project --method encoder --steps 0 writes exactly the prediction.
    _targets(G, tmp_path / "in", seeds=[100, 101])
    files = sorted((tmp_path / "in").glob("*.png"))
    report = project_batch(job, files, tmp_path / "out")
    assert [s for *_, s in report] == ["done"] * len(files)
    for f in files:
        written = torch.from_numpy(read_latent_file(tmp_path / "out" / f.stem / LATENT_NAME, G.cfg).data)
        target = from_uint8(np.asarray(Image.open(f)))
        with torch.no_grad():
            assert torch.allclose(written, encode(job.encoder, G, target), atol=1e-6)


def test_toonify_renders_the_base_embedding_through_the_other_model(nets, encoder, tmp_path, no_vgg):
    base, toon = nets
    G = tiny_sg3_checkpoint(seed=0).generator()
    _targets(G, tmp_path, [9])
    photo = tmp_path / "t9.png"
    r1 = toonify(base, [toon], photo, tmp_path / "out", align=False, method="fast", steps=3)
    G_toon = tiny_sg3_checkpoint(seed=1).generator()
    with torch.no_grad():
        expected = to_uint8(G_toon.synthesis(r1.ws))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "toon_toon.png")), expected)
    r2 = toonify(base, [toon], photo, tmp_path / "out", align=False, method="fast", steps=3)
    assert r2.cache_hit and torch.equal(r1.ws, r2.ws)
    # With an encoder and no steps, the latent is the encoder's prediction.
    enc_path, _ = encoder
    r3 = toonify(base, [toon], photo, tmp_path / "enc", align=False, encoder=enc_path, steps=0)
    target = from_uint8(np.asarray(Image.open(photo)))
    with torch.no_grad():
        predicted = encode(load_encoder(enc_path), G, target)
    assert torch.allclose(r3.ws, predicted, atol=1e-6)


def test_style_fusion_embeds_a_photo_into_stylegan3(nets, tmp_path, no_vgg):
    G = tiny_sg3_checkpoint(seed=0).generator()
    _targets(G, tmp_path, [5])
    assert main(["-q", "style-fusion", "--network", str(nets[0]), "--content", str(tmp_path / "t5.png"), "--style", "7",
                 "--layers", "0-1", "--steps", "2", "--outdir", str(tmp_path / "f")]) == 0
    (embedding,) = (tmp_path / "f" / "embeddings").glob("*.npz")
    content = read_latent_file(embedding, G.cfg).data[0]
    style = seeds_to_ws(G, [7])[0].numpy()
    fused = read_latent_file(tmp_path / "f" / "fusion.npz", G.cfg).data[0]
    assert np.array_equal(fused[:2], style[:2]) and np.array_equal(fused[2:], content[2:])
