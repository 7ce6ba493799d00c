"""The feature head (W+ + block-r features) on a tiny generator: starts as the W+ encoder, training lowers its
losses, resume is bit-exact, files round-trip and bad files are refused."""

from __future__ import annotations

import json

import pytest
import torch

from styleblend.errors import CheckpointError, InvalidArgumentError
from styleblend.io import save_checkpoint
from styleblend.nn.feature_space import synthesize_from_features
from styleblend.project.encoder import Encoder, EncoderConfig, encode, save_encoder
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

from .conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fs")
    ckpt = tiny_checkpoint()
    network = save_checkpoint(ckpt, folder / "tiny.safetensors")
    G = ckpt.generator("cpu")
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(G, 16))  # untrained: predicts near the mean w, enough for the head
    with torch.no_grad():
        E.w_avg.copy_(G.mapping.w_avg)
    return network, save_encoder(folder / "enc.safetensors", E), G, E


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
