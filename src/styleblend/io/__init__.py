"""Reading and writing checkpoints: detection, foreign formats and our native format."""

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]
