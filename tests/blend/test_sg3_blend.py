"""Blending StyleGAN3 models: by W+ row, sampling rate and output size, equal to independent tensor swaps;
written back into the base's NVIDIA pickle; families and designs that do not correspond are refused."""

from __future__ import annotations

import pytest
import torch

from styleblend.blend.axes import AxisSchedule
from styleblend.blend.channels import parse_channel_mask
from styleblend.blend.core import blend_two
from styleblend.blend.model import blend_checkpoints, save_blend
from styleblend.blend.schedules import parse_schedule
from styleblend.config_sg3 import SG3SynthesisConfig
from styleblend.errors import ArchitectureMismatchError, InvalidArgumentError
from styleblend.io import load_checkpoint
from styleblend.nn.naming import generator_layers, param_info

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint


def _independent_swap(base: dict, transfer: dict, takes_transfer) -> dict:
    """Swap whole tensors by layer, written without the blending code: mapping, w_avg and filters from the base."""
    out = {}
    for key, value in base.items():
        parts = key.split(".")
        layer = parts[1] if parts[0] == "synthesis" else None
        fixed = key.endswith(("up_filter", "down_filter", "input.transform"))
        out[key] = transfer[key] if layer is not None and not fixed and takes_transfer(layer) else value
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_swap_by_w_plus_row_equals_an_independent_swap():
    base, transfer = tiny_sg3_checkpoint(0), tiny_sg3_checkpoint(1)
    out, recipe = blend_checkpoints(base, [transfer], parse_schedule("index:swap:2"), hash_inputs=False)
    rows = {"input": 0, "L0_20_16": 1, "L1_20_16": 2, "L2_20_13": 3, "L3_16_8": 4, "L4_16_3": 5}
    _assert_same(out.g_ema, _independent_swap(base.g_ema, transfer.g_ema, lambda layer: rows[layer] <= 2))
    _assert_same(out.g, _independent_swap(base.g, transfer.g, lambda layer: rows[layer] <= 2))
    assert [(layer.layer, layer.weights.get("conv")) for layer in recipe.layers if layer.layer.startswith("L")][:3] == \
        [("L0_20_16", 1.0), ("L1_20_16", 1.0), ("L2_20_13", 0.0)]


def test_swap_by_sampling_rate_on_the_real_design(nvidia_sg3t32):
    base = load_checkpoint(nvidia_sg3t32 / "network-snapshot.pkl").generators_only()
    torch.manual_seed(3)
    transfer_state = {k: v + 0.01 * torch.randn_like(v) for k, v in base.g_ema.items()}
    cfg = base.g_config
    out = blend_two(base.g_ema, transfer_state, parse_schedule("swap:16"), cfg)
    rate = {spec.name: spec.out_sampling_rate for spec in cfg.layers} | {"input": 16}
    assert sorted(set(rate.values())) == cfg.block_resolutions == [16, 32]
    _assert_same(out, _independent_swap(base.g_ema, transfer_state, lambda layer: rate[layer] <= 16))
    # By output size: layers of 36 px (the input and L0-L4) from the transfer, the 52 and 32 px ones from the base.
    by_size = blend_two(base.g_ema, transfer_state, parse_schedule("size:table:36:1,*:0"), cfg)
    _assert_same(by_size, _independent_swap(base.g_ema, transfer_state, lambda layer: rate[layer] == 16))


def test_interpolation_and_group_overrides():
    base, transfer = tiny_sg3_checkpoint(0), tiny_sg3_checkpoint(1)
    cfg = base.g_config
    out = blend_two(base.g_ema, transfer.g_ema, parse_schedule("index:linear:1:4;torgb=1;affine=0"), cfg)
    key = "synthesis.L1_20_16.weight"  # W+ row 2: alpha = (4 - 2) / 3
    torch.testing.assert_close(out[key], torch.lerp(base.g_ema[key], transfer.g_ema[key], 2 / 3))
    assert torch.equal(out["synthesis.L4_16_3.affine.weight"], transfer.g_ema["synthesis.L4_16_3.affine.weight"])
    assert torch.equal(out["synthesis.L0_20_16.affine.bias"], base.g_ema["synthesis.L0_20_16.affine.bias"])
    assert torch.equal(out["synthesis.input.freqs"], transfer.g_ema["synthesis.input.freqs"])  # row 0: alpha 1
    assert torch.equal(out["synthesis.input.transform"], base.g_ema["synthesis.input.transform"])  # a buffer


def test_channel_masks_name_stylegan3_layers():
    base, transfer = tiny_sg3_checkpoint(0), tiny_sg3_checkpoint(1)
    out = blend_two(base.g_ema, transfer.g_ema, parse_schedule("0"), base.g_config,
                    channels=[parse_channel_mask("L1_20_16:0-3")])
    w = "synthesis.L1_20_16.weight"
    assert torch.equal(out[w][:4], transfer.g_ema[w][:4]) and torch.equal(out[w][4:], base.g_ema[w][4:])


