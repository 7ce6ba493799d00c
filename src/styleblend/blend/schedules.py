"""Blending schedules α(r): how much of the transfer model each generator tensor takes.

Resolution-dependent interpolation (Pinkney & Adler 2020, "Resolution Dependent GAN Interpolation
for Controllable Image Synthesis Between Domains", Sec. 3): for a tensor of a layer at resolution r,

    p = (1 - α(r)) · p_base + α(r) · p_transfer.

The paper's layer swap is α(r) = 1 for r ≤ r_swap and 0 above: structure (low resolutions) from the
transfer model, rendering (high resolutions) from the base. Every schedule here is a small frozen
dataclass with one method, ``alpha(param) -> float`` in [0, 1], where ``param`` is the
:class:`~styleblend.nn.naming.ParamInfo` of the tensor (resolution, layer, group, W+ index), plus
``spec()``, a string :func:`parse_schedule` reads back (stored in blend recipes).

Spec strings (also the values of ``--group GROUP=SPEC``)::

    0.5                       constant
    swap:16[:flip]            α = 1 for r <= 16 (flip: α = 1 for r > 16)
    linear:8:32[:flip]        1 at r <= 8, 0 at r >= 32, linear in log2(r) between
    sigmoid:16:1[:flip]       1 / (1 + exp((log2 r - log2 16) / 1)); α(16) = 0.5
    table:4:1,8:1,16:0.5,*:0  per resolution; '*' is the default for unlisted ones
    layers:b4.const:1,0:1,b8.conv0:0.5,*:0   per layer name or W+ index
    swap:16;noise=0;torgb=1   a default followed by per-group overrides
    size:swap:36, index:linear:2:8   over a layer's output size or W+ row (StyleGAN3; see .axes)

For StyleGAN3 models a resolution is a layer's sampling rate (see :mod:`styleblend.nn.naming_sg3`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..nn.naming import GROUPS, ParamInfo, generator_layers
from .axes import parse_axis_schedule
from .tables import parse_float as _parse_float
from .tables import parse_pairs

# Groups a user may override; resampling filters are always the base's.
OVERRIDABLE_GROUPS = tuple(g for g in GROUPS if g != "buffer")


def _resolution(param: ParamInfo, what: str) -> int:
    if param.resolution is None:
        raise InvalidArgumentError(
            f"'{param.key}' ({param.group}) has no resolution, so a {what} schedule cannot set it; "
            f"give that group a number instead, e.g. the group override {param.group}=0")
    return param.resolution


def _check_res(value: int, what: str) -> int:
    if not isinstance(value, int) or value < 4 or value & (value - 1):
        raise InvalidArgumentError(f"{what}={value!r} must be a power of two >= 4 (e.g. 8, 16, 32)")
    return value


def _check_alpha(value: float, what: str) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise InvalidArgumentError(f"{what}={value!r} must be a number in [0, 1] (0 = base, 1 = transfer)")
    return float(value)


class Schedule(Protocol):
    """Interface: ``alpha(param) -> float in [0, 1]``, ``spec() -> str``, ``validate(cfg)``.

    A protocol, so :class:`~.axes.AxisSchedule` answers it without importing this module (which imports
    it); the schedules here subclass it and inherit the no-op ``validate``.
    """

    def alpha(self, param: ParamInfo) -> float:
        raise NotImplementedError

    def spec(self) -> str:
        raise NotImplementedError

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        """Raise InvalidArgumentError when the schedule names resolutions or layers ``cfg`` lacks."""
        return None  # nothing to check by default (an empty body would make it abstract)


@dataclass(frozen=True)
class Constant(Schedule):
    """The same α for every tensor (α = 0: the base; α = 1: the transfer)."""

    value: float

    def __post_init__(self) -> None:
        _check_alpha(self.value, "constant alpha")

    def alpha(self, param: ParamInfo) -> float:
        return float(self.value)

    def spec(self) -> str:
        return _num(self.value)


@dataclass(frozen=True)
class Swap(Schedule):
    """The paper's layer swap: α = 1 for r <= swap_res, else 0 (``flip``: the reverse)."""

    swap_res: int
    flip: bool = False

    def __post_init__(self) -> None:
        _check_res(self.swap_res, "swap resolution")

    def alpha(self, param: ParamInfo) -> float:
        low = _resolution(param, "swap") <= self.swap_res
        return 1.0 if low != self.flip else 0.0

    def spec(self) -> str:
        return f"swap:{self.swap_res}" + (":flip" if self.flip else "")

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        if self.swap_res > cfg.img_resolution:
            raise InvalidArgumentError(f"swap resolution {self.swap_res} exceeds the model's {cfg.img_resolution}; "
                                       f"choose one of {cfg.block_resolutions}")


