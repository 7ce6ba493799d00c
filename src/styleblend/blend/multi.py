"""Schedules over N models: weights (w_base, w_transfer1, ...) per tensor, summing to 1.

Pinkney & Adler's interpolation generalises to several models fine-tuned from one base: e.g. the
structure (low resolutions) from one, the mid-level features from a second and the rendering from
the base. Models are always ordered [base, transfer1, transfer2, ...].

Spec strings (:func:`parse_multi_schedule`)::

    bands:8,32                          transfer1 for r <= 8, transfer2 for 8 < r <= 32, base above
    weights:4:0/1/0,8:0/0.5/0.5,*:1/0/0 explicit weights per resolution; '*' is the default
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..nn.naming import ParamInfo
from .schedules import (
    Table,
    _check_alpha,
    _check_res,
    _freeze,
    _num,
    _parse_int,
    _resolution,
)
from .tables import parse_float as _parse_float
from .tables import parse_pairs


class MultiSchedule:
    """Interface of N-model schedules: ``weights(param) -> (w_base, w_transfer1, ...)``, summing to 1."""

    num_models: int

    def weights(self, param: ParamInfo) -> tuple[float, ...]:
        raise NotImplementedError

    def spec(self) -> str:
        raise NotImplementedError

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        """Raise InvalidArgumentError when the schedule names resolutions ``cfg`` lacks."""


@dataclass(frozen=True)
class Bands(MultiSchedule):
    """Resolution bands, coarse to fine: transfer 1 for r <= edges[0], transfer 2 up to edges[1], ...,
    the base above edges[-1] (models are ordered [base, transfer1, transfer2, ...]).

    With one edge this is :class:`Swap`: structure from the transfer, rendering from the base.
    E.g. edges (8, 32) with [photo, cartoon, sketch]: 4-8 from the cartoon, 16-32 from the sketch,
    64 and up from the photo.
    """

    edges: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.edges:
            raise InvalidArgumentError("bands need at least one edge resolution, e.g. '8,32'")
        for e in self.edges:
            _check_res(e, "band edge")
        if list(self.edges) != sorted(set(self.edges)):
            raise InvalidArgumentError(f"band edges {list(self.edges)} must increase strictly, e.g. 8,32")

    @property
    def num_models(self) -> int:  # type: ignore[override]
        return len(self.edges) + 1

    def weights(self, param: ParamInfo) -> tuple[float, ...]:
        res = _resolution(param, "bands")
        n = self.num_models
        owner = next((k + 1 for k, e in enumerate(self.edges) if res <= e), 0)
        return tuple(1.0 if i == owner else 0.0 for i in range(n))

    def spec(self) -> str:
        return "bands:" + ",".join(str(e) for e in self.edges)

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        if self.edges[-1] > cfg.img_resolution:
            raise InvalidArgumentError(f"band edge {self.edges[-1]} exceeds the model's resolution "
                                       f"{cfg.img_resolution}")


@dataclass(frozen=True)
class WeightTable(MultiSchedule):
    """Explicit weights per resolution over [base, transfer1, ...]; ``default`` for unlisted ones."""

    values: tuple[tuple[int, tuple[float, ...]], ...]
    default: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _freeze(self)
        object.__setattr__(self, "values", tuple((r, tuple(w)) for r, w in self.values))
        if self.default is not None:
            object.__setattr__(self, "default", tuple(self.default))
        rows = [w for _, w in self.values] + ([self.default] if self.default is not None else [])
        if not rows:
            raise InvalidArgumentError("the weight table is empty; write e.g. '4:0/1/0,8:0/0.5/0.5,*:1/0/0'")
        n = len(rows[0])
        for res, _ in self.values:
            _check_res(res, "weight table resolution")
        for w in rows:
            if len(w) != n:
                raise InvalidArgumentError(f"weight rows {rows} have different lengths; give one weight per model")
            _check_weights(w, "weight table row")

    @property
    def num_models(self) -> int:  # type: ignore[override]
        return len(self.values[0][1]) if self.values else len(self.default or ())

    def weights(self, param: ParamInfo) -> tuple[float, ...]:
        res = _resolution(param, "weight table")
        table = dict(self.values)
        if res in table:
            return table[res]
        if self.default is None:
            raise InvalidArgumentError(f"the weight table has no row for resolution {res}; add '{res}:w0/w1/...' "
                                       "or a default '*:1/0/...'")
        return self.default

    def spec(self) -> str:
        rows = [(str(r), w) for r, w in self.values] + ([("*", self.default)] if self.default is not None else [])
        return "weights:" + ",".join(f"{k}:" + "/".join(_num(x) for x in w) for k, w in rows)

    def validate(self, cfg: AnyGeneratorConfig) -> None:
        Table(tuple((r, 0.0) for r, _ in self.values), None if self.default is None else 0.0).validate(cfg)


def _check_weights(weights: tuple[float, ...], what: str) -> None:
    for w in weights:
        _check_alpha(w, what)
    if abs(sum(weights) - 1.0) > 1e-6:
        raise InvalidArgumentError(f"{what} {list(weights)} sums to {sum(weights):g}; the weights over the models "
                                   "must sum to 1")


def parse_multi_schedule(text: str) -> MultiSchedule:
    """'bands:8,32' -> :class:`Bands`; 'weights:4:0/1/0,8:0/0.5/0.5,*:1/0/0' -> :class:`WeightTable`."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "bands":
        return Bands(tuple(_parse_int(e.strip(), "band edge") for e in rest.split(",") if e.strip()))
    if kind == "weights":
        pairs, default = parse_pairs(rest, "weight table")

        def row(value: str, where: str) -> tuple[float, ...]:
            return tuple(_parse_float(x, f"weight at {where}") for x in value.split("/"))

        return WeightTable(tuple((_parse_int(k, "weight table resolution"), row(v, k)) for k, v in pairs),
                           None if default is None else row(default, "*"))
    raise InvalidArgumentError(f"unknown N-model schedule '{text}'; use bands:8,32 or "
                               "weights:4:0/1/0,8:0/0.5/0.5,*:1/0/0")
