"""Build the generator of either family from its config (the one place that asks which family)."""

from __future__ import annotations

from ..config_sg3 import AnyGeneratorConfig, StyleGAN3Config
from .generator import Generator
from .stylegan3 import StyleGAN3Generator


def build_generator(cfg: AnyGeneratorConfig) -> Generator | StyleGAN3Generator:
    """A randomly initialised StyleGAN2 :class:`~styleblend.nn.Generator` or :class:`StyleGAN3Generator`.

    Both are a :class:`~styleblend.nn.generator.MappedGenerator` and answer the same interface
    (:class:`styleblend.types.Generator`): ``mapping``, ``synthesis``, ``num_ws``, ``z_dim``, ``w_dim``,
    ``c_dim``, ``img_resolution``, ``img_channels``.
    """
    if isinstance(cfg, StyleGAN3Config):
        return StyleGAN3Generator(cfg)
    return Generator(cfg)
