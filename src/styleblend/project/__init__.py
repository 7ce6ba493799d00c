"""Embedding images into W / W+: the projection loop, its losses, VGG-16 and D features, W+ measures, batch I/O.

``project(G, target, settings_for('image2stylegan'), loss)`` is the library entry point; see
:mod:`.projector` for the methods, :mod:`.settings` for their presets and :mod:`.batch` for writing outputs
and batch mode.

The names below load their module on first use (PEP 562), so importing :mod:`.settings` (torch-free: a
command-line parser reads the methods and their defaults from it) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .losses import (
        DiscriminatorFeatureDistance,
        LossTerm,
        WeightedLoss,
        dfeat_loss,
        image2stylegan_loss,
        nvidia_loss,
        pixel_fallback_loss,
        resolve_loss,
    )
    from .projector import Cancelled, ProjectionResult, project, synthesize
    from .settings import DEFAULT_W_REG, LOSS_KINDS, METHODS, ProjectionSettings, settings_for
    from .wspace import distance_from_w, row_spread

# name -> the module of this package that defines it
_EXPORTS = {
    **dict.fromkeys(("DiscriminatorFeatureDistance", "LossTerm", "WeightedLoss", "dfeat_loss", "image2stylegan_loss",
                     "nvidia_loss", "pixel_fallback_loss", "resolve_loss"), ".losses"),
    **dict.fromkeys(("Cancelled", "ProjectionResult", "project", "synthesize"), ".projector"),
    **dict.fromkeys(("DEFAULT_W_REG", "LOSS_KINDS", "METHODS", "ProjectionSettings", "settings_for"), ".settings"),
    **dict.fromkeys(("distance_from_w", "row_spread"), ".wspace"),
}

__all__ = ["DEFAULT_W_REG", "LOSS_KINDS", "METHODS", "Cancelled", "DiscriminatorFeatureDistance", "LossTerm",
           "ProjectionResult", "ProjectionSettings", "WeightedLoss", "dfeat_loss", "distance_from_w",
           "image2stylegan_loss", "nvidia_loss", "pixel_fallback_loss", "project", "resolve_loss", "row_spread",
           "settings_for", "synthesize"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'styleblend.project' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
