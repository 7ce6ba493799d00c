"""toonify with a feature head and refinement steps: W+ and the features are refined together from the head's
prediction, cached under a key that covers the head's file and the features' learning rate, written to
embeddings/features.npz (which renders the reconstruction and every toon), and PTI is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from styleblend.blend.core import blend_two
from styleblend.blend.schedules import Swap
from styleblend.errors import InvalidArgumentError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.latents.files import read_latent_file
from styleblend.media.images import to_uint8
from styleblend.nn.feature_space import blend_features, synthesize_from_features
from styleblend.project.feature_encoder import FeatureHead, FeatureHeadConfig, save_feature_head
from styleblend.project.pti import PTISettings
from styleblend.project.toonify import toonify

from ..blend.conftest import finetuned
from .conftest import tiny_checkpoint, tiny_encoder_files
from .test_feature_encoder import _photo

BLOCK = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_encoder_files(tmp_path_factory.mktemp("fs-toonify"))


@pytest.fixture(scope="module")
def head_file(files, tmp_path_factory):
    """A head with a non-zero residual (its features differ from G's own)."""
    torch.manual_seed(3)
    head = FeatureHead(FeatureHeadConfig.for_generator(files[2], BLOCK, width=16, depth=2))
    with torch.no_grad():
        head.out.weight.normal_(std=0.05)
    return save_feature_head(tmp_path_factory.mktemp("fs-head") / "head.safetensors", head)


@pytest.fixture(scope="module")
def blend_path(tmp_path_factory):
    base = tiny_checkpoint()
    state = blend_two(base.g_ema, finetuned(base).g_ema, Swap(BLOCK), base.g_config)
    return save_checkpoint(Checkpoint(g_config=base.g_config, g_ema=state),
                           tmp_path_factory.mktemp("blend") / "swap.safetensors")


def _saved(out, G):
    saved = read_latent_file(out / "embeddings" / "features.npz", G.cfg)
    return torch.from_numpy(saved.data), torch.from_numpy(saved.features)


def test_refinement_moves_w_plus_and_features_and_features_npz_renders_the_result(files, head_file, blend_path,
                                                                                   tmp_path, no_vgg):
    network, enc, G, _ = files
    photo = _photo(G, tmp_path / "photo.png")
    zero = toonify(network, [blend_path], photo, tmp_path / "zero", align=False, steps=0, encoder=enc,
                   feature_head=head_file)
    refined = toonify(network, [blend_path], photo, tmp_path / "ten", align=False, steps=10, encoder=enc,
                      feature_head=head_file)
    assert "refined together" in refined.metrics["embedding"]["method"]
    assert refined.metrics["embedding"]["latent"].startswith(f"W+ + {BLOCK} px features")
    ws0, f0 = _saved(tmp_path / "zero", G)
    ws, feats = _saved(tmp_path / "ten", G)
    assert not torch.equal(feats, f0) and not torch.equal(ws, ws0)
    assert refined.metrics["reconstruction"]["psnr"] > zero.metrics["reconstruction"]["psnr"]
    B = load_checkpoint(blend_path).generator("cpu")
    with torch.no_grad():
        assert np.array_equal(refined.reconstruction, to_uint8(synthesize_from_features(G, ws, feats, BLOCK))[0])
        toon = to_uint8(synthesize_from_features(B, ws, blend_features(G, B, ws, feats, BLOCK), BLOCK))[0]
    assert np.array_equal(refined.toons[str(blend_path)], toon)


def test_the_cache_key_covers_the_head_and_the_feature_lr(files, head_file, blend_path, tmp_path, no_vgg):
    network, enc, G, _ = files
    photo = _photo(G, tmp_path / "photo.png")
    out = tmp_path / "out"

    def run(**kw):
        return toonify(network, [blend_path], photo, out, align=False, steps=3, encoder=enc, **kw)

    first = run(feature_head=head_file)
    again = run(feature_head=head_file)
    assert not first.cache_hit and again.cache_hit and again.cache_path == first.cache_path
    assert np.array_equal(again.reconstruction, first.reconstruction)  # the cached features render the same
    fixed = run(feature_head=head_file, feature_lr=0.0)
    assert not fixed.cache_hit and fixed.cache_path != first.cache_path
    # feature_lr 0 keeps the head's prediction: the features equal those of 0 steps.
    _, kept = _saved(out, G)
    toonify(network, [blend_path], photo, tmp_path / "zero", align=False, steps=0, encoder=enc, feature_head=head_file)
    assert torch.equal(kept, _saved(tmp_path / "zero", G)[1])
    torch.manual_seed(11)
    other = FeatureHead(FeatureHeadConfig.for_generator(G, BLOCK, width=16, depth=2))
    with torch.no_grad():
        other.out.weight.normal_(std=0.05)
    other_path = save_feature_head(tmp_path / "other-head.safetensors", other)
    assert run(feature_head=other_path).cache_path not in (first.cache_path, fixed.cache_path)
    assert run().cache_path not in (first.cache_path, fixed.cache_path)  # no head: a W+ embedding of its own


def test_pti_or_a_stray_feature_lr_is_refused(files, head_file, blend_path, tmp_path, no_vgg):
    network, enc, G, _ = files
    photo = _photo(G, tmp_path / "photo.png")
    with pytest.raises(InvalidArgumentError, match="pivotal tuning"):
        toonify(network, [blend_path], photo, tmp_path / "a", align=False, steps=2, encoder=enc,
                feature_head=head_file, pti=PTISettings(steps=1))
    with pytest.raises(InvalidArgumentError, match="feature_lr"):
        toonify(network, [blend_path], photo, tmp_path / "b", align=False, steps=2, encoder=enc, feature_lr=0.1)
    with pytest.raises(InvalidArgumentError, match="encoder"):
        toonify(network, [blend_path], photo, tmp_path / "c", align=False, steps=2, method="fast",
                feature_head=head_file)
