"""The LPIPS-style distance on VGG-16 features (Zhang et al. 2018, "The Unreasonable Effectiveness of
Deep Features as a Perceptual Metric", Eq. 1) - the one used by projection (NVIDIA's projector
objective and the reported ``lpips``) and by PPL.

    d(x, y) = sum_l mean_hw sum_c w_lc (f^l_hwc(x) / ||f^l_hw(x)|| - f^l_hwc(y) / ||f^l_hw(y)||)^2

over conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3 (post-ReLU), ||.|| the norm over channels at
one position (+1e-10). ``w_lc`` are LPIPS's learned linear weights when the VGG came from NVIDIA's
``vgg16.pt``; otherwise all ones - unit-normalised VGG features, the "baseline" variant of LPIPS,
which is close to but *not* NVIDIA's distance. Every distance says which one it is in its ``name``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vgg import LPIPS_LAYERS, VGG16Features

Features = dict[str, torch.Tensor]


class LPIPS:
    """``lpips(img0, img1) -> [N]``: the distance of each image pair (batches [N, C, H, W] in [-1, 1]).

    Args:
        vgg: VGG-16 features (:func:`~styleblend.perceptual.vgg.load_vgg16`); learned LPIPS weights
            are used when it carries them.
        max_size: images larger than this are area-downsampled to it first (NVIDIA's projector: 256);
            None uses every image as it is (PPL, which box-filters to 256 px itself).
    """

    def __init__(self, vgg: VGG16Features, max_size: int | None = 256) -> None:
        self.vgg, self.max_size = vgg, max_size
        self.weights = getattr(vgg, "lpips_weights", None)
        self.learned = self.weights is not None
        kind = "learned LPIPS weights" if self.learned else "unit channel weights"
        self.name = f"LPIPS-style VGG-16 ({kind})"

    def features(self, img: torch.Tensor) -> Features:
        """Unit-normalised VGG-16 features of ``img`` at :data:`LPIPS_LAYERS` (what the distance compares)."""
        img = img.to(torch.float32)
        if self.max_size is not None and img.shape[-1] > self.max_size:
            img = F.interpolate(img, size=(self.max_size, self.max_size), mode="area")
        feats = self.vgg(img, LPIPS_LAYERS)
        return {k: v / (v.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for k, v in feats.items()}

    def from_features(self, f0: Features, f1: Features) -> torch.Tensor:
        """The distance [N] between features of :meth:`features` (so a fixed target's can be reused)."""
        total = None
        for i, name in enumerate(LPIPS_LAYERS):
            diff = (f0[name] - f1[name]).square()
            if self.weights is not None:
                diff = diff * self.weights[i].to(diff).view(1, -1, 1, 1)
            layer = diff.sum(dim=1).mean(dim=(1, 2))
            total = layer if total is None else total + layer
        assert total is not None
        return total

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        n = img0.shape[0]
        both = self.features(torch.cat([img0, img1]))  # one VGG pass for both batches
        return self.from_features({k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()})
