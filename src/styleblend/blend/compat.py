"""Can these generators be blended? Architecture and state-dict checks with one clear error.

Blending interpolates tensors of the same name, so the models must share an architecture: the same
mapping (z/w dims, layers, lr multiplier), the same channels per block and the same synthesis
variant. One exception is common in practice: a *lower-resolution* model (e.g. a 256 px cartoon model
fine-tuned from a 1024 px face model's low blocks, or trained at the same channel widths) can give
the low blocks of a higher-resolution base. Its blocks above its own resolution do not exist, so those
come from the base; its last toRGB layer is its final image output, which has no counterpart in a
base of the 'orig' or 'resnet' architecture (only 'skip' has a toRGB in every block) and is then
ignored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..config_sg3 import AnyGeneratorConfig, is_stylegan3
from ..errors import ArchitectureMismatchError
from ..nn.naming import is_generator_key, param_info
from ..nn.naming_sg3 import is_sg3_key

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]

# Config fields that change what the stored numbers mean without changing any shape.
_MEANING = (("mapping.lr_multiplier", lambda c: c.mapping.lr_multiplier),
            ("mapping.activation", lambda c: c.mapping.activation),
            ("synthesis.activation", lambda c: c.synthesis.activation),
            ("synthesis.architecture", lambda c: c.synthesis.architecture),
            ("synthesis.resample_filter", lambda c: tuple(c.synthesis.resample_filter)),
            ("synthesis.use_noise", lambda c: c.synthesis.use_noise),
            ("z_dim", lambda c: c.z_dim), ("c_dim", lambda c: c.c_dim), ("w_dim", lambda c: c.w_dim),
            ("img_channels", lambda c: c.img_channels))


@dataclass(frozen=True)
class Coverage:
    """Which base tensors another model provides.

    resolution: the highest block resolution of that model's synthesis.
    missing: base keys it lacks (all above its resolution); these come from the base.
    ignored: its keys with no counterpart in the base (its last toRGB when the base is not 'skip').
    """

    resolution: int
    missing: frozenset[str]
    ignored: frozenset[str]


def check_configs(base: AnyGeneratorConfig, other: AnyGeneratorConfig, name: str = "the transfer model") -> None:
    """Raise when ``other`` cannot be blended into ``base`` (shapes are checked by :func:`check_states`).

    Raises:
        ArchitectureMismatchError: a differing architecture field, or ``other`` has a higher resolution.
    """
    if is_stylegan3(base) or is_stylegan3(other):
        check_sg3_configs(base, other, name)
        return
    for field, get in _MEANING:
        if get(base) != get(other):
            raise ArchitectureMismatchError(
                f"{name} has {field}={get(other)!r} but the base has {get(base)!r}; blending needs the same "
                "architecture (blend models fine-tuned from one another)")
    if other.img_resolution > base.img_resolution:
        raise ArchitectureMismatchError(
            f"{name} is {other.img_resolution} px but the base is {base.img_resolution} px; use the "
            "higher-resolution model as the base (a lower-resolution model can only give the low blocks)")
    if other.synthesis.conv_clamp != base.synthesis.conv_clamp:
        log.warning("%s has conv_clamp=%s, the base %s; the blend uses the base's", name,
                    other.synthesis.conv_clamp, base.synthesis.conv_clamp)


def check_sg3_configs(base: AnyGeneratorConfig, other: AnyGeneratorConfig, name: str) -> None:
    """StyleGAN3 models blend only with StyleGAN3 models of the same design (every layer's sampling rate,
    size and filters follow from the config); only the training-only magnitude EMA decay may differ."""
    if not (is_stylegan3(base) and is_stylegan3(other)):
        fam = "StyleGAN3" if is_stylegan3(other) else "StyleGAN2"
        raise ArchitectureMismatchError(
            f"{name} is a {fam} model but the base is not; StyleGAN2 and StyleGAN3 layers do not correspond, so "
            "they cannot be blended (blend models fine-tuned from one another)")
    ours = dataclasses.replace(other, synthesis=dataclasses.replace(
        other.synthesis, magnitude_ema_beta=base.synthesis.magnitude_ema_beta, conv_clamp=base.synthesis.conv_clamp),
        mapping=dataclasses.replace(other.mapping, w_avg_beta=base.mapping.w_avg_beta))
    if ours != base:
        a, b = base.to_dict(), ours.to_dict()
        diffs = [f"{k}: {b[k]!r} != {a[k]!r}" for k in a if a[k] != b[k] and not isinstance(a[k], dict)]
        for part in ("mapping", "synthesis"):
            diffs += [f"{part}.{k}: {b[part][k]!r} != {a[part][k]!r}" for k in a[part] if a[part][k] != b[part][k]]
        raise ArchitectureMismatchError(
            f"{name} has another StyleGAN3 architecture than the base ({'; '.join(diffs[:3])}; transfer != base); "
            "blending needs the same design (blend models fine-tuned from one another)")
    if other.synthesis.conv_clamp != base.synthesis.conv_clamp:
        log.warning("%s has conv_clamp=%s, the base %s; the blend uses the base's", name,
                    other.synthesis.conv_clamp, base.synthesis.conv_clamp)


def check_states(states: Sequence[StateDict], cfg: AnyGeneratorConfig | None = None) -> list[Coverage]:
    """Check that every model's generator tensors fit the base's (``states[0]``) name for name.

    Returns one :class:`Coverage` per model (the base's covers everything).

    Raises:
        ArchitectureMismatchError: naming the first differing key and both shapes, or a key one model
            lacks although it reaches that resolution.
        InvalidArgumentError: a key that is not a generator tensor (e.g. a discriminator state dict).
    """
    base = states[0]
    for key in base:
        param_info(key, cfg)
    if any(is_sg3_key(k) for k in base):
        return _check_sg3_states(states)
    base_res = _max_resolution(base)
    out = [Coverage(base_res, frozenset(), frozenset())]
    for i, other in enumerate(states[1:], start=1):
        res = _max_resolution(other)
        if res > base_res:
            raise ArchitectureMismatchError(
                f"model {i} reaches {res} px but the base only {base_res} px; put the highest-resolution model first")
        missing = set()
        for key, value in base.items():
            info = param_info(key)
            if key not in other:
                if info.resolution is not None and info.resolution > res:
                    missing.add(key)
                    continue
                raise ArchitectureMismatchError(
                    f"'{key}' (shape {tuple(value.shape)}) is in the base but not in model {i}; the models have "
                    "different architectures")
            if tuple(other[key].shape) != tuple(value.shape):
                raise ArchitectureMismatchError(
                    f"'{key}' has shape {tuple(value.shape)} in the base but {tuple(other[key].shape)} in model {i}; "
                    "blending needs the same architecture (same channels per layer and mapping dims)")
        ignored = set()
        for key in other:
            if key in base:
                continue
            info = param_info(key)
            if res < base_res and info.layer == f"b{res}.torgb":
                ignored.add(key)
                continue
            raise ArchitectureMismatchError(
                f"'{key}' (shape {tuple(other[key].shape)}) is in model {i} but not in the base; the models have "
                "different architectures")
        if res < base_res:
            log.info("model %d is %d px: it gives blocks up to %d; higher blocks come from the base", i, res, res)
        out.append(Coverage(res, frozenset(missing), frozenset(ignored)))
    return out


def _check_sg3_states(states: Sequence[StateDict]) -> list[Coverage]:
    """StyleGAN3 models must have the same tensors (no lower-resolution transfers: their layers differ)."""
    base = states[0]
    for i, other in enumerate(states[1:], start=1):
        for key in sorted(set(base) ^ set(other))[:1]:
            where = "the base" if key in base else f"model {i}"
            raise ArchitectureMismatchError(f"'{key}' is in {where} only; StyleGAN3 models blend only with models of "
                                            "the same architecture")
        for key, value in base.items():
            if tuple(other[key].shape) != tuple(value.shape):
                raise ArchitectureMismatchError(
                    f"'{key}' has shape {tuple(value.shape)} in the base but {tuple(other[key].shape)} in model {i}; "
                    "blending needs the same architecture (same channels per layer and mapping dims)")
    return [Coverage(0, frozenset(), frozenset()) for _ in states]


def _max_resolution(state: StateDict) -> int:
    res = [param_info(k).resolution for k in state if is_generator_key(k)]
    found = [r for r in res if r is not None]
    if not found:
        raise ArchitectureMismatchError("a state dict has no synthesis tensors; is it a generator?")
    return max(found)
