"""styleblend's own format: one safetensors file whose metadata holds the architecture as JSON.

Tensors are stored under ``g_ema.<name>``, ``g.<name>`` and ``d.<name>``; the metadata key
``styleblend`` holds ``{"format_version", "g_config", "d_config", "meta"}``. No code travels with
the weights, and a file can be inspected with any safetensors reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ...config import DiscriminatorConfig
from ...config_sg3 import generator_config_from_dict
from ...errors import CheckpointError, InvalidArgumentError
from ..atomic import atomic_path
from ..checkpoint import Checkpoint
from ..reading import check_weights_cover, count_elements, reader
from ..safe_unpickle import check_graph, one_line

FORMAT_VERSION = 1
_PARTS = ("g_ema", "g", "d")


def write(ckpt: Checkpoint, out: Path, dtype: torch.dtype | None = None) -> Path:
    """Save ``ckpt`` as safetensors + JSON architecture, atomically.

    dtype: store floating tensors in this dtype (e.g. torch.float16 for bundled models); None keeps them.
    """
    tensors: dict[str, torch.Tensor] = {}
    for part in _PARTS:
        state = getattr(ckpt, part)
        for name, value in (state or {}).items():
            value = value.detach().to("cpu")
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            tensors[f"{part}.{name}"] = value.contiguous()
    header = {"format_version": FORMAT_VERSION, "g_config": ckpt.g_config.to_dict(),
              "d_config": ckpt.d_config.to_dict() if ckpt.d_config is not None and ckpt.d is not None else None,
              "meta": _jsonable(ckpt.meta)}
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={"styleblend": json.dumps(header)})
    return out


@reader("styleblend safetensors file")
def read(path: Path) -> Checkpoint:
    """Load a native checkpoint; tensors come back as float32.

    Raises:
        CheckpointError: corrupt or truncated file, malformed metadata, or an architecture larger than
            the weights the file holds (one line naming the file).
    """
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        header = _header(metadata, path)  # checked before the tensors are read
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: corrupt or truncated safetensors file ({one_line(exc)})") from None
    try:
        g_config = generator_config_from_dict(_mapping(header["g_config"], "g_config"))
        d_config = (DiscriminatorConfig.from_dict(_mapping(header["d_config"], "d_config"))
                    if header.get("d_config") else None)
    except (ValueError, KeyError, TypeError, InvalidArgumentError) as exc:
        raise CheckpointError(f"{path.name}: invalid architecture metadata ({one_line(exc)})") from None
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        part, _, name = key.partition(".")
        if part not in _PARTS:
            raise CheckpointError(f"{path.name}: unexpected tensor '{key}'")
        parts.setdefault(part, {})[name] = value.float() if value.is_floating_point() else value
    if "g_ema" not in parts:
        raise CheckpointError(f"{path.name} has no g_ema tensors")
    check_weights_cover(g_config, count_elements(parts["g_ema"]), f"{path.name} g_ema")
    if d_config is not None and "d" in parts:
        check_weights_cover(d_config, count_elements(parts["d"]), f"{path.name} d")
    return Checkpoint(g_config=g_config, g_ema=parts["g_ema"], d_config=d_config if "d" in parts else None,
                      g=parts.get("g"), d=parts.get("d"), source=path,
                      meta=header.get("meta") or {})


def _header(metadata: dict[str, str], path: Path) -> dict[str, Any]:
    """The ``styleblend`` metadata entry as a dict with a dict ``meta``, within the nesting/size budgets."""
    if "styleblend" not in metadata:
        raise CheckpointError(f"{path.name} is a safetensors file without styleblend architecture metadata")
    try:
        header = json.loads(metadata["styleblend"])
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path.name}: the styleblend metadata is not valid JSON ({one_line(exc)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name}: the styleblend metadata is a JSON {type(header).__name__}, not an object")
    if not isinstance(header.get("meta") or {}, dict):
        raise CheckpointError(f"{path.name}: the styleblend metadata's 'meta' is not an object")
    check_graph(header, f"{path.name}'s metadata")
    return header


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CheckpointError(f"'{name}' in the metadata is a {type(value).__name__}, not an object")
    for key in ("mapping", "synthesis"):
        if key in value and not isinstance(value[key], dict):
            raise CheckpointError(f"'{name}.{key}' in the metadata is a {type(value[key]).__name__}, not an object")
    return value


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return json.loads(json.dumps(value, default=str))
