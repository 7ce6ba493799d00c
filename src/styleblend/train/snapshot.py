"""What a training run writes into its directory: the first files, sample grids, snapshots and the state.

A fresh run starts with ``options.json``, ``reals.png`` and ``fakes000000.png``; each snapshot
adds ``fakes<label>.png``, ``network-snapshot-<label>.safetensors`` and rewrites
``training-state.pt`` (names in :mod:`.checkpointing`). Only the main process writes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..io.atomic import write_bytes_atomic
from ..latents.seeds import z_from_seeds
from ..media.images import make_grid, save_png, to_uint8
from . import checkpointing as ckpt_io
from .data import ImageZipDataset
from .progress import truncate_log
from .state import Counters, Run, training_state

if TYPE_CHECKING:
    from ..nn.generator import Generator

log = logging.getLogger(__name__)

__all__ = ["render_grid", "start_run_dir", "write_snapshot"]


@torch.no_grad()
def render_grid(G: Generator, seeds: list[int], c_dim: int, device: torch.device, cols: int | None = None,
                chunk: int = 16) -> np.ndarray:
    """G's images for ``seeds`` (const noise, labels cycling) tiled into a uint8 grid [H, W, C]."""
    images = []
    for i in range(0, len(seeds), chunk):
        part = seeds[i:i + chunk]
        z = z_from_seeds(part, G.z_dim, device=device)
        c = None
        if c_dim > 0:
            c = torch.nn.functional.one_hot(torch.tensor(part, device=device) % c_dim, c_dim).float()
        # The unfused modulated conv is several times faster than the grouped one on CPU.
        images.append(to_uint8(G(z, c, noise_mode="const", fused_modconv=device.type != "cpu")))
    return make_grid(np.concatenate(images), cols=cols or _grid_cols(len(seeds)))


def _grid_cols(count: int) -> int:
    return max(int(np.ceil(np.sqrt(count))), 1)


def _real_grid(dataset: ImageZipDataset, count: int) -> np.ndarray:
    idx = torch.arange(min(count, len(dataset.names)))
    imgs, _ = dataset.get_batch(idx)
    return make_grid(imgs.permute(0, 2, 3, 1).numpy(), cols=_grid_cols(count))


def _fakes(run: Run, label: str) -> None:
    grid = render_grid(run.G_ema, list(range(run.options.grid)), run.dataset.c_dim, run.device)
    save_png(grid, run.run_dir / f"fakes{label}.png")


def start_run_dir(run: Run, counters: Counters, fresh: bool) -> None:
    """Prepare the run directory (main process): the log cut back to ``counters.step``,
    ``options.json``, and on a ``fresh`` start the reals and G_ema's first grid."""
    run_dir = run.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    # Records past the resumed step (or any, on a fresh start) come from an interrupted attempt.
    dropped = truncate_log(run_dir / "log.jsonl", counters.step)
    if dropped:
        log.info("dropped %d log.jsonl record(s) written after step %d", dropped, counters.step)
    write_bytes_atomic(run_dir / "options.json", json.dumps(run.options.to_dict(), indent=2).encode())
    if fresh:
        save_png(_real_grid(run.dataset, run.options.grid), run_dir / "reals.png")
        _fakes(run, f"{0:06d}")


def write_snapshot(run: Run, counters: Counters, elapsed: float) -> Path:
    """G_ema's grid, the networks' snapshot and the training state after ``counters.cur_nimg``
    images (main process); old snapshots are pruned. Returns the snapshot's path."""
    options, cur_nimg = run.options, counters.cur_nimg
    _fakes(run, ckpt_io.snapshot_label(cur_nimg))
    meta = {"kimg": cur_nimg / 1000, "step": counters.step,
            "augment_p": float(run.augment.p) if run.augment is not None else 0.0,
            "training_options": options.to_dict()}
    if run.origin is not None:
        meta["started_from"] = run.origin
    path = ckpt_io.save_snapshot(ckpt_io.snapshot_path(run.run_dir, cur_nimg / 1000), run.g_cfg, run.d_cfg, run.G,
                                 run.G_ema, run.D, meta)
    ckpt_io.save_training_state(run.run_dir, training_state(run, counters, elapsed))
    ckpt_io.prune_snapshots(run.run_dir, options.keep_last, options.keep_every, options.snap)
    return path
