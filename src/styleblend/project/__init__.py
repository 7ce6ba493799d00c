"""Embedding images into W / W+: the projection loop, its losses, VGG-16 features and batch I/O.

``project(G, target, settings_for('image2stylegan'), loss)`` is the library entry point; see
:mod:`.projector` for the methods and :mod:`.batch` for writing outputs and batch mode.
"""

from .losses import (
                        LossTerm,
                        WeightedLoss,
                        image2stylegan_loss,
                        nvidia_loss,
                        pixel_fallback_loss,
                        resolve_loss,
)
from .projector import (
                        METHODS,
                        Cancelled,
                        ProjectionResult,
                        ProjectionSettings,
                        project,
                        settings_for,
                        synthesize,
)

__all__ = ["METHODS", "Cancelled", "LossTerm", "ProjectionResult", "ProjectionSettings", "WeightedLoss",
           "image2stylegan_loss", "nvidia_loss", "pixel_fallback_loss", "project", "resolve_loss", "settings_for",
           "synthesize"]
