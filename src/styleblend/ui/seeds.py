"""The seed browser of the web UI: a page of base thumbnails to pick the preview seeds from (issue 13, item 3).

NVIDIA's visualizer lets one drag through seeds; here the page shows :data:`PAGE_SEEDS` seeds at once and a
click adds one to (or removes it from) the preview's seeds. Thumbnails must be cheap even for a 1024 px
model, so for a skip generator larger than :data:`THUMB` px they are the base's skip image at the block of
that resolution (what the synthesis network has drawn by then: a coarse but faithful view of the seed's
pose and colours), computed by running only the blocks up to it; otherwise the base's output itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..blend.live import LiveBlend
from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from ..io import Checkpoint
from ..latents.mapping import seeds_to_ws
from ..media.images import make_grid, to_uint8
from ..render import render_ws
from .images import PAD, png_bytes

PAGE_SEEDS = 16
COLUMNS = 4
THUMB = 64  # px
MAX_SEED = 2**32 - 1


class SeedBrowser:
    """Pages of base thumbnails; one per session and base (the renderer for big models is made when first used).

    Args:
        base: the base checkpoint. G: its generator (used as it is for models of :data:`THUMB` px or less).
        device: where the thumbnail renderer runs.
    """

    def __init__(self, base: Checkpoint, G: Any, device: torch.device) -> None:
        cfg = base.g_config
        self._base, self._G, self._device = base, G, device
        self._live: LiveBlend | None = None
        # Only a StyleGAN2 skip generator has an image before its last block.
        self._config = cfg if isinstance(cfg, GeneratorConfig) and cfg.synthesis.architecture == "skip" \
            and THUMB in cfg.block_resolutions[:-1] else None
        self.resolution = THUMB if self._config is not None else cfg.img_resolution

    def seeds(self, start: int, count: int = PAGE_SEEDS) -> list[int]:
        """``count`` seeds from ``start``.

        Raises:
            InvalidArgumentError: a start outside [0, 2**32 - count] or a count outside [1, PAGE_SEEDS].
        """
        if not 1 <= int(count) <= PAGE_SEEDS:
            raise InvalidArgumentError(f"seed page size {count} must be in [1, {PAGE_SEEDS}]")
        if not 0 <= int(start) <= MAX_SEED + 1 - int(count):
            raise InvalidArgumentError(f"first seed {start} must be in [0, {MAX_SEED + 1 - int(count)}]")
        return list(range(int(start), int(start) + int(count)))

    def images(self, seeds: list[int], psi: float) -> np.ndarray:
        """uint8 [len(seeds), r, r, C] thumbnails, r = :attr:`resolution`."""
        if self._config is None:
            return to_uint8(render_ws(self._G, seeds_to_ws(self._G, seeds, psi)))
        if self._live is None:  # α = 0 everywhere: exactly the base's tensors (1 * base + 0 * base)
            self._live = LiveBlend(self._base.g_ema, self._base.g_ema, self._config, device=self._device,
                                   max_latents=1)
        live = self._live
        stage = live.render("page", live.latents(seeds, psi), [0.0] * len(live.resolutions),
                            stop_resolution=self.resolution)
        live.forget()  # a page is rarely asked for twice in a row; keep no activations
        return to_uint8(stage.image)

    def page(self, start: int, psi: float, count: int = PAGE_SEEDS) -> tuple[bytes, list[int]]:
        """A PNG grid of :data:`COLUMNS` columns (row-major, :data:`~styleblend.ui.images.PAD` px apart) and its
        seeds."""
        seeds = self.seeds(start, count)
        return png_bytes(make_grid(self.images(seeds, psi), COLUMNS, PAD)), seeds
