"""A restricted unpickler: only inert, allow-listed globals; never imports or runs file code.

Foreign checkpoints are pickles. A pickle names Python callables (globals) that the loader calls to
rebuild objects, which is how a hostile file runs a shell command. Here every global is looked up in
an explicit table of inert stand-ins; anything else raises :class:`UnsafeCheckpointError` naming it.

The pure-Python unpickler is used (not the C one) so that every ``bytes`` object read from the
stream gets its ordinal, which lets the NVIDIA writer find a tensor's storage in the original file
and replace its bytes in place.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, UnsafeCheckpointError


@dataclass
class PersistentObject:
    """Inert stand-in for an NVIDIA ``persistent_class`` instance: its class name and ``__dict__`` state.

    The meta dict's ``module_src`` (the source code the pickle carries) is kept as a string only, to
    detect the architecture family; it is never executed, compiled or imported.
    """

    class_name: str
    version: int
    module_src: str
    state: dict[str, Any]


class EasyDictStandIn(dict):
    """Stand-in for ``dnnlib.EasyDict`` (a dict with attribute access; attribute access not needed here)."""


@dataclass
class NamespaceStandIn:
    """Stand-in for ``argparse.Namespace`` (rosinality checkpoints store their args this way)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:
        # Unpicklers create the instance with __new__ (no __init__), so 'values' may not exist yet.
        values = self.__dict__.setdefault("values", {})
        if isinstance(state, dict):
            values.update(state)


@dataclass(frozen=True)
class StorageRef:
    """Where a tensor storage came from: ordinal of its ``bytes`` blob in the pickle stream."""

    blob_index: int
    storage: torch.UntypedStorage
    dtype: torch.dtype
    blob_end: int | None = None  # file offset just past the blob (its raw data ends there)


