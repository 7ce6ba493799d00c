"""How far apart are two generators, layer by layer? Diagnostics before blending.

Blending interpolates weights, which only makes sense when the models share an origin: a transfer
model fine-tuned from the base keeps most weights close to the base's (relative distance
||a - b|| / ||a|| well below 0.5), while two independently trained or initialised networks differ by
about sqrt(2) ≈ 1.4 in every layer (independent weights of equal scale), and blending them gives
broken images - a frequent report. The per-resolution distances also show where fine-tuning changed
the model most, i.e. which resolutions carry what the transfer learned.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import torch

from ..nn.naming import is_generator_key, param_info

StateDict = dict[str, torch.Tensor]

# Above this median relative distance of conv weights (or of the mapping) the models are not base+fine-tune.
UNRELATED_THRESHOLD = 0.5


@dataclass(frozen=True)
class Distance:
    """Relative distance ||a - b|| / ||a|| of a set of tensors (inf when ||a|| = 0 but b differs)."""

    name: str
    resolution: int | None
    group: str
    relative: float
    norm: float


@dataclass
class DiffReport:
    """Distances between model A (the reference, e.g. the base) and model B.

    layers: one row per (layer, group), in A's key order.
    resolutions: per block resolution, over all trained synthesis tensors of the block.
    mapping: the mapping network's relative distance (None if not comparable).
    conv_median: median relative distance over conv weights.
    incomparable: keys present in only one model or with different shapes.
    warnings / suggestions: human-readable findings.
    """

    layers: list[Distance]
    resolutions: list[Distance]
    mapping: float | None
    conv_median: float | None
    incomparable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def related(self) -> bool:
        """True when B looks like a fine-tune of A (or the reverse)."""
        checks = [v for v in (self.conv_median, self.mapping) if v is not None]
        return bool(checks) and all(v <= UNRELATED_THRESHOLD for v in checks)


def _relative(diff_sq: float, norm_sq: float) -> float:
    if norm_sq == 0.0:
        return 0.0 if diff_sq == 0.0 else math.inf
    return math.sqrt(diff_sq / norm_sq)


def diff_state_dicts(a: StateDict, b: StateDict) -> DiffReport:
    """Compare two generator state dicts tensor by tensor (pure; float64 sums).

    Fixed buffers (resampling filters) and the stored noise images (not trained) are left out of the
    per-resolution totals; they still appear per layer.
    """
    rows: dict[tuple[str, str], list[float]] = {}
    res_of: dict[tuple[str, str], int | None] = {}
    per_res: dict[int, list[float]] = {}
    mapping = [0.0, 0.0]
    conv: list[float] = []
    incomparable = []
    for key, ta in a.items():
        if not is_generator_key(key):
            continue
        tb = b.get(key)
        if tb is None or tuple(tb.shape) != tuple(ta.shape):
            incomparable.append(key)
            continue
        info = param_info(key)
        if info.group == "buffer":
            continue
        fa = ta.detach().to(torch.float64)
        d_sq = float((fa - tb.detach().to(torch.float64)).square().sum())
        n_sq = float(fa.square().sum())
        row = rows.setdefault((info.layer, info.group), [0.0, 0.0])
        row[0] += d_sq
        row[1] += n_sq
        res_of[(info.layer, info.group)] = info.resolution
        if info.group in ("mapping",):
            mapping[0] += d_sq
            mapping[1] += n_sq
        elif info.resolution is not None and not key.endswith("noise_const"):
            acc = per_res.setdefault(info.resolution, [0.0, 0.0])
            acc[0] += d_sq
            acc[1] += n_sq
        if info.group == "conv" and key.endswith(".weight"):
            conv.append(_relative(d_sq, n_sq))
    incomparable += [k for k in b if is_generator_key(k) and k not in a]
    report = DiffReport(
        layers=[Distance(layer, res_of[(layer, group)], group, _relative(*v), math.sqrt(v[1]))
                for (layer, group), v in rows.items()],
        resolutions=[Distance(f"b{r}", r, "synthesis", _relative(*v), math.sqrt(v[1]))
                     for r, v in sorted(per_res.items())],
        mapping=_relative(*mapping) if mapping[1] > 0 else None,
        conv_median=statistics.median(conv) if conv else None,
        incomparable=incomparable)
    _findings(report)
    return report


def _findings(report: DiffReport) -> None:
    w, s = report.warnings, report.suggestions
    if report.incomparable:
        w.append(f"{len(report.incomparable)} tensors exist in only one model or differ in shape (first: "
                 f"'{report.incomparable[0]}'); the architectures differ, so only shared blocks can be blended")
    if report.conv_median is not None and report.conv_median > UNRELATED_THRESHOLD:
        w.append(f"the median relative distance of conv weights is {report.conv_median:.2f} (> {UNRELATED_THRESHOLD}): "
                 "these look like unrelated models, not a base and its fine-tune; blending them will give "
                 "broken images")
    if report.mapping is not None and report.mapping > UNRELATED_THRESHOLD:
        w.append(f"the mapping networks differ by {report.mapping:.2f} (> {UNRELATED_THRESHOLD}): unrelated models, "
                 "blending will give broken images (take the mapping from one model only)")
    finite = [d for d in report.resolutions if math.isfinite(d.relative)]
    if finite and all(d.relative == 0 for d in finite) and not report.mapping:
        s.append("the generators are identical")
        return
    if report.related and finite:
        top = sorted(finite, key=lambda d: d.relative, reverse=True)[:3]
        s.append("fine-tuning changed resolutions " + ", ".join(f"{d.resolution} ({d.relative:.3f})" for d in top)
                 + " most; these carry what the transfer model learned")
        low = [d for d in finite if d.resolution is not None and d.resolution <= 16]
        if low and max(d.relative for d in low) >= max(d.relative for d in finite) / 2:
            s.append("the low resolutions changed a lot: a swap (structure from the transfer, e.g. --swap-res 16) "
                     "should carry its shapes into the base's rendering")
        else:
            s.append("mostly the high resolutions changed: try --flip (structure from the base, rendering from "
                     "the transfer) or a low swap resolution such as 8")


def format_diff(report: DiffReport, per_layer: bool = False) -> str:
    """Plain-text report: per-resolution (and optionally per-layer) distances, then warnings and suggestions."""
    lines = ["relative weight distance ||A-B|| / ||A||", ""]
    if report.mapping is not None:
        lines.append(f"{'mapping':<14} {report.mapping:8.4f}")
    for d in report.resolutions:
        lines.append(f"{d.name:<14} {d.relative:8.4f}  {_bar(d.relative)}")
    if report.conv_median is not None:
        lines.append(f"{'conv median':<14} {report.conv_median:8.4f}")
    if per_layer:
        lines += ["", f"{'layer':<16} {'group':<8} {'distance':>9}"]
        lines += [f"{d.name:<16} {d.group:<8} {d.relative:9.4f}" for d in report.layers]
    lines += [""] + [f"warning: {m}" for m in report.warnings] + [f"note: {m}" for m in report.suggestions]
    return "\n".join(lines).rstrip()


def _bar(value: float, width: int = 30) -> str:
    if not math.isfinite(value):
        return "inf"
    return "#" * min(width, round(value / 1.5 * width))