@dataclass(frozen=True)
class Linear(Schedule):
    """α = 1 at r <= from_res, 0 at r >= to_res, linear in log2(r) between (``flip``: 1 - α)."""

    from_res: int
    to_res: int
    flip: bool = False

    def __post_init__(self) -> None:
        _check_res(self.from_res, "linear from-res")
        _check_res(self.to_res, "linear to-res")
        if self.to_res <= self.from_res:
            raise InvalidArgumentError(f"linear ramp from {self.from_res} to {self.to_res}: to-res must be larger "
                                       "than from-res (use `flip` to reverse the direction)", param="flip")

    def alpha(self, param: ParamInfo) -> float:
        x = math.log2(_resolution(param, "linear"))
        lo, hi = math.log2(self.from_res), math.log2(self.to_res)
        # Clamp first so that both ends are exactly 0.0 and 1.0 (bit-exact copies in the core).
        a = 1.0 if x <= lo else 0.0 if x >= hi else (hi - x) / (hi - lo)
        return 1.0 - a if self.flip else a

    def spec(self) -> str:
        return f"linear:{self.from_res}:{self.to_res}" + (":flip" if self.flip else "")


@dataclass(frozen=True)
class Sigmoid(Schedule):
    """Smooth swap: α(r) = 1 / (1 + exp((log2 r - log2 centre) / width)); α(centre) = 0.5.

    width is in octaves (log2 units): 0.25 is nearly a hard swap, 2 spreads over several blocks.
    """

    centre: float
    width: float = 1.0
    flip: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.centre, (int, float)) and self.centre > 0):
            raise InvalidArgumentError(f"sigmoid centre={self.centre!r} must be a positive resolution, e.g. 16")
        if not (isinstance(self.width, (int, float)) and self.width > 0):
            raise InvalidArgumentError(f"sigmoid width={self.width!r} must be > 0 (octaves), e.g. 1")

    def alpha(self, param: ParamInfo) -> float:
        t = (math.log2(_resolution(param, "sigmoid")) - math.log2(self.centre)) / self.width
        a = 0.0 if t > 700 else 1.0 / (1.0 + math.exp(t))
        return 1.0 - a if self.flip else a

    def spec(self) -> str:
        return f"sigmoid:{_num(self.centre)}:{_num(self.width)}" + (":flip" if self.flip else "")


