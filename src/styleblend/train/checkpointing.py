"""Snapshots and the resumable training state of a run directory.

A run directory holds:

* ``network-snapshot-{kimg:06d}.safetensors`` - the networks in styleblend's native format
  (G_ema, G, D and their architectures), loadable by every styleblend command; a snapshot between
  whole kimg adds the remaining images: ``network-snapshot-000000.224.safetensors`` after 224
  images (see :func:`snapshot_label`), so snapshots every fraction of a kimg never collide;
* ``training-state.pt`` - everything else needed to continue *exactly*: weights, optimiser states,
  the loss' running path-length mean, ADA's p and sign accumulator, the image counter, the RNG
  states of torch and numpy, and the options. Written atomically after each snapshot, so an
  interrupted write leaves the previous state intact. It is read with ``weights_only=True``:
  it holds tensors, numbers, strings, lists and dicts only.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DiscriminatorConfig, GeneratorConfig
from ..errors import CheckpointError
from ..io.atomic import atomic_path
from ..io.checkpoint import Checkpoint
from ..io.detect import detect_format
from ..io.digest import file_sha256
from ..io.files import save_checkpoint
from ..io.registry import DEFAULT_FORMAT, get_format
from ..io.safe_torch_load import safe_torch_load

log = logging.getLogger(__name__)

STATE_NAME = "training-state.pt"
SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d{6,})(?:\.(\d{3}))?\.safetensors$")
STATE_VERSION = 1


def snapshot_label(nimg: int) -> str:
    """The name part of a snapshot or sample grid after ``nimg`` images: kimg as ``000004``, or
    ``000004.224`` between whole kimg (4224 images). Distinct image counts give distinct labels,
    and whole kimg keep the names runs have always had."""
    whole, rest = divmod(int(nimg), 1000)
    return f"{whole:06d}" if rest == 0 else f"{whole:06d}.{rest:03d}"


def snapshot_path(run_dir: Path, kimg: float) -> Path:
    """``run_dir/network-snapshot-<label>.safetensors`` after ``kimg`` thousand images."""
    return run_dir / f"network-snapshot-{snapshot_label(round(kimg * 1000))}.safetensors"


def save_snapshot(path: Path, g_config: GeneratorConfig, d_config: DiscriminatorConfig,
                  G: torch.nn.Module, G_ema: torch.nn.Module, D: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write G_ema, G and D (float32) with their architectures as one native safetensors file."""
    ckpt = Checkpoint(g_config=g_config, g_ema=_cpu_state(G_ema), g=_cpu_state(G), d_config=d_config,
                      d=_cpu_state(D), meta=meta)
    return save_checkpoint(ckpt, path, DEFAULT_FORMAT.name)


def started_from(resume: str | Path | None) -> dict[str, str] | None:
    """What a run's snapshots remember of the NVIDIA pickle it fine-tunes, or None for other starts.

    ``{'format': 'nvidia-pkl', 'path': absolute path, 'sha256': content hash}``, stored in every
    snapshot's metadata as ``started_from`` so that ``convert --to nvidia-pkl`` can write the
    fine-tuned networks back into that pickle's structure while it still exists unchanged.
    """
    if not resume:
        return None
    path = Path(resume)
    if not path.is_file():  # a model folder or a Hub repository id: nothing is written into it
        return None
    fmt = detect_format(path)
    if not get_format(fmt).into_existing:  # only a format written into an existing file needs its origin
        return None
    return {"format": fmt, "path": str(path.resolve()), "sha256": file_sha256(path)}


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA) and numpy as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (see module doc) atomically to ``run_dir/training-state.pt``."""
    path = run_dir / STATE_NAME
    with atomic_path(path) as tmp:
        torch.save({"version": STATE_VERSION, **state}, tmp)
    return path


def load_training_state(run_dir: Path) -> dict[str, Any]:
    """Read ``run_dir/training-state.pt``.

    Raises:
        CheckpointError: missing, unreadable or of another version.
    """
    path = Path(run_dir) / STATE_NAME
    if not path.is_file():
        raise CheckpointError(f"`run_dir` '{run_dir}' has no {STATE_NAME}; give a run directory written by the "
                              "training loop (a network file to fine-tune is `resume` instead)",
                              param=("run_dir", "resume"))
    # The restricted reader: sizes checked before allocation, one-line errors, no pickle globals.
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: training state of an unknown version; it was written by another styleblend")
    return state


def list_snapshots(run_dir: Path) -> list[tuple[float, Path]]:
    """(kimg, path) of the run's snapshots, oldest first."""
    found = []
    for p in Path(run_dir).glob("network-snapshot-*.safetensors"):
        m = SNAPSHOT_RE.match(p.name)
        if m:
            nimg = int(m.group(1)) * 1000 + int(m.group(2) or 0)
            found.append((nimg, p))
    return [(n / 1000, p) for n, p in sorted(found)]


def prune_snapshots(run_dir: Path, keep_last: int, keep_every: int, snap_kimg: float) -> list[Path]:
    """Delete old snapshots, keeping the last ``keep_last`` and every ``keep_every``-th one.

    A snapshot at ``kimg`` is the ``floor(kimg / snap_kimg)``-th (it is written at the first step
    at or past that multiple); it is kept for good when that ordinal is a multiple of
    ``keep_every`` (``keep_every`` 0 keeps everything). Returns what was deleted.
    """
    if keep_every <= 0 or snap_kimg <= 0:
        return []
    snaps = list_snapshots(run_dir)
    recent = {p for _, p in snaps[-keep_last:]} if keep_last > 0 else set()
    removed = []
    for kimg, p in snaps:
        if p in recent or math.floor(kimg / snap_kimg + 1e-9) % keep_every == 0:
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
        log.info("removed old snapshot %s", p.name)
    return removed
