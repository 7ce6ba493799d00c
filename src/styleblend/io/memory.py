"""The C heap's policy: give freed memory back to the system after loading, keep it during optimisation loops.

Why: reading a checkpoint allocates every network the file holds (an NVIDIA snapshot: G, G_ema and D, about
357 MB at 256 px config-f), while rendering needs one copy of one of them. glibc keeps freed blocks in its
heap for reuse, so without a trim the process stays at its reading peak and adds the rendering on top
(measured: 888 MiB peak for `generate` at 256 px against 576 MiB after a trim; docs/benchmarks.md).

The opposite holds inside a projection: every step allocates and frees the same large activation tensors, and
glibc hands blocks above its mmap threshold back to the system at once, so each step faults the same pages in
again (about a fifth of a 256 px step's CPU time, docs/benchmarks.md). :func:`keep_freed_memory` keeps them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

# glibc's mallopt parameters (malloc.h) and their documented defaults.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_DEFAULT_TRIM_THRESHOLD = _DEFAULT_TOP_PAD = _DEFAULT_MMAP_THRESHOLD = 128 * 1024
# Kept while an optimisation loop runs: blocks up to 1 GiB come from the heap, and up to 4 GiB of free heap stays.
_KEEP_MMAP_THRESHOLD, _KEEP_TRIM_THRESHOLD, _KEEP_TOP_PAD = 2**30, 2**32 - 1, 2**28


@cache
def _libc_function(name: str) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """A glibc function (``malloc_trim``, ``mallopt``), or None where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, name, None)
    except OSError:
        return None


def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    return _libc_function("malloc_trim")


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


@contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """Within the block, keep freed blocks in the C heap for reuse instead of returning them to the system; on
    exit, restore glibc's default thresholds and trim. Yields whether the policy could be set (glibc only).

    For loops that allocate the same large tensors every step (a projection). glibc's thresholds are fixed at
    their defaults afterwards (setting one turns off glibc's dynamic mmap threshold), so use it around a
    command's main loop, not in a long-lived process.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        yield False
        return
    ok = all(mallopt(param, value) == 1 for param, value in ((_M_MMAP_THRESHOLD, _KEEP_MMAP_THRESHOLD),
                                                             (_M_TRIM_THRESHOLD, _KEEP_TRIM_THRESHOLD),
                                                             (_M_TOP_PAD, _KEEP_TOP_PAD)))
    try:
        yield ok
    finally:
        for param, value in ((_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD),
                             (_M_TOP_PAD, _DEFAULT_TOP_PAD)):
            mallopt(param, value)
        return_freed_memory()