@dataclass(frozen=True)
class TensorOrigin:
    """How a tensor views its storage, so the writer can put new values back in place."""

    storage: StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _load_storage_blob(blob: bytes) -> tuple[torch.UntypedStorage, torch.dtype]:
    """Read a storage serialised by ``torch.save(storage)`` (legacy format) with ``weights_only``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            storage = torch.load(io.BytesIO(blob), weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure here means a corrupt blob
            raise CheckpointError(f"a tensor storage in the pickle is corrupt ({type(exc).__name__}: {exc})") from None
        if not isinstance(storage, torch.storage.TypedStorage):
            raise CheckpointError(f"a tensor storage blob holds {type(storage).__name__}, not a storage")
        return storage.untyped(), storage.dtype


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeCheckpointError("numpy scalar with an object dtype is not allowed")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _numpy_reconstruct(cls: type, shape: Any, dtype_code: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafeCheckpointError(f"numpy array reconstruction of {cls!r} is not allowed")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _check_array_state(array: np.ndarray, state: tuple) -> None:
    dtype = state[2] if len(state) >= 3 else None
    if isinstance(dtype, np.dtype) and dtype.hasobject:
        raise UnsafeCheckpointError("numpy arrays of Python objects are not allowed in checkpoints")


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Unpickle with an allow-list of inert globals.

    ``extra`` adds format-specific stand-ins: {(module, name): callable or class}.
    """

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: io.BufferedIOBase, extra: dict[tuple[str, str], Any] | None = None) -> None:
        super().__init__(file)
        self._stream = file
        self.blob_count = 0
        # Only the most recent bytes object is remembered: a storage blob is always consumed by the
        # REDUCE right after it is pushed, so nothing needs to stay alive for the index to be right.
        self._last_blob: bytes | None = None
        self._last_blob_end: int | None = None
        self.tensor_origins: dict[int, TensorOrigin] = {}
        self._tensors: list[torch.Tensor] = []  # keep alive so the ids in tensor_origins stay unique
        self.allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
            ("builtins", "slice"): slice,
            ("builtins", "complex"): complex,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self._rebuild_parameter,
            ("torch.storage", "_load_from_bytes"): self._load_from_bytes,
            ("torch", "Size"): torch.Size,
            ("numpy", "dtype"): np.dtype,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy.core.multiarray", "scalar"): _numpy_scalar,
            ("numpy._core.multiarray", "scalar"): _numpy_scalar,
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        }
        if extra:
            self.allowed.update(extra)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refused to load: the file asks for the global '{module}.{name}', which is not on the "
                "allow-list of inert checkpoint types (a checkpoint must not run code)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"unexpected persistent id {pid!r} in a plain pickle checkpoint")

    # --- bytes ops are wrapped to number every bytes object in stream order ---
    def _record_blob(self) -> None:
        self._last_blob = self.stack[-1]
        self._last_blob_end = self._stream_position()
        self.blob_count += 1

    def _stream_position(self) -> int | None:
        """Offset in the file of the next unread byte, accounting for protocol-4 frames."""
        try:
            pos = self._stream.tell()
        except (AttributeError, OSError):
            return None
        frame = getattr(self._unframer, "current_frame", None)
        if frame is not None:
            here = frame.tell()
            end = frame.seek(0, io.SEEK_END)
            frame.seek(here)
            pos -= end - here
        return pos

    def _wrap(opcode: bytes) -> Callable[[Any], None]:  # type: ignore[misc]
        original = pickle._Unpickler.dispatch[opcode[0]]  # type: ignore[attr-defined]

        def handler(self: RestrictedUnpickler) -> None:
            original(self)
            self._record_blob()

        return handler

    for _op in (pickle.BINBYTES, pickle.SHORT_BINBYTES, pickle.BINBYTES8):
        dispatch[_op[0]] = _wrap(_op)
    del _op, _wrap

    def _build_guard(self) -> None:
        state = self.stack[-1]
        inst = self.stack[-2]
        if isinstance(inst, np.ndarray) and isinstance(state, tuple):
            _check_array_state(inst, state)
        pickle._Unpickler.dispatch[pickle.BUILD[0]](self)  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = _build_guard

    # --- stand-ins ---
    def _load_from_bytes(self, blob: bytes) -> StorageRef:
        if blob is not self._last_blob:
            raise CheckpointError("a tensor storage is not stored as a bytes blob right before its use")
        self._last_blob = None
        self._forget_memoized(blob)
        storage, dtype = _load_storage_blob(blob)
        return StorageRef(self.blob_count - 1, storage, dtype, self._last_blob_end)

    def _forget_memoized(self, blob: bytes) -> None:
        # The pickler memoizes every bytes object; dropping the blob once its storage is built keeps
        # peak memory near one copy of the weights instead of two.
        # The argument tuple ``(blob,)`` is memoized too.
        for key in list(self.memo)[-4:]:
            value = self.memo[key]
            if value is blob or (isinstance(value, tuple) and len(value) == 1 and value[0] is blob):
                self.memo[key] = None

    def _rebuild_tensor(self, storage: StorageRef, offset: int, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
        if not isinstance(storage, StorageRef):
            raise CheckpointError(f"tensor rebuilt from {type(storage).__name__}, expected a storage")
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        tensor = torch.empty(0, dtype=storage.dtype)
        try:
            tensor.set_(storage.storage, int(offset), size, stride)
        except RuntimeError as exc:
            raise CheckpointError(f"tensor of size {size} does not fit its storage: {exc}") from None
        self.tensor_origins[id(tensor)] = TensorOrigin(storage, int(offset), size, stride)
        self._tensors.append(tensor)
        return tensor

    def _rebuild_parameter(self, data: torch.Tensor, requires_grad: bool, *rest: Any) -> torch.Tensor:
        return data


def plain_data(value: Any) -> Any:
    """Turn unpickled numpy scalars and dict stand-ins into plain Python values (recursively)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain_data(v) for v in value)
    return value


def restricted_load(data: bytes | io.BufferedIOBase, extra: dict[tuple[str, str], Any] | None = None,
                    ) -> tuple[Any, RestrictedUnpickler]:
    """Unpickle ``data`` (bytes or a binary file) with the allow-list.

    Returns the object and the unpickler, whose ``tensor_origins`` say where each tensor's bytes are.
    """
    file = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    unpickler = RestrictedUnpickler(file, extra=extra)
    try:
        obj = unpickler.load()
    except (CheckpointError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt pickles raise many types
        raise CheckpointError(f"corrupt or truncated pickle ({type(exc).__name__}: {exc})") from None
    return obj, unpickler
