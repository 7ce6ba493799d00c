"""Reading and writing checkpoints: detection, foreign formats and our native format.

The formats are declared in :mod:`styleblend.io.registry`. The names below are imported on first use,
so that importing a light submodule (the registry, for a parser's choices) does not load PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .files import load_checkpoint, save_checkpoint

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

_HOMES = {"Checkpoint": ".checkpoint", "load_checkpoint": ".files", "save_checkpoint": ".files"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
