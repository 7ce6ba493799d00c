"""Blending schedules over a layer's output size or its layer index instead of its resolution.

StyleGAN3 has no resolution blocks. Its resolution schedules (swap, linear, sigmoid, table) run over
each layer's **sampling rate** (see :mod:`styleblend.nn.naming_sg3`), which several layers share; two
finer axes name single layers:

* ``size``: the layer's output size in pixels including its margin (the ``52`` of ``L7_52_48``;
  for StyleGAN2, the block resolution);
* ``index``: the W+ row the layer reads (StyleGAN3: ``input`` 0, ``L<i>`` i + 1; StyleGAN2: the W+
  index of the layer, or its block's first for const and skip).

Spec strings put the axis in front of a schedule (values in the axis' units; ramps are linear in
them, not in octaves)::

    size:swap:36[:flip]          α = 1 for layers of size <= 36
    size:linear:36:52[:flip]     1 at size <= 36, 0 at >= 52, linear between
    index:sigmoid:6:1.5[:flip]   1 / (1 + exp((index - 6) / 1.5))
    index:table:0:1,1:1,*:0      per value; '*' is the default

Mapping tensors and w_avg have neither; :func:`~styleblend.blend.core.full_schedule` sets them from the
``mapping`` choice, and a group override (``;mapping=0.5``) can too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..config_sg3 import AnyGeneratorConfig, StyleGAN3Config, is_stylegan3
from ..errors import InvalidArgumentError
from ..nn.naming import LayerInfo, ParamInfo, generator_layers
from .tables import parse_float as _parse_float
from .tables import parse_pairs

# This module follows the Schedule interface of :mod:`.schedules` (alpha, spec, validate) without
# importing it: schedules imports this module to parse 'size:' and 'index:' specs.

AXES = ("size", "index")
KINDS = ("swap", "linear", "sigmoid", "table")


def axis_value(param: ParamInfo, axis: str) -> float:
    """The value of ``param`` on ``axis``.

    Raises:
        InvalidArgumentError: the tensor has no such value (the mapping network, w_avg).
    """
    value = (param.size if param.size is not None else param.resolution) if axis == "size" else param.anchor_ws_index
    if value is None:
        raise InvalidArgumentError(f"'{param.key}' ({param.group}) has no layer {axis}, so a {axis} schedule cannot "
                                   f"set it; give that group a number instead, e.g. ';{param.group}=0'")
    return float(value)


@dataclass(frozen=True)
class AxisSchedule:
    """One of swap/linear/sigmoid/table over ``axis`` ('size' or 'index').

    args: swap (threshold,), linear (start, end), sigmoid (centre, width); table uses ``table`` and ``default``.
    """

    axis: str
    kind: str
    args: tuple[float, ...] = ()
    flip: bool = False
    table: tuple[tuple[float, float], ...] = ()
    default: float | None = None

    def __post_init__(self) -> None:
        _freeze_table(self)
        if self.axis not in AXES:
            raise InvalidArgumentError(f"schedule axis {self.axis!r} must be one of {AXES}")
        need = {"swap": 1, "linear": 2, "sigmoid": 2, "table": 0}.get(self.kind)
        if need is None:
            raise InvalidArgumentError(f"{self.axis} schedule kind {self.kind!r} must be one of {KINDS}")
        if len(self.args) != need or not all(math.isfinite(a) for a in self.args):
            raise InvalidArgumentError(f"a {self.axis} {self.kind} schedule needs "
                                       f"{need} finite number(s), got {self.args}")
        if self.kind == "linear" and self.args[1] <= self.args[0]:
            raise InvalidArgumentError(f"{self.axis} ramp from {_num(self.args[0])} to {_num(self.args[1])}: the end "
                                       "must be larger than the start (add ':flip' to reverse the direction)")
        if self.kind == "sigmoid" and self.args[1] <= 0:
            raise InvalidArgumentError(f"{self.axis} sigmoid width={_num(self.args[1])} must be > 0")
        if self.kind == "table":
            if not self.table and self.default is None:
                raise InvalidArgumentError(f"the {self.axis} table is empty; write e.g. '{self.axis}:table:36:1,*:0'")
            for value, a in self.table:
                _check_alpha(a, f"{self.axis} table alpha at {_num(value)}")
            if self.default is not None:
                _check_alpha(self.default, f"{self.axis} table default '*'")

    def alpha(self, param: ParamInfo) -> float:
        x = axis_value(param, self.axis)
        if self.kind == "table":
            for value, a in self.table:
                if value == x:
                    return a
            if self.default is None:
                raise InvalidArgumentError(f"the {self.axis} table has no entry for {_num(x)} (layer '{param.layer}'); "
                                           f"add '{_num(x)}:<alpha>' or a default such as '*:0'")
            return self.default
        if self.kind == "swap":
            a = 1.0 if x <= self.args[0] else 0.0
        elif self.kind == "linear":
            lo, hi = self.args
            a = 1.0 if x <= lo else 0.0 if x >= hi else (hi - x) / (hi - lo)
        else:
            t = (x - self.args[0]) / self.args[1]
            a = 0.0 if t > 700 else 1.0 / (1.0 + math.exp(t))
        return 1.0 - a if self.flip else a

    def spec(self) -> str:
        if self.kind == "table":
            items = [f"{_num(v)}:{_num(a)}" for v, a in self.table]
            if self.default is not None:
                items.append(f"*:{_num(self.default)}")
            return f"{self.axis}:table:" + ",".join(items)
        return f"{self.axis}:{self.kind}:" + ":".join(_num(a) for a in self.args) + (":flip" if self.flip else "")

    def validate(self, cfg: AnyGeneratorConfig) -> None:

        layers = [layer for layer in generator_layers(cfg) if layer.kind != "mapping"]
        if self.axis == "index":
            values = sorted({float(layer.ws_index) for layer in layers if layer.ws_index is not None} | {0.0})
        elif is_stylegan3(cfg):
            values = sorted({float(_size(layer, cfg)) for layer in layers})
        else:
            values = [float(r) for r in cfg.block_resolutions]
        if self.kind == "table":
            extra = [_num(v) for v, _ in self.table if v not in values]
            if extra:
                what = "indices" if self.axis == "index" else "sizes"
                raise InvalidArgumentError(f"the {self.axis} table lists {', '.join(extra)}, which no layer of the "
                                           f"model has; its layers have {what} {', '.join(map(_num, values))}")
            missing = [_num(v) for v in values if v not in dict(self.table)]
            if missing and self.default is None:
                raise InvalidArgumentError(f"the {self.axis} table has no entry for {', '.join(missing)}; add them or "
                                           "a default such as '*:0'")


def _num(value: float) -> str:
    return f"{float(value):g}"


def _check_alpha(value: float, what: str) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise InvalidArgumentError(f"{what}={value!r} must be a number in [0, 1] (0 = base, 1 = transfer)")
    return float(value)


def _size(layer: LayerInfo, cfg: StyleGAN3Config) -> int:
    return cfg.input_spec.size if layer.name == "input" else int(layer.name.split("_")[1])


def _freeze_table(schedule: AxisSchedule) -> None:
    """Store ``args`` and ``table`` (pairs or a dict) as tuples of floats (hashable, frozen)."""
    table = schedule.table.items() if isinstance(schedule.table, Mapping) else schedule.table
    try:
        object.__setattr__(schedule, "args", tuple(float(a) for a in schedule.args))
        object.__setattr__(schedule, "table", tuple((float(k), float(a)) for k, a in table))
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"a {schedule.axis} schedule needs numbers, got args={schedule.args!r:.60} "
                                   f"table={schedule.table!r:.60}") from None


def parse_axis_schedule(axis: str, rest: str) -> AxisSchedule:
    """Parse the part after ``size:`` or ``index:`` (see the module docstring)."""
    kind, _, args_text = rest.partition(":")
    kind = kind.strip().lower()
    if kind == "table":
        pairs, default = parse_pairs(args_text, f"{axis} table", "36:1,52:0.5,*:0", "36:0.5")
        return AxisSchedule(axis, "table", table=tuple((_parse_float(k, f"{axis} table key"),
                                                        _parse_float(v, f"alpha at {k}")) for k, v in pairs),
                            default=None if default is None else _parse_float(default, f"{axis} table default"))
    args = [a.strip() for a in args_text.split(":")] if args_text.strip() else []
    flip = bool(args) and args[-1].lower() == "flip"
    if flip:
        args = args[:-1]
    if kind not in KINDS:
        raise InvalidArgumentError(f"unknown {axis} schedule '{axis}:{rest}'; use {axis}:swap:X, {axis}:linear:A:B, "
                                   f"{axis}:sigmoid:C:W or {axis}:table:X:1,*:0")
    return AxisSchedule(axis, kind, tuple(_parse_float(a, f"{axis} {kind} argument") for a in args), flip)
