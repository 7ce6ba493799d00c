"""Architecture configs: every field is validated (type, range, finiteness) and the weight-count bound holds."""

from __future__ import annotations

import math

import pytest

from styleblend.config import DiscriminatorConfig, GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.errors import InvalidArgumentError
from styleblend.nn import Discriminator, Generator


@pytest.mark.parametrize("make", [
    lambda: SynthesisConfig(channel_max=0),
    lambda: SynthesisConfig(channel_base=0),
    lambda: SynthesisConfig(conv_clamp=math.nan),
    lambda: SynthesisConfig(conv_clamp=math.inf),
    lambda: SynthesisConfig(conv_clamp=-1.0),
    lambda: SynthesisConfig(num_fp16_res=-1),
    lambda: SynthesisConfig(kernel_size=2),
    lambda: SynthesisConfig(resample_filter=()),
    lambda: SynthesisConfig(resample_filter=(1, -1)),
    lambda: SynthesisConfig(use_noise="yes"),
    lambda: SynthesisConfig(channel_base="32768"),
    lambda: SynthesisConfig(channel_max=2.5),
    lambda: MappingConfig(num_layers=0),
    lambda: MappingConfig(num_layers=True),
    lambda: MappingConfig(lr_multiplier=math.nan),
    lambda: MappingConfig(lr_multiplier=-0.01),
    lambda: MappingConfig(w_avg_beta=1.5),
    lambda: MappingConfig(layer_features=0),
    lambda: GeneratorConfig(img_resolution=2**30),
    lambda: GeneratorConfig(img_resolution=48),
    lambda: GeneratorConfig(w_dim=-3),
    lambda: GeneratorConfig(z_dim=10**9),
    lambda: GeneratorConfig(img_channels=0),
    lambda: GeneratorConfig(img_resolution=1024, synthesis=SynthesisConfig(channel_base=512)),  # 0 channels at 1024
    lambda: DiscriminatorConfig(channel_max=0),
    lambda: DiscriminatorConfig(mbstd_group_size=0),
    lambda: DiscriminatorConfig(conv_clamp=math.nan),
    lambda: DiscriminatorConfig(img_resolution=8192),
])
def test_invalid_fields_are_refused_with_their_value(make):
    with pytest.raises(InvalidArgumentError, match="="):
        make()


def test_defaults_and_published_configs_are_valid():
    GeneratorConfig()
    DiscriminatorConfig()
    GeneratorConfig(img_resolution=256, synthesis=SynthesisConfig(channel_base=16384, conv_clamp=256, num_fp16_res=4),
                    mapping=MappingConfig(num_layers=2, w_avg_beta=None))


@pytest.mark.parametrize("g_cfg", [
    GeneratorConfig(z_dim=32, w_dim=32, img_resolution=32, mapping=MappingConfig(num_layers=2),
                    synthesis=SynthesisConfig(channel_base=256, channel_max=32)),
    GeneratorConfig(z_dim=8, w_dim=16, c_dim=3, img_resolution=16, mapping=MappingConfig(num_layers=1),
                    synthesis=SynthesisConfig(channel_base=128, channel_max=16, architecture="resnet")),
    GeneratorConfig(z_dim=16, w_dim=16, img_resolution=8, mapping=MappingConfig(num_layers=3, layer_features=4),
                    synthesis=SynthesisConfig(channel_base=64, channel_max=8, architecture="orig", kernel_size=1)),
])
def test_min_weight_count_is_a_lower_bound_close_to_the_truth(g_cfg):
    actual = sum(t.numel() for t in Generator(g_cfg).state_dict().values())
    assert g_cfg.min_weight_count() <= actual
    d_cfg = DiscriminatorConfig(img_resolution=g_cfg.img_resolution, c_dim=g_cfg.c_dim,
                                channel_base=g_cfg.synthesis.channel_base, channel_max=g_cfg.synthesis.channel_max)
    d_actual = sum(t.numel() for t in Discriminator(d_cfg).state_dict().values())
    assert d_cfg.min_weight_count() <= d_actual


def test_min_weight_count_of_a_large_network_is_most_of_it():
    # The bound is what refuses a tiny file that describes a huge network, so it must not be loose.
    cfg = GeneratorConfig(img_resolution=256, synthesis=SynthesisConfig(channel_base=8192, channel_max=256),
                          mapping=MappingConfig(num_layers=2))
    actual = sum(t.numel() for t in Generator(cfg).state_dict().values())
    assert 0.8 * actual <= cfg.min_weight_count() <= actual
