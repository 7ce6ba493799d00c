"""A restricted unpickler: only inert, allow-listed globals; never imports or runs file code.

Foreign checkpoints are pickles. A pickle names Python callables (globals) that the loader calls to
rebuild objects, which is how a hostile file runs a shell command. Here every global is looked up in
an explicit table of inert stand-ins; anything else raises :class:`UnsafeCheckpointError` naming it.

Beyond code execution, a pickle is a program that can exhaust memory or change shared state, so:

* **Stand-ins are inert.** ``BUILD`` (pickle's ``__setstate__``/``setattr`` step) is allowed only on
  fresh instances this load created (numpy arrays and dtypes, stand-in instances); never on a
  class, a function or any other shared object, so no file can change how a later file loads.
* **A file's numbers are claims, checked before allocation**: every length an opcode states against
  the file's size, every tensor view against its storage, every numpy array against its bytes, the
  expansion of shared (memoized) sub-objects and the nesting depth against :data:`MAX_NODES` and
  :data:`MAX_DEPTH` (so "billion laughs" pickles and self-references are refused, and code that
  walks the result recursively cannot hit a ``RecursionError``).

The pure-Python unpickler is used (not the C one) so that every ``bytes`` object read from the
stream gets its ordinal, which lets the NVIDIA writer find a tensor's storage in the original file
and replace its bytes in place.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import CheckpointError, UnsafeCheckpointError

# Budgets and checks re-exported (``name as name``) for the readers that import them from here.
from .budgets import MAX_DEPTH as MAX_DEPTH
from .budgets import MAX_HASH_WORK
from .budgets import MAX_NODES as MAX_NODES
from .budgets import check_graph as check_graph
from .budgets import check_view as check_view
from .budgets import one_line as one_line
from .numpy_stand_ins import NDARRAY, array_setstate, dtype_stand_in, reconstruct_stand_in, scalar_stand_in

# Legacy ``torch.save`` storage class names -> element dtype.
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "UntypedStorage": torch.uint8,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of torch's pre-1.6 (non-zip) format
LEGACY_PROTOCOL = 1001


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


class EasyDictStandIn(dict[Any, Any]):
    """Stand-in for ``dnnlib.EasyDict`` (a dict with attribute access; attribute access not needed here).

    No instance attributes (``__slots__ = ()``): everything an EasyDict holds is in its items.
    """

    __slots__ = ()


@dataclass
class NamespaceStandIn:
    """Stand-in for ``argparse.Namespace`` (rosinality checkpoints store their args this way)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:
        # Unpicklers create the instance with __new__ (no __init__), so 'values' may not exist yet.
        values = self.__dict__.setdefault("values", {})
        if isinstance(state, dict):
            values.update({k: v for k, v in state.items() if isinstance(k, str)})


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


# ------------------------------------------------------------------------------------ storage blobs


