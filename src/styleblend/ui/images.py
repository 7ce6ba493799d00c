"""PNG encoding and grid helpers shared by the UI's panels (previews, mixing, morphs, the photo panel)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PAD = 2  # white pixels between grid cells


def png_bytes(image: np.ndarray) -> bytes:
    """Encode uint8 [H, W, C] (C = 1 or 3) as PNG; fast compression, since previews are redrawn often."""
    buf = io.BytesIO()
    mode = "L" if image.shape[2] == 1 else "RGB"
    Image.fromarray(image[:, :, 0] if mode == "L" else image, mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def enlarge(images: np.ndarray, size: int) -> np.ndarray:
    """Pixel-repeat uint8 [N, h, w, C] to [N, size, size, C] (a lower-resolution transfer in a grid)."""
    factor = size // images.shape[1]
    return images if factor == 1 else images.repeat(factor, axis=1).repeat(factor, axis=2)
