"""The pure blending core: N generator state dicts + weights per tensor -> a new state dict.

For every generator tensor p, with models [base, transfer1, ...] and weights w_i summing to 1,

    p = Σ_i w_i · p_i        (two models: p = p_base + α · (p_transfer - p_base)),

where the weights come from a schedule of the tensor's resolution, layer and group (Pinkney & Adler
2020, "Resolution Dependent GAN Interpolation for Controllable Image Synthesis Between Domains",
Sec. 3). A weight may be a vector over the tensor's output channels (:mod:`.channels`).

Guarantees: no I/O, no device moves, the base's dtype is kept, and a tensor whose weights are one-hot
is that model's tensor bit for bit (selected, not computed) - so α = 0 everywhere is exactly the
base and α = 1 exactly the transfer. Tensors taken whole are returned as-is, not copied (the inputs
are never modified; clone before changing the output in place). Resampling filters are fixed buffers
and always come from the base.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..nn.naming import ParamInfo, param_info
from .channels import ChannelMask, channel_alpha, check_masks
from .compat import check_states
from .multi import MultiSchedule
from .schedules import ByGroup, Constant, Schedule

StateDict = dict[str, torch.Tensor]
Weight = float | torch.Tensor
# (tensor info, tensor shape) -> one weight per model; a tensor weight is a vector over the output channels.
WeightsFn = Callable[[ParamInfo, torch.Size], Sequence[Weight]]
MappingChoice = str | float | Sequence[float]

_TOL = 1e-6


def blend_state_dicts(states: Sequence[StateDict], weights_fn: WeightsFn, config: AnyGeneratorConfig) -> StateDict:
    """Blend N generator state dicts tensor by tensor.

    Args:
        states: [base, transfer1, ...] generator state dicts (canonical keys). The output has the base's
            keys; a lower-resolution model gives its weight for blocks above its resolution to the base.
        weights_fn: ``(param_info, shape) -> weights``, one per model, each a float or a vector [C] over
            the tensor's output channels (``param_info.channel_dim``); in [0, 1], summing to 1.
        config: the base's architecture.

    Returns:
        A new state dict (the base's keys, dtypes and device; all inputs must be on one device).

    Raises:
        ArchitectureMismatchError: the models' tensors do not correspond (see :func:`.compat.check_states`).
        InvalidArgumentError: weights of the wrong count, outside [0, 1] or not summing to 1.
    """
    return apply_plan(states, plan_weights(states, weights_fn, config))


def apply_plan(states: Sequence[StateDict], plan: dict[str, tuple[Weight, ...]]) -> StateDict:
    """Blend with weights already validated by :func:`plan_weights` (e.g. for G after G_ema)."""
    return {key: _combine([s.get(key) for s in states], plan[key], param_info(key), key) for key in states[0]}


def plan_weights(states: Sequence[StateDict], weights_fn: WeightsFn,
                 config: AnyGeneratorConfig) -> dict[str, tuple[Weight, ...]]:
    """The validated weights :func:`blend_state_dicts` uses for every key of the base (no tensors computed)."""
    if not states:
        raise InvalidArgumentError("blending needs at least one state dict")
    coverage = check_states(states, config)
    n = len(states)
    devices = {v.device for s in states for v in s.values()}
    if len(devices) > 1:
        raise InvalidArgumentError(f"the state dicts are on several devices {sorted(map(str, devices))}; move them "
                                   "to one device first (blending never moves tensors)")
    plan: dict[str, tuple[Weight, ...]] = {}
    for key, value in states[0].items():
        info = param_info(key, config)
        if info.group == "buffer":
            plan[key] = tuple(1.0 if i == 0 else 0.0 for i in range(n))
            continue
        weights = list(weights_fn(info, value.shape))
        if len(weights) != n:
            raise InvalidArgumentError(f"the schedule gives {len(weights)} weights for '{key}' but there are "
                                       f"{n} models")
        lacking = [i for i in range(1, n) if key in coverage[i].missing]
        if lacking:
            # A lower-resolution model has no such block: its share goes to the base.
            for i in lacking:
                weights[0], weights[i] = weights[0] + weights[i], 0.0
            if all(_is_zero(w) for w in weights[1:]):
                weights[0] = 1.0
        plan[key] = tuple(_check(w, key, value, info) for w in weights)
        total = sum(plan[key])
        worst = float((total - 1).abs().max()) if isinstance(total, torch.Tensor) else abs(total - 1)
        if worst > _TOL:
            raise InvalidArgumentError(f"the weights for '{key}' sum to {1 + worst:g}, not 1; the weights of the "
                                       "models must sum to 1 for every tensor")
    return plan


def _is_zero(w: Weight) -> bool:
    return bool((w == 0).all()) if isinstance(w, torch.Tensor) else w == 0.0


def _check(w: Weight, key: str, value: torch.Tensor, info: ParamInfo) -> Weight:
    if isinstance(w, torch.Tensor):
        if info.channel_dim is None or w.ndim != 1 or w.shape[0] != value.shape[info.channel_dim]:
            raise InvalidArgumentError(f"a per-channel weight of shape {tuple(w.shape)} does not fit '{key}' "
                                       f"(shape {tuple(value.shape)}, channel dim {info.channel_dim})")
        if bool(((w < 0) | (w > 1)).any()):
            raise InvalidArgumentError(f"per-channel weights for '{key}' must be in [0, 1]")
        return w.to(torch.float64)
    w = float(w)
    if not 0.0 <= w <= 1.0:
        raise InvalidArgumentError(f"weight {w:g} for '{key}' must be in [0, 1] (extrapolation is not supported)")
    return w


def _combine(tensors: Sequence[torch.Tensor | None], weights: tuple[Weight, ...], info: ParamInfo,
             key: str) -> torch.Tensor:
    base = tensors[0]
    assert base is not None
    for t, w in zip(tensors, weights):
        if not isinstance(w, torch.Tensor) and w == 1.0:
            assert t is not None  # plan_weights gives a missing tensor's share to the base
            return t  # exact: selected, never computed (the other weights are then 0)
    if not base.is_floating_point():
        raise InvalidArgumentError(f"'{key}' is an integer tensor and can only be taken whole from one model")
    compute = torch.promote_types(base.dtype, torch.float32)
    shape = [1] * base.ndim  # a per-channel weight broadcasts along the output-channel dimension
    if info.channel_dim is not None:
        shape[info.channel_dim] = -1

    def as_weight(w: Weight) -> float | torch.Tensor:
        if isinstance(w, torch.Tensor):
            return w.to(device=base.device, dtype=compute).reshape(shape)
        return w

    ws = [as_weight(w) for w in weights]
    if len(tensors) == 2:
        other = tensors[1]
        assert other is not None
        out = torch.lerp(base.to(compute), other.to(compute), ws[1])
    else:
        out = torch.zeros(base.shape, dtype=compute, device=base.device)
        for t, w in zip(tensors, ws):
            if t is not None and (isinstance(w, torch.Tensor) or w != 0.0):
                out = out + t.to(compute) * w
    out = out.to(base.dtype)
    # Where a channel's weights are one-hot, select that model's values exactly.
    for t, w in zip(tensors, ws):
        if isinstance(w, torch.Tensor) and t is not None:
            out = torch.where(w == 1, t, out)
    return out


def mapping_alpha(choice: MappingChoice) -> float:
    """α of the mapping network and w_avg: 'base' 0, 'transfer' 1, 'blend' 0.5, or a number in [0, 1]."""
    named = {"base": 0.0, "transfer": 1.0, "blend": 0.5}
    if isinstance(choice, str):
        if choice in named:
            return named[choice]
        try:
            value = float(choice)
        except ValueError:
            raise InvalidArgumentError(f"mapping={choice!r} must be base, transfer, blend or a number in "
                                       "[0, 1]") from None
    elif isinstance(choice, (int, float)):
        value = float(choice)
    else:
        raise InvalidArgumentError(f"mapping={choice!r} must be base, transfer, blend or a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"mapping alpha {value:g} must be in [0, 1]")
    return value


def full_schedule(schedule: Schedule, mapping: MappingChoice = "base") -> ByGroup:
    """``schedule`` with the mapping network and w_avg set by ``mapping`` unless it overrides those groups.

    w_avg follows the mapping by default: it is the mean of the mapping's output, used for truncation.
    """
    a = Constant(mapping_alpha(mapping))
    overrides: dict[str, Schedule] = {"mapping": a, "w_avg": a}
    default = schedule
    if isinstance(schedule, ByGroup):
        default = schedule.default
        overrides.update(dict(schedule.overrides))
    return ByGroup(default, tuple(overrides.items()))


def two_model_weights(schedule: Schedule, mapping: MappingChoice = "base",
                      channels: Sequence[ChannelMask] = ()) -> WeightsFn:
    """Weights (1 - α, α) for [base, transfer] from a schedule, the mapping choice and channel masks."""
    full = full_schedule(schedule, mapping)
    masks = tuple(channels)

    def weights(info: ParamInfo, shape: torch.Size) -> tuple[Weight, Weight]:
        alpha = full.alpha(info)
        a: Weight = alpha
        if masks and info.channel_dim is not None:
            a = channel_alpha(info, alpha, shape[info.channel_dim], masks)
        return (1 - a, a)

    return weights


def multi_model_weights(schedule: MultiSchedule, mapping: MappingChoice = "base") -> WeightsFn:
    """Weights over [base, transfer1, ...] from an N-model schedule.

    mapping: 'base' (default), 'transfer' (transfer 1), 'blend' (equal weights) or one weight per model.
    """
    n = schedule.num_models
    if isinstance(mapping, str):
        named = {"base": [1.0] + [0.0] * (n - 1), "transfer": [0.0, 1.0] + [0.0] * (n - 2), "blend": [1.0 / n] * n}
        if mapping not in named:
            raise InvalidArgumentError(f"mapping={mapping!r} must be base, transfer, blend or one weight per model")
        mw = tuple(named[mapping])
    elif isinstance(mapping, (int, float)):
        raise InvalidArgumentError(f"mapping={mapping!r}: with {n} models give base, transfer, blend or one weight "
                                   "per model")
    else:
        mw = tuple(float(x) for x in mapping)
        if len(mw) != n or any(not 0 <= x <= 1 for x in mw) or abs(sum(mw) - 1) > _TOL:
            raise InvalidArgumentError(f"mapping weights {list(mw)} must be one weight in [0, 1] per model ({n}), "
                                       "summing to 1")

    def weights(info: ParamInfo, shape: torch.Size) -> tuple[float, ...]:
        if info.group in ("mapping", "w_avg"):
            return mw
        return schedule.weights(info)

    return weights


def blend_two(base: StateDict, transfer: StateDict, schedule: Schedule, config: AnyGeneratorConfig,
              mapping: MappingChoice = "base", channels: Sequence[ChannelMask] = ()) -> StateDict:
    """Blend two generator state dicts: p = p_base + α(r) · (p_transfer - p_base).

    Args:
        base, transfer: generator state dicts; ``transfer`` may be of a lower resolution.
        schedule: α per tensor (e.g. ``Swap(16)``: structure from the transfer, rendering from the base).
        config: the base's architecture.
        mapping: the mapping network and w_avg: 'base' (default, as in the paper), 'transfer', 'blend'
            (α = 0.5) or α in [0, 1]; a schedule with 'mapping'/'w_avg' group overrides wins.
        channels: per-output-channel α for chosen layers (applied after the schedule).
    """
    schedule.validate(config)
    check_masks(channels, config)
    return blend_state_dicts([base, transfer], two_model_weights(schedule, mapping, channels), config)