def _load_storage_blob(blob: bytes) -> tuple[torch.UntypedStorage, torch.dtype]:
    """Read a storage serialised by ``torch.save(storage)`` (torch's legacy format) from a bytes blob.

    The format is four small pickles (magic number, protocol version, system info, the storage as a
    persistent id ``('storage', StorageClass, key, location, numel, None)``), a pickle with the list
    of keys, then ``numel`` as int64 and the raw little-endian data. It is parsed here rather than by
    ``torch.load`` so that the element count is checked against the blob's real length before any
    memory is allocated, and every error is one line.
    """
    stream = io.BytesIO(blob)
    unpickler = _BlobHeaderUnpickler(stream)  # one instance reads the header pickles one after another

    def header() -> Any:
        try:
            return unpickler.load()
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here means a corrupt blob
            raise CheckpointError(f"a tensor storage in the pickle is corrupt ({one_line(exc)})") from None

    if header() != LEGACY_MAGIC or header() != LEGACY_PROTOCOL:
        raise CheckpointError("a tensor storage blob is not in torch's legacy storage format")
    info = header()
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise CheckpointError("a tensor storage blob is not a little-endian torch storage")
    obj = header()
    pid = obj[1] if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "persistent" else None
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
            and isinstance(pid[4], int) and not isinstance(pid[4], bool) and (len(pid) < 6 or pid[5] is None)):
        raise CheckpointError("a tensor storage blob does not hold exactly one whole storage")
    dtype, key, numel = pid[1], pid[2], pid[4]
    if header() != [key]:
        raise CheckpointError("a tensor storage blob's key list does not match its storage")
    size_field = stream.read(8)
    if len(size_field) != 8 or struct.unpack("<q", size_field)[0] != numel or numel < 0:
        raise CheckpointError("a tensor storage blob's element count is inconsistent")
    nbytes = numel * torch.empty(0, dtype=dtype).element_size()
    start = stream.tell()
    if len(blob) - start != nbytes:
        raise CheckpointError(f"a tensor storage blob announces {nbytes} bytes of data but holds {len(blob) - start}")
    # A writable copy: the tensors handed out may be modified in place, the bytes object must not be.
    data = (torch.frombuffer(bytearray(memoryview(blob)[start:]), dtype=torch.uint8) if nbytes
            else torch.empty(0, dtype=torch.uint8))
    return data.untyped_storage(), dtype


# --------------------------------------------------------------------------------- the unpickler


def _file_size(file: Any) -> int:
    """Size of the file behind ``file`` (without copying a BytesIO's buffer, as getbuffer() would)."""
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        here = file.tell()
        end: int = file.seek(0, io.SEEK_END)
        file.seek(here)
        return end


