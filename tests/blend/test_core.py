"""The pure blending core: exactness at α = 0 / 1, swaps, N models, channel masks, mismatches."""

import numpy as np
import pytest
import torch

from styleblend.blend.channels import ChannelMask, parse_channel_mask, read_channel_mask
from styleblend.blend.core import blend_state_dicts, blend_two, mapping_alpha, multi_model_weights
from styleblend.blend.multi import Bands, WeightTable
from styleblend.blend.schedules import Constant, Swap, parse_schedule
from styleblend.errors import ArchitectureMismatchError, InvalidArgumentError
from styleblend.nn.naming import param_info

from ..conftest import tiny_config
from .conftest import finetuned, images, tiny_checkpoint


@pytest.fixture(scope="module")
def pair():
    base = tiny_checkpoint(seed=0)
    return base, finetuned(base, scale=0.3)


def test_alpha_zero_is_the_base_bit_for_bit(pair):
    base, transfer = pair
    before = {k: v.clone() for k, v in transfer.g_ema.items()}
    out = blend_two(base.g_ema, transfer.g_ema, Constant(0.0), base.g_config)
    assert out.keys() == base.g_ema.keys()
    assert all(torch.equal(out[k], base.g_ema[k]) for k in out)
    assert torch.equal(images(out, cfg=base.g_config, psi=0.7), images(base, psi=0.7))
    assert all(torch.equal(before[k], transfer.g_ema[k]) for k in before)  # inputs untouched


def test_alpha_one_with_mapping_from_transfer_is_the_transfer(pair):
    base, transfer = pair
    out = blend_two(base.g_ema, transfer.g_ema, Constant(1.0), base.g_config, mapping="transfer")
    buffers = [k for k in out if k.endswith("resample_filter")]
    assert all(torch.equal(out[k], transfer.g_ema[k]) for k in out if k not in buffers)
    assert torch.equal(images(out, cfg=base.g_config, psi=0.7), images(transfer, psi=0.7))


@pytest.mark.parametrize("swap_res", [4, 8, 16, 32])
def test_swap_takes_low_layers_from_the_transfer(pair, swap_res):
    base, transfer = pair
    out = blend_two(base.g_ema, transfer.g_ema, Swap(swap_res), base.g_config)
    for key, value in out.items():
        info = param_info(key)
        from_transfer = info.resolution is not None and info.resolution <= swap_res and info.group != "buffer"
        assert torch.equal(value, (transfer if from_transfer else base).g_ema[key]), key
    flipped = blend_two(base.g_ema, transfer.g_ema, Swap(swap_res, flip=True), base.g_config)
    for key, value in flipped.items():
        info = param_info(key)
        from_transfer = info.resolution is not None and info.resolution > swap_res and info.group != "buffer"
        assert torch.equal(value, (transfer if from_transfer else base).g_ema[key]), key


def test_intermediate_alpha_and_dtype(pair):
    base, transfer = pair
    out = blend_two(base.g_ema, transfer.g_ema, Constant(0.25), base.g_config, mapping="blend")
    key = "synthesis.b8.conv0.weight"
    assert torch.allclose(out[key], 0.75 * base.g_ema[key] + 0.25 * transfer.g_ema[key], atol=1e-6)
    assert torch.allclose(out["mapping.fc0.weight"], 0.5 * (base.g_ema["mapping.fc0.weight"]
                                                            + transfer.g_ema["mapping.fc0.weight"]), atol=1e-5)
    half = blend_two({k: v.half() for k, v in base.g_ema.items()}, {k: v.half() for k, v in transfer.g_ema.items()},
                     Constant(0.5), base.g_config)
    assert all(v.dtype == torch.float16 for v in half.values())


def test_group_overrides(pair):
    base, transfer = pair
    out = blend_two(base.g_ema, transfer.g_ema, parse_schedule("1;noise=0;mapping=1"), base.g_config)
    assert torch.equal(out["synthesis.b8.conv0.noise_strength"], base.g_ema["synthesis.b8.conv0.noise_strength"])
    assert torch.equal(out["synthesis.b8.conv0.weight"], transfer.g_ema["synthesis.b8.conv0.weight"])
    assert torch.equal(out["mapping.fc0.weight"], transfer.g_ema["mapping.fc0.weight"])   # group beats mapping=base
    assert torch.equal(out["mapping.w_avg"], base.g_ema["mapping.w_avg"])


def test_n_way_bands_and_weights():
    base = tiny_checkpoint(seed=0)
    t1, t2 = finetuned(base, seed=1), finetuned(base, seed=2)
    states = [base.g_ema, t1.g_ema, t2.g_ema]
    out = blend_state_dicts(states, multi_model_weights(Bands((8, 16))), base.g_config)
    for key, value in out.items():
        info = param_info(key)
        res = info.resolution
        owner = 0 if res is None or info.group == "buffer" or res > 16 else 1 if res <= 8 else 2
        assert torch.equal(value, states[owner][key]), key
    third = WeightTable((), default=(1 / 3, 1 / 3, 1 / 3))
    avg = blend_state_dicts(states, multi_model_weights(third, mapping="blend"), base.g_config)
    key = "synthesis.b16.conv1.weight"
    assert torch.allclose(avg[key], sum(s[key] for s in states) / 3, atol=1e-6)
    assert torch.allclose(avg["mapping.w_avg"], sum(s["mapping.w_avg"] for s in states) / 3, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="sum to"):
        blend_state_dicts(states, lambda info, shape: (0.5, 0.5, 0.5), base.g_config)
    with pytest.raises(InvalidArgumentError, match="gives 2 weights"):
        blend_state_dicts(states, lambda info, shape: (0.5, 0.5), base.g_config)
    with pytest.raises(InvalidArgumentError, match="one weight in \\[0, 1\\] per model"):
        multi_model_weights(third, mapping=[0.5, 0.5])


