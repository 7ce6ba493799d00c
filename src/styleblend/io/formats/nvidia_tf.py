"""NVIDIA StyleGAN2 TensorFlow pickles (placeholder until the reader lands)."""

from __future__ import annotations

from pathlib import Path

from ...errors import CheckpointError
from ..checkpoint import Checkpoint


def read(path: Path) -> Checkpoint:
    raise CheckpointError(f"{path.name}: NVIDIA TensorFlow pickles are not supported yet")