def test_naming_of_stylegan3_tensors():
    cfg = tiny_sg3_checkpoint().g_config
    info = param_info("synthesis.L3_16_8.magnitude_ema", cfg)
    assert (info.group, info.layer, info.ws_index, info.resolution, info.size) == ("conv", "L3_16_8", 4, 16, 16)
    assert param_info("synthesis.L4_16_3.bias", cfg).group == "torgb"
    assert param_info("synthesis.input.phases", cfg).group == "const"
    assert param_info("synthesis.L0_20_16.down_filter", cfg).group == "buffer"
    assert [layer.name for layer in generator_layers(cfg)][2:] == ["input", "L0_20_16", "L1_20_16", "L2_20_13",
                                                                    "L3_16_8", "L4_16_3"]
    with pytest.raises(InvalidArgumentError, match="not a layer"):
        param_info("synthesis.L9_20_16.weight", cfg)
    with pytest.raises(InvalidArgumentError, match="StyleGAN2"):
        param_info("synthesis.L0_20_16.weight", tiny_checkpoint().g_config)


def test_other_families_and_designs_are_refused():
    sg3 = tiny_sg3_checkpoint(0)
    with pytest.raises(ArchitectureMismatchError, match="StyleGAN3"):
        blend_checkpoints(tiny_checkpoint(), [sg3], parse_schedule("swap:8"), hash_inputs=False)
    other = tiny_sg3_checkpoint(1)
    other.g_config = type(other.g_config)(**{**other.g_config.__dict__, "synthesis": SG3SynthesisConfig(
        channel_base=128, channel_max=16, num_layers=4, num_critical=1, margin_size=4)})
    with pytest.raises(ArchitectureMismatchError, match="margin_size"):
        blend_checkpoints(sg3, [other], parse_schedule("0.5"), hash_inputs=False)


def test_axis_specs_round_trip_and_bad_ones_are_refused():
    for spec in ("size:swap:36", "index:linear:2:8:flip", "index:sigmoid:6:1.5", "size:table:36:1,52:0.5,*:0"):
        assert parse_schedule(spec).spec() == spec
    assert parse_schedule("index:swap:3;torgb=1").spec() == "index:swap:3;torgb=1"
    for bad, match in [("index:swap", "1 finite"), ("size:linear:52:36", "larger"), ("index:sigmoid:4:0", "> 0"),
                       ("size:wobble:3", "unknown"), ("index:table:", "empty")]:
        with pytest.raises(InvalidArgumentError, match=match):
            parse_schedule(bad)
    with pytest.raises(InvalidArgumentError, match="no layer"):
        AxisSchedule("index", "table", table={99: 1.0}, default=0.0).validate(tiny_sg3_checkpoint().g_config)


def test_index_axis_also_blends_stylegan2_by_w_plus_index():
    base, transfer = tiny_checkpoint(0), tiny_checkpoint(1)
    out = blend_two(base.g_ema, transfer.g_ema, parse_schedule("index:swap:2"), base.g_config)
    assert torch.equal(out["synthesis.b8.conv0.weight"], transfer.g_ema["synthesis.b8.conv0.weight"])  # index 1
    assert torch.equal(out["synthesis.b16.conv0.weight"], base.g_ema["synthesis.b16.conv0.weight"])  # index 3


def test_blend_is_written_into_the_base_pickle(tmp_path, nvidia_sg3t32):
    source = tmp_path / "base.pkl"
    source.write_bytes((nvidia_sg3t32 / "network-snapshot.pkl").read_bytes())
    base = load_checkpoint(source)
    transfer = load_checkpoint(source)
    transfer.g_ema = {k: v * 1.01 for k, v in transfer.g_ema.items()}
    out, recipe = blend_checkpoints(base, [transfer], parse_schedule("index:swap:5"), hash_inputs=False)
    model_path, recipe_path = save_blend(out, recipe, tmp_path / "blend.pkl")
    again = load_checkpoint(model_path)
    assert again.format == "nvidia-pkl" and again.g_config == base.g_config and recipe_path.exists()
    _assert_same(again.g_ema, out.g_ema)
    assert model_path.stat().st_size == source.stat().st_size


def test_layer_tables_name_stylegan3_layers():
    base, transfer = tiny_sg3_checkpoint(0), tiny_sg3_checkpoint(1)
    schedule = parse_schedule("layers:input:1,L2_20_13:1,*:0")
    schedule.validate(base.g_config)
    out = blend_two(base.g_ema, transfer.g_ema, schedule, base.g_config)
    _assert_same(out, _independent_swap(base.g_ema, transfer.g_ema, lambda layer: layer in ("input", "L2_20_13")))
    with pytest.raises(InvalidArgumentError, match="not in this model"):
        parse_schedule("layers:L2_36_48:1,*:0").validate(base.g_config)
