"""The generator: mapping followed by synthesis, built from a :class:`GeneratorConfig`."""

from __future__ import annotations

import torch
from torch import nn

from ..config import GeneratorConfig
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork


class Generator(nn.Module):
    """StyleGAN2 generator with NVIDIA's parameter names.

    For example ``mapping.fc0.weight`` and ``synthesis.b8.conv0.affine.bias``.
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                fused_modconv: bool | None = None) -> torch.Tensor:
        """z [N, z_dim] (and c [N, c_dim]) -> image [N, C, R, R] in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        img: torch.Tensor = self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        return img
