"""What a checkpoint format is: the value each format declares in :mod:`styleblend.io.registry`.

A :class:`Format` names a format once (``name``, the spelling every module and file uses), says which
file suffixes it writes, how it recognises a file from the file alone (:class:`FileHead`), and where
its reader and writer live. Recognition and names need no torch: this module imports only the
standard library, so that argument parsers can list formats without loading PyTorch; the reading and
writing module is imported when a file is first read or written.
"""

from __future__ import annotations

import dataclasses
import pickletools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import CheckpointError, InvalidArgumentError

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

#: Bytes of a file that recognition sees (enough for any header or pickle preamble we look for).
HEAD_BYTES = 1 << 20
#: Bytes of a pickle whose opcodes are scanned for the modules it names.
PICKLE_SCAN_BYTES = 200_000


@dataclass(frozen=True)
class FileHead:
    """Everything recognition may look at: the file's name, its size and its first bytes.

    path: the file (recognisers must not open it again; its name is for messages only).
    size: its size in bytes.
    data: its first ``HEAD_BYTES`` bytes (all of it when shorter).
    """

    path: Path
    size: int
    data: bytes

    @classmethod
    def read(cls, path: Path, limit: int = HEAD_BYTES) -> FileHead:
        """The head of ``path``.

        Raises:
            CheckpointError: no such file, a directory, or an empty file.
            OSError: the file cannot be read.
        """
        if not path.exists():
            raise CheckpointError(f"{path}: no such file")
        if path.is_dir():
            raise CheckpointError(f"{path} is a directory; pass the checkpoint file")
        size = path.stat().st_size
        if size == 0:
            raise CheckpointError(f"{path.name} is empty (0 bytes); the download or copy probably failed")
        with path.open("rb") as f:
            return cls(path=path, size=size, data=f.read(limit))

    @property
    def is_pickle(self) -> bool:
        """Whether the file starts as a pickle of protocol 2 or later (the PROTO opcode)."""
        return self.data[:1] == b"\x80"

    @cached_property
    def pickle_modules(self) -> frozenset[str]:
        """Module names of the globals the (first) pickle in the file refers to; empty for other files.

        Only opcodes are scanned, nothing is loaded; a damaged or truncated stream yields what was
        named before the damage.
        """
        if not self.is_pickle:
            return frozenset()
        found: set[str] = set()
        recent: list[str] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickletools warns about odd escapes in damaged text opcodes
            try:
                for op, arg, _ in pickletools.genops(self.data[:PICKLE_SCAN_BYTES]):
                    if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                        recent = (recent + [str(arg)])[-2:]  # a text opcode's argument is a str
                    elif op.name == "STACK_GLOBAL" and len(recent) == 2:
                        found.add(recent[0])
                    elif op.name == "GLOBAL":
                        found.add(str(arg).split(" ")[0])
            except Exception:  # noqa: BLE001 - the scan window ends mid-stream in every big file
                pass
        return frozenset(found)

    def names_module(self, *prefixes: str) -> bool:
        """Whether the pickle names a global of a module starting with one of ``prefixes``."""
        return any(m.startswith(prefixes) for m in self.pickle_modules)

    def describe(self) -> str:
        """What the file looks like, for a message that no format recognised it."""
        if self.is_pickle:
            return f"a pickle naming {sorted(self.pickle_modules)[:5]}"
        return f"first bytes {self.data[:8]!r}"


@dataclass(frozen=True)
class Format:
    """One checkpoint format: its name, suffixes, how to recognise a file, how to read and write one.

    name: the one spelling of the format (``Checkpoint.format``, ``--to``/``--format`` choices, recipes).
    label: what to call a file of the format in messages, e.g. 'NVIDIA PyTorch network pickle'.
    suffixes: lower-case file suffixes with the dot; the first is the one a written file gets.
    recognise: ``FileHead -> bool``; True when the file is of this format. It looks only at the file
        (never at other formats or at the order of the registry); detection asks every format and
        accepts exactly one claim.
    codec: returns the module that implements the format, imported on first use. It has
        ``read(path: Path) -> Checkpoint`` and, when ``writes``, ``write(ckpt, out: Path) -> Path``
        (atomic). ``read`` need not set ``Checkpoint.format``: :meth:`read` stamps ``name``.
    writes: whether styleblend writes files of this format.
    into_existing: a written file is a copy of an existing file of this format with its tensors
        replaced (the checkpoint's own source, or a template), never one made from scratch.
    """

    name: str
    label: str
    suffixes: tuple[str, ...]
    recognise: Callable[[FileHead], bool]
    codec: Callable[[], ModuleType] = dataclasses.field(repr=False)
    writes: bool = False
    into_existing: bool = False

    def read(self, path: Path) -> Checkpoint:
        """Read ``path`` (already recognised as this format) into a :class:`Checkpoint` named by this format."""
        read: Callable[[Path], Checkpoint] = self.codec().read
        return dataclasses.replace(read(path), format=self.name)

    def can_write(self, ckpt: Checkpoint) -> bool:
        """Whether :meth:`write` accepts ``ckpt`` (an into-existing format needs a source of its own kind)."""
        if not self.writes:
            return False
        return not self.into_existing or (ckpt.format == self.name and ckpt.source is not None)

    def write(self, ckpt: Checkpoint, out: Path) -> Path:
        """Write ``ckpt`` to ``out`` atomically in this format.

        Raises:
            InvalidArgumentError: the format is read-only.
            CheckpointError: an into-existing format, and ``ckpt`` was not read from a file of it.
        """
        if not self.writes:
            raise InvalidArgumentError(f"styleblend reads {self.label}s but does not write them ('{self.name}'); "
                                       "write another format")
        if not self.can_write(ckpt):
            raise CheckpointError(
                f"writing {self.name} needs an original {self.label} to put the tensors into, but this checkpoint "
                f"comes from {ckpt.describe()}; write another format, or put its tensors into an existing "
                f"{self.label} of the "
                f"same architecture as `template`: convert_checkpoint(ckpt, out, '{self.name}', template=FILE)",
                param="template")
        write: Callable[[Checkpoint, Path], Path] = self.codec().write
        return write(ckpt, out)
