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
