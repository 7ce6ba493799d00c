"""Pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images", 2021), stored as a
compact low-rank delta.

After a photo is embedded, its latent ``ws`` is the *pivot*: the generator's synthesis weights are tuned
briefly so that G(ws) matches the photo (PTI Sec. 3.2: pixel L2 + a perceptual loss, with an optional
locality regulariser, Sec. 3.3). Instead of a full copy of the tuned generator, the change is kept as a
delta ΔW = up @ down of rank r per weight matrix (Hu et al., "LoRA", 2021; a conv weight [out, in, k, k] is
the matrix [out, in*k*k]); a tensor is stored in full when that is smaller (biases, 3-channel toRGB
weights). Only the delta's factors are optimised, so the tuned weights are exactly base + delta.

A delta applies to the base and to any blend of that base. A blend is p = Σ_i w_i p_i with the base's
weight w_0 = 1 - α for two models (Pinkney & Adler 2020); blending the tuned base instead gives
p + w_0 · ΔW, so :func:`apply_delta` with ``scale = {key: w_0}`` is the tuned blend, without re-blending
(see :mod:`styleblend.project.pti_blend` for the weights of a blend file).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from ..io.atomic import atomic_path
from ..io.checkpoint import Checkpoint
from ..nn.naming import param_info
from .losses import WeightedLoss, pixel_fallback_loss
from .projector import synthesize

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
Weight = float | torch.Tensor
DELTA_FORMAT_VERSION = 1
#: parameter groups (see :mod:`styleblend.nn.naming`) a delta may change; the mapping never changes
#: because the pivot is already a w.
TARGET_GROUPS = ("conv", "affine", "bias", "torgb", "const")
DEFAULT_TARGETS = ("conv", "bias", "torgb")
#: callback(step, losses) -> False to stop; losses has every term, 'loss' and 'lr'.
PTICallback = Callable[[int, dict[str, float]], "bool | None"]


class DeltaMismatchError(CheckpointError):
    """A PTI delta file does not belong to the model it is applied to."""


@dataclass(frozen=True)
class PTISettings:
    """Knobs of pivotal tuning.

    steps: optimisation steps (Adam on the delta's factors; PTI tunes 350 steps at lr 3e-4 on all weights).
    lr: Adam's learning rate of the factors.
    rank: r of every low-rank tensor; None takes the largest r <= ``max_rank`` within ``budget``.
    budget: the most parameters the delta may hold, as a fraction of the generator's (0.02 = 2 %).
    targets: the groups tuned (:data:`TARGET_GROUPS`).
    locality_weight: weight of PTI's locality regulariser (Sec. 3.3, λ_R = 0.1 in the paper); 0 = off.
    locality_radius: α of the regulariser: the latent w_r = w_p + α (w_z - w_p) / ||w_z - w_p||.
    """

    steps: int = 100
    lr: float = 1e-2
    rank: int | None = None
    max_rank: int = 8
    budget: float = 0.02
    targets: tuple[str, ...] = DEFAULT_TARGETS
    locality_weight: float = 0.0
    locality_radius: float = 30.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InvalidArgumentError(f"PTI steps {self.steps} must be >= 1 (e.g. 100)", param="pti_steps")
        if not self.lr > 0:
            raise InvalidArgumentError(f"PTI lr={self.lr} must be positive")
        if self.rank is not None and self.rank < 1:
            raise InvalidArgumentError(f"PTI rank={self.rank} must be >= 1")
        if not 0 < self.budget <= 1:
            raise InvalidArgumentError(f"PTI budget={self.budget} must be a fraction in (0, 1], e.g. 0.02")
        bad = [t for t in self.targets if t not in TARGET_GROUPS]
        if bad or not self.targets:
            raise InvalidArgumentError(f"PTI targets {list(self.targets)} must be a non-empty subset of "
                                       f"{TARGET_GROUPS}")
        if self.locality_weight < 0:
            raise InvalidArgumentError(f"PTI locality_weight={self.locality_weight} must be >= 0")


@dataclass
class Delta:
    """A generator change: per key either ``(up [rows, r], down [r, cols])`` or a full tensor.

    shapes: key -> the shape of the tensor it changes (canonical state-dict keys, ``synthesis.*``).
    meta: photo_sha256, base_sha256 (the base file, when known), base_weights_sha256 (its g_ema content,
        see :func:`weights_sha256`), steps, loss, ... - JSON values.
    """

    shapes: dict[str, tuple[int, ...]]
    low_rank: dict[str, tuple[torch.Tensor, torch.Tensor]]
    full: dict[str, torch.Tensor]
    rank: int
    meta: dict[str, Any] = field(default_factory=dict)

    def keys(self) -> list[str]:
        return sorted(self.shapes)

    def tensor(self, key: str) -> torch.Tensor:
        """The dense ΔW of ``key`` (float32, the tensor's shape)."""
        if key in self.full:
            return self.full[key]
        up, down = self.low_rank[key]
        return (up @ down).reshape(self.shapes[key])

    @property
    def num_params(self) -> int:
        full = sum(t.numel() for t in self.full.values())
        return full + sum(u.numel() + d.numel() for u, d in self.low_rank.values())


# ------------------------------------------------------------------------------------------------
# Layout and budget


def _is_target(key: str, targets: tuple[str, ...]) -> bool:
    if not key.startswith("synthesis.") or key.endswith(("resample_filter", "noise_const", "noise_strength")):
        return False
    return param_info(key).group in targets


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    return shape[0], math.prod(shape[1:])


def delta_layout(shapes: Mapping[str, tuple[int, ...]], rank: int, targets: tuple[str, ...]) -> dict[str, str]:
    """Key -> 'low_rank' or 'full' for every tuned tensor: low rank when r*(rows+cols) < numel."""
    layout = {}
    for key, shape in shapes.items():
        if not _is_target(key, targets):
            continue
        numel = math.prod(shape)
        if len(shape) >= 2:
            rows, cols = _matrix_shape(tuple(shape))
            layout[key] = "low_rank" if rank * (rows + cols) < numel else "full"
        else:
            layout[key] = "full"
    return layout


def delta_size(shapes: Mapping[str, tuple[int, ...]], rank: int, targets: tuple[str, ...]) -> int:
    """Parameters a delta of ``rank`` over ``targets`` holds."""
    total = 0
    for key, kind in delta_layout(shapes, rank, targets).items():
        shape = tuple(shapes[key])
        total += rank * sum(_matrix_shape(shape)) if kind == "low_rank" else math.prod(shape)
    return total


def choose_rank(shapes: Mapping[str, tuple[int, ...]], total: int, settings: PTISettings) -> int:
    """The rank of ``settings`` (checked against the budget) or the largest one within it.

    shapes: the generator's parameter shapes by key; total: its parameter count.

    Raises:
        InvalidArgumentError: the asked rank, or rank 1, does not fit the budget; names the largest that does.
    """
    limit = settings.budget * total
    fits = [r for r in range(1, max(settings.max_rank, settings.rank or 1) + 1)
            if delta_size(shapes, r, settings.targets) <= limit]
    if settings.rank is not None:
        if settings.rank not in fits:
            best = f"the largest that fits is {max(fits)}" if fits else "no rank fits; tune fewer groups"
            raise InvalidArgumentError(
                f"a rank-{settings.rank} delta over {list(settings.targets)} holds "
                f"{delta_size(shapes, settings.rank, settings.targets)} parameters, over the budget of "
                f"{settings.budget:.1%} of the generator ({int(limit)}); {best}")
        return settings.rank
    if not fits:
        raise InvalidArgumentError(
            f"even a rank-1 delta over {list(settings.targets)} holds {delta_size(shapes, 1, settings.targets)} "
            f"parameters, over the budget of {settings.budget:.1%} of the generator ({int(limit)}); tune fewer "
            "groups (e.g. targets ('conv',)) or raise the budget")
    return max(r for r in fits if r <= settings.max_rank)


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A format-independent content hash of a state dict: every key and its float32 bytes, in key order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key].detach().to("cpu")
        if value.is_floating_point():
            value = value.to(torch.float32)
        digest.update(key.encode() + b"\0" + str(tuple(value.shape)).encode() + b"\0")
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------
# Applying


def _scale_for(scale: float | Mapping[str, Weight], key: str, shape: torch.Size) -> Weight:
    if not isinstance(scale, Mapping):
        return float(scale)
    if key not in scale:
        raise InvalidArgumentError(f"no delta scale for '{key}'; give a weight for every key the delta changes")
    s = scale[key]
    if isinstance(s, torch.Tensor) and s.ndim == 1:
        channel_dim = param_info(key).channel_dim
        if channel_dim is None or s.shape[0] != shape[channel_dim]:
            raise InvalidArgumentError(f"a per-channel scale of shape {tuple(s.shape)} does not fit '{key}' "
                                       f"(shape {tuple(shape)})")
        view = [1] * len(shape)
        view[channel_dim] = -1
        return s.reshape(view)
    return float(s)


def apply_delta(state: Mapping[str, torch.Tensor], delta: Delta,
                scale: float | Mapping[str, Weight] = 1.0) -> StateDict:
    """``state`` with ``scale · ΔW`` added to every tensor the delta changes (pure; inputs are not modified).

    Args:
        state: a generator state dict (canonical keys): the base, or a blend of it.
        delta: see :class:`Delta`.
        scale: one factor, or per key a factor or a per-output-channel vector - for a blend, the base's
            weight of each key (1 - α for two models), see :func:`styleblend.project.pti_blend.base_weights`.
            A factor of 0 leaves the tensor as it is, bit for bit.

    Returns:
        A new dict: changed tensors are new (in the state's dtype and device); the others are the inputs'.

    Raises:
        ArchitectureMismatchError: a key of the delta is missing from ``state`` or has another shape.
    """
    out = dict(state)
    for key in delta.keys():
        if key not in state:
            raise ArchitectureMismatchError(f"the delta changes '{key}', which this generator lacks; the delta was "
                                            "tuned for another architecture")
        p = state[key]
        if tuple(p.shape) != tuple(delta.shapes[key]):
            raise ArchitectureMismatchError(f"the delta for '{key}' has shape {delta.shapes[key]}, the generator "
                                            f"{tuple(p.shape)}; the delta was tuned for another architecture")
        s = _scale_for(scale, key, p.shape)
        if not isinstance(s, torch.Tensor) and s == 0.0:
            continue
        d = delta.tensor(key).to(device=p.device, dtype=torch.float32)
        s = s.to(device=p.device, dtype=torch.float32) if isinstance(s, torch.Tensor) else s
        out[key] = (p.to(torch.float32) + s * d).to(p.dtype)
    return out


def check_delta_base(delta: Delta, base_state: Mapping[str, torch.Tensor], what: str = "this base") -> None:
    """Refuse a delta tuned on another generator (compares :func:`weights_sha256` of g_ema).

    Raises:
        DeltaMismatchError: the hashes differ.
    """
    expected = delta.meta.get("base_weights_sha256")
    actual = weights_sha256(base_state)
    if expected != actual:
        raise DeltaMismatchError(f"the PTI delta was tuned on a base with weights sha256 {str(expected)[:12]}..., "
                                 f"{what} has {actual[:12]}...; tune a delta for this base (toonify with pti settings)")


# ------------------------------------------------------------------------------------------------
# Files


def save_delta(delta: Delta, path: str | Path) -> Path:
    """Write the delta as safetensors, atomically; metadata: photo_sha256, base_sha256, rank, and all meta as JSON."""
    from safetensors.torch import save_file

    tensors = {f"full.{k}": v.detach().to("cpu", torch.float32).contiguous() for k, v in delta.full.items()}
    for key, (up, down) in delta.low_rank.items():
        tensors[f"up.{key}"] = up.detach().to("cpu", torch.float32).contiguous()
        tensors[f"down.{key}"] = down.detach().to("cpu", torch.float32).contiguous()
    header = {"format_version": DELTA_FORMAT_VERSION, "rank": delta.rank,
              "shapes": {k: list(v) for k, v in delta.shapes.items()}, "meta": delta.meta}
    metadata = {"styleblend_delta": json.dumps(header), "rank": str(delta.rank),
                "photo_sha256": str(delta.meta.get("photo_sha256")), "base_sha256": str(delta.meta.get("base_sha256")),
                "base_weights_sha256": str(delta.meta.get("base_weights_sha256"))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_delta(path: str | Path) -> Delta:
    """Read a delta written by :func:`save_delta`, checking every factor's shape against the header.

    Raises:
        CheckpointError: not a readable delta file (one line naming the problem).
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        header = json.loads(metadata["styleblend_delta"])
        rank = int(header["rank"])
        shapes = {k: tuple(int(x) for x in v) for k, v in header["shapes"].items()}
        meta = dict(header.get("meta") or {})
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"'{path}' is not a readable PTI delta file ({type(exc).__name__}: {exc})") from None
    if header.get("format_version") != DELTA_FORMAT_VERSION:
        raise CheckpointError(f"'{path}' is a PTI delta of format version {header.get('format_version')}; this "
                              f"styleblend reads version {DELTA_FORMAT_VERSION}")
    full, low_rank = {}, {}
    for key, shape in shapes.items():
        if f"full.{key}" in tensors:
            full[key] = tensors[f"full.{key}"].float()
            ok = tuple(full[key].shape) == shape
        else:
            up, down = tensors.get(f"up.{key}"), tensors.get(f"down.{key}")
            rows, cols = _matrix_shape(shape) if len(shape) >= 2 else (0, 0)
            ok = False
            if up is not None and down is not None and tuple(up.shape) == (rows, rank) \
                    and tuple(down.shape) == (rank, cols):
                low_rank[key] = (up.float(), down.float())
                ok = True
        if not ok:
            raise CheckpointError(f"'{path}': the delta for '{key}' is missing or does not have shape {shape} at "
                                  f"rank {rank}; the file is damaged")
    extra = len(tensors) - len(full) - 2 * len(low_rank)
    if extra:
        raise CheckpointError(f"'{path}' holds {extra} tensors its header does not list; the file is damaged")
    return Delta(shapes=shapes, low_rank=low_rank, full=full, rank=rank, meta=meta)


# ------------------------------------------------------------------------------------------------
# Tuning


@dataclass
class PTIResult:
    """The tuned delta, the loss per step, and the reconstruction loss before and after."""

    delta: Delta
    history: list[dict[str, float]] = field(default_factory=list)
    initial_loss: float = float("nan")
    final_loss: float = float("nan")
    seconds: float = 0.0
    cancelled: bool = False


def _render(G: Generator, params: Mapping[str, torch.Tensor], ws: torch.Tensor) -> torch.Tensor:
    return synthesize(G, ws, params)


def pivotal_tuning(G: Generator, ws: torch.Tensor, target: torch.Tensor, loss: WeightedLoss | None = None,
                   settings: PTISettings = PTISettings(), *, seed: int = 0, meta: Mapping[str, Any] | None = None,
                   callback: PTICallback | None = None) -> PTIResult:
    """Tune a low-rank delta of ``G``'s synthesis weights so that G(ws) matches ``target`` (PTI, Sec. 3.2).

    Args:
        G: the base generator (eval mode); not modified - the delta is added functionally.
        ws: the pivot [1, num_ws, w_dim] (the photo's embedding).
        target: [1, C, R, R] in [-1, 1] on G's device.
        loss: the reconstruction loss (e.g. the projection job's: pixel MSE + the available perceptual term);
            None uses :func:`~styleblend.project.losses.pixel_fallback_loss`.
        settings: see :class:`PTISettings`.
        seed: seeds the factors' initialisation and the locality samples.
        meta: recorded in the delta (photo_sha256, base_sha256, ...); ``base_weights_sha256`` is added here.
        callback: after every step, see :data:`PTICallback`.

    Returns:
        :class:`PTIResult`; ``initial_loss`` is the loss of the untuned G (the delta starts at exactly 0).
    """
    loss = loss or pixel_fallback_loss()
    device = next(G.parameters()).device
    ws = ws.detach().to(device=device, dtype=torch.float32)
    target = target.detach().to(device=device, dtype=torch.float32)
    base = {f"synthesis.{k}": v.detach() for k, v in G.synthesis.named_parameters()}
    shapes = {k: tuple(v.shape) for k, v in base.items()}
    g_params = sum(p.numel() for p in G.parameters())
    rank = choose_rank(shapes, g_params, settings)
    layout = delta_layout(shapes, rank, settings.targets)
    gen = torch.Generator().manual_seed(int(seed))
    full = {k: torch.zeros(shapes[k], device=device, requires_grad=True)
            for k, kind in layout.items() if kind == "full"}
    low_rank = {}
    for key, kind in layout.items():
        if kind == "low_rank":
            rows, cols = _matrix_shape(shapes[key])
            # LoRA's start: up = 0 so ΔW = 0; down random, scaled like the weights it perturbs (unit variance
            # under equalised learning rate), so Adam's first steps move ΔW on the weights' own scale.
            down = (torch.randn([rank, cols], generator=gen) / math.sqrt(rank)).to(device).requires_grad_(True)
            low_rank[key] = (torch.zeros([rows, rank], device=device, requires_grad=True), down)
    delta = Delta(shapes={k: shapes[k] for k in layout}, low_rank=low_rank, full=full, rank=rank,
                  meta={**dict(meta or {}), "base_weights_sha256": weights_sha256(G.state_dict())})
    opt = torch.optim.Adam([*full.values(), *(t for pair in low_rank.values() for t in pair)], lr=settings.lr)

    def tuned() -> dict[str, torch.Tensor]:
        names = {k.removeprefix("synthesis."): v for k, v in base.items()}
        for key in layout:
            names[key.removeprefix("synthesis.")] = base[key] + delta.tensor(key)
        return names

    result = PTIResult(delta=delta)
    start = time.perf_counter()
    for step in range(settings.steps):
        params = tuned()
        total, parts = loss(_render(G, params, ws), target)
        if step == 0:
            result.initial_loss = float(total.detach())
        if settings.locality_weight > 0:
            z = torch.randn([1, G.z_dim], generator=gen).to(device)
            w_z = G.mapping(z, None)
            direction = w_z - ws
            w_r = ws + settings.locality_radius * direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-8)
            with torch.no_grad():
                ref = _render(G, {k.removeprefix("synthesis."): v for k, v in base.items()}, w_r)
            reg, _ = loss(_render(G, params, w_r), ref)
            parts["locality"] = float(reg.detach())
            total = total + settings.locality_weight * reg
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        parts["loss"], parts["lr"] = float(total.detach()), settings.lr
        result.history.append(parts)
        if callback is not None and callback(step + 1, parts) is False:
            result.cancelled = True
            break
    with torch.no_grad():
        result.final_loss = float(loss(_render(G, tuned(), ws), target)[0])
    result.seconds = time.perf_counter() - start
    delta.full = {k: v.detach() for k, v in full.items()}
    delta.low_rank = {k: (u.detach(), d.detach()) for k, (u, d) in low_rank.items()}
    delta.meta.update(steps=len(result.history), lr=settings.lr, rank=rank, targets=list(settings.targets),
                      loss=loss.describe(), initial_loss=result.initial_loss, final_loss=result.final_loss,
                      locality_weight=settings.locality_weight, num_params=delta.num_params,
                      generator_params=g_params)
    log.debug("PTI: %d steps in %.1f s, loss %.4g -> %.4g", len(result.history), result.seconds,
              result.initial_loss, result.final_loss)
    return result


def delta_fraction(delta: Delta) -> float:
    """The delta's parameters as a fraction of the generator's (as recorded when it was tuned)."""
    total = delta.meta.get("generator_params")
    return delta.num_params / total if total else float("nan")


# ------------------------------------------------------------------------------------------------
# Tuned models


def tuned_checkpoint(ckpt: Checkpoint, delta: Delta) -> Checkpoint:
    """``ckpt`` with the delta added to its rendering generator g_ema (checked to be the delta's base).

    The training generator G and the discriminator stay as they were: the delta was tuned on g_ema. The
    tuning record goes into ``meta['pti']``. Format and source file are kept, so the tuned model can be
    written wherever the base can (see :func:`writable_formats`).

    Raises:
        DeltaMismatchError: the delta belongs to another base.
    """
    check_delta_base(delta, ckpt.g_ema, ckpt.describe())
    meta = dict(ckpt.meta)
    meta["pti"] = {k: v for k, v in delta.meta.items() if isinstance(v, (str, int, float, bool, list))}
    return dataclasses.replace(ckpt, g_ema=apply_delta(ckpt.g_ema, delta), meta=meta)


def writable_formats(ckpt: Checkpoint) -> list[str]:
    """Formats a model read from ``ckpt`` can be written to (see :func:`styleblend.io.registry.writable_formats`:
    an NVIDIA pickle only when the checkpoint came from one, since the writer puts tensors into the user's own)."""
    from ..io.registry import writable_formats as formats_for

    return formats_for(ckpt)


def export_tuned(ckpt: Checkpoint, delta: Delta, out: str | Path, fmt: str | None = None) -> Path:
    """Write the base tuned by ``delta`` to ``out`` atomically, in ``fmt`` (default: from the suffix, else the base's).

    Raises:
        DeltaMismatchError: the delta belongs to another base. CheckpointError: the format needs a source
            the base lacks (an NVIDIA pickle from a non-NVIDIA base).
    """
    from ..io.files import save_checkpoint
    from ..io.registry import output_format

    tuned = tuned_checkpoint(ckpt, delta)
    return save_checkpoint(tuned, out, fmt or output_format(tuned, out))
