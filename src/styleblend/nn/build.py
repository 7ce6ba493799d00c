"""Build the generator of either family from its config (the one place that asks which family)."""

from __future__ import annotations

from torch import nn

from ..config import GeneratorConfig
from ..config_sg3 import StyleGAN3Config


def build_generator(cfg: GeneratorConfig | StyleGAN3Config) -> nn.Module:
    """A randomly initialised StyleGAN2 :class:`~styleblend.nn.Generator` or :class:`StyleGAN3Generator`.

    Both answer the same interface: ``mapping``, ``synthesis``, ``num_ws``, ``z_dim``, ``w_dim``,
    ``c_dim``, ``img_resolution``, ``img_channels``.
    """
    if isinstance(cfg, StyleGAN3Config):
        from .stylegan3 import StyleGAN3Generator

        return StyleGAN3Generator(cfg)
    from .generator import Generator

    return Generator(cfg)
