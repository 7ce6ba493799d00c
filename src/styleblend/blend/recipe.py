"""Blend recipes: everything needed to reproduce a blend, as JSON beside the output.

A recipe records the inputs (path, format, sha256), the schedule spec (readable by
:func:`~styleblend.blend.schedules.parse_schedule`), the mapping choice, channel masks, what happened
to each network, and the weights every layer and group actually received. The same per-layer summary
prints as the ``info``-style α table of ``styleblend blend``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config_sg3 import AnyGeneratorConfig
from ..io.atomic import write_bytes_atomic
from ..nn.naming import generator_layers, param_info

RECIPE_SUFFIX = ".recipe.json"
_GROUP_ORDER = ("mapping", "w_avg", "const", "conv", "affine", "bias", "noise", "torgb")


@dataclass(frozen=True)
class LayerWeights:
    """The weights one layer received, per parameter group.

    weights: group -> the transfer's α (two models) or the list of weights over [base, transfer1, ...]
        (N models); a per-channel α is a list of floats, one per output channel. Groups whose tensors
        got different weights list them per tensor name, e.g. ``{"weight": [...], "affine.weight": 1}``.
    """

    layer: str
    resolution: int | None
    ws_index: int | None
    weights: dict[str, Any]


@dataclass
class Recipe:
    """A reproducible description of one blend (see the module docstring)."""

    inputs: list[dict[str, Any]]
    schedule: str
    mapping: Any
    channels: list[dict[str, Any]] = field(default_factory=list)
    layers: list[LayerWeights] = field(default_factory=list)
    networks: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    styleblend_version: str = __version__
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _value(w: float | torch.Tensor) -> Any:
    if isinstance(w, torch.Tensor):
        return [round(float(x), 6) for x in w.tolist()]
    return round(float(w), 6)


def _summary(weights: Sequence[float | torch.Tensor]) -> Any:
    if len(weights) == 2:
        return _value(weights[1])
    return [_value(w) for w in weights]


def layer_weights(plan: dict[str, tuple[float | torch.Tensor, ...]], config: AnyGeneratorConfig) -> list[LayerWeights]:
    """Summarise a weight plan (:func:`~styleblend.blend.core.plan_weights`) per layer and group, in forward order."""
    per_layer: dict[str, dict[str, dict[str, Any]]] = {}
    for key, weights in plan.items():
        info = param_info(key)
        if info.group == "buffer":
            continue
        leaf = key.removeprefix(f"synthesis.{info.layer}.").removeprefix(f"{info.layer}.")
        per_layer.setdefault(info.layer, {}).setdefault(info.group, {})[leaf] = _summary(weights)
    layers = generator_layers(config)
    mapping = [layer.name for layer in layers if layer.kind == "mapping"]
    order = [*mapping, "mapping.w_avg"] + [layer.name for layer in layers if layer.kind != "mapping"]
    meta = {layer.name: layer for layer in layers}
    out = []
    for name in sorted(per_layer, key=order.index):
        groups = {}
        for group in sorted(per_layer[name], key=_GROUP_ORDER.index):
            by_leaf = per_layer[name][group]
            values = list(by_leaf.values())
            groups[group] = values[0] if all(v == values[0] for v in values) else by_leaf
        layer = meta.get(name)
        out.append(LayerWeights(name, layer.resolution if layer else None, layer.ws_index if layer else None, groups))
    return out


def format_alpha_table(layers: Sequence[LayerWeights], num_models: int = 2) -> str:
    """A plain-text table: one row per layer with its resolution, W+ index and α (per group if they differ).

    Two models show the transfer's share α; N models show the weights base/transfer1/...
    """
    title = "alpha (share of the transfer)" if num_models == 2 else "weights base/transfer1/..."
    rows = [("layer", "res", "W+", title)]
    for lw in layers:
        cells = {g: _cell(v, num_models) for g, v in lw.weights.items()}
        text = next(iter(cells.values())) if len(set(cells.values())) == 1 else \
            "  ".join(f"{g}={c}" for g, c in cells.items())
        rows.append((lw.layer, "-" if lw.resolution is None else str(lw.resolution),
                     "-" if lw.ws_index is None else str(lw.ws_index), text))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows)


def _cell(value: Any, num_models: int) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_cell(v, num_models)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and num_models > 2:
        return "/".join(_cell(v, 2) for v in value)
    if isinstance(value, list):  # one alpha per output channel
        return f"per-channel[{len(value)}] min {min(value):g} mean {sum(value) / len(value):.3g} max {max(value):g}"
    return f"{value:g}"


def recipe_path(out: str | Path) -> Path:
    """Where the recipe of the model written to ``out`` goes: ``<out>.recipe.json``."""
    out = Path(out)
    return out.with_name(out.name + RECIPE_SUFFIX)


def write_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write the recipe as indented JSON, atomically."""
    return write_bytes_atomic(path, (recipe.to_json() + "\n").encode("utf-8"))
