"""StyleGAN2 discriminator: blocks from img_resolution down to 8, then a 4x4 epilogue."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..config import DiscriminatorConfig, MappingConfig
from ..ops.upfirdn2d import downsample2d, setup_filter
from .layers import Conv2dLayer, FullyConnectedLayer
from .mapping import MappingNetwork


class DiscriminatorBlock(nn.Module):
    """[fromrgb], conv0 3x3, conv1 3x3 down x2, [skip 1x1 down x2 for resnet]."""

    resample_filter: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 cfg: DiscriminatorConfig, first_layer_idx: int = 0, freeze_layers: int = 0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.architecture = cfg.architecture
        self.register_buffer("resample_filter", setup_filter(cfg.resample_filter))
        self.num_layers = 0
        act, clamp, rf = cfg.activation, cfg.conv_clamp, cfg.resample_filter

        def trainable() -> bool:
            idx = first_layer_idx + self.num_layers
            self.num_layers += 1
            return idx >= freeze_layers

        if in_channels == 0 or cfg.architecture == "skip":
            self.fromrgb = Conv2dLayer(cfg.img_channels, tmp_channels, kernel_size=1, activation=act,
                                       conv_clamp=clamp, trainable=trainable())
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=act, conv_clamp=clamp,
                                 trainable=trainable())
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=act, down=2,
                                 resample_filter=rf, conv_clamp=clamp, trainable=trainable())
        if cfg.architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=rf, trainable=trainable())

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.in_channels == 0 or self.architecture == "skip":
            assert img is not None, "the first block and skip blocks read the image"
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


def minibatch_stddev(x: torch.Tensor, group_size: int | None, num_channels: int = 1) -> torch.Tensor:
    """Append the per-group standard deviation of features as ``num_channels`` extra channels."""
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size is not None else n
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()
    y = y.mean(dim=[2, 3, 4]).reshape(-1, num_channels, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: [fromrgb], minibatch stddev, conv, fc, out (projected onto cmap when conditional)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.architecture = cfg.architecture
        self.cmap_dim = cmap_dim
        self.mbstd_group_size = cfg.mbstd_group_size
        self.mbstd_num_channels = cfg.mbstd_num_channels
        if cfg.architecture == "skip":
            self.fromrgb = Conv2dLayer(cfg.img_channels, in_channels, kernel_size=1, activation=cfg.activation)
        self.conv = Conv2dLayer(in_channels + cfg.mbstd_num_channels, in_channels, kernel_size=3,
                                activation=cfg.activation, conv_clamp=cfg.conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=cfg.activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        if self.architecture == "skip":
            x = x + self.fromrgb(img)
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            assert cmap is not None, "a conditional discriminator projects onto the label map"
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """Image [N, C, R, R] (and label) -> realness logit [N, 1].

    freeze_layers: the first K layers (counted from the image side) get their weights as
    non-trainable buffers - the 'freeze D' transfer-learning trick.
    """

    def __init__(self, cfg: DiscriminatorConfig, freeze_layers: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.c_dim = cfg.c_dim
        self.img_resolution = cfg.img_resolution
        self.block_resolutions = cfg.block_resolutions
        cmap_dim = cfg.cmap_dim if cfg.cmap_dim is not None else cfg.channels(4)
        if cfg.c_dim == 0:
            cmap_dim = 0
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = cfg.channels(res) if res < cfg.img_resolution else 0
            block = DiscriminatorBlock(in_channels, cfg.channels(res), cfg.channels(res // 2), resolution=res,
                                       cfg=cfg, first_layer_idx=layer_idx, freeze_layers=freeze_layers)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, None,
                                          MappingConfig(num_layers=cfg.mapping_num_layers, w_avg_beta=None))
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim=cmap_dim, resolution=4, cfg=cfg)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        logits: torch.Tensor = self.b4(x, img, cmap)
        return logits

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Activations at every block resolution, for feature distances (see ``project.losses``).

        Returns, for each block from the image side (resolution r = img_resolution ... 8), the activation
        of its first 3x3 conv ``b{r}.conv0`` ([N, C_r, r, r]), then the output of the last block
        ([N, C_4, 4, 4]). The epilogue is not run: its minibatch-stddev layer would mix the images of a
        batch, and its fully connected layers keep no spatial layout. No label is needed for the same reason.
        """
        taps: list[torch.Tensor] = []
        # A forward hook reads conv0's output without a second copy of the block logic in this file.
        hooks = [getattr(self, f"b{res}").conv0.register_forward_hook(lambda _m, _i, out: taps.append(out))
                 for res in self.block_resolutions]
        try:
            x = None
            for res in self.block_resolutions:
                x, img = getattr(self, f"b{res}")(x, img)
        finally:
            for h in hooks:
                h.remove()
        assert x is not None  # there is at least one block
        return taps + [x]
