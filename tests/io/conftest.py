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