@dataclass(frozen=True)
class Table(Schedule):
    """Explicit α per block resolution, e.g. ``Table({4: 1, 8: 1, 16: 0.5}, default=0)``.

    default: α of unlisted resolutions; None makes them an error.
    """

    values: tuple[tuple[int, float], ...]
    default: float | None = None

    def __post_init__(self) -> None:
        _freeze(self)
        seen = set()
        for res, a in self.values:
            _check_res(res, "table resolution")
            _check_alpha(a, f"table alpha at {res}")
            if res in seen:
                raise InvalidArgumentError(f"resolution {res} is listed twice in the table")
            seen.add(res)
        if self.default is not None:
            _check_alpha(self.default, "table default '*'")

    def alpha(self, param: ParamInfo) -> float:
        res = _resolution(param, "table")
        for r, a in self.values:
            if r == res:
                return a
        if self.default is None:
            listed = ",".join(str(r) for r, _ in self.values)
            raise InvalidArgumentError(f"the alpha table lists resolutions {listed} but not {res}; "
                                       f"add '{res}:<alpha>' or a default such as '*:0'")
        return self.default

    def spec(self) -> str:
        items = [f"{r}:{_num(a)}" for r, a in self.values]
        if self.default is not None:
            items.append(f"*:{_num(self.default)}")
        return "table:" + ",".join(items)

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        extra = [r for r, _ in self.values if r not in cfg.block_resolutions]
        if extra:
            raise InvalidArgumentError(f"the alpha table lists resolutions {extra} that the model (blocks "
                                       f"{cfg.block_resolutions}) does not have")
        missing = [r for r in cfg.block_resolutions if r not in dict(self.values)]
        if missing and self.default is None:
            raise InvalidArgumentError(f"the alpha table has no entry for resolutions {missing}; add them "
                                       "(e.g. '64:0') or a default such as '*:0'")


@dataclass(frozen=True)
class LayerTable(Schedule):
    """Explicit α per layer, by layer name (``'b8.conv0'``, ``'b4.const'``) or W+ index (int).

    Lookup order for a tensor: its layer name, then its W+ index (for const and skip, which read no w,
    the block's first index: const -> 0, b8.skip -> 1), then ``default`` (None: an error). A W+ index
    covers every layer that reads it: index 1 is both b4.torgb and b8.conv0.
    """

    values: tuple[tuple[str | int, float], ...]
    default: float | None = None

    def __post_init__(self) -> None:
        _freeze(self)
        for key, a in self.values:
            _check_alpha(a, f"layer alpha for {key!r}")
        if self.default is not None:
            _check_alpha(self.default, "layer table default '*'")

    def alpha(self, param: ParamInfo) -> float:
        table = dict(self.values)
        if param.layer in table:
            return table[param.layer]
        index = param.anchor_ws_index
        if index is not None and index in table:
            return table[index]
        if self.default is None:
            raise InvalidArgumentError(f"the layer table has no entry for layer '{param.layer}' (W+ index {index}); "
                                       f"add '{param.layer}:<alpha>' or a default such as '*:0'")
        return self.default

    def spec(self) -> str:
        items = [f"{k}:{_num(a)}" for k, a in self.values]
        if self.default is not None:
            items.append(f"*:{_num(self.default)}")
        return "layers:" + ",".join(items)

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        names = {layer.name for layer in generator_layers(cfg)}
        for key, _ in self.values:
            if isinstance(key, int) and not 0 <= key < cfg.num_ws:
                raise InvalidArgumentError(f"W+ index {key} is out of range; this model has indices "
                                           f"0..{cfg.num_ws - 1}")
            if isinstance(key, str) and key not in names:
                raise InvalidArgumentError(f"layer '{key}' is not in this model; layers are {sorted(names)}")


@dataclass(frozen=True)
class ByGroup(Schedule):
    """A default schedule with per-group overrides (e.g. noise from the base, toRGB from the transfer).

    overrides: (group, schedule) pairs, group in :data:`OVERRIDABLE_GROUPS`.
    """

    default: Schedule
    overrides: tuple[tuple[str, Schedule], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.overrides, Mapping):
            object.__setattr__(self, "overrides", tuple(self.overrides.items()))
        seen = set()
        for group, _ in self.overrides:
            if group not in OVERRIDABLE_GROUPS:
                raise InvalidArgumentError(f"unknown parameter group '{group}'; choose from {OVERRIDABLE_GROUPS}")
            if group in seen:
                raise InvalidArgumentError(f"group '{group}' is overridden twice")
            seen.add(group)

    def alpha(self, param: ParamInfo) -> float:
        return dict(self.overrides).get(param.group, self.default).alpha(param)

    def spec(self) -> str:
        return ";".join([self.default.spec()] + [f"{g}={s.spec()}" for g, s in self.overrides])

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        self.default.validate(cfg)
        for _, s in self.overrides:
            s.validate(cfg)


