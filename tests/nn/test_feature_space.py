"""Rendering from (ws, features at block r): the generator's own features reproduce its image bit for bit, and
a blend whose blocks up to r are the base's computes (and so renders) the same features."""

import pytest
import torch

from styleblend.blend.core import blend_two
from styleblend.blend.schedules import Table
from styleblend.errors import InvalidArgumentError
from styleblend.io.checkpoint import load_state_dict_strict
from styleblend.latents.mapping import seeds_to_ws
from styleblend.nn import Generator
from styleblend.nn.feature_space import block_output, synthesize_from_features

from ..blend.conftest import finetuned
from ..conftest import tiny_checkpoint


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_own_features_reproduce_the_image_bit_for_bit(architecture):
    G = tiny_checkpoint(0, architecture=architecture).generator("cpu")
    ws = seeds_to_ws(G, [1, 2, 3], 0.8)
    with torch.no_grad():
        expected = G.synthesis(ws, noise_mode="const")
        for res in G.cfg.block_resolutions[:-1]:
            feats, img = block_output(G, ws, res)
            assert feats.shape == (3, G.cfg.channels(res), res, res)
            assert (img is not None) == (architecture == "skip")
            assert torch.equal(synthesize_from_features(G, ws, feats, res), expected)


def test_other_features_change_the_image_and_carry_gradients():
    G = tiny_checkpoint(0).generator("cpu")
    ws = seeds_to_ws(G, [4], 1.0)
    feats, _ = block_output(G, ws, 8)
    feats = (feats + 0.1 * torch.randn_like(feats)).requires_grad_(True)
    out = synthesize_from_features(G, ws, feats, 8)
    assert not torch.equal(out, G.synthesis(ws))
    out.square().mean().backward()
    assert feats.grad is not None and float(feats.grad.abs().sum()) > 0


def _blend(base, transfer, alphas):
    res = base.g_config.block_resolutions
    state = blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip(res, alphas))), base.g_config, mapping="base")
    G = Generator(base.g_config).eval().requires_grad_(False)
    load_state_dict_strict(G, state, what="blend")
    return G


def test_a_blend_with_the_base_up_to_r_computes_and_renders_the_same_features():
    base = tiny_checkpoint(0)
    transfer = finetuned(base)
    G = base.generator("cpu")
    blended = _blend(base, transfer, [0.0, 0.0, 0.0, 1.0])  # 4-16 px from the base, 32 px from the transfer
    ws = seeds_to_ws(G, [5, 6], 0.7)
    with torch.no_grad():
        for res in (4, 8, 16):
            own, own_img = block_output(G, ws, res)
            theirs, their_img = block_output(blended, ws, res)
            assert torch.equal(own, theirs) and torch.equal(own_img, their_img)
            # the base's features rendered through the blend: the blend's own image, bit for bit
            assert torch.equal(synthesize_from_features(blended, ws, own, res), blended.synthesis(ws))
        assert not torch.equal(blended.synthesis(ws), G.synthesis(ws))  # the transfer's block does matter
        # at 16 px the transfer's block differs, so its features are not the base's
        mixed = _blend(base, transfer, [0.0, 0.0, 1.0, 1.0])
        assert not torch.equal(block_output(mixed, ws, 16)[0], block_output(G, ws, 16)[0])


def test_bad_blocks_and_shapes_are_refused():
    G = tiny_checkpoint(0).generator("cpu")
    ws = seeds_to_ws(G, [0], 1.0)
    feats, _ = block_output(G, ws, 8)
    with pytest.raises(InvalidArgumentError, match="inner block"):
        block_output(G, ws, 32)  # the last block: nothing renders above it
    with pytest.raises(InvalidArgumentError, match="inner block"):
        synthesize_from_features(G, ws, feats, 12)
    with pytest.raises(InvalidArgumentError, match="features have shape"):
        synthesize_from_features(G, ws, feats[:, :3], 8)
    with pytest.raises(InvalidArgumentError, match="ws has shape"):
        synthesize_from_features(G, ws[:, :2], feats, 8)


def test_blend_features_keep_the_pair_where_the_blend_is_the_base_and_carry_the_change_elsewhere():
    from styleblend.nn.feature_space import blend_features

    base = tiny_checkpoint(0)
    transfer = finetuned(base)
    G = base.generator("cpu")
    ws = seeds_to_ws(G, [8], 1.0)
    with torch.no_grad():
        own, _ = block_output(G, ws, 8)
        feats = own + 0.05 * torch.randn_like(own)
        low_base = _blend(base, transfer, [0.0, 0.0, 1.0, 1.0])  # blocks 4-8 from the base
        assert blend_features(G, low_base, ws, feats, 8) is feats
        low_transfer = _blend(base, transfer, [1.0, 1.0, 0.0, 0.0])  # blocks 4-8 from the transfer
        moved = blend_features(G, low_transfer, ws, feats, 8)
        theirs, _ = block_output(low_transfer, ws, 8)
        torch.testing.assert_close(moved - theirs, feats - own, rtol=0, atol=1e-6)
        # the base's own features carry no change: the blend renders as from ws alone
        torch.testing.assert_close(synthesize_from_features(low_transfer, ws, blend_features(G, low_transfer, ws,
                                   own, 8), 8), low_transfer.synthesis(ws), rtol=0, atol=1e-5)
