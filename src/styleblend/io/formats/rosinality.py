"""rosinality stylegan2-pytorch checkpoints (placeholder until the reader lands)."""

from __future__ import annotations

from pathlib import Path

from ...errors import CheckpointError
from ..checkpoint import Checkpoint


def read(path: Path) -> Checkpoint:
    raise CheckpointError(f"{path.name}: rosinality checkpoints are not supported yet")


def write(ckpt: Checkpoint, out: Path) -> Path:
    raise CheckpointError("writing rosinality checkpoints is not supported yet")
