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

from ..errors import InvalidArgumentError
from ..io.checkpoint import Checkpoint, save_checkpoint
from .channels import ChannelMask, check_masks
from .compat import check_configs, check_states
from .core import (
    MappingChoice,
    WeightsFn,
    apply_plan,
    blend_state_dicts,
    multi_model_weights,
    plan_weights,
    two_model_weights,
)
from .multi import MultiSchedule
from .recipe import Recipe, file_sha256, layer_weights, recipe_path, write_recipe
from .schedules import Schedule, Swap, with_groups

log = logging.getLogger(__name__)

WRITABLE_FORMATS = ("native", "nvidia-pkl", "rosinality")


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


def _input_record(role: str, ckpt: Checkpoint, hash_inputs: bool) -> dict:
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
    g_ema = apply_plan(states, plan)
    networks = {"g_ema": "blended"}
    g = base.g
    if base.g is not None and all(t.g is not None for t in transfers):
        g = blend_state_dicts([base.g] + [t.g for t in transfers], weights_fn, cfg)  # type: ignore[list-item]
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
    out = Checkpoint(g_config=cfg, g_ema=g_ema, d_config=base.d_config, g=g, d=base.d, format=base.format,
                     source=base.source, meta=meta, source_layout=base.source_layout)
    return out, recipe


_SUFFIX_FORMATS = {".safetensors": "native", ".pkl": "nvidia-pkl", ".pt": "rosinality", ".pth": "rosinality"}


def output_format(ckpt: Checkpoint, out: str | Path | None = None) -> str:
    """The format a blend is written in when none is asked for.

    The output name's suffix decides when it names a format (.safetensors native, .pkl NVIDIA pickle,
    .pt/.pth rosinality); otherwise the base's own format, else native.
    """
    if out is not None and Path(out).suffix.lower() in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[Path(out).suffix.lower()]
    return ckpt.format if ckpt.format in WRITABLE_FORMATS else "native"


def save_blend(ckpt: Checkpoint, recipe: Recipe, out: str | Path, fmt: str | None = None) -> tuple[Path, Path]:
    """Write the blended checkpoint atomically and ``<out>.recipe.json`` beside it.

    fmt: None picks :func:`output_format` (the suffix of ``out``, else the base's format). An NVIDIA
        pickle is the base's own pickle with its tensors replaced, so it needs an NVIDIA base.

    Returns (checkpoint path, recipe path). The recipe is written after the model, so a recipe
    always describes a complete file.
    """
    fmt = fmt or output_format(ckpt, out)
    if fmt != ckpt.format and ckpt.format != "memory":
        log.info("writing the blend as %s (the base is %s)", fmt, ckpt.format)
    out = Path(out)
    recipe.output = {"path": str(out), "format": fmt}
    save_checkpoint(ckpt, out, fmt)
    return out, write_recipe(recipe, recipe_path(out))


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
    hashes: list | None = None
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
