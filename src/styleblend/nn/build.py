"""Build the generator of either family from its config (the one place that asks which family)."""

from __future__ import annotations

from ..config_sg3 import AnyGeneratorConfig, StyleGAN3Config
from .generator import MappedGenerator


def build_generator(cfg: AnyGeneratorConfig) -> MappedGenerator:
    """A randomly initialised StyleGAN2 :class:`~styleblend.nn.Generator` or :class:`StyleGAN3Generator`.

    Both are a :class:`~styleblend.nn.generator.MappedGenerator` and answer the same interface
    (:class:`styleblend.types.Generator`): ``mapping``, ``synthesis``, ``num_ws``, ``z_dim``, ``w_dim``,
    ``c_dim``, ``img_resolution``, ``img_channels``.
    """
    if isinstance(cfg, StyleGAN3Config):
        from .stylegan3 import StyleGAN3Generator

        return StyleGAN3Generator(cfg)
    from .generator import Generator

    return Generator(cfg)
