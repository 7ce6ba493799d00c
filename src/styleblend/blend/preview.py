"""Preview grids for blends: rows are seeds, columns are models, the same latents in every column.

Every column maps the same z (NVIDIA's seed convention) through its own mapping network, truncates
towards its own w_avg with the same ψ, and renders with the stored ('const') noise, so differences
between columns come from the weights alone. A lower-resolution column is enlarged by pixel
repetition to the grid's resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..io.checkpoint import Checkpoint
from ..latents.mapping import seeds_to_ws
from ..media.images import make_grid, to_uint8
from ..render import render_ws

log = logging.getLogger(__name__)


def render_model(ckpt: Checkpoint, seeds: Sequence[int], truncation_psi: float = 1.0, noise_mode: str = "const",
                 device: str | torch.device = "cpu", class_idx: int | None = None) -> np.ndarray:
    """Images of one checkpoint's G_ema for ``seeds``: uint8 [len(seeds), H, W, C] (NVIDIA's conventions)."""
    G = ckpt.generator(device)
    ws = seeds_to_ws(G, seeds, truncation_psi, class_idx=class_idx)
    return to_uint8(render_ws(G, ws, noise_mode=noise_mode, batch_size=4))


def _enlarge(images: np.ndarray, size: int) -> np.ndarray:
    factor = size // images.shape[1]
    if factor == 1:
        return images
    if factor * images.shape[1] != size:
        raise InvalidArgumentError(f"cannot place {images.shape[1]} px images in a {size} px grid")
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def preview_grid(models: Iterable[Checkpoint], seeds: Sequence[int], truncation_psi: float = 1.0,
                 noise_mode: str = "const", device: str | torch.device = "cpu", class_idx: int | None = None,
                 pad: int = 0) -> np.ndarray:
    """A uint8 grid [rows*H, cols*W, C]: one row per seed, one column per model, in the given order.

    ``models`` may be a lazy iterable (e.g. a sweep): each model is rendered and dropped before the next.
    Images are enlarged to the largest resolution among the models.

    Raises:
        InvalidArgumentError: no models or seeds, or models with different z_dim / image channels.
    """
    if not seeds:
        raise InvalidArgumentError("a preview needs at least one seed in `seeds`, e.g. [0, 1, 2]", param="seeds")
    columns: list[np.ndarray] = []
    z_dim = None
    for ckpt in models:
        if z_dim is not None and ckpt.g_config.z_dim != z_dim:
            raise InvalidArgumentError(f"models with z_dim {z_dim} and {ckpt.g_config.z_dim} cannot share latents")
        z_dim = ckpt.g_config.z_dim
        columns.append(render_model(ckpt, seeds, truncation_psi, noise_mode, device, class_idx))
        log.info("rendered column %d (%s)", len(columns), ckpt.describe())
    if not columns:
        raise InvalidArgumentError("a preview needs at least one model")
    if len({c.shape[3] for c in columns}) != 1:
        raise InvalidArgumentError("the models have different numbers of image channels")
    size = max(c.shape[1] for c in columns)
    columns = [_enlarge(c, size) for c in columns]
    cells = np.stack(columns, axis=1).reshape(-1, size, size, columns[0].shape[3])  # row-major: seed, model
    return make_grid(cells, cols=len(columns), pad=pad)
