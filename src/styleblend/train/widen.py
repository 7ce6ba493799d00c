"""Widen a trained generator (more channels per block) without changing what it renders.

Used to test whether more generator capacity helps a run that has levelled off, starting from the
trained model instead of from scratch (GitHub issue 15). A wider architecture is the same preset with a
larger ``channel_base`` / ``channel_max``; every tensor of the wider G is the old tensor in its leading
slice and fresh initial values elsewhere, except:

* **zero outgoing weights**: in every modulated 3x3 conv and toRGB layer, the weights from a *new* input
  channel to an *old* output channel are zero. Old channels therefore see exactly the old features: the
  demodulation of an old output sums over its weights, and the new ones add 0 to that sum, so the image
  is unchanged (up to float rounding of sums with extra zero terms). The new channels compute fresh
  features from the start, and the zero weights get gradients as soon as those features are non-zero
  (``tests/train/test_widen.py`` checks both).
* **toRGB gain**: toRGB scales its styles by ``1 / sqrt(in_channels)`` (equalised learning rate, no
  demodulation), so the old weights are multiplied by ``sqrt(new / old)`` to keep the product.

The widened G_ema gets the same fresh values as G in its new parts. The optimiser state is widened the
same way (old moments kept, ``step`` kept): new entries get a first moment of 0 and, as second moment,
the mean of the old second moments of that tensor - with a zero second moment and the bias correction
of a late step, Adam's first update of a new weight would be about ten times its usual size (beta2 0.99).
D, its optimiser, ADA, the path-length mean, counters and RNG states are carried over unchanged.

Only ``'skip'`` and ``'orig'`` generators are handled: a ``'resnet'`` G's 1x1 skip convolutions would
need the same treatment and no run uses one.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import torch

from ..config import GeneratorConfig
from ..errors import ArchitectureMismatchError
from ..nn import Generator

__all__ = ["widen_generator_state", "widen_adam_state", "widen_training_state", "wider_config"]


def wider_config(cfg: GeneratorConfig, channel_base: int, channel_max: int) -> GeneratorConfig:
    """``cfg`` with the synthesis' ``channel_base`` / ``channel_max`` replaced.

    Raises:
        ArchitectureMismatchError: some block would get fewer channels (that is pruning, not widening),
            or the architecture is 'resnet'.
    """
    if cfg.synthesis.architecture not in ("skip", "orig"):
        raise ArchitectureMismatchError(
            f"widening handles 'skip' and 'orig' generators, not {cfg.synthesis.architecture!r}; train the wider "
            "'resnet' model from scratch instead")
    new = dataclasses.replace(cfg, synthesis=dataclasses.replace(cfg.synthesis, channel_base=channel_base,
                                                                 channel_max=channel_max))
    for res in cfg.block_resolutions:
        if new.channels(res) < cfg.channels(res):
            raise ArchitectureMismatchError(
                f"channel_base {channel_base} / channel_max {channel_max} give {new.channels(res)} channels at "
                f"{res} px, fewer than the model's {cfg.channels(res)}; pass values that give at least as many "
                "at every resolution")
    return new


def _grow(old: torch.Tensor, fresh: torch.Tensor, name: str) -> torch.Tensor:
    """``fresh`` with ``old`` in its leading slice, zero outgoing weights and the toRGB gain (module doc)."""
    if old.dim() != fresh.dim() or any(o > f for o, f in zip(old.shape, fresh.shape)):
        raise ArchitectureMismatchError(f"{name}: shape {tuple(old.shape)} does not fit in {tuple(fresh.shape)}")
    out = fresh.detach().clone()
    out[tuple(slice(0, n) for n in old.shape)] = old
    leaf = name.rsplit(".", 2)
    if len(leaf) == 3 and leaf[2] == "weight" and old.dim() == 4:  # [out, in, k, k] of a conv or toRGB
        n_out, n_in = old.shape[:2]
        out[:n_out, n_in:] = 0
        if leaf[1] == "torgb":
            out[:, :n_in] *= math.sqrt(fresh.shape[1] / n_in)
    return out


def widen_generator_state(old_state: dict[str, torch.Tensor], fresh_state: dict[str, torch.Tensor]
                          ) -> dict[str, torch.Tensor]:
    """The state dict of the wider G: ``fresh_state`` (a wider G's initial values) grown around ``old_state``.

    Raises:
        ArchitectureMismatchError: the two state dicts have different names or an old tensor does not fit.
    """
    if set(old_state) != set(fresh_state):
        diff = sorted(set(old_state) ^ set(fresh_state))
        raise ArchitectureMismatchError(f"the generators differ in more than width: tensors {diff[:4]} are in only "
                                        "one of them")
    return {name: _grow(old_state[name], fresh, name) for name, fresh in fresh_state.items()}


def widen_adam_state(opt_state: dict[str, Any], names: list[str], old_params: dict[str, torch.Tensor],
                     new_params: dict[str, torch.Tensor]) -> dict[str, Any]:
    """An Adam ``state_dict`` for the wider parameters ``names`` (the optimiser's order); see module doc."""
    out = copy.deepcopy(opt_state)
    for idx, st in out["state"].items():
        name = names[int(idx)]
        shape = new_params[name].shape
        if tuple(old_params[name].shape) == tuple(shape):
            continue
        region = tuple(slice(0, n) for n in old_params[name].shape)
        m = torch.zeros(shape, dtype=st["exp_avg"].dtype)
        m[region] = st["exp_avg"]
        v = torch.full(shape, float(st["exp_avg_sq"].mean()), dtype=st["exp_avg_sq"].dtype)
        v[region] = st["exp_avg_sq"]
        st["exp_avg"], st["exp_avg_sq"] = m, v
    return out


def widen_training_state(state: dict[str, Any], channel_base: int, channel_max: int, seed: int = 0,
                         outdir: str | None = None) -> dict[str, Any]:
    """A training state (``checkpointing.load_training_state``) whose G and G_ema are widened.

    ``seed`` draws the new channels' initial values (the global RNG is left alone); ``outdir`` replaces
    the run directory in the stored options. Continue it with ``styleblend train --resume-run``.

    Raises:
        ArchitectureMismatchError: see :func:`wider_config` and :func:`widen_generator_state`.
    """
    old_cfg = GeneratorConfig.from_dict(state["g_config"])
    new_cfg = wider_config(old_cfg, channel_base, channel_max)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wide = Generator(new_cfg)
    fresh = wide.state_dict()
    G = widen_generator_state(state["G"], fresh)
    G_ema = widen_generator_state(state["G_ema"], fresh)
    # The optimiser steps G's parameters in G.named_parameters() order, minus a frozen mapping (state.open_run).
    frozen_mapping = bool(state["options"].get("freeze_mapping", False))
    names = [n for n, _ in wide.named_parameters()
             if not (frozen_mapping and n.startswith("mapping."))]
    out = dict(state)
    out.update(G=G, G_ema=G_ema, opt_G=widen_adam_state(state["opt_G"], names, state["G"], G),
               g_config=new_cfg.to_dict())
    if outdir is not None:
        out["options"] = {**state["options"], "outdir": outdir}
    return out
