"""Load a ``torch.save`` file (zip or pre-1.6 legacy format) without running any code from it.

Two steps. First a dry run of the pickle (the zip's ``data.pkl``, or the main pickle of the legacy
format) through :class:`~styleblend.io.safe_unpickle.RestrictedUnpickler` with a small allow-list:
it resolves every global without calling anything and names the first one that is not allowed, so
a hostile file is refused with a precise message; it also checks every size the pickle states
(storage element counts against the bytes the file has for them, tensor views against their
storages, zip records against the file) before torch allocates anything, and the nesting and
expansion budgets of :func:`~styleblend.io.safe_unpickle.check_graph`. Then ``torch.load(weights_only=True)`` loads the
tensors - a second, independent line of defence - with ``argparse.Namespace`` and pathlib paths
resolved to inert stand-ins through ``torch.serialization.safe_globals``, a context manager, so
nothing global stays changed.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import posixpath
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnsafeCheckpointError
from .reading import reader
from .safe_unpickle import (
    LEGACY_MAGIC,
    STORAGE_DTYPES,
    NamespaceStandIn,
    RestrictedUnpickler,
    check_graph,
    check_view,
    one_line,
)

_PATHS = ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


def _path_stand_in(*parts: Any) -> str:
    """Inert stand-in for pathlib paths some forks keep in ``args``: the path as a string."""
    return posixpath.join(*(str(p) for p in parts)) if parts else ""


@dataclass(frozen=True)
class _Storage:
    """What the dry run knows of a storage: its element count (as the file states it) and dtype."""

    numel: int
    dtype: torch.dtype


class _Inert:
    """Placeholder for a tensor or device during the dry run (a fresh one each time: nothing is shared)."""


def _inert(*_args: Any) -> _Inert:
    return _Inert()


class _DryRunUnpickler(RestrictedUnpickler):
    """Resolves every global of a torch pickle against the allow-list and checks every stated size.

    The allow-list is a subset of what ``torch.load(weights_only=True)`` accepts plus the inert
    stand-ins, so a file that passes here is also accepted there. ``storage_bytes(key, nbytes)``
    checks a storage's stated size against the bytes the file really has for it.
    """

    def __init__(self, file: io.BufferedIOBase, storage_bytes: Callable[[str, int], None]) -> None:
        super().__init__(file)
        self._storage_bytes = storage_bytes
        self._storages: dict[str, _Storage] = {}
        allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): self._ordered_dict,
            ("builtins", "set"): self._set,
            ("builtins", "complex"): complex,
            ("torch", "Size"): torch.Size,
            ("torch", "device"): _inert,
            ("torch._utils", "_rebuild_tensor_v2"): self._check_tensor,
            ("torch._utils", "_rebuild_tensor"): self._check_tensor,
            ("torch._utils", "_rebuild_parameter"): _inert,
            ("torch._utils", "_rebuild_parameter_with_state"): _inert,
            ("argparse", "Namespace"): NamespaceStandIn,
        }
        allowed.update({("torch", name): dtype for name, dtype in STORAGE_DTYPES.items()})
        allowed.update({("torch", name): _Inert() for name in _DTYPES})
        allowed.update({("pathlib", name): _path_stand_in for name in _PATHS})
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        # torch.save writes protocol 2, which spells some Python 3 names the Python 2 way (__builtin__).
        if self.proto < 3:
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        """``('storage', StorageClass, key, location, numel[, view_metadata])``: check numel before torch allocates."""
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], torch.dtype) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0):
            raise CheckpointError(f"unexpected persistent id (a {type(pid).__name__}, not a tensor storage)")
        dtype, key, numel = pid[1], pid[2], pid[4]
        known = self._storages.get(key)
        if known is not None and known != _Storage(numel, dtype):
            raise CheckpointError(f"storage '{key:.20}' is announced twice with different sizes")
        if known is None:
            self._storage_bytes(key, numel * torch.empty(0, dtype=dtype).element_size())
            self._storages[key] = known = _Storage(numel, dtype)
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # legacy views: (view_key, offset, view_numel) inside the root storage
            if not (isinstance(view, tuple) and len(view) == 3):
                raise CheckpointError("a storage view of the file is malformed")
            offset, view_numel = check_view(numel, view[1], (view[2],), (1,), "a storage view")[:2]
            return _Storage(view_numel[0], dtype)
        return known

    def _check_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> _Inert:
        if not isinstance(storage, _Storage):
            raise CheckpointError(f"a tensor is rebuilt from {type(storage).__name__}, not a storage")
        check_view(storage.numel, offset, size, stride)
        return _Inert()


def _dry_run(path: Path) -> bool:
    """Check every global and every stated size in the file's pickle(s); True for the zip format."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None

    def run(file: io.BufferedIOBase, storage_bytes: Callable[[str, int], None]) -> Any:
        try:
            obj = _DryRunUnpickler(file, storage_bytes).load()
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt pickles raise many types
            raise CheckpointError(f"corrupt or truncated PyTorch file ({one_line(exc)})") from None
        check_graph(obj, "the PyTorch file")
        return obj

    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                infos = {info.filename: info for info in archive.infolist()}
                names = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
                if len(names) != 1:
                    raise CheckpointError("a zip archive but not a PyTorch checkpoint (no data.pkl)")
                for info in infos.values():
                    # torch writes every record uncompressed; a compressed one could inflate to anything.
                    if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
                        raise CheckpointError(f"zip record '{info.filename[:60]}' is compressed or larger than "
                                              "the file; PyTorch never writes such records")
                prefix = names[0][: -len("data.pkl")]

                def record_bytes(key: str, nbytes: int) -> None:
                    info = infos.get(f"{prefix}data/{key}")
                    if info is None or info.file_size < nbytes:
                        have = "no record" if info is None else f"{info.file_size} bytes"
                        raise CheckpointError(f"a storage announces {nbytes} bytes but the file has {have} for it")

                data = archive.read(names[0])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, NotImplementedError) as exc:
            raise CheckpointError(f"corrupt or truncated zip file ({one_line(exc)})") from None
        run(io.BytesIO(data), record_bytes)
        return True

    total, seen = [0], set()

    def legacy_bytes(key: str, nbytes: int) -> None:
        # The legacy format appends every storage's data after the pickles: together they fit the file.
        seen.add(key)
        total[0] += nbytes
        if total[0] > size:
            raise CheckpointError(f"the storages announce {total[0]} bytes but the whole file has {size}")

    def no_storage(_key: str, _nbytes: int) -> None:
        raise CheckpointError("a storage in the header of a PyTorch file")

    try:
        with path.open("rb") as f:
            if run(f, no_storage) != LEGACY_MAGIC:
                raise CheckpointError("a pickle but not a PyTorch checkpoint")
            run(f, no_storage), run(f, no_storage)  # protocol version and system info
            run(f, legacy_bytes)  # the object
            keys = run(f, no_storage)  # the keys of the storages whose data follows (not read here)
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or set(keys) != seen:
                raise CheckpointError("the storage key list does not match the storages the file uses")
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    return False


@reader("PyTorch file")
def safe_torch_load(path: Path) -> Any:
    """Load a ``torch.save`` file on the CPU; tensors, dicts, lists and plain values only.

    ``argparse.Namespace`` objects come back as :class:`NamespaceStandIn` (their attributes in
    ``.values``) and pathlib paths as strings. Zip-format files are memory-mapped; clone the tensors
    you keep if the file may change.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside the allow-list (the name is given).
        CheckpointError: the file is missing, corrupt, truncated or not a PyTorch file.
    """
    zipped = _dry_run(path)
    stand_ins: list[Any] = [(NamespaceStandIn, "argparse.Namespace")]
    stand_ins += [(_path_stand_in, f"pathlib.{name}") for name in _PATHS]
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(stand_ins):
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        detail = re.search(r"[^\n]*(GLOBAL|Unsupported|unrecognized)[^\n]*", str(exc))
        raise UnsafeCheckpointError(
            f"refused to load {path.name}: torch's weights-only loader rejected it "
            f"({detail.group(0).strip() if detail else type(exc).__name__})") from None
    except (CheckpointError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises many types, with multi-line advice we never show
        raise CheckpointError(f"{path.name}: corrupt or truncated PyTorch file ({one_line(exc)})") from None
