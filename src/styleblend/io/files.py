"""Reading and writing checkpoint files of any registered format.

``load_checkpoint`` detects the format from the file's content and hands the file to that format's
reader; ``save_checkpoint`` hands a checkpoint to the writer of the format asked for. Both know
formats only through :mod:`styleblend.io.registry`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InvalidArgumentError
from .checkpoint import Checkpoint
from .detect import detect_file_format
from .registry import DEFAULT_FORMAT, format_names, get_format

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint of any supported format (detected from its content, not its name), a hub-style
    model folder, or a Hugging Face Hub repository ``owner/name[@revision]`` (see :mod:`styleblend.io.hub`).

    Raises:
        CheckpointError: missing, empty, corrupt, truncated or unknown file.
        UnsafeCheckpointError: the file asks to run code or use a non-allow-listed global.
        UnsupportedArchitectureError: e.g. a constructor kwarg or a StyleGAN3 layer design styleblend does not
            reproduce.
    """
    from .hub import read_folder, resolve_pretrained

    folder = resolve_pretrained(path)  # a hub-style model folder, or a Hub repository 'owner/name[@revision]'
    if folder is not None:
        return read_folder(folder)
    path = Path(path)
    ckpt = detect_file_format(path).read(path)
    log.info("loaded %s", ckpt.describe())
    return ckpt


def save_checkpoint(ckpt: Checkpoint, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``ckpt`` atomically in the format named ``fmt`` (default: styleblend's own).

    A format written into an existing file (an NVIDIA pickle) copies ``ckpt.source`` and replaces its
    tensors, so NVIDIA's tools load the result; styleblend never writes code of its own into a pickle.
    To put a network into another such file, use :func:`styleblend.io.conversion.convert_checkpoint`
    with a template.

    Raises:
        InvalidArgumentError: ``fmt`` is not a format styleblend writes.
        CheckpointError: ``fmt`` is written into an existing file, and ``ckpt`` was not read from one.
    """
    name = fmt or DEFAULT_FORMAT.name
    if name not in format_names(writable=True):
        raise InvalidArgumentError(f"cannot write format {name!r}; choose one of {sorted(format_names(writable=True))}")
    return get_format(name).write(ckpt, Path(path))

