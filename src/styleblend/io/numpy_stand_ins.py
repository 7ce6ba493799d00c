"""Inert stand-ins for the numpy globals pickles use, each checking what the file states before allocating.

numpy pickles an array as an empty placeholder (``_reconstruct``) filled by ``BUILD`` with
``(version, shape, dtype, fortran, raw bytes)``, and a dtype as ``dtype(code, align, copy)`` plus a
``BUILD``. Here the placeholder must be numpy's empty one, the raw bytes must be exactly what the
shape and dtype announce, dtypes are always fresh copies (numpy caches the common ones, and a BUILD
on a cached one would reach every later user), and object dtypes are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CheckpointError, UnsafeCheckpointError
from .budgets import int_tuple


class NdarrayName:
    """The global ``numpy.ndarray`` as a name only: pickles pass it to ``_reconstruct``; calling it is refused.

    (``numpy.ndarray(shape)`` itself would allocate whatever shape a file states.)
    """

    def __repr__(self) -> str:
        return "numpy.ndarray"


NDARRAY = NdarrayName()


def dtype_stand_in(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype`` as pickles call it, always a fresh copy (a later BUILD must not touch numpy's cache)."""
    if not isinstance(spec, str) or len(spec) > 16:
        raise CheckpointError(f"numpy dtype {spec!r:.40} is not a short type code")
    dtype = np.dtype(spec, bool(align), True)
    if dtype.hasobject:
        raise UnsafeCheckpointError("numpy arrays of Python objects are not allowed in checkpoints")
    return dtype


def scalar_stand_in(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeCheckpointError("numpy scalar with an object dtype is not allowed")
    if data is None:
        return dtype.type()
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CheckpointError(f"a numpy scalar of dtype {dtype} has {len(data) if isinstance(data, bytes) else '?'} "
                              f"bytes, expected {dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def reconstruct_stand_in(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    # numpy pickles an array as an empty placeholder (shape (0,), dtype 'b') filled by BUILD.
    if cls is not NDARRAY:
        raise UnsafeCheckpointError(f"numpy array reconstruction of a {type(cls).__name__} is not allowed")
    if int_tuple(shape, "a numpy array's placeholder shape") not in ((0,), ()) or dtype_code not in (b"b", "b"):
        raise CheckpointError("a numpy array placeholder is not numpy's empty (0,) array")
    return np.ndarray.__new__(np.ndarray, (0,), "b")


def array_setstate(array: np.ndarray, state: Any) -> None:
    """numpy's ``ndarray.__setstate__`` after checking that the raw data has exactly the announced size."""
    if not (isinstance(state, tuple) and len(state) == 5):
        raise CheckpointError("a numpy array's state is not numpy's (version, shape, dtype, fortran, data)")
    _, shape, dtype, _, data = state
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeCheckpointError("numpy arrays of Python objects are not allowed in checkpoints")
    shape = int_tuple(shape, "a numpy array's shape")
    if any(s < 0 for s in shape):
        raise CheckpointError(f"a numpy array has a negative dimension {shape}")
    count = 1
    for s in shape:
        count *= s
    if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
        raise CheckpointError(f"a numpy array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} "
                              f"bytes but the file stores {len(data) if isinstance(data, (bytes, bytearray)) else 0}")
    array.__setstate__(state)
