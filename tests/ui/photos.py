"""Photos and image distances the embedding tests share."""

from __future__ import annotations

import numpy as np

from styleblend.ui.images import png_bytes


def photo_png(session, seed: int = 9) -> bytes:
    """A photo the session's base can draw: its own rendering of ``seed``, as PNG bytes."""
    return png_bytes(session.mix_images(seed, seed, "0", model="base")[0])


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
