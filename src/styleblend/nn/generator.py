"""The generator: mapping followed by synthesis, built from a :class:`GeneratorConfig`.

:class:`MappedGenerator` is the part both families share (the sizes, the mapping network with its
conditioning and truncation, and ``forward`` = synthesis(mapping(z, c))); :class:`Generator` (StyleGAN2,
here) and :class:`~styleblend.nn.stylegan3.StyleGAN3Generator` differ only in the synthesis network.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import GeneratorConfig
from ..config_sg3 import StyleGAN3Config
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork


class MappedGenerator(nn.Module):
    """``mapping`` (z, c -> ws, with truncation towards ``mapping.w_avg``) followed by ``synthesis``.

    Subclasses build their synthesis network and hand it to ``__init__``; it must consume ws
    [N, cfg.num_ws, w_dim] and accept ``(ws, noise_mode=..., fused_modconv=...)``. The synthesis network
    is built (and so draws its random initial weights) before the mapping network, and registered first,
    as in NVIDIA's code: the state-dict order and a seeded initialisation do not depend on this class.
    """

    cfg: GeneratorConfig | StyleGAN3Config
    synthesis: nn.Module
    mapping: MappingNetwork

    def __init__(self, cfg: GeneratorConfig | StyleGAN3Config, synthesis: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = synthesis
        self.num_ws: int = cfg.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                fused_modconv: bool | None = None) -> torch.Tensor:
        """z [N, z_dim] (and c [N, c_dim]) -> image [N, C, R, R] in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        img: torch.Tensor = self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        return img


class Generator(MappedGenerator):
    """StyleGAN2 generator with NVIDIA's parameter names.

    For example ``mapping.fc0.weight`` and ``synthesis.b8.conv0.affine.bias``.
    """

    cfg: GeneratorConfig
    synthesis: SynthesisNetwork

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__(cfg, SynthesisNetwork(cfg))
