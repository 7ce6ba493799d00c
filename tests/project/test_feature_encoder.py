"""The feature head (W+ + block-r features) on a tiny generator: starts as the W+ encoder, training lowers its
losses, resume is bit-exact, files round-trip and bad files are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from styleblend.errors import CheckpointError, InvalidArgumentError
from styleblend.io import save_checkpoint
from styleblend.nn.feature_space import synthesize_from_features
from styleblend.project.encoder import encode
from styleblend.project.feature_encoder import (
    FeatureHead,
    FeatureHeadConfig,
    encode_features,
    load_feature_head,
    save_feature_head,
)
from styleblend.project.feature_encoder_train import (
    FeatureTrainOptions,
    load_feature_state,
    log_path,
    train_feature_head,
)

from .conftest import tiny_checkpoint, tiny_encoder_files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_encoder_files(tmp_path_factory.mktemp("fs"))


def _opts(files, out, **kw):
    network, enc, _, _ = files
    base = dict(network=str(network), encoder=str(enc), out=str(out), block_res=8, width=16, depth=2, kimg=0.1,
                batch=4, real_batch=0, lr=0.003, snap=0, tick=0.008)
    base.update(kw)
    return FeatureTrainOptions(**base)


def test_an_untrained_head_renders_exactly_what_the_w_plus_encoder_renders(files):
    _, _, G, E = files
    head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2)).eval()
    img = G.synthesis(G.mapping(torch.randn(2, G.z_dim), None)).detach()
    with torch.no_grad():
        ws, feats = encode_features(E, head, G, img)
        assert torch.equal(ws, encode(E, G, img))
        assert torch.equal(synthesize_from_features(G, ws, feats, 8), G.synthesis(ws))


def test_training_lowers_the_losses_and_the_file_loads(files, tmp_path):
    out = tmp_path / "head.safetensors"
    train_feature_head(_opts(files, out, kimg=0.2))
    records = [json.loads(line) for line in log_path(out).read_text().splitlines()]
    first, last = records[0], records[-1]
    assert last["pixel"] < 0.8 * first["pixel"], records
    assert last["feature"] < first["feature"], records
    head = load_feature_head(out)
    assert head.cfg.block_res == 8 and head.meta["kimg"] == pytest.approx(0.2)
    assert float(head.out.weight.abs().sum()) > 0  # it moved away from the zero residual


def test_resume_is_bit_exact(files, tmp_path):
    whole, part = tmp_path / "whole.safetensors", tmp_path / "part.safetensors"
    train_feature_head(_opts(files, whole, kimg=0.032))
    train_feature_head(_opts(files, part, kimg=0.032), max_steps=3)
    state = load_feature_state(part)
    assert state["step"] == 3
    train_feature_head(_opts(files, part, kimg=0.032), resume_state=state)
    a, b = load_feature_head(whole).state_dict(), load_feature_head(part).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_files_and_options_are_refused(files, tmp_path):
    _, enc, G, _ = files
    with pytest.raises(CheckpointError, match="does not exist"):
        load_feature_head(tmp_path / "none.safetensors")
    with pytest.raises(CheckpointError, match="feature head metadata"):
        load_feature_head(enc)  # an encoder file is not a head
    head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2))
    path = save_feature_head(tmp_path / "h.safetensors", head)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError):
        load_feature_head(path)
    with pytest.raises(InvalidArgumentError, match="block_res"):
        FeatureHeadConfig(img_resolution=32, img_channels=3, block_res=32, feat_channels=32)
    with pytest.raises(InvalidArgumentError, match="batch"):
        _opts(files, tmp_path / "x", batch=0)


@pytest.fixture(scope="module")
def head_file(files, tmp_path_factory):
    """A head with a non-zero residual (so features differ from G's own), saved."""
    _, _, G, _ = files
    torch.manual_seed(3)
    head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2))
    with torch.no_grad():
        head.out.weight.normal_(std=0.05)
    return save_feature_head(tmp_path_factory.mktemp("head") / "head.safetensors", head)


def _photo(G, path):
    from PIL import Image

    from styleblend.media.images import to_uint8

    with torch.no_grad():
        a = to_uint8(G(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0))))[0]
    Image.fromarray(a).save(path)
    return path


def test_project_writes_the_features_beside_the_latent_and_they_render_the_image(files, head_file, tmp_path):
    from PIL import Image

    from styleblend.cli.main import main
    from styleblend.latents.files import read_latent_file
    from styleblend.media.images import to_uint8

    network, enc, G, _ = files
    photo = _photo(G, tmp_path / "photo.png")
    assert main(["project", "--network", str(network), "--target", str(photo), "--outdir", str(tmp_path / "out"),
                 "--method", "encoder", "--encoder", str(enc), "--steps", "0", "--feature-head", str(head_file),
                 "--quiet"]) == 0
    got = read_latent_file(tmp_path / "out" / "projected_w.npz", G.cfg)
    assert got.feature_block == 8 and got.features is not None and got.meta["latent"] == "W+ + 8 px features"
    ws, feats = torch.from_numpy(got.data), torch.from_numpy(got.features)
    with torch.no_grad():
        image = to_uint8(synthesize_from_features(G, ws, feats, 8))[0]
        plain = to_uint8(G.synthesis(ws))[0]
    shown = np.asarray(Image.open(tmp_path / "out" / "proj.png"))
    assert np.array_equal(shown, image) and not np.array_equal(shown, plain)


