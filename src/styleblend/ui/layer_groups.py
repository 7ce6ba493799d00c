"""The page's α sliders for either generator family: one per StyleGAN2 block resolution, one per StyleGAN3
layer group.

StyleGAN3 has no resolution blocks. Its layers are grouped by **output size** (the ``52`` of ``L7_52_48``, margin
included): layers of one size share a sampling rate in NVIDIA's designs, run coarse to fine, and a size table
(``size:table:36:1,52:0.5,32:0``, :mod:`styleblend.blend.axes`) is a schedule the CLI reads back, so a page blend
is a recipe ``styleblend blend`` rebuilds exactly. A group's label names its sampling rates and size
('sampling rate 16–32 · 52 px'); the final critically sampled layers (e.g. 32 px after 52 px) are their own group.

Each slider has an *anchor*: one tensor key of the group whose α a schedule gives the whole group on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..blend.axes import AxisSchedule
from ..blend.schedules import Linear, Schedule, Sigmoid, Swap, Table
from ..config_sg3 import AnyGeneratorConfig, is_stylegan3
from ..errors import InvalidArgumentError
from ..nn.naming import generator_layers, param_info


@dataclass(frozen=True)
class SliderGroup:
    """One α slider: ``key`` (StyleGAN2: block resolution; StyleGAN3: output size), a label for people, the
    layers it sets, the W+ rows they read and the anchor tensor (see the module docstring)."""

    key: int
    label: str
    layers: tuple[str, ...]
    ws: tuple[int, ...]
    anchor: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "layers": list(self.layers), "ws": list(self.ws)}


def slider_groups(cfg: AnyGeneratorConfig) -> list[SliderGroup]:
    """The sliders of a generator, coarse to fine."""
    layers = [layer for layer in generator_layers(cfg) if layer.kind != "mapping"]
    if not is_stylegan3(cfg):
        return [SliderGroup(r, f"{r} px", tuple(layer.name for layer in layers if layer.resolution == r),
                            tuple(sorted({layer.ws_index for layer in layers
                                          if layer.resolution == r and layer.ws_index is not None})),
                            f"synthesis.b{r}.conv1.weight")
                for r in cfg.block_resolutions]
    sizes: dict[int, list[Any]] = {}
    for layer in layers:
        size = cfg.input_spec.size if layer.name == "input" else int(layer.name.split("_")[1])
        sizes.setdefault(size, []).append(layer)
    groups = []
    for size, members in sizes.items():
        rates = sorted({int(layer.resolution) for layer in members})
        span = str(rates[0]) if len(rates) == 1 else f"{rates[0]}–{rates[-1]}"
        first = members[0].name
        anchor = "synthesis.input.weight" if first == "input" else f"synthesis.{first}.weight"
        groups.append(SliderGroup(size, f"sampling rate {span} · {size} px", tuple(m.name for m in members),
                                  tuple(m.ws_index for m in members), anchor))
    return groups


def page_schedule(cfg: AnyGeneratorConfig, keys: Sequence[int], alphas: Sequence[float]) -> Schedule:
    """The sliders as a schedule: a per-resolution :class:`Table` (StyleGAN2) or a ``size`` table (StyleGAN3)."""
    if is_stylegan3(cfg):
        return AxisSchedule("size", "table", table=tuple((float(k), float(a)) for k, a in zip(keys, alphas)))
    return Table(tuple(zip(keys, alphas)))


def group_alphas(schedule: Schedule, cfg: AnyGeneratorConfig) -> list[float]:
    """The α ``schedule`` gives each slider's anchor tensor."""
    return [schedule.alpha(param_info(g.anchor, cfg)) for g in slider_groups(cfg)]


def group_preset(cfg: AnyGeneratorConfig, kind: str, res: float, from_res: float, to_res: float, centre: float,
                 width: float, flip: bool) -> list[float]:
    """A preset (swap / linear / sigmoid, arguments in slider keys) on StyleGAN3's groups: the groups in order
    stand where StyleGAN2's blocks would (one octave each), so 'swap at 52 px' takes every group up to the 52 px
    one from the transfer and 'sigmoid, width 1' falls over about one group, as on StyleGAN2's blocks.

    Raises:
        InvalidArgumentError: a key that is no group's.
    """
    keys = [g.key for g in slider_groups(cfg)]

    def place(value: float, what: str) -> float:
        if value not in keys:
            raise InvalidArgumentError(f"{what} {value:g} is not one of this model's layer groups (output sizes "
                                       f"{', '.join(map(str, keys))} px); pick one of those")
        return float(4 << keys.index(int(value)))

    schedule: Schedule
    if kind == "swap":
        schedule = Swap(int(place(res, "swap at")), flip=flip)
    elif kind == "linear":
        schedule = Linear(int(place(from_res, "linear from")), int(place(to_res, "linear to")), flip=flip)
    else:
        schedule = Sigmoid(place(centre, "sigmoid centre"), float(width), flip=flip)
    return [round(schedule.alpha(param_info(f"synthesis.b{4 << i}.conv1.weight")), 4) for i in range(len(keys))]


def group_ws_layers(cfg: AnyGeneratorConfig) -> dict[str, Any]:
    """The page's layer row for StyleGAN3 (StyleGAN2's is the service's ``ws_layers``): 'blocks' [{res: group
    key, ws}] and 'owner' (per W+ row, the key of the group whose layer reads it)."""
    groups = slider_groups(cfg)
    owner = {i: g.key for g in groups for i in g.ws}
    return {"blocks": [{"res": g.key, "ws": list(g.ws)} for g in groups],
            "owner": [owner[i] for i in range(cfg.num_ws)]}
