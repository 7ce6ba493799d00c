"""Every generator key gets its block resolution, layer, group and W+ index."""

import pytest
import torch

from styleblend.config import DiscriminatorConfig
from styleblend.errors import InvalidArgumentError
from styleblend.nn import Discriminator, Generator
from styleblend.nn.naming import GROUPS, generator_layers, param_info

from ..conftest import tiny_config


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_every_key_is_classified(architecture):
    cfg = tiny_config(32, architecture=architecture, c_dim=3)
    for key, value in Generator(cfg).state_dict().items():
        info = param_info(key, cfg)
        assert info.group in GROUPS
        if key.startswith("synthesis."):
            assert key.startswith(f"synthesis.b{info.resolution}.")
            assert key.startswith(f"synthesis.{info.layer}")
            assert info.block_ws_indices == tuple(cfg.ws_indices(info.resolution))
        else:
            assert info.resolution is None and info.layer.startswith("mapping")
        if info.channel_dim is not None:
            assert value.ndim >= 1


@pytest.mark.parametrize("key,group,layer,res,ws", [
    ("synthesis.b4.const", "const", "b4.const", 4, None),
    ("synthesis.b4.resample_filter", "buffer", "b4", 4, None),
    ("synthesis.b4.conv1.weight", "conv", "b4.conv1", 4, 0),
    ("synthesis.b4.conv1.affine.bias", "affine", "b4.conv1", 4, 0),
    ("synthesis.b4.conv1.noise_const", "noise", "b4.conv1", 4, 0),
    ("synthesis.b4.torgb.weight", "torgb", "b4.torgb", 4, 1),
    ("synthesis.b8.conv0.weight", "conv", "b8.conv0", 8, 1),
    ("synthesis.b8.conv0.noise_strength", "noise", "b8.conv0", 8, 1),
    ("synthesis.b8.conv0.resample_filter", "buffer", "b8.conv0", 8, 1),
    ("synthesis.b8.conv1.bias", "bias", "b8.conv1", 8, 2),
    ("synthesis.b8.torgb.affine.weight", "torgb", "b8.torgb", 8, 3),
    ("synthesis.b32.conv1.weight", "conv", "b32.conv1", 32, 6),
    ("synthesis.b32.torgb.bias", "torgb", "b32.torgb", 32, 7),
    ("synthesis.b16.skip.weight", "conv", "b16.skip", 16, None),
    ("mapping.fc1.weight", "mapping", "mapping.fc1", None, None),
    ("mapping.embed.bias", "mapping", "mapping.embed", None, None),
    ("mapping.w_avg", "w_avg", "mapping.w_avg", None, None),
])
def test_known_keys(key, group, layer, res, ws):
    info = param_info(key)
    assert (info.group, info.layer, info.resolution, info.ws_index) == (group, layer, res, ws)


def test_ws_index_is_the_one_each_layer_reads():
    """Feed ws whose every index is distinct and check which one reaches each affine layer."""
    cfg = tiny_config(32)
    G = Generator(cfg).eval()
    seen = {}
    for name, module in G.synthesis.named_modules():
        if name.endswith(".affine"):
            module.register_forward_hook(lambda m, inp, out, name=name: seen.__setitem__(name, inp[0][0].clone()))
    ws = torch.arange(cfg.num_ws, dtype=torch.float32)[None, :, None].repeat(1, 1, cfg.w_dim)
    G.synthesis(ws)
    for name, w in seen.items():
        layer = name.removesuffix(".affine")
        info = param_info(f"synthesis.{layer}.affine.weight", cfg)
        assert int(w[0]) == info.ws_index, layer
    assert {lay.ws_index for lay in generator_layers(cfg) if lay.kind in ("conv", "torgb")} == set(range(cfg.num_ws))


def test_layers_match_state_dict():
    for arch, c_dim in (("skip", 0), ("resnet", 2), ("orig", 0)):
        cfg = tiny_config(16, architecture=arch, c_dim=c_dim)
        from_keys = {param_info(k).layer for k in Generator(cfg).state_dict()} - {"mapping.w_avg"}
        from_keys = {k for k in from_keys if "." in k}  # drop block-level filters ('b8')
        assert from_keys == {lay.name for lay in generator_layers(cfg)}


def test_non_generator_keys_are_refused():
    d_keys = list(Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=64, channel_max=8)).state_dict())
    for key in (*d_keys[:3], "synthesis.b3.conv1.weight", "synthesis.b4.conv0.weight", "mapping.fc0.scale",
                "synthesis.b8.conv1.foo"):
        with pytest.raises(InvalidArgumentError, match="not a StyleGAN2 generator tensor"):
            param_info(key)
    with pytest.raises(InvalidArgumentError, match="blocks"):
        param_info("synthesis.b64.conv1.weight", tiny_config(32))
