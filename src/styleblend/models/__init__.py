"""The bundled models: a 64 px emoji base (Noto style), its transfer to Twemoji style and a third style
(Microsoft Fluent Emoji 3D) fine-tuned from the same base snapshot, for N-model blends.

All are EMA generators in styleblend's native format (float16 weights), trained on CPU with
styleblend's own ``train`` command (see ``scripts/train_bundled.sh``). Image credits are in
``ATTRIBUTION.md`` beside them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import MissingWeightsError
from ..io.checkpoint import Checkpoint

BUNDLED = {
    "base": "emoji64-noto.safetensors",
    "transfer": "emoji64-twemoji.safetensors",
    "fluent3d": "emoji64-fluent3d.safetensors",
}


def bundled_path(name: str) -> Path:
    """Path of a bundled model file: ``name`` is 'base', 'transfer' or 'fluent3d'."""
    if name not in BUNDLED:
        raise MissingWeightsError(f"no bundled model named {name!r}; choose one of {sorted(BUNDLED)}")
    path = Path(str(resources.files(__package__) / BUNDLED[name]))
    if not path.exists():
        raise MissingWeightsError(
            f"the bundled model file {path.name} is missing from this installation; reinstall styleblend "
            "or pass your own checkpoints")
    return path


def bundled_checkpoint(name: str) -> Checkpoint:
    """Load a bundled model ('base', 'transfer' or 'fluent3d')."""
    from ..io import load_checkpoint

    return load_checkpoint(bundled_path(name))


#: The encoder trained for the bundled base (``styleblend encoder train``; image -> W+ of the base).
BUNDLED_ENCODER = "emoji64-noto-encoder.safetensors"


def bundled_encoder_path() -> Path | None:
    """Path of the encoder bundled for the bundled base, or None when this installation has none."""
    path = Path(str(resources.files(__package__) / BUNDLED_ENCODER))
    return path if path.is_file() else None


#: A feature head for the bundled encoder (``styleblend encoder train-features``): with it the encoder's
#: prediction is W+ plus the base's 16 px feature map (``--feature-head bundled``; see docs/projection.md).
BUNDLED_FEATURE_HEAD = "emoji64-noto-encoder-fs16.safetensors"


def bundled_feature_head_path() -> Path | None:
    """Path of the feature head bundled for the bundled encoder, or None when this installation has none."""
    path = Path(str(resources.files(__package__) / BUNDLED_FEATURE_HEAD))
    return path if path.is_file() else None


def resolve_feature_head(value: str | Path | None) -> Path | None:
    """``value`` as a feature head file: None stays None, 'bundled' is :func:`bundled_feature_head_path`.

    Raises:
        MissingWeightsError: 'bundled' in an installation without the file.
    """
    if value is None or str(value) != "bundled":
        return None if value is None else Path(value)
    path = bundled_feature_head_path()
    if path is None:
        raise MissingWeightsError(f"this installation has no bundled feature head ({BUNDLED_FEATURE_HEAD}); pass a "
                                  "file from 'styleblend encoder train-features'")
    return path