def test_the_head_needs_the_encoder_and_no_video(files, head_file, tmp_path):
    from styleblend.project.batch import prepare_job

    network, enc, _, _ = files
    with pytest.raises(InvalidArgumentError, match="method"):
        prepare_job(network, "fast", steps=0, feature_head=head_file)
    with pytest.raises(InvalidArgumentError, match="video"):
        prepare_job(network, "encoder", encoder=enc, steps=5, feature_head=head_file, video=True)


def _target_and_start(files, head_file):
    _, _, G, E = files
    head = load_feature_head(head_file)
    with torch.no_grad():
        target = G.synthesis(G.mapping(torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(5)), None))
        ws, feats = encode_features(E, head, G, target)
    return G, target, ws, feats


def test_projection_refines_w_plus_and_features_together(files, head_file):
    from styleblend.project import pixel_fallback_loss, project, settings_for

    G, target, ws, feats = _target_and_start(files, head_file)
    loss = pixel_fallback_loss()
    runs = {lr: project(G, target, settings_for("fast", steps=15, num_w_samples=0, feature_lr=lr), loss,
                        init_ws=ws, init_features=feats, feature_block=8) for lr in (0.0, 0.1)}
    fixed, joint = runs[0.0], runs[0.1]
    assert fixed.feature_block == 8 and fixed.features is not None and joint.features is not None
    assert torch.equal(fixed.features, feats)  # feature_lr 0 keeps the head's features
    assert not torch.equal(joint.features, feats) and not torch.equal(joint.ws, ws)
    assert joint.final_loss < fixed.final_loss < fixed.history[0]["loss"]
    with torch.no_grad():  # the result renders through the features: its loss is the loop's last (or better)
        total, _ = loss(synthesize_from_features(G, joint.ws, joint.features, 8), target)
    assert float(total) <= joint.history[-1]["loss"] * 1.05


def test_projection_refuses_features_that_do_not_fit(files, head_file):
    from styleblend.project import pixel_fallback_loss, project, settings_for

    G, target, ws, feats = _target_and_start(files, head_file)
    s, loss = settings_for("fast", steps=2, num_w_samples=0), pixel_fallback_loss()
    with pytest.raises(InvalidArgumentError, match="go together"):
        project(G, target, s, loss, init_ws=ws, init_features=feats)
    with pytest.raises(InvalidArgumentError, match="needs `init_ws`"):
        project(G, target, s, loss, init_features=feats, feature_block=8)
    with pytest.raises(InvalidArgumentError, match="shape"):
        project(G, target, s, loss, init_ws=ws, init_features=feats[:, :, :4], feature_block=8)
    with pytest.raises(InvalidArgumentError, match="noise"):
        project(G, target, settings_for("fast", steps=2, num_w_samples=0, optimize_noise=True), loss, init_ws=ws,
                init_features=feats, feature_block=8)
    with pytest.raises(InvalidArgumentError, match="feature_lr"):
        settings_for("fast", feature_lr=-1.0)


def test_project_cli_refines_the_head_s_features(files, head_file, tmp_path):
    from PIL import Image

    from styleblend.cli.main import main
    from styleblend.latents.files import read_latent_file
    from styleblend.media.images import to_uint8

    network, enc, G, _ = files
    photo = _photo(G, tmp_path / "photo.png")
    found = {}
    for steps in (0, 8):
        out = tmp_path / f"out{steps}"
        assert main(["project", "--network", str(network), "--target", str(photo), "--outdir", str(out), "--method",
                     "encoder", "--encoder", str(enc), "--steps", str(steps), "--feature-head", str(head_file),
                     "--loss", "pixel", "--quiet"]) == 0
        found[steps] = got = read_latent_file(out / "projected_w.npz", G.cfg)
        assert got.features is not None and got.feature_block == 8
        with torch.no_grad():
            image = to_uint8(synthesize_from_features(G, torch.from_numpy(got.data), torch.from_numpy(got.features),
                                                      8))[0]
        assert np.array_equal(np.asarray(Image.open(out / "proj.png")), image)
    assert not np.array_equal(found[0].features, found[8].features)
    metrics = json.loads((tmp_path / "out8" / "metrics.json").read_text())
    assert metrics["psnr"] > json.loads((tmp_path / "out0" / "metrics.json").read_text())["psnr"]


