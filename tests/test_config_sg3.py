"""StyleGAN3 configs: validation, JSON round trip, family dispatch and the layer design NVIDIA's code builds."""

from __future__ import annotations

import math

import pytest

from styleblend.config import GeneratorConfig, MappingConfig
from styleblend.config_sg3 import (
    SG3SynthesisConfig,
    StyleGAN3Config,
    generator_config_from_dict,
    is_stylegan3,
    stylegan3_r,
)
from styleblend.errors import InvalidArgumentError

from .conftest import tiny_sg3_config


def fixture_config() -> StyleGAN3Config:
    """The architecture of tests/fixtures/nvidia-sg3t32 (its README)."""
    return StyleGAN3Config(z_dim=64, w_dim=64, img_resolution=32,
                           mapping=MappingConfig(num_layers=2, w_avg_beta=0.998),
                           synthesis=SG3SynthesisConfig(channel_base=1024, channel_max=48,
                                                        magnitude_ema_beta=0.5 ** (32 / 20000)))


def test_design_reproduces_nvidias_layer_names_and_numbers():
    cfg = fixture_config()
    assert cfg.num_ws == 16
    assert cfg.layer_names == ["L0_36_48", "L1_36_48", "L2_36_48", "L3_36_48", "L4_36_48", "L5_52_48", "L6_52_48",
                               "L7_52_48", "L8_52_48", "L9_52_48", "L10_52_45", "L11_52_38", "L12_52_32",
                               "L13_32_32", "L14_32_3"]
    first, up4, torgb = cfg.layers[0], cfg.layers[5], cfg.layers[-1]
    # Values NVIDIA's constructor stored in the fixture's layers.
    assert (first.padding, first.up_taps, first.down_taps, first.in_half_width) == ((9, 8, 9, 8), 12, 12, 6.0)
    assert (up4.up_factor, up4.down_factor, up4.up_taps, up4.padding) == (4, 2, 24, (-6, -9, -6, -9))
    assert torgb.is_torgb and torgb.conv_kernel == 1 and torgb.up_taps == torgb.down_taps == 1
    assert torgb.out_half_width == pytest.approx(3.698310613518661, abs=1e-15)
    assert cfg.input_spec.size == 36 and cfg.input_spec.sampling_rate == 16 and cfg.input_spec.bandwidth == 2
    assert all(spec.use_fp16 for spec in cfg.layers)
    assert [spec.ws_index for spec in cfg.layers] == list(range(1, 16))


def test_stylegan3_r_uses_radial_filters_except_in_critically_sampled_layers():
    cfg = tiny_sg3_config("R")
    assert [spec.down_radial for spec in cfg.layers] == [True, True, True, False, False]
    assert all(spec.conv_kernel == 1 for spec in cfg.layers)
    r = stylegan3_r()
    assert (r.channel_base, r.channel_max, r.conv_kernel, r.use_radial_filters) == (65536, 1024, 1, True)


def test_json_round_trip_and_family_dispatch():
    cfg = tiny_sg3_config("R", c_dim=3)
    data = cfg.to_dict()
    assert data["family"] == "stylegan3"
    assert generator_config_from_dict(data) == cfg and is_stylegan3(generator_config_from_dict(data))
    sg2 = GeneratorConfig(img_resolution=32, synthesis=GeneratorConfig().synthesis)
    assert generator_config_from_dict(sg2.to_dict()) == sg2 and not is_stylegan3(sg2)
    with pytest.raises(InvalidArgumentError, match="family"):
        generator_config_from_dict({**data, "family": "stylegan9"})


@pytest.mark.parametrize("make,match", [
    (lambda: SG3SynthesisConfig(conv_kernel=2), "odd"),
    (lambda: SG3SynthesisConfig(num_critical=14), "num_critical"),
    (lambda: SG3SynthesisConfig(first_cutoff=math.nan), "first_cutoff"),
    (lambda: SG3SynthesisConfig(conv_clamp=-1.0), "conv_clamp"),
    (lambda: SG3SynthesisConfig(use_radial_filters=1), "use_radial_filters"),
    (lambda: StyleGAN3Config(img_resolution=48), "power of two"),
    (lambda: StyleGAN3Config(img_resolution=64, synthesis=SG3SynthesisConfig(channel_base=1)), "no channels"),
    (lambda: StyleGAN3Config(mapping=MappingConfig(num_layers=2, w_avg_beta=None)), "w_avg"),
    (lambda: StyleGAN3Config(synthesis=SG3SynthesisConfig(first_cutoff=1e-300, first_stopband=1e-299)), "one sample"),
    (lambda: StyleGAN3Config(synthesis=SG3SynthesisConfig(last_stopband_rel=0.5)), "transition band"),
])
def test_invalid_configs_are_refused(make, match):
    with pytest.raises(InvalidArgumentError, match=match):
        make()


def test_min_weight_count_is_a_lower_bound():
    from styleblend.nn.build import build_generator

    for cfg in (tiny_sg3_config("T"), tiny_sg3_config("R", c_dim=2)):
        actual = sum(t.numel() for t in build_generator(cfg).state_dict().values())
        assert 0 < cfg.min_weight_count() <= actual
