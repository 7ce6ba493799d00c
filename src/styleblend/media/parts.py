"""Part maps as pictures: one colour per part, the part's number written on it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# Twelve well-separated colours (then they repeat); dark enough for white digits on top.
_PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (57, 59, 121), (173, 73, 74),
], dtype=np.uint8)


def part_colours(labels: torch.Tensor) -> np.ndarray:
    """int labels [H, W] -> uint8 RGB [H, W, 3]."""
    return _PALETTE[labels.numpy() % len(_PALETTE)]


def part_map_image(labels: torch.Tensor, size: int) -> np.ndarray:
    """A part map [H, W] drawn at ``size`` px (pixel repetition) with each part's number on it: uint8 [size, size, 3].

    The number sits on the pixel of the part nearest to the part's mean position, so it lands inside
    the part even when the part is not convex.
    """
    h = labels.shape[0]
    factor = max(1, size // h)
    rgb = part_colours(labels).repeat(factor, axis=0).repeat(factor, axis=1)
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    for part in torch.unique(labels).tolist():
        ys, xs = torch.nonzero(labels == part, as_tuple=True)
        cy, cx = ys.float().mean(), xs.float().mean()
        nearest = int(((ys - cy) ** 2 + (xs - cx) ** 2).argmin())
        x, y = int(xs[nearest]) * factor + factor // 2, int(ys[nearest]) * factor + factor // 2
        text = str(part)
        box = draw.textbbox((0, 0), text, font=font)
        tw, th = box[2] - box[0], box[3] - box[1]
        draw.text((x - tw // 2, y - th // 2), text, fill=(255, 255, 255), font=font, stroke_width=1,
                  stroke_fill=(0, 0, 0))
    return np.asarray(im, dtype=np.uint8)
