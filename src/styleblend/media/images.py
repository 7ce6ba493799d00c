"""Conversion between generator output and 8-bit images, PNG writing and image grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..io.atomic import atomic_path


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """Generator output [N, C, H, W] in about [-1, 1] -> uint8 [N, H, W, C].

    Exactly NVIDIA's generate.py: ``(x * 127.5 + 128).clamp(0, 255).to(uint8)`` - note +128 and
    truncation (not rounding).
    """
    x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, C] or [N, H, W, C] -> float32 [N, C, H, W] in [-1, 1] (inverse of :func:`to_uint8` up to 0.5
    level)."""
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[None]
    return torch.from_numpy(a.astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1


def pil_image(array: np.ndarray) -> Image.Image:
    """uint8 [H, W, C] with C in {1, 3} -> PIL image."""
    if array.ndim == 3 and array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], "L")
    return Image.fromarray(array, "RGB")


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 [H, W, C] image as PNG atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        pil_image(array).save(tmp, format="PNG")
    return path


def make_grid(images: np.ndarray | Sequence[np.ndarray], cols: int, pad: int = 0,
              pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images [N, H, W, C] row-major into a [rows*H, cols*W, C] grid (empty cells = pad_value)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = -(-n // cols)
    grid = np.full([rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c], pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = images[i]
    return grid
