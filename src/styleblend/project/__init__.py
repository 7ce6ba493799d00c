"""Embedding images into W / W+: the projection loop, its losses, VGG-16 and D features, W+ measures, batch I/O.

``project(G, target, settings_for('image2stylegan'), loss)`` is the library entry point; see
:mod:`.projector` for the methods and :mod:`.batch` for writing outputs and batch mode.
"""

from .losses import (
                        LOSS_KINDS,
                        DiscriminatorFeatureDistance,
                        LossTerm,
                        WeightedLoss,
                        dfeat_loss,
                        image2stylegan_loss,
                        nvidia_loss,
                        pixel_fallback_loss,
                        resolve_loss,
)
from .projector import (
                        DEFAULT_W_REG,
                        METHODS,
                        Cancelled,
                        ProjectionResult,
                        ProjectionSettings,
                        project,
                        settings_for,
                        synthesize,
)
from .wspace import distance_from_w, row_spread

__all__ = ["DEFAULT_W_REG", "LOSS_KINDS", "METHODS", "Cancelled", "DiscriminatorFeatureDistance", "LossTerm",
           "ProjectionResult", "ProjectionSettings", "WeightedLoss", "dfeat_loss", "distance_from_w",
           "image2stylegan_loss", "nvidia_loss", "pixel_fallback_loss", "project", "resolve_loss", "row_spread",
           "settings_for", "synthesize"]
