"""styleblend: StyleGAN2-family generators as data - load, generate, blend, embed, edit.

The front door, for scripts and notebooks::

    import styleblend as sb

    base = sb.load(sb.bundled("base"))                 # any checkpoint file: .pkl, .pt, .safetensors
    images = sb.generate(base, [1, 2, 3], truncation_psi=0.7)   # uint8 [3, 64, 64, 3]
    toon = sb.blend_models(base, sb.load(sb.bundled("transfer")), sb.Swap(16))
    ws = sb.embed(base, sb.bundled("heldout-woman"), encoder=sb.bundled("encoder"), steps=50).ws
    sb.save_image(sb.generate(toon, ws), "toon.png")
    sb.save(toon, "toon.safetensors")

Models: :func:`load` (files, model folders, Hub ids), :func:`save`, :func:`convert`,
:func:`save_pretrained` (a hub-style folder), :func:`export_onnx`, :func:`bundled`, :class:`Checkpoint` and the
:class:`Generator` interface ``ckpt.generator()`` returns. Images: :func:`generate` (seeds or W+
latents), :func:`image_grid`, :func:`save_image`. Latents: :func:`seeds_to_ws`, :func:`interpolate`,
:func:`crossover` (style mixing), :func:`load_latents`, :func:`save_latents`. Blending:
:func:`blend_models` with a schedule value (:class:`Swap`, :class:`Linear`, :class:`Sigmoid`,
:class:`Table`; :class:`WeightTable` for N models). Embedding: :func:`embed`, :func:`toonify`.
Every other option lives in the subpackages (``styleblend.blend``, ``styleblend.project`` ...).

Importing this package has no side effects: no downloads, no kernel builds and no global torch
settings - and it does not import torch: each name loads its module on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it (relative to this package). Type checkers and IDEs read the same names
# from __init__.pyi (a stub, so that this file imports no submodule, not even for an import scan). The
# verbs avoid the names of this package's subpackages (blend, project, render ...): importing a
# subpackage sets it as an attribute here and would replace a function of the same name.
_EXPORTS = {
    # models
    "Checkpoint": ".io.checkpoint",
    "Generator": ".types",
    "bundled": ".api",
    "load": ".api",
    "save": ".api",
    "convert": ".api",
    "save_pretrained": ".io.hub",
    "export_onnx": ".export.onnx",
    # images
    "generate": ".api",
    "image_grid": ".api",
    "save_image": ".api",
    # latents
    "seeds_to_ws": ".api",
    "interpolate": ".api",
    "crossover": ".latents.crossover",
    "load_latents": ".latents.files",
    "save_latents": ".latents.files",
    # blending
    "blend_models": ".api",
    "Swap": ".blend.schedules",
    "Linear": ".blend.schedules",
    "Sigmoid": ".blend.schedules",
    "Table": ".blend.schedules",
    "WeightTable": ".blend.multi",
    # embedding
    "embed": ".api",
    "toonify": ".project.toonify",
}
# Names whose definition is called something else in its module.
_ALIASES = {"load_latents": "load_ws"}

# Written out, as in __init__.pyi; a test holds it equal to _EXPORTS.
__all__ = [
    "__version__",
    "Checkpoint", "Generator", "bundled", "load", "save", "convert", "save_pretrained", "export_onnx",
    "generate", "image_grid", "save_image",
    "seeds_to_ws", "interpolate", "crossover", "load_latents", "save_latents",
    "blend_models", "Swap", "Linear", "Sigmoid", "Table", "WeightTable",
    "embed", "toonify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'styleblend' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), _ALIASES.get(name, name))
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    # The public names and the module's dunders; not the helpers this file imports for itself.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})

