"""Load a ``torch.save`` file (zip or pre-1.6 legacy format) without running any code from it.

Two steps. First a dry run of the pickle (the zip's ``data.pkl``, or the main pickle of the legacy
format) through :class:`~styleblend.io.safe_unpickle.RestrictedUnpickler` with a small allow-list:
it resolves every global without calling anything and names the first one that is not allowed, so
a hostile file is refused with a precise message. Then ``torch.load(weights_only=True)`` loads the
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
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnsafeCheckpointError
from .safe_unpickle import NamespaceStandIn, RestrictedUnpickler

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of torch's pre-1.6 (non-zip) format
_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
_PATHS = ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")


def _path_stand_in(*parts: Any) -> str:
    """Inert stand-in for pathlib paths some forks keep in ``args``: the path as a string."""
    return posixpath.join(*(str(p) for p in parts)) if parts else ""


class _Inert:
    """Placeholder returned for tensors, storages and dtypes during the dry run."""


_INERT = _Inert()


def _inert(*_args: Any) -> _Inert:
    return _INERT


class _DryRunUnpickler(RestrictedUnpickler):
    """Resolves every global of a torch pickle against the allow-list without loading any data.

    The allow-list is a subset of what ``torch.load(weights_only=True)`` accepts plus the two inert
    stand-ins, so a file that passes here is also accepted there.
    """

    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,
            ("builtins", "set"): set,
            ("builtins", "complex"): complex,
            ("torch", "Size"): torch.Size,
            ("torch", "device"): _inert,
            ("torch._utils", "_rebuild_tensor_v2"): _inert,
            ("torch._utils", "_rebuild_tensor"): _inert,
            ("torch._utils", "_rebuild_parameter"): _inert,
            ("torch._utils", "_rebuild_parameter_with_state"): _inert,
            ("argparse", "Namespace"): NamespaceStandIn,
        }
        allowed.update({("torch", f"{kind}Storage"): _INERT for kind in _STORAGES})
        allowed.update({("torch", name): _INERT for name in _DTYPES})
        allowed.update({("pathlib", name): _path_stand_in for name in _PATHS})
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        # torch.save writes protocol 2, which spells some Python 3 names the Python 2 way (__builtin__).
        if self.proto < 3:
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        return _INERT


def _dry_run(path: Path) -> bool:
    """Check every global in the file's pickle(s); returns True for the zip format (mmap-able)."""

    def run(file: io.BufferedIOBase) -> Any:
        try:
            return _DryRunUnpickler(file).load()
        except (CheckpointError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - corrupt pickles raise many types
            raise CheckpointError(
                f"{path.name}: corrupt or truncated PyTorch file ({type(exc).__name__}: {exc})") from None

    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
                if len(names) != 1:
                    raise CheckpointError(f"{path.name} is a zip archive but not a PyTorch checkpoint (no data.pkl)")
                data = archive.read(names[0])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CheckpointError(f"{path.name}: corrupt or truncated zip file ({exc})") from None
        run(io.BytesIO(data))
        return True
    try:
        with path.open("rb") as f:
            if run(f) != _LEGACY_MAGIC:
                raise CheckpointError(f"{path.name} is a pickle but not a PyTorch checkpoint")
            run(f), run(f)  # protocol version and system info
            run(f)  # the object; tensor data follows and is not read here
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    return False


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
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path.name}: corrupt or truncated PyTorch file ({first_line})") from None
