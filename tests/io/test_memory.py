"""Letting go of a checkpoint's tensors for render-only commands, and returning freed memory to the system."""

from __future__ import annotations

import gc
import sys
import weakref

import torch

from styleblend.cli.common import render_generator
from styleblend.io import load_checkpoint
from styleblend.io.memory import return_freed_memory
from styleblend.render import render_ws


def test_release_lets_every_storage_of_an_nvidia_snapshot_go(nvidia_g64):
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    assert ckpt.d is not None and ckpt.g is not None and ckpt.source_layout is not None
    watched = [weakref.ref(state[max(state, key=lambda k: state[k].numel())]) for state in (ckpt.d, ckpt.g)]
    ckpt.release()
    gc.collect()
    # The source layout held every storage of the file: with it gone, the training G and D die.
    assert all(ref() is None for ref in watched)
    assert ckpt.g_ema and ckpt.generator() is not None  # the EMA weights stay and still build
    ckpt.release(g_ema=True)
    assert ckpt.g_ema == {} and ckpt.g is None and ckpt.d is None


def test_render_generator_renders_what_the_checkpoint_renders_and_empties_it(nvidia_g64):
    reference = load_checkpoint(nvidia_g64 / "network-snapshot.pkl").generator()
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    G = render_generator(ckpt, torch.device("cpu"))
    assert ckpt.g_ema == {} and ckpt.d is None and ckpt.source_layout is None
    ws = torch.randn(2, G.num_ws, G.w_dim)
    assert torch.equal(render_ws(G, ws), render_ws(reference, ws))


def test_return_freed_memory_trims_with_glibc_and_is_harmless_elsewhere():
    trimmed = return_freed_memory()
    assert isinstance(trimmed, bool)
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert trimmed


def _heap_free_mib() -> float | None:
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost"]]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return None
    return libc.mallinfo2().fordblks / 2**20


def test_keep_freed_memory_keeps_a_freed_tensor_in_the_heap_until_the_block_ends():
    from styleblend.io.memory import keep_freed_memory

    if _heap_free_mib() is None:
        import pytest

        pytest.skip("glibc's mallinfo2 is needed to look at the heap")
    with keep_freed_memory() as kept:
        assert kept
        before = _heap_free_mib()
        block = torch.ones(32 * 2**20 // 4)  # 32 MiB: above glibc's default mmap threshold
        del block
        inside = _heap_free_mib()
    after = _heap_free_mib()
    # Freed inside the block, the 32 MiB stay in the heap's free lists (by default they would go back to the
    # system at once, through munmap); on exit the heap is trimmed.
    assert inside - before >= 31
    assert after < inside - 16
