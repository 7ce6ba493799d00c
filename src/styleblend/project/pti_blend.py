"""The base's weight in every tensor of a blend, so a PTI delta can follow the base into it.

A blend p = Σ_i w_i p_i over [base, transfer1, ...] (two models: w_0 = 1 - α) turns into the blend of the
*tuned* base by adding w_0 · ΔW (see :mod:`styleblend.project.pti`). The weights are recomputed exactly
from what the blend recorded - its recipe (``<blend>.recipe.json``, written by ``styleblend blend``: schedule,
mapping, channel masks, the inputs' resolutions and hashes), else the ``blend`` entry of the checkpoint's
metadata (schedule and mapping; no channel masks) - or from a schedule the caller gives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..blend.channels import ChannelMask
from ..blend.core import MappingChoice, multi_model_weights, two_model_weights
from ..blend.multi import MultiSchedule, parse_multi_schedule
from ..blend.recipe import recipe_path
from ..blend.schedules import Schedule, parse_schedule
from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..io.checkpoint import Checkpoint
from ..nn.naming import param_info
from .pti import DeltaMismatchError

log = logging.getLogger(__name__)

Weight = float | torch.Tensor
_MULTI_KINDS = ("bands:", "weights:")


def base_weights(config: AnyGeneratorConfig, state: Mapping[str, torch.Tensor],
                 schedule: Schedule | MultiSchedule | str,
                 mapping: MappingChoice = "base", channels: Sequence[ChannelMask] = (),
                 transfer_resolutions: Sequence[int] | None = None) -> dict[str, Weight]:
    """The base's weight w_0 of every key of ``state`` under a blend schedule (1 - α for two models).

    Args:
        config: the base's architecture; state: a state dict of it (gives the keys and shapes).
        schedule: a schedule, or its spec string (``swap:16``, ``bands:8,32``, ...).
        mapping, channels: as given to the blend.
        transfer_resolutions: each transfer's img_resolution; blocks above a lower-resolution transfer's
            resolution came from the base (their weight goes to the base, as in blending).

    Returns:
        key -> float, or a float64 vector over the output channels where a channel mask applied.
    """
    if isinstance(schedule, str):
        schedule = parse_multi_schedule(schedule) if schedule.startswith(_MULTI_KINDS) else parse_schedule(schedule)
    if isinstance(schedule, MultiSchedule):
        fn = multi_model_weights(schedule, mapping)
    else:
        fn = two_model_weights(schedule, mapping, channels)
    res = list(transfer_resolutions or [])
    out: dict[str, Weight] = {}
    for key, value in state.items():
        info = param_info(key, config)
        if info.group == "buffer":
            out[key] = 1.0
            continue
        weights = list(fn(info, value.shape))
        for i in range(1, len(weights)):
            if i - 1 < len(res) and info.resolution is not None and info.resolution > res[i - 1]:
                weights[0], weights[i] = weights[0] + weights[i], 0.0
        w0 = weights[0]
        out[key] = w0.to(torch.float64) if isinstance(w0, torch.Tensor) else float(w0)
    return out


def _masks(records: Sequence[Mapping[str, Any]]) -> list[ChannelMask]:
    masks = []
    for r in records:
        alpha = r["alpha"]
        masks.append(ChannelMask(layer=r["layer"], channels=None if r.get("channels") is None else tuple(r["channels"]),
                                 alpha=tuple(alpha) if isinstance(alpha, list) else float(alpha)))
    return masks


def blend_record(blend_path: str | Path | None, blend: Checkpoint) -> dict[str, Any] | None:
    """What the blend recorded about how it was made: its recipe, else the checkpoint's ``blend`` metadata.

    Returns a dict with 'schedule', 'mapping', 'channels', 'inputs' (list of {role, sha256?, img_resolution?})
    and 'source' ('recipe' or 'metadata'), or None when the blend recorded nothing.
    """
    if blend_path is not None:
        path = recipe_path(blend_path)
        if path.is_file():
            try:
                recipe = json.loads(path.read_text())
                return {"schedule": recipe["schedule"], "mapping": recipe.get("mapping", "base"),
                        "channels": recipe.get("channels") or [], "inputs": recipe.get("inputs") or [],
                        "source": "recipe"}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InvalidArgumentError(f"the recipe '{path}' is unreadable ({exc}); fix or delete it, or give "
                                           "the blend's schedule") from None
    meta = (blend.meta or {}).get("blend")
    if isinstance(meta, dict) and "schedule" in meta:
        inputs = [{"role": "base" if i == 0 else "transfer", "path": p} for i, p in enumerate(meta.get("inputs") or [])]
        return {"schedule": meta["schedule"], "mapping": meta.get("mapping", "base"), "channels": [],
                "inputs": inputs, "source": "metadata"}
    return None


def blend_base_weights(blend: Checkpoint, blend_path: str | Path | None = None, *,
                       schedule: Schedule | MultiSchedule | str | None = None, mapping: MappingChoice = "base",
                       base_sha256: str | None = None) -> dict[str, Weight]:
    """The base's weight per key of ``blend``: from ``schedule`` when given, else from the blend's record.

    Args:
        blend: the blended checkpoint; blend_path: its file (its recipe is looked up beside it).
        schedule, mapping: the blend's schedule when the blend recorded none (or to override the record).
        base_sha256: the base file's hash; a recipe naming another base is refused.

    Raises:
        InvalidArgumentError: no schedule given and none recorded.
        DeltaMismatchError: the recipe names a base with another hash.
    """
    cfg = blend.g_config
    if schedule is not None:
        return base_weights(cfg, blend.g_ema, schedule, mapping)
    record = blend_record(blend_path, blend)
    name = Path(blend_path).name if blend_path is not None else blend.describe()
    if record is None:
        raise InvalidArgumentError(f"blend {name} records no schedule (no {name}{'.recipe.json'} beside it, no blend "
                                   "metadata); give the schedule it was made with as `pti_schedule`, e.g. 'swap:16'",
                                   param="pti_schedule")
    inputs = record["inputs"]
    recorded = inputs[0].get("sha256") if inputs else None
    if base_sha256 and recorded and recorded != base_sha256:
        raise DeltaMismatchError(f"blend {name} was made from a base with sha256 {recorded[:12]}..., not the given "
                                 f"base ({base_sha256[:12]}...); pass the base the blend was made from")
    if record["source"] == "metadata":
        log.info("blend %s has no recipe; its channel masks (if any) are unknown, using schedule %s", name,
                 record["schedule"])
    transfer_res = [int(r["img_resolution"]) for r in inputs[1:] if r.get("img_resolution")]
    return base_weights(cfg, blend.g_ema, record["schedule"], record["mapping"], _masks(record["channels"]),
                        transfer_res if len(transfer_res) == len(inputs) - 1 else None)


def check_blend_of_base(blend_state: Mapping[str, torch.Tensor], base_state: Mapping[str, torch.Tensor],
                        weights: Mapping[str, Weight], what: str = "the blend") -> None:
    """Every tensor the weights say came wholly from the base must equal the base's (the core selects them).

    A blend of another base, or weights that do not describe this blend, fail here before a delta is
    added to the wrong tensors.

    Raises:
        DeltaMismatchError: naming the first tensor that differs.
    """
    for key, w in weights.items():
        whole = bool((w == 1).all()) if isinstance(w, torch.Tensor) else w == 1.0
        if not whole or key not in base_state or key not in blend_state or not key.startswith("synthesis."):
            continue
        # Tolerance: either file may store float16 (the bundled models do); another base differs far more.
        if not torch.allclose(blend_state[key].to(torch.float32), base_state[key].to(torch.float32),
                              rtol=1e-3, atol=1e-5):
            raise DeltaMismatchError(f"{what} does not hold the base's '{key}' although its schedule takes it from "
                                     "the base: it was made from another base or with another schedule; pass the "
                                     "base it was blended from (or its schedule)")
