"""Every checkpoint format styleblend knows, declared once; the one place format names are spelled.

Each format is one :class:`~styleblend.io.format.Format` value below: name, label, suffixes, a
``recognise`` rule that looks only at the file, and the module that reads (and writes) it. Detection
(:func:`styleblend.io.detect.detect_format`) asks every format and accepts exactly one claim, so the
order of :data:`FORMATS` decides nothing. Other modules never spell a format's name or keep their
own suffix table: they ask this module (:func:`get_format`, :func:`format_names`,
:func:`output_format`, :func:`writable_formats`, :func:`suffix_for`).

Layers (no import cycle): ``checkpoint`` (the data) and the other core modules know no format;
``formats/*`` depend on the core only; this registry depends on ``format`` and, on first use, on
``formats/*``; ``detect``, ``files`` (load/save) and ``conversion`` sit above it. This module imports
no torch, so a command-line parser can list the formats cheaply.

How to add a format
-------------------
1. Write ``io/formats/<name>.py`` with ``read(path: Path) -> Checkpoint`` (decorate it with
   :func:`styleblend.io.reading.reader` so every failure is one line naming the file) and, if styleblend
   can write the format, ``write(ckpt: Checkpoint, out: Path) -> Path`` (atomic:
   :func:`styleblend.io.atomic.atomic_path`). Import only the core (``checkpoint``, ``reading``,
   ``safe_unpickle``, ``keymaps``...), never this registry. Foreign pickles go through the restricted
   unpickler; nothing a file names is imported or run.
2. Declare it here: a ``recognise(head: FileHead) -> bool`` that is True for exactly the files of the
   format (first bytes, a header, the modules a pickle names), a ``_codec`` function importing the
   module, and a ``Format(...)`` value added to :data:`FORMATS`.
3. Give ``tests/io/test_registry.py``'s fixture list a small file of the format: the tests check that
   exactly one format claims it, in any registry order, and that it reads back.
Nothing else changes: ``load_checkpoint``, ``save_checkpoint``, ``convert`` and the ``--format``/``--to``
choices of the commands pick the new format up from here.

A new architecture inside a container styleblend already reads - StyleGAN3 generators in NVIDIA
PyTorch pickles - is not a new format: the same rule recognises the file, and the container's reader
(``formats/nvidia_pkl.py``, which asks ``formats/nvidia_sg3.py`` for a StyleGAN3 generator's config) decides
the architecture from the file and returns a checkpoint with the matching config. A new container (e.g.
a StyleGAN3 export in another layout) is a new format, added as above.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from .format import FileHead, Format

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

# -- native: safetensors + JSON architecture ------------------------------------------------------


def _is_safetensors(head: FileHead) -> bool:
    """A safetensors container: an 8-byte little-endian header length, then that many bytes of JSON."""
    data = head.data
    if len(data) < 9 or data[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len >= head.size:
        return False
    try:
        json.loads(data[8: 8 + header_len])
    except (ValueError, RecursionError):
        return False
    return True


def _native_codec() -> ModuleType:
    from .formats import native

    return native


NATIVE = Format(name="native", label="styleblend safetensors file", suffixes=(".safetensors",),
                recognise=_is_safetensors, codec=_native_codec, writes=True)

# -- NVIDIA StyleGAN2(-ADA) PyTorch pickles -------------------------------------------------------


def _is_nvidia_torch_pickle(head: FileHead) -> bool:
    """A pickle naming NVIDIA's ``torch_utils`` (persistence), or torch/dnnlib but not TensorFlow's tflib."""
    return head.names_module("torch_utils") or (head.names_module("dnnlib", "torch")
                                                 and not head.names_module("dnnlib.tflib"))


def _nvidia_pkl_codec() -> ModuleType:
    from .formats import nvidia_pkl

    return nvidia_pkl


NVIDIA_PKL = Format(name="nvidia-pkl", label="NVIDIA PyTorch network pickle", suffixes=(".pkl",),
                    recognise=_is_nvidia_torch_pickle, codec=_nvidia_pkl_codec, writes=True, into_existing=True)

# -- NVIDIA StyleGAN2(-ADA) TensorFlow pickles ----------------------------------------------------


def _is_nvidia_tf_pickle(head: FileHead) -> bool:
    """A pickle naming NVIDIA's TensorFlow library ``dnnlib.tflib`` (its ``Network`` class)."""
    return head.names_module("dnnlib.tflib")


