"""Model-level blending: checkpoints in, a blended checkpoint and its recipe out.

``blend_checkpoints`` applies the pure core to the generators of whole checkpoints: G_ema is blended;
G (the training generator) is blended the same way when every model has one, else the base's is kept;
the discriminator is the base's. The result keeps the base's format and source file, so that
``save_blend`` writes it in the base's own format - for an NVIDIA pickle, the base's pickle with its
tensors replaced, which NVIDIA's tools load.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..io.atomic import atomic_paths
from ..io.checkpoint import Checkpoint
from ..io.digest import file_sha256
from ..io.files import save_checkpoint
from ..io.registry import output_format as output_format  # its old home was here; kept importable from this module
from ..nn.naming import param_info
from .channels import ChannelMask, check_masks
from .compat import check_configs, check_states
from .core import (
    MappingChoice,
    StateDict,
    WeightsFn,
    apply_plan,
    blend_state_dicts,
    multi_model_weights,
    plan_weights,
    two_model_weights,
)
from .multi import MultiSchedule
from .recipe import Recipe, layer_weights, recipe_path, write_recipe
from .schedules import Schedule, Swap, with_groups

log = logging.getLogger(__name__)


def _weights_fn(schedule: Schedule | MultiSchedule, num_models: int, mapping: MappingChoice,
                channels: Sequence[ChannelMask]) -> WeightsFn:
    if isinstance(schedule, MultiSchedule):
        if schedule.num_models != num_models:
            raise InvalidArgumentError(f"the schedule {schedule.spec()!r} distributes over {schedule.num_models} "
                                       f"models but {num_models} were given (the base and {num_models - 1} "
                                       "transfer(s))")
        if channels:
            raise InvalidArgumentError("channel masks work with one transfer model only")
        return multi_model_weights(schedule, mapping)
    if num_models != 2:
        raise InvalidArgumentError(f"{num_models - 1} transfer models need an N-model schedule: bands (e.g. edges "
                                   "8,32) or a weight table (e.g. 4:0/1/0,8:0/0.5/0.5,*:1/0/0)")
    return two_model_weights(schedule, mapping, channels)


def _input_record(role: str, ckpt: Checkpoint, hash_inputs: bool) -> dict[str, Any]:
    source = ckpt.source
    return {"role": role, "path": str(source) if source is not None else None, "format": ckpt.format,
            "img_resolution": ckpt.g_config.img_resolution,
            "sha256": file_sha256(source) if hash_inputs and source is not None and Path(source).is_file() else None}


def blend_checkpoints(base: Checkpoint, transfers: Sequence[Checkpoint], schedule: Schedule | MultiSchedule,
                      mapping: MappingChoice = "base", channels: Sequence[ChannelMask] = (),
                      hash_inputs: bool = True) -> tuple[Checkpoint, Recipe]:
    """Blend the generators of ``base`` and ``transfers`` (Pinkney & Adler 2020).

    Args:
        base: gives the architecture, format, mapping network (by default) and discriminator.
        transfers: one model for a two-model :class:`Schedule`, N-1 models for a :class:`MultiSchedule`.
        schedule: α per tensor (two models) or weights over [base, *transfers].
        mapping: see :func:`~styleblend.blend.core.blend_two` ('base', 'transfer', 'blend' or α).
        channels: per-output-channel α for chosen layers (two models only).
        hash_inputs: record the SHA-256 of each input file in the recipe (reads the files once).

    Returns:
        (the blended checkpoint - format and source of the base - , its :class:`Recipe`).

    Raises:
        ArchitectureMismatchError: the models cannot be blended; InvalidArgumentError: bad schedule.
    """
    if not transfers:
        raise InvalidArgumentError("give at least one transfer model to blend with the base")
    cfg = base.g_config
    for i, t in enumerate(transfers, start=1):
        check_configs(cfg, t.g_config, name=f"transfer {i} ({t.describe()})")
    schedule.validate(cfg)
    check_masks(channels, cfg)
    weights_fn = _weights_fn(schedule, 1 + len(transfers), mapping, channels)
    states = [base.g_ema] + [t.g_ema for t in transfers]
    plan = plan_weights(states, weights_fn, cfg)
    _warn_unmet(states, transfers, weights_fn, cfg)
    g_ema = apply_plan(states, plan)
    networks = {"g_ema": "blended"}
    g = base.g
    if base.g is not None and all(t.g is not None for t in transfers):
        g = blend_state_dicts([base.g] + [t.g for t in transfers if t.g is not None], weights_fn, cfg)  # all have g
        networks["g"] = "blended"
    else:
        networks["g"] = "base" if base.g is not None else "absent"
        if base.g is not None:
            log.info("not every model has a training generator G: the output keeps the base's G")
    networks["d"] = "base" if base.d is not None else "absent"
    coverage = check_states(states, cfg)
    recipe = Recipe(
        inputs=[_input_record("base", base, hash_inputs)]
        + [_input_record(f"transfer{i}" if len(transfers) > 1 else "transfer", t, hash_inputs)
           for i, t in enumerate(transfers, start=1)],
        schedule=schedule.spec(), mapping=mapping if isinstance(mapping, (str, int, float)) else list(mapping),
        channels=[dataclasses.asdict(m) for m in channels], layers=layer_weights(plan, cfg), networks=networks,
        ignored=sorted(set().union(*(c.ignored for c in coverage))))
    meta = dict(base.meta)
    meta["blend"] = {"schedule": recipe.schedule, "mapping": recipe.mapping,
                     "inputs": [r["path"] for r in recipe.inputs]}
    # The base's discriminator, format, source file and whatever its reader kept about that file.
    out = dataclasses.replace(base, g_config=cfg, g_ema=g_ema, g=g, meta=meta)
    return out, recipe


def unmet_resolutions(states: Sequence[StateDict], weights_fn: WeightsFn,
                      cfg: AnyGeneratorConfig) -> dict[int, list[int]]:
    """Resolutions at which the schedule gives a model a share although it has no such block.

    Returns {model index (1 = first transfer): sorted resolutions}; empty when every share can be met.
    A lower-resolution transfer's share above its own resolution goes to the base (see
    :func:`~styleblend.blend.core.plan_weights`), so such a schedule does less than it says.
    """
    coverage = check_states(states, cfg)
    unmet: dict[int, set[int]] = {}
    for i in range(1, len(states)):
        for key in coverage[i].missing:
            info = param_info(key, cfg)
            if info.group == "buffer" or info.resolution is None:
                continue
            w = weights_fn(info, states[0][key].shape)[i]
            if bool((w != 0).any()) if isinstance(w, torch.Tensor) else w != 0:
                unmet.setdefault(i, set()).add(info.resolution)
    return {i: sorted(r) for i, r in unmet.items()}


def _warn_unmet(states: Sequence[StateDict], transfers: Sequence[Checkpoint], weights_fn: WeightsFn,
                cfg: AnyGeneratorConfig) -> None:
    for i, res in unmet_resolutions(states, weights_fn, cfg).items():
        t = transfers[i - 1]
        log.warning("the schedule gives the transfer %s (%d px) a share at %s px, which it does not have; those "
                    "blocks come from the base (use a schedule that ends at %d px to say so)", t.describe(),
                    t.g_config.img_resolution, ", ".join(map(str, res)), t.g_config.img_resolution)


def save_blend(ckpt: Checkpoint, recipe: Recipe, out: str | Path, fmt: str | None = None,
               hash_output: bool = True) -> tuple[Path, Path]:
    """Write the blended checkpoint and ``<out>.recipe.json`` beside it, as one atomic replacement.

    fmt: None picks :func:`~styleblend.io.registry.output_format` (the suffix of ``out``, else the base's
        format). An NVIDIA pickle is the base's own pickle with its tensors replaced, so it needs an NVIDIA base.
    hash_output: record the SHA-256 of the written model in ``recipe.output['sha256']``, so a recipe can
        be checked against the file beside it (:func:`recipe_matches`).

    Both files are written to temporary names first; then an older recipe is removed and the two are
    renamed into place, model first. A run killed at any point leaves the old pair, a model without a
    recipe, or the new pair - never a new model beside the recipe of an older blend.

    Returns (checkpoint path, recipe path).
    """
    fmt = fmt or output_format(ckpt, out)
    if fmt != ckpt.format and ckpt.source is not None:
        log.info("writing the blend as %s (the base is %s)", fmt, ckpt.format)
    out = Path(out)
    recipe_file = recipe_path(out)
    with atomic_paths([out, recipe_file]) as (model_tmp, recipe_tmp):
        save_checkpoint(ckpt, model_tmp, fmt)
        recipe.output = {"path": str(out), "format": fmt,
                         "sha256": file_sha256(model_tmp) if hash_output else None}
        write_recipe(recipe, recipe_tmp)
    return out, recipe_file


def recipe_matches(out: str | Path) -> bool | None:
    """Whether ``<out>.recipe.json`` describes the model file ``out`` (by its recorded SHA-256).

    Returns None when it cannot tell: no recipe, or one written without a hash.
    """
    import json

    path = recipe_path(out)
    try:
        digest = json.loads(path.read_text()).get("output", {}).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    if not digest:
        return None
    return Path(out).is_file() and file_sha256(out) == digest


def swap_sweep(base: Checkpoint, transfer: Checkpoint, flip: bool = False, mapping: MappingChoice = "base",
               channels: Sequence[ChannelMask] = (), groups: dict[str, Schedule] | None = None,
               resolutions: Sequence[int] | None = None,
               hash_inputs: bool = False) -> Iterator[tuple[int, Checkpoint, Recipe]]:
    """Yield one blend per swap resolution (default: every block resolution the transfer has).

    Lazy, so a caller can render or save each blend and drop it before the next is built. Inputs are
    hashed at most once (for the recipes) when ``hash_inputs``.
    """
    res_list = list(resolutions) if resolutions is not None else \
        [r for r in base.g_config.block_resolutions if r <= transfer.g_config.img_resolution]
    hashes: list[str | None] | None = None
    for res in res_list:
        schedule = with_groups(Swap(res, flip=flip), groups or {})
        ckpt, recipe = blend_checkpoints(base, [transfer], schedule, mapping=mapping, channels=channels,
                                         hash_inputs=hash_inputs and hashes is None)
        if hash_inputs:
            if hashes is None:
                hashes = [r["sha256"] for r in recipe.inputs]
            for record, digest in zip(recipe.inputs, hashes):
                record["sha256"] = digest
        yield res, ckpt, recipe
