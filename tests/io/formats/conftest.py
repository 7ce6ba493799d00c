"""Tiny random networks for the foreign-format tests: every parameter and buffer is random.

Freshly built networks have zero biases and noise strengths, which would hide mapping mistakes
(a bias sent to the wrong layer still adds zero), so everything is randomised here.
"""

from __future__ import annotations

import torch

from styleblend.config import DiscriminatorConfig, GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.io import Checkpoint
from styleblend.nn import Discriminator, Generator

# Channels per resolution of the tiny models: {4: 32, 8: 32, 16: 16, 32: 8}.
CHANNEL_BASE, CHANNEL_MAX = 256, 32


def tiny_g_config(res: int = 32, architecture: str = "skip", c_dim: int = 0, z_dim: int = 32,
                  w_dim: int = 32) -> GeneratorConfig:
    return GeneratorConfig(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=res,
                           mapping=MappingConfig(num_layers=2),
                           synthesis=SynthesisConfig(channel_base=CHANNEL_BASE, channel_max=CHANNEL_MAX,
                                                     architecture=architecture))


def tiny_d_config(res: int = 32, architecture: str = "resnet", mbstd_group_size: int | None = 4) -> DiscriminatorConfig:
    return DiscriminatorConfig(img_resolution=res, channel_base=CHANNEL_BASE, channel_max=CHANNEL_MAX,
                               architecture=architecture, mbstd_group_size=mbstd_group_size)


def randomize_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every float parameter and buffer (except FIR filters) with random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("resample_filter"):
                continue
            scale = 0.3 if name.endswith(("bias", "noise_strength", "w_avg")) else 1.0
            t.copy_(torch.randn(t.shape, generator=gen) * scale)
            if name.endswith("affine.bias"):
                t.add_(1.0)  # styles near 1, as in trained models
    return module.eval()


def random_generator(cfg: GeneratorConfig, seed: int = 0) -> Generator:
    return randomize_(Generator(cfg), seed)


def random_discriminator(cfg: DiscriminatorConfig, seed: int = 1) -> Discriminator:
    return randomize_(Discriminator(cfg), seed)


def random_checkpoint(g_cfg: GeneratorConfig | None = None, d_cfg: DiscriminatorConfig | None = None) -> Checkpoint:
    g_cfg = g_cfg or tiny_g_config()
    g_ema = random_generator(g_cfg, 0).state_dict()
    g = random_generator(g_cfg, 1).state_dict()
    d = random_discriminator(d_cfg, 2).state_dict() if d_cfg is not None else None
    return Checkpoint(g_config=g_cfg, g_ema=dict(g_ema), g=dict(g), d_config=d_cfg, d=None if d is None else dict(d))