def test_channel_masks(pair, tmp_path):
    base, transfer = pair
    b, t = base.g_ema, transfer.g_ema
    mask = parse_channel_mask("b16.conv1:0-3,7")
    out = blend_two(b, t, Constant(0.0), base.g_config, channels=[mask])
    chosen = [0, 1, 2, 3, 7]
    rest = [c for c in range(b["synthesis.b16.conv1.weight"].shape[0]) if c not in chosen]
    for leaf in ("weight", "bias"):
        key = f"synthesis.b16.conv1.{leaf}"
        assert torch.equal(out[key][chosen], t[key][chosen]) and torch.equal(out[key][rest], b[key][rest])
    for key in ("synthesis.b16.conv1.affine.weight", "synthesis.b16.conv1.noise_strength",
                "synthesis.b16.conv0.weight", "synthesis.b16.torgb.weight"):
        assert torch.equal(out[key], b[key]), key
    # a block selector covers conv0, conv1 (not toRGB); a mask file gives one alpha per channel
    n = b["synthesis.b8.conv0.weight"].shape[0]
    alphas = torch.linspace(0, 1, n).numpy()
    np.save(tmp_path / "m.npy", alphas)
    out = blend_two(b, t, Swap(4), base.g_config, channels=[read_channel_mask("8", tmp_path / "m.npy")])
    for layer in ("conv0", "conv1"):
        key = f"synthesis.b8.{layer}.weight"
        expect = b[key] + torch.tensor(alphas, dtype=torch.float32)[:, None, None, None] * (t[key] - b[key])
        assert torch.allclose(out[key], expect, atol=1e-6)
        assert torch.equal(out[key][0], b[key][0]) and torch.equal(out[key][-1], t[key][-1])
    assert torch.equal(out["synthesis.b8.torgb.weight"], b["synthesis.b8.torgb.weight"])
    assert torch.equal(out["synthesis.b4.conv1.weight"], t["synthesis.b4.conv1.weight"])
    with pytest.raises(InvalidArgumentError, match="out of range"):
        blend_two(b, t, Swap(4), base.g_config, channels=[parse_channel_mask("b8.conv0:0-99")])
    with pytest.raises(InvalidArgumentError, match="has 3 values"):
        blend_two(b, t, Swap(4), base.g_config, channels=[ChannelMask("b8.conv0", None, (0.0, 1.0, 1.0))])
    with pytest.raises(InvalidArgumentError, match="not in this model"):
        blend_two(b, t, Swap(4), base.g_config, channels=[parse_channel_mask("b64.conv0:0")])


def test_mismatches_name_the_key_and_shapes():
    base = tiny_checkpoint(seed=0)
    wide = tiny_checkpoint(seed=1)
    wide_state = dict(wide.g_ema)
    wide_state["synthesis.b8.conv1.weight"] = torch.zeros(16, 32, 3, 3)
    with pytest.raises(ArchitectureMismatchError, match=r"'synthesis.b8.conv1.weight' has shape \(32, 32, 3, 3\) "
                                                        r"in the base but \(16, 32, 3, 3\)"):
        blend_two(base.g_ema, wide_state, Swap(8), base.g_config)
    resnet = tiny_checkpoint(seed=1, architecture="resnet")
    with pytest.raises(ArchitectureMismatchError, match="not in model 1|not in the base"):
        blend_two(base.g_ema, resnet.g_ema, Swap(8), base.g_config)
    with pytest.raises(InvalidArgumentError, match="not a StyleGAN2 generator tensor"):
        blend_two({**base.g_ema, "b32.conv0.weight": torch.zeros(1)}, base.g_ema, Swap(8), base.g_config)
    big = tiny_checkpoint(seed=1, res=64)
    with pytest.raises(ArchitectureMismatchError, match="put the highest-resolution model first"):
        blend_two(base.g_ema, big.g_ema, Swap(8), base.g_config)


@pytest.mark.parametrize("architecture", ["skip", "orig"])
def test_lower_resolution_transfer_gives_the_low_blocks(architecture):
    base = tiny_checkpoint(seed=0, res=32, architecture=architecture)
    low = finetuned(tiny_checkpoint(seed=0, res=16, architecture=architecture))
    out = blend_two(base.g_ema, low.g_ema, Constant(1.0), base.g_config)
    for key, value in out.items():
        info = param_info(key)
        from_low = info.resolution is not None and info.resolution <= 16 and info.group != "buffer"
        assert torch.equal(value, (low if from_low else base).g_ema[key]), key
    assert images(out, cfg=base.g_config).shape[-1] == 32


def test_mapping_alpha_names():
    assert [mapping_alpha(m) for m in ("base", "transfer", "blend", 0.3, "0.6")] == [0, 1, 0.5, 0.3, 0.6]
    with pytest.raises(InvalidArgumentError, match="base, transfer, blend"):
        mapping_alpha("both")
    with pytest.raises(InvalidArgumentError, match="in \\[0, 1\\]"):
        mapping_alpha(2)
    assert tiny_config().num_ws == 8