def _nvidia_tf_codec() -> ModuleType:
    from .formats import nvidia_tf

    return nvidia_tf


NVIDIA_TF = Format(name="nvidia-tf", label="NVIDIA TensorFlow network pickle", suffixes=(".pkl",),
                   recognise=_is_nvidia_tf_pickle, codec=_nvidia_tf_codec)

# -- rosinality stylegan2-pytorch ``torch.save`` files --------------------------------------------

#: The magic number torch's legacy (non-zip) ``torch.save`` pickles first, after the PROTO opcode.
_TORCH_LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _is_torch_save(head: FileHead) -> bool:
    """A ``torch.save`` file: a zip archive (torch >= 1.6) or the legacy stream opening with torch's magic."""
    data = head.data
    return data[:4] == b"PK\x03\x04" or (head.is_pickle
                                         and data[2: 2 + len(_TORCH_LEGACY_MAGIC)] == _TORCH_LEGACY_MAGIC)


def _rosinality_codec() -> ModuleType:
    from .formats import rosinality

    return rosinality


ROSINALITY = Format(name="rosinality", label="rosinality checkpoint", suffixes=(".pt", ".pth"),
                    recognise=_is_torch_save, codec=_rosinality_codec, writes=True)

#: Every format, in the order listed to users (detection does not depend on it).
FORMATS: tuple[Format, ...] = (NATIVE, NVIDIA_PKL, NVIDIA_TF, ROSINALITY)
#: The format written when nothing else decides: styleblend's own.
DEFAULT_FORMAT = NATIVE


def format_names(writable: bool = False) -> tuple[str, ...]:
    """Names of every format (of those styleblend writes when ``writable``), in :data:`FORMATS` order."""
    return tuple(f.name for f in FORMATS if f.writes or not writable)


def get_format(name: str) -> Format:
    """The format called ``name``.

    Raises:
        InvalidArgumentError: no such format (the message lists the names).
    """
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise InvalidArgumentError(f"unknown checkpoint format {name!r}; choose one of {list(format_names())}")


def supported_text() -> str:
    """The formats styleblend reads, as a phrase for error messages."""
    return ", ".join(f"{f.label}s ({'/'.join(f.suffixes)})" for f in FORMATS)


def writable_formats(ckpt: Checkpoint) -> list[str]:
    """Names of the formats ``ckpt`` can be written to, in :data:`FORMATS` order.

    Formats written from scratch always; a format written into an existing file (an NVIDIA pickle)
    when ``ckpt`` was read from such a file.
    """
    return [f.name for f in FORMATS if f.can_write(ckpt)]


def format_for_suffix(path: str | Path) -> Format | None:
    """The written format whose suffixes include ``path``'s (case-insensitive), or None."""
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS:
        if fmt.writes and suffix in fmt.suffixes:
            return fmt
    return None


def output_format(ckpt: Checkpoint, out: str | Path | None = None) -> str:
    """The format to write ``ckpt`` in when none is asked for.

    The suffix of ``out`` when it names a written format (.safetensors, .pkl, .pt/.pth); otherwise
    ``ckpt``'s own format when styleblend writes it; otherwise :data:`DEFAULT_FORMAT`.
    """
    by_suffix = format_for_suffix(out) if out is not None else None
    if by_suffix is not None:
        return by_suffix.name
    own = next((f for f in FORMATS if f.name == ckpt.format), None)
    return own.name if own is not None and own.writes else DEFAULT_FORMAT.name


def suffix_for(name: str) -> str:
    """The suffix a file of format ``name`` gets (e.g. for a download's file name)."""
    return get_format(name).suffixes[0]


def check_formats(formats: Sequence[Format]) -> None:
    """Internal invariants of a registry: unique names; a suffix names at most one written format."""
    names = [f.name for f in formats]
    assert len(set(names)) == len(names), f"duplicate format names in {names}"
    written = [s for f in formats if f.writes for s in f.suffixes]
    assert len(set(written)) == len(written), f"a suffix names two written formats: {written}"
    assert all(s.startswith(".") and s == s.lower() for f in formats for s in f.suffixes)


check_formats(FORMATS)
