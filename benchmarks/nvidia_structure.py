"""Write network pickles with the *structure* of NVIDIA StyleGAN2-ADA snapshots, for benchmarks and tests.

A snapshot is a pickled dict ``{G, D, G_ema, augment_pipe, training_set_kwargs}``; each network is a
call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose meta dict holds the module's
class name, source code and ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``).
This writer builds that structure from our own modules, with ``module_src = '# source removed'``
(no code of anyone's is written), so big realistic files (e.g. 1024 px config-f) can be made without
NVIDIA's code. Tensors are pickled by PyTorch's own reducers (``_rebuild_tensor_v2`` /
``_rebuild_parameter`` over ``storage._load_from_bytes`` blobs), exactly as in a real snapshot.

Not part of the library: only ``benchmarks/`` and tests use it.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

_MODULE = "torch_utils.persistence"
_FUNC = "_reconstruct_persistent_obj"


def _placeholder(meta: dict) -> Any:  # never called: only its pickled name matters
    raise AssertionError("placeholder called")


@contextlib.contextmanager
def _fake_persistence_module() -> Iterator[None]:
    """Make ``torch_utils.persistence._reconstruct_persistent_obj`` resolvable while pickling, then undo it.

    pickle checks that a global it writes can be imported by name; the modules exist only during
    the dump and are removed afterwards (nothing else sees them, and they hold no code of NVIDIA's).
    """
    saved = {name: sys.modules.get(name) for name in ("torch_utils", _MODULE)}
    parent = types.ModuleType("torch_utils")
    child = types.ModuleType(_MODULE)
    _placeholder.__module__ = _MODULE
    _placeholder.__qualname__ = _placeholder.__name__ = _FUNC
    setattr(child, _FUNC, _placeholder)
    parent.persistence = child  # type: ignore[attr-defined]
    sys.modules["torch_utils"], sys.modules[_MODULE] = parent, child
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Persistent:
    """Pickles as ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self):
        return _placeholder, (self.meta,)


def persistent_tree(module: torch.nn.Module, init_kwargs: dict | None = None) -> _Persistent:
    """A module and its children as nested persistent meta dicts (parameters kept as nn.Parameter)."""
    state = {
        "training": False,
        "_parameters": OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                   for k, v in module._parameters.items() if v is not None),
        "_buffers": OrderedDict((k, v.detach().clone()) for k, v in module._buffers.items() if v is not None),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict((k, persistent_tree(m)) for k, m in module._modules.items() if m is not None),
        "_init_args": (),
        "_init_kwargs": dict(init_kwargs or {}),
    }
    meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": type(module).__name__,
            "state": state}
    return _Persistent(meta)


def generator_kwargs(cfg) -> dict:
    """NVIDIA Generator constructor kwargs for a :class:`GeneratorConfig`."""
    m, s = cfg.mapping, cfg.synthesis
    return {"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim, "img_resolution": cfg.img_resolution,
            "img_channels": cfg.img_channels,
            "mapping_kwargs": {"num_layers": m.num_layers},
            "synthesis_kwargs": {"channel_base": s.channel_base, "channel_max": s.channel_max,
                                 "num_fp16_res": s.num_fp16_res, "conv_clamp": s.conv_clamp,
                                 "architecture": s.architecture}}


def discriminator_kwargs(cfg) -> dict:
    """NVIDIA Discriminator constructor kwargs for a :class:`DiscriminatorConfig`."""
    return {"c_dim": cfg.c_dim, "img_resolution": cfg.img_resolution, "img_channels": cfg.img_channels,
            "architecture": cfg.architecture, "channel_base": cfg.channel_base, "channel_max": cfg.channel_max,
            "num_fp16_res": cfg.num_fp16_res, "conv_clamp": cfg.conv_clamp, "cmap_dim": cfg.cmap_dim,
            "block_kwargs": {}, "mapping_kwargs": {}, "epilogue_kwargs": {"mbstd_group_size": cfg.mbstd_group_size}}


def write_snapshot(path: str | Path, G: torch.nn.Module, G_ema: torch.nn.Module, D: torch.nn.Module | None,
                   g_cfg, d_cfg=None) -> Path:
    """Write ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` like NVIDIA's training loop (protocol 4)."""
    data = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "resolution":
                                    g_cfg.img_resolution},
            "G": persistent_tree(G, generator_kwargs(g_cfg)),
            "D": persistent_tree(D, discriminator_kwargs(d_cfg)) if D is not None else None,
            "G_ema": persistent_tree(G_ema, generator_kwargs(g_cfg)),
            "augment_pipe": None}
    path = Path(path)
    with _fake_persistence_module(), path.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    return path