def test_a_head_runs_the_encoder_passes_its_config_names(files):
    from styleblend.project.encoder import make_iterative

    _, _, G, E = files
    iterative = make_iterative(E, iterations=3)
    img = G.synthesis(G.mapping(torch.randn(2, G.z_dim), None)).detach()
    found = []
    for count, expected in ((1, 1), (2, 2), (0, 3)):
        head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2, encoder_iterations=count)).eval()
        with torch.no_grad():
            ws, _ = encode_features(iterative, head, G, img)
            assert torch.equal(ws, encode(iterative, G, img, iterations=expected))
        found.append(ws)
    assert not torch.equal(found[0], found[2])  # the count matters
    with pytest.raises(InvalidArgumentError, match="encoder_iterations"):
        FeatureHeadConfig.for_generator(G, 8, encoder_iterations=17)


def test_toonify_renders_the_features_through_each_blend(files, head_file, tmp_path, no_vgg):
    from styleblend.blend.core import blend_two
    from styleblend.blend.schedules import Swap
    from styleblend.io import Checkpoint, load_checkpoint
    from styleblend.latents.files import read_latent_file
    from styleblend.media.images import to_uint8
    from styleblend.nn.feature_space import blend_features
    from styleblend.project.toonify import toonify

    from ..blend.conftest import finetuned

    network, enc, G, _ = files
    base_ckpt = tiny_checkpoint()
    transfer = finetuned(base_ckpt)
    paths = []
    for name, flip in (("swap", False), ("flip", True)):  # blocks <= 8 from the transfer / from the base
        state = blend_two(base_ckpt.g_ema, transfer.g_ema, Swap(8, flip=flip), base_ckpt.g_config)
        paths.append(save_checkpoint(Checkpoint(g_config=base_ckpt.g_config, g_ema=state),
                                     tmp_path / f"{name}.safetensors"))
    photo = _photo(G, tmp_path / "photo.png")
    r = toonify(network, paths, photo, tmp_path / "out", align=False, steps=0, encoder=enc, feature_head=head_file)
    assert r.metrics["embedding"]["latent"].startswith("W+ + 8 px features")
    saved = read_latent_file(tmp_path / "out" / "embeddings" / "features.npz", G.cfg)
    ws, feats = torch.from_numpy(saved.data), torch.from_numpy(saved.features)
    with torch.no_grad():
        assert np.array_equal(r.reconstruction, to_uint8(synthesize_from_features(G, ws, feats, 8))[0])
        for path in paths:
            B = load_checkpoint(path).generator("cpu")
            expected = to_uint8(synthesize_from_features(B, ws, blend_features(G, B, ws, feats, 8), 8))[0]
            assert np.array_equal(r.toons[str(path)], expected)
            assert not np.array_equal(r.toons[str(path)], to_uint8(B.synthesis(ws))[0])  # the features matter
    # steps > 0: tests/project/test_toonify_features.py
    with pytest.raises(InvalidArgumentError, match="pivotal tuning"):
        toonify(network, paths, photo, tmp_path / "o2", align=False, steps=0, encoder=enc, feature_head=head_file,
                pti_delta=tmp_path / "none.safetensors")


def test_a_head_of_another_encoder_is_warned_about_and_bundled_resolves(files, head_file, tmp_path, caplog):
    import logging

    from styleblend.errors import MissingWeightsError
    from styleblend.models import bundled_feature_head_path, resolve_feature_head
    from styleblend.project.feature_encoder import check_head_encoder

    _, enc, G, _ = files
    head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2))
    head.meta = {"encoder_sha256": "0" * 64}
    with caplog.at_level(logging.WARNING, logger="styleblend.project.feature_encoder"):
        check_head_encoder(head, enc)
    assert "another encoder" in caplog.text
    assert resolve_feature_head(None) is None and resolve_feature_head(str(head_file)) == head_file
    bundled = bundled_feature_head_path()
    if bundled is None:
        with pytest.raises(MissingWeightsError):
            resolve_feature_head("bundled")
    else:
        assert resolve_feature_head("bundled") == bundled and load_feature_head(bundled).cfg.block_res == 16


def test_train_features_cli_writes_a_head_and_resumes(files, tmp_path, capsys):
    from styleblend.cli.main import main

    network, enc, _, _ = files
    out = tmp_path / "cli-head.safetensors"
    args = ["encoder", "train-features", "--network", str(network), "--encoder", str(enc), "--out", str(out),
            "--block", "8", "--batch", "4", "--kimg", "0.008", "--threads", "1"]
    assert main(args) == 0
    assert load_feature_head(out).meta["step"] == 2
    assert main(args) != 0  # the state exists: a second start must be a --resume
    assert "already has a run" in capsys.readouterr().err
    assert main([*args[:-4], "--kimg", "0.016", "--resume", "--threads", "1"]) == 0
    assert load_feature_head(out).meta["step"] == 4
