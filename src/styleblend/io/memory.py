"""Giving freed memory back to the system, so that a command's peak is what it holds, not what it once read.

Why: reading a checkpoint allocates every network the file holds (an NVIDIA snapshot: G, G_ema and D, about
357 MB at 256 px config-f), while rendering needs one copy of one of them. glibc keeps freed blocks in its
heap for reuse, so without a trim the process stays at its reading peak and adds the rendering on top
(measured: 888 MiB peak for `generate` at 256 px against 576 MiB after a trim; docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's ``malloc_trim``, or None where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, "malloc_trim", None)
    except OSError:
        return None


def return_freed_memory() -> bool:
    """Collect garbage and hand the C heap's free memory back to the system (glibc's ``malloc_trim(0)``).

    Returns whether a trim ran (False where the C library has none; collecting still happened).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