def with_groups(schedule: Schedule, groups: Mapping[str, Schedule]) -> Schedule:
    """Add group overrides to ``schedule`` (entries of ``groups`` win over existing ones)."""
    if not groups:
        return schedule
    default, existing = (schedule.default, dict(schedule.overrides)) if isinstance(schedule, ByGroup) \
        else (schedule, {})
    existing.update(groups)
    return ByGroup(default, tuple(existing.items()))


def _freeze(table: object) -> None:
    """Let table schedules take a dict ({16: 0.5}) as well as pairs; stored as a tuple (hashable, frozen)."""
    values = table.values  # type: ignore[attr-defined]
    object.__setattr__(table, "values", tuple(values.items() if isinstance(values, Mapping) else values))


def _num(value: float) -> str:
    return f"{float(value):g}"


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"{what} '{text}' is not an integer resolution like 16") from None


def parse_table(text: str) -> Table:
    """'4:1,8:1,16:0.5,32:0' (optionally '*:0' as default) -> :class:`Table`."""
    pairs, default = parse_pairs(text, "alpha table")
    return Table(tuple((_parse_int(k, "table resolution"), _parse_float(v, f"alpha at {k}")) for k, v in pairs),
                 None if default is None else _parse_float(default, "table default"))


def parse_layer_table(text: str) -> LayerTable:
    """'b4.const:1,0:1,b8.conv0:0.5,*:0' -> :class:`LayerTable` (integers are W+ indices)."""
    pairs, default = parse_pairs(text, "layer table")
    values = tuple((int(k) if k.isdigit() else k.removeprefix("synthesis."), _parse_float(v, f"alpha of {k}"))
                   for k, v in pairs)
    return LayerTable(values, None if default is None else _parse_float(default, "layer table default"))


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule spec string (see the module docstring) into a schedule.

    Raises:
        InvalidArgumentError: unknown kind or malformed arguments, with an example of the right form.
    """
    text = text.strip()
    head, *group_parts = [p.strip() for p in text.split(";")]
    schedule = _parse_single(head)
    groups: dict[str, Schedule] = {}
    for part in group_parts:
        group, sep, value = part.partition("=")
        if not sep:
            raise InvalidArgumentError(f"group override '{part}' must look like GROUP=SPEC, e.g. 'noise=0'")
        groups[group.strip()] = _parse_single(value.strip())
    return ByGroup(schedule, tuple(groups.items())) if groups else schedule


def _parse_single(text: str) -> Schedule:
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        return Constant(value)
    if kind == "table":
        return parse_table(rest)
    if kind == "layers":
        return parse_layer_table(rest)
    if kind in ("size", "index"):  # a layer's size or W+ row instead of its resolution
        return parse_axis_schedule(kind, rest)
    args = [a.strip() for a in rest.split(":")] if rest else []
    flip = bool(args) and args[-1].lower() == "flip"
    if flip:
        args = args[:-1]
    forms = {"swap": ("swap:16[:flip]", 1), "linear": ("linear:8:32[:flip]", 2), "sigmoid": ("sigmoid:16:1[:flip]", 2)}
    if kind not in forms:
        raise InvalidArgumentError(f"unknown schedule '{text}'; use a number, swap:16, linear:8:32, sigmoid:16:1, "
                                   "table:4:1,8:0.5,*:0 or layers:b4.conv1:1,*:0")
    form, count = forms[kind]
    if len(args) != count:
        raise InvalidArgumentError(f"schedule '{text}' needs {count} argument(s): {form}")
    if kind == "swap":
        return Swap(_parse_int(args[0], "swap resolution"), flip)
    if kind == "linear":
        return Linear(_parse_int(args[0], "from-res"), _parse_int(args[1], "to-res"), flip)
    return Sigmoid(_parse_float(args[0], "sigmoid centre"), _parse_float(args[1], "sigmoid width"), flip)

