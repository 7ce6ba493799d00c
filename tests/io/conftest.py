"""Helpers to hand-build pickles that mimic foreign checkpoint structures (no foreign code involved).

A :class:`Reduce` pickles as ``module.name(*args)`` for any global name, without importing or
patching that module: it pickles a local placeholder function, and :func:`dumps` then rewrites the
placeholder's GLOBAL opcode (protocol 2/3, where GLOBAL is plain text) to the wanted name.
"""

from __future__ import annotations

import pickle
import sys

_NAMES: dict[str, tuple[str, str]] = {}


def _make_placeholder(module: str, name: str):
    key = f"_placeholder_{len(_NAMES)}"
    _NAMES[key] = (module, name)

    def placeholder(*args):  # never called: the name is rewritten before anything loads it
        raise AssertionError("placeholder called")

    placeholder.__name__ = placeholder.__qualname__ = key
    placeholder.__module__ = __name__
    setattr(sys.modules[__name__], key, placeholder)
    return placeholder


class Reduce:
    """An object that pickles as ``module.name(*args)``."""

    def __init__(self, module: str, name: str, *args):
        self.func = _make_placeholder(module, name)
        self.args = args

    def __reduce__(self):
        return self.func, self.args


def dumps(obj, protocol: int = 3) -> bytes:
    """Pickle ``obj`` (protocol 2 or 3) and rewrite placeholder globals to their target names."""
    assert protocol in (2, 3)
    data = pickle.dumps(obj, protocol=protocol)
    for key, (module, name) in _NAMES.items():
        data = data.replace(f"c{__name__}\n{key}\n".encode(), f"c{module}\n{name}\n".encode())
    return data



_NVIDIA_BUFFERS = ("w_avg", "noise_const", "resample_filter")


def nvidia_like_pickle(g_kwargs: dict, state: dict, training_set_kwargs: dict | None = None) -> bytes:
    """A pickle in the structure of an NVIDIA StyleGAN2-ADA snapshot, built from a canonical state dict.

    Networks are ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with the module's
    ``__dict__`` as ``meta['state']`` (parameters, buffers, submodules, init kwargs as
    ``dnnlib.util.EasyDict``), tensors are pickled by torch itself (``_rebuild_tensor_v2`` of a
    ``_load_from_bytes`` storage blob), as in NVIDIA's files. ``g_kwargs`` are the Generator's
    constructor kwargs (``mapping_kwargs`` and ``synthesis_kwargs`` nested dicts become EasyDicts).
    """
    from collections import OrderedDict

    tree: dict = {}
    for key, tensor in state.items():
        *modules, leaf = key.split(".")
        node = tree
        for name in modules:
            node = node.setdefault(name, {})
        node[leaf] = tensor.detach().clone()

    def easydict(d: dict) -> Reduce:
        return Reduce("dnnlib.util", "EasyDict", {k: easydict(v) if isinstance(v, dict) else v for k, v in d.items()})

    def module(node: dict, class_name: str, init_kwargs: dict) -> Reduce:
        params = OrderedDict((k, v) for k, v in node.items() if not isinstance(v, dict) and k not in _NVIDIA_BUFFERS)
        buffers = OrderedDict((k, v) for k, v in node.items() if not isinstance(v, dict) and k in _NVIDIA_BUFFERS)
        children = OrderedDict((k, module(v, "Module", {})) for k, v in node.items() if isinstance(v, dict))
        module_state = {"training": False, "_parameters": params, "_buffers": buffers,
                        "_non_persistent_buffers_set": set(), "_modules": children, "_init_args": (),
                        "_init_kwargs": easydict(init_kwargs)}
        meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": class_name,
                "state": module_state}
        return Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)

    snapshot = {"G_ema": module(tree, "Generator", g_kwargs), "augment_pipe": None}
    if training_set_kwargs is not None:
        # Not converted recursively: tests put self-references and shared parts in here.
        snapshot["training_set_kwargs"] = Reduce("dnnlib.util", "EasyDict", training_set_kwargs)
    return dumps(snapshot)