# The pure-Python unpickler's opcode table; its handlers take any unpickler built on it (typeshed says Unpickler).
_PY_DISPATCH: dict[int, Callable[[Any], None]] = pickle._Unpickler.dispatch


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickle with an allow-list of inert globals and size budgets (see the module docstring).

    ``extra`` adds format-specific stand-ins: {(module, name): callable or class}. A class listed
    there gets ``BUILD`` only if it defines ``__setstate__`` (which then must accept any value).
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(_PY_DISPATCH)
    # State the pure-Python unpickler creates in __init__ and load(); typeshed does not declare it.
    read: Callable[[int], bytes]
    append: Callable[[Any], None]
    stack: list[Any]
    memo: dict[int, Any]
    proto: int
    _unframer: Any
    _decode_string: Callable[[bytes], Any]
    pop_mark: Callable[[], list[Any]]

    def __init__(self, file: io.BufferedIOBase, extra: dict[tuple[str, str], Any] | None = None) -> None:
        super().__init__(file)
        self._stream = file
        self._file_size = _file_size(file)
        self.blob_count = 0
        # Only the most recent bytes object is remembered: a storage blob is always consumed by the
        # REDUCE right after it is pushed, so nothing needs to stay alive for the index to be right.
        self._last_blob: bytes | None = None
        self._last_blob_end: int | None = None
        self.tensor_origins: dict[int, TensorOrigin] = {}
        self._tensors: list[torch.Tensor] = []  # keep alive so the ids in tensor_origins stay unique
        # Objects created by calling an allowed global in this load (kept alive so ids stay unique):
        # only these may receive BUILD.
        self._fresh: dict[int, Any] = {}
        # Expanded item counts of tuples that contain tuples (kept alive for the same reason).
        self._tuple_sizes: dict[int, tuple[tuple[Any, ...], int]] = {}
        self._hash_work = 0
        self.allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): self._ordered_dict,
            ("builtins", "set"): self._set,
            ("builtins", "frozenset"): self._frozenset,
            ("builtins", "slice"): slice,
            ("builtins", "complex"): complex,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self._rebuild_parameter,
            ("torch.storage", "_load_from_bytes"): self._load_from_bytes,
            ("torch", "Size"): torch.Size,
            ("numpy", "dtype"): dtype_stand_in,
            ("numpy", "ndarray"): NDARRAY,
            ("numpy.core.multiarray", "scalar"): scalar_stand_in,
            ("numpy._core.multiarray", "scalar"): scalar_stand_in,
            ("numpy.core.multiarray", "_reconstruct"): reconstruct_stand_in,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct_stand_in,
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
        raise UnsafeCheckpointError(f"unexpected persistent id (a {type(pid).__name__}) in a plain pickle checkpoint")

    # --- lengths stated by opcodes are checked against the file before anything is read ---
    def _declared(self, fmt: str, op: str) -> int:
        raw = self.read(struct.calcsize(fmt))
        if len(raw) != struct.calcsize(fmt):
            raise CheckpointError("the pickle is truncated")
        n: int
        (n,) = struct.unpack(fmt, raw)
        if n < 0 or n > self._file_size:
            raise CheckpointError(f"the pickle's {op} opcode announces {n} bytes but the whole file has "
                                  f"{self._file_size}; the file is corrupt")
        return n

    def _read_exact(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise CheckpointError("the pickle is truncated")
        return data

    def _push_blob(self, n: int) -> None:
        self.append(self._read_exact(n))
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

    def _op_short_binbytes(self) -> None:
        self._push_blob(self.read(1)[0])

    def _op_binbytes(self) -> None:
        self._push_blob(self._declared("<I", "BINBYTES"))

    def _op_binbytes8(self) -> None:
        self._push_blob(self._declared("<Q", "BINBYTES8"))

    def _op_bytearray8(self) -> None:
        self.append(bytearray(self._read_exact(self._declared("<Q", "BYTEARRAY8"))))

    def _op_binunicode(self) -> None:
        self.append(str(self._read_exact(self._declared("<I", "BINUNICODE")), "utf-8", "surrogatepass"))

    def _op_binunicode8(self) -> None:
        self.append(str(self._read_exact(self._declared("<Q", "BINUNICODE8")), "utf-8", "surrogatepass"))

    def _op_binstring(self) -> None:
        self.append(self._decode_string(self._read_exact(self._declared("<i", "BINSTRING"))))

    def _op_long4(self) -> None:
        self.append(pickle.decode_long(self._read_exact(self._declared("<i", "LONG4"))))

    def _op_frame(self) -> None:
        self._unframer.load_frame(self._declared("<Q", "FRAME"))

    # --- BUILD only on fresh instances of types that take it harmlessly ---
    def _op_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if self._fresh.get(id(inst)) is not inst or isinstance(inst, type):
            raise UnsafeCheckpointError(
                f"refused to load: the file tries to set the state of a shared {type(inst).__name__} "
                f"('{getattr(inst, '__name__', type(inst).__name__)}'); a checkpoint may only fill objects it creates")
        if isinstance(inst, np.ndarray):
            array_setstate(inst, state)
        elif isinstance(inst, np.dtype):
            inst.__setstate__(state)  # type: ignore[attr-defined]  # numpy's stubs leave out dtype.__setstate__
            if inst.hasobject or inst.itemsize > self._file_size:
                raise CheckpointError(f"a numpy dtype announces {inst.itemsize}-byte items (or Python objects)")
        elif type(inst) is collections.OrderedDict:
            # torch state dicts carry a '_metadata' attribute (per-module versions): plain instance data.
            attrs = state[0] if isinstance(state, tuple) and len(state) == 2 and state[1] is None else state
            if not isinstance(attrs, dict) or not all(isinstance(k, str) and not k.startswith("__") for k in attrs):
                raise CheckpointError("an OrderedDict's attribute state is malformed")
            inst.__dict__.update(attrs)
        elif isinstance(inst, EasyDictStandIn):
            if state:  # an EasyDict keeps everything in its items; attributes beside them are never written
                raise CheckpointError("an EasyDict carries attribute state; the file is corrupt")
        elif type(inst) in {v for v in self.allowed.values() if isinstance(v, type)} \
                and "__setstate__" in vars(type(inst)):
            inst.__setstate__(state)  # type: ignore[union-attr]  # inst is the stack top, never None here
        else:
            raise UnsafeCheckpointError(f"refused to load: the file tries to set the state of a "
                                        f"{type(inst).__name__}, which checkpoints never do")

    def _fresh_result(self) -> None:
        obj = self.stack[-1]
        if (isinstance(obj, (np.ndarray, np.dtype, collections.OrderedDict))
                or type(obj).__module__.startswith("styleblend")):
            self._fresh[id(obj)] = obj

    def _wrap_creator(opcode: bytes) -> Callable[[Any], None]:  # type: ignore[misc]
        original = _PY_DISPATCH[opcode[0]]

        def handler(self: RestrictedUnpickler) -> None:
            original(self)
            self._fresh_result()

        return handler

    # --- hashing cost of dict keys and set items (tuples hash all nested tuples, uncached) ---
    def _size_of(self, value: Any) -> int:
        if type(value) is tuple:
            known = self._tuple_sizes.get(id(value))
            return known[1] if known is not None and known[0] is value else 1 + len(value)
        return 1

    def _charge(self, keys: Iterable[Any]) -> None:
        self._hash_work += sum(self._size_of(k) for k in keys)
        if self._hash_work > MAX_HASH_WORK:
            raise CheckpointError(f"building the pickle's dict keys and sets takes over {MAX_HASH_WORK} steps "
                                  "(shared tuples used as keys over and over); the file is corrupt or hostile")

    def _new_tuple(self, items: tuple[Any, ...]) -> tuple[Any, ...]:
        size = 1 + sum(self._size_of(v) for v in items)
        if size > MAX_NODES:
            raise CheckpointError(f"a tuple in the pickle expands to over {MAX_NODES} items through shared "
                                  "references; the file is corrupt or hostile")
        if size > 1 + len(items):
            self._tuple_sizes[id(items)] = (items, size)
        return items

    def _op_tuple(self) -> None:
        items = tuple(self.pop_mark())  # before looking up self.append: pop_mark rebinds it
        self.append(self._new_tuple(items))

    def _op_tuple_n(n: int) -> Callable[[Any], None]:  # type: ignore[misc]
        def handler(self: RestrictedUnpickler) -> None:
            if len(self.stack) < n:
                raise CheckpointError("the pickle is corrupt (a tuple opcode finds too few items)")
            items = tuple(self.stack[len(self.stack) - n:])
            del self.stack[len(self.stack) - n:]
            self.append(self._new_tuple(items))

        return handler

    def _op_setitem(self) -> None:
        self._charge([self.stack[-2]])
        _PY_DISPATCH[pickle.SETITEM[0]](self)

    def _op_setitems(self) -> None:
        self._charge(self.stack[::2])
        _PY_DISPATCH[pickle.SETITEMS[0]](self)

    def _op_dict(self) -> None:
        self._charge(self.stack[::2])
        _PY_DISPATCH[pickle.DICT[0]](self)

    def _op_additems(self) -> None:
        self._charge(self.stack)
        _PY_DISPATCH[pickle.ADDITEMS[0]](self)

    def _op_frozenset(self) -> None:
        self._charge(self.stack)
        _PY_DISPATCH[pickle.FROZENSET[0]](self)

    # (MARK-delimited opcodes run with 'stack' holding just their items: pickle's MARK starts a new
    # stack and pop_mark restores the enclosing one, whose top is the dict or set being filled.)

    for _op, _handler in ((pickle.SHORT_BINBYTES, _op_short_binbytes), (pickle.BINBYTES, _op_binbytes),
                          (pickle.BINBYTES8, _op_binbytes8), (pickle.BYTEARRAY8, _op_bytearray8),
                          (pickle.BINUNICODE, _op_binunicode), (pickle.BINUNICODE8, _op_binunicode8),
                          (pickle.BINSTRING, _op_binstring), (pickle.LONG4, _op_long4), (pickle.FRAME, _op_frame),
                          (pickle.BUILD, _op_build), (pickle.TUPLE, _op_tuple), (pickle.TUPLE1, _op_tuple_n(1)),
                          (pickle.TUPLE2, _op_tuple_n(2)), (pickle.TUPLE3, _op_tuple_n(3)),
                          (pickle.SETITEM, _op_setitem), (pickle.SETITEMS, _op_setitems), (pickle.DICT, _op_dict),
                          (pickle.ADDITEMS, _op_additems), (pickle.FROZENSET, _op_frozenset)):
        dispatch[_op[0]] = _handler
    for _op in (pickle.REDUCE, pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.OBJ, pickle.INST):
        dispatch[_op[0]] = _wrap_creator(_op)
    del _op, _handler, _wrap_creator, _op_tuple_n

    # --- stand-ins ---
    def _ordered_dict(self, items: Any = ()) -> collections.OrderedDict[Any, Any]:
        items = list(items.items()) if isinstance(items, dict) else list(items)
        self._charge(k[0] if isinstance(k, (tuple, list)) and k else k for k in items)
        return collections.OrderedDict(items)

    def _set(self, items: Any = ()) -> set[Any]:
        items = list(items)
        self._charge(items)
        return set(items)

    def _frozenset(self, items: Any = ()) -> frozenset[Any]:
        items = list(items)
        self._charge(items)
        return frozenset(items)

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

    def _rebuild_tensor(self, storage: StorageRef, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
        if not isinstance(storage, StorageRef):
            raise CheckpointError(f"tensor rebuilt from {type(storage).__name__}, expected a storage")
        numel = storage.storage.nbytes() // torch.empty(0, dtype=storage.dtype).element_size()
        offset, size, stride = check_view(numel, offset, size, stride)
        tensor = torch.empty(0, dtype=storage.dtype)
        tensor.set_(storage.storage, offset, size, stride)
        self.tensor_origins[id(tensor)] = TensorOrigin(storage, offset, size, stride)
        self._tensors.append(tensor)
        return tensor

    def _rebuild_parameter(self, data: torch.Tensor, requires_grad: Any = False, *rest: Any) -> torch.Tensor:
        if not isinstance(data, torch.Tensor):
            raise CheckpointError(f"a parameter is rebuilt from {type(data).__name__}, not a tensor")
        return data


class _BlobHeaderUnpickler(RestrictedUnpickler):
    """Reads the small header pickles of a legacy ``torch.save(storage)`` blob: storage classes only."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.allowed = {("torch", name): dtype for name, dtype in STORAGE_DTYPES.items()}

    def persistent_load(self, pid: Any) -> Any:
        return ("persistent", pid)


def plain_data(value: Any) -> Any:
    """Turn unpickled numpy scalars and dict stand-ins into plain Python values (recursively).

    Call it on graphs that passed :func:`check_graph` (as everything :func:`restricted_load` returns has).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain_data(v) for v in value)
    return value


def restricted_load(data: bytes | io.BufferedIOBase, extra: dict[tuple[str, str], Any] | None = None,
                    ) -> tuple[Any, RestrictedUnpickler]:
    """Unpickle ``data`` (bytes or a binary file) with the allow-list and the budgets.

    Returns the object and the unpickler, whose ``tensor_origins`` say where each tensor's bytes are.

    Raises:
        UnsafeCheckpointError: a global outside the allow-list, or an attempt to modify a shared object.
        CheckpointError: anything else wrong with the pickle, as one line.
    """
    file = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    unpickler = RestrictedUnpickler(file, extra=extra)
    try:
        obj = unpickler.load()
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt pickles raise many types
        raise CheckpointError(f"corrupt or truncated pickle ({one_line(exc)})") from None
    check_graph(obj, "the pickle")
    return obj, unpickler
