"""Blend recipes in the page: the page's blend as a recipe, and a recipe as the page's sliders.

A recipe has the keys of the one ``styleblend blend`` writes beside its output (``<out>.recipe.json``, see
:mod:`styleblend.blend.recipe`) that say how to rebuild the model - ``inputs``, ``schedule`` (a spec that
:func:`~styleblend.blend.schedules.parse_schedule` reads), ``mapping`` and ``channels`` - plus ``command``,
the ``styleblend blend`` line that rebuilds it. The page sets one α per block resolution (StyleGAN3: per layer
group, :mod:`.layer_groups`); a recipe it cannot show that way (per-layer or per-group α that differ within a
block or group, channel masks, several transfers, a numeric mapping) is refused with what differs, rather than
loaded approximately.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import torch

from ..blend.core import plan_weights, two_model_weights
from ..blend.schedules import Schedule, parse_schedule
from ..errors import InvalidArgumentError
from ..io import Checkpoint
from .inputs import ALPHA_DECIMALS
from .layer_groups import group_alphas, page_schedule

#: The mapping choices the page offers.
PAGE_MAPPINGS = ("base", "transfer", "blend")
#: Largest schedule spec read from a recipe (a table of a 1024 px model is ~100 characters).
MAX_SPEC_CHARS = 10_000
#: α differences below this are the page's rounding (to :data:`ALPHA_DECIMALS` decimals), not a different blend.
ROUNDING = 0.5 * 10.0**-ALPHA_DECIMALS + 1e-9
_REBUILD = "rebuild it with 'styleblend blend' instead"


def recipe_for_page(base: Checkpoint, transfer: Checkpoint, resolutions: Sequence[int], alphas: Sequence[float],
                    mapping: str, digests: Sequence[str | None], out_name: str) -> dict[str, Any]:
    """The recipe of the page's blend (JSON-able), with the ``styleblend blend`` command that rebuilds it as
    ``out_name`` from the two input files (named as the page knows them; run it where they are)."""
    spec = page_schedule(base.g_config, resolutions, alphas).spec()
    inputs = [_input(role, ckpt, digest) for role, ckpt, digest in zip(("base", "transfer"), (base, transfer), digests)]
    command = ["styleblend", "blend", "--base", inputs[0]["path"], "--transfer", inputs[1]["path"], "--spec", spec,
               "--mapping", mapping, "--out", out_name]
    return {"inputs": inputs, "schedule": spec, "mapping": mapping, "channels": [], "command": shlex.join(command)}


def _input(role: str, ckpt: Checkpoint, digest: str | None) -> dict[str, Any]:
    return {"role": role, "path": ckpt.source.name if ckpt.source is not None else f"{role}.safetensors",
            "format": ckpt.format, "img_resolution": ckpt.g_config.img_resolution, "sha256": digest}


def sliders_from_recipe(recipe: Any, base: Checkpoint, transfer: Checkpoint, resolutions: Sequence[int],
                        digests: Sequence[str | None] = (None, None)) -> tuple[list[float], str, list[str]]:
    """The page's α per resolution and mapping that rebuild ``recipe`` with the loaded models, and notes.

    Notes say what the person should know but does not stop loading: α rounded to the page's
    :data:`ALPHA_DECIMALS` decimals, inputs whose SHA-256 differs from the loaded models'.

    Raises:
        InvalidArgumentError: not a recipe, or one the page's sliders cannot express (the message says why).
    """
    if not isinstance(recipe, dict):
        raise InvalidArgumentError("a recipe is a JSON object with a 'schedule' such as \"table:4:1,8:1,16:0\" (the "
                                   "<out>.recipe.json that 'styleblend blend' writes, or one copied from this page)")
    spec = recipe.get("schedule")
    if not isinstance(spec, str) or not spec.strip() or len(spec) > MAX_SPEC_CHARS:
        raise InvalidArgumentError(f"the recipe's 'schedule' must be a schedule spec such as \"table:4:1,8:1,16:0\" "
                                   f"(at most {MAX_SPEC_CHARS} characters), not {str(spec)[:60]!r}")
    mapping = recipe.get("mapping", "base")
    if mapping not in PAGE_MAPPINGS:
        raise InvalidArgumentError(f"the recipe's mapping {str(mapping)[:40]!r} is not one the page offers "
                                   f"{list(PAGE_MAPPINGS)}; {_REBUILD}")
    if recipe.get("channels"):
        raise InvalidArgumentError(f"the recipe sets α per channel ({len(recipe['channels'])} mask(s)); the page sets "
                                   f"one α per resolution; {_REBUILD}")
    inputs = recipe.get("inputs") or []
    if not isinstance(inputs, list):
        raise InvalidArgumentError("the recipe's 'inputs' must be a list of {role, path, sha256} objects")
    transfers = [i for i in inputs if isinstance(i, dict) and i.get("role") == "transfer"]
    if len(transfers) > 1:
        raise InvalidArgumentError(f"the recipe blends {len(transfers)} transfer models; the page blends one; "
                                   f"{_REBUILD}")
    schedule = parse_schedule(spec)
    schedule.validate(base.g_config)
    # One tensor of each slider's block or group stands for it (_check_same_blend then checks every other).
    exact = group_alphas(schedule, base.g_config)
    alphas = [round(a, ALPHA_DECIMALS) for a in exact]
    _check_same_blend(schedule, page_schedule(base.g_config, resolutions, alphas), mapping, base, transfer, spec)
    notes = []
    if any(abs(a - e) > 1e-12 for a, e in zip(alphas, exact)):
        notes.append(f"α rounded to the page's {ALPHA_DECIMALS} decimals (the blend differs from the recipe's by at "
                     f"most {0.5 * 10.0**-ALPHA_DECIMALS:g} in α)")
    for role, ckpt, digest in zip(("base", "transfer"), (base, transfer), digests):
        given = next((i for i in inputs if isinstance(i, dict) and i.get("role") == role), {})
        if given.get("sha256") and digest and given["sha256"] != digest:
            notes.append(f"the recipe was made with the {role} {str(given.get('path'))[:80]} (sha256 "
                         f"{str(given['sha256'])[:12]}…), the page has {ckpt.describe()} (sha256 {digest[:12]}…)")
    return alphas, mapping, notes


def _check_same_blend(schedule: Schedule, page: Schedule, mapping: str, base: Checkpoint, transfer: Checkpoint,
                      spec: str) -> None:
    """Raise unless ``page`` gives every tensor the α ``schedule`` gives it (up to the page's rounding)."""
    states, config = [base.g_ema, transfer.g_ema], base.g_config
    wanted = plan_weights(states, two_model_weights(schedule, mapping), config)
    shown = plan_weights(states, two_model_weights(page, mapping), config)
    for key, weights in wanted.items():
        a, b = _alpha(weights[1]), _alpha(shown[key][1])
        if abs(a - b) > ROUNDING:
            raise InvalidArgumentError(f"the recipe's schedule {spec[:120]!r} gives '{key}' α {a:g}, but the page's "
                                       f"slider for its resolution would give {b:g} (the page sets one α per "
                                       f"resolution, or StyleGAN3 layer group, for every layer and group of a block); "
                                       f"{_REBUILD}")


def _alpha(weight: float | torch.Tensor) -> float:
    return float(weight) if not isinstance(weight, torch.Tensor) else float(weight.max())
