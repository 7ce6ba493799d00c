"""rosinality/stylegan2-pytorch checkpoints (``.pt``; also what e4e, pSp, PTI and StyleCLIP load).

A training checkpoint is ``torch.save({'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args', 'ada_aug_p'})``
with ``args`` an ``argparse.Namespace``; converted files hold ``{'g_ema', 'latent_avg'}`` (+ 'g', 'd').
The architecture is not stored, so it is inferred from the tensors (size from the number of ToRGB
layers, ``style_dim`` and ``n_mlp`` from the mapping, channels per resolution fitted to
channel_base/channel_max); ``args`` only supply what tensors cannot (``lr_mlp`` if a fork saved it).

Reading never runs file code: see :func:`styleblend.io.safe_torch_load.safe_torch_load` (an
allow-list dry run that names any refused global, then ``torch.load(weights_only=True)`` with an
inert stand-in for ``argparse.Namespace``). Name mapping and numerics: see
:mod:`styleblend.io.keymaps.rosinality`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from ...config import (
    DiscriminatorConfig,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
)
from ...config_sg3 import AnyGeneratorConfig, is_stylegan3
from ...errors import (
    ArchitectureMismatchError,
    CheckpointError,
    InvalidArgumentError,
    UnsupportedArchitectureError,
)
from ..atomic import atomic_path
from ..checkpoint import Checkpoint, StateDict, state_shapes
from ..keymaps import rosinality as keymap
from ..keymaps.common import (
    complete_and_check,
    fit_channels,
    taps_from_kernel,
)
from ..reading import check_weights_cover, count_elements, reader
from ..safe_torch_load import safe_torch_load
from ..safe_unpickle import NamespaceStandIn

_ConfigT = TypeVar("_ConfigT", GeneratorConfig, DiscriminatorConfig)

log = logging.getLogger(__name__)

# Defaults of rosinality's Generator(size, style_dim, n_mlp, channel_multiplier=2, blur_kernel=[1, 3, 3, 1],
# lr_mlp=0.01).
ROSINALITY_LR_MLP = 0.01
ROSINALITY_BLUR_KERNEL = (1, 3, 3, 1)
_KNOWN_TOP = {"g", "d", "g_ema", "latent_avg", "args", "styleblend_g_latent_avg"}
W_AVG_SAMPLES = 4096


def _plain(value: Any) -> Any:
    """JSON-able copy of ``args`` values (unknown objects become strings)."""
    if isinstance(value, NamespaceStandIn):
        value = value.__dict__.get("values", {})
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return str(value)


def _state(value: Any, name: str, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in value.items()):
        raise CheckpointError(f"{path.name}: '{name}' is not a state dict of tensors")
    return dict(value)


def _split_payload(obj: Any, path: Path) -> tuple[dict[str, dict[str, Any]], Any, dict[str, Any], list[str]]:
    """-> (state dicts by part, latent_avg, args, dropped) for the layouts rosinality-based code saves."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path.name} holds a {type(obj).__name__}, not a rosinality checkpoint dict")
    dropped: list[str] = []
    if "g_ema" in obj or "g" in obj:
        parts = {k: _state(obj[k], k, path) for k in ("g_ema", "g", "d") if obj.get(k) is not None}
        dropped += [f"'{k}' (optimizer state)" if k.endswith("optim") else f"'{k}'"
                    for k in obj if k not in _KNOWN_TOP and k != "ada_aug_p"]
        args = _plain(obj.get("args"))
        if args is not None and not isinstance(args, dict):
            dropped.append(f"'args' ({type(obj.get('args')).__name__}, not a namespace or dict)")
        return parts, obj.get("latent_avg"), args if isinstance(args, dict) else {}, dropped
    if "style.1.weight" in obj and "input.input" in obj:  # a bare g_ema state dict
        return {"g_ema": _state(obj, "state dict", path)}, None, {}, dropped
    inner = obj.get("state_dict")
    if isinstance(inner, Mapping) and any(str(k).startswith("decoder.") for k in inner):  # pSp / e4e
        decoder = {k[len("decoder."):]: v for k, v in inner.items() if k.startswith("decoder.")}
        dropped.append("the encoder of this pSp/e4e checkpoint (only its StyleGAN2 decoder is read)")
        return {"g_ema": _state(decoder, "decoder", path)}, obj.get("latent_avg"), {}, dropped
    raise CheckpointError(f"{path.name} is a PyTorch file but not a rosinality StyleGAN2 checkpoint "
                          f"(top-level keys: {sorted(map(str, obj))[:8]}); expected 'g_ema'")


def _saved_config(cls: type[_ConfigT], saved: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                  what: str) -> _ConfigT:
    """The exact config styleblend wrote into ``args``, held to the weights the file really has."""
    try:
        cfg = cls.from_dict(dict(saved))
    except (InvalidArgumentError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{what}: invalid styleblend config in args ({exc})") from None
    check_weights_cover(cfg, count_elements(state), what)
    return cfg


def _dim(state: Mapping[str, torch.Tensor], key: str, axis: int, what: str) -> int:
    """``state[key].shape[axis]``, or a clear error when the tensor is missing or has too few dimensions."""
    tensor = state[key]
    if tensor.dim() <= (axis if axis >= 0 else -axis - 1):
        raise CheckpointError(f"{what}: '{key}' has shape {tuple(tensor.shape)}, too few dimensions for a "
                              "rosinality StyleGAN2 tensor of that name")
    return int(tensor.shape[axis])


def _resolution(count: int, what: str) -> int:
    if not 0 <= count <= 10:  # 4 px .. 4096 px
        raise CheckpointError(f"{what}: {count} resolution blocks describe a network of 2**{count + 2} px; "
                              "styleblend reads up to 4096 px")
    return 1 << (count + 2)  # 2 ** n, as an int the type checker sees


def infer_generator_config(state: Mapping[str, torch.Tensor], args: Mapping[str, Any], what: str) -> GeneratorConfig:
    """Architecture of a rosinality generator from its tensors (and ``args`` where tensors are silent).

    Raises:
        CheckpointError: a tensor the architecture needs is missing.
        UnsupportedArchitectureError: channels or blur kernel not expressible in our configs.
    """
    try:
        return _infer_generator_config(state, args, what)
    except KeyError as exc:
        raise CheckpointError(f"{what}: tensor {exc} is missing; not a rosinality StyleGAN2 generator") from None


def _infer_generator_config(state: Mapping[str, torch.Tensor], args: Mapping[str, Any], what: str) -> GeneratorConfig:
    saved = args.get("styleblend_g_config")
    if isinstance(saved, Mapping):  # written by styleblend: the exact config (checked against shapes later)
        return _saved_config(GeneratorConfig, saved, state, what)
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    if n_mlp == 0 or "input.input" not in state or "conv1.conv.weight" not in state:
        raise CheckpointError(f"{what} is not a rosinality StyleGAN2 generator (no style.1.weight / input.input)")
    num_rgbs = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    res = _resolution(num_rgbs, what)
    channels = {4: _dim(state, "conv1.conv.weight", 1, what)}
    for k in range(num_rgbs):
        key = f"convs.{2 * k + 1}.conv.weight"
        if key not in state:
            raise CheckpointError(f"{what}: '{key}' is missing")
        channels[2 ** (k + 3)] = _dim(state, key, 1, what)
    cm = args.get("channel_multiplier")
    prefer = 16384 * int(cm) if isinstance(cm, (int, float)) and cm > 0 else 32768
    base, cmax = fit_channels(channels, what, prefer_base=prefer)
    kernel = state.get("convs.0.conv.blur.kernel")
    taps = taps_from_kernel(kernel, 4.0, what) if kernel is not None else (1, 3, 3, 1)
    style_dim = _dim(state, "style.1.weight", 1, what)
    w_dim = _dim(state, f"style.{n_mlp}.weight", 0, what)
    lr_mlp = args.get("lr_mlp", 0.01)
    lr_mlp = float(lr_mlp) if isinstance(lr_mlp, (int, float)) and not isinstance(lr_mlp, bool) else lr_mlp
    for name, value in (("size", res), ("latent", w_dim), ("n_mlp", n_mlp)):
        if name in args and args[name] != value:
            log.warning("%s: args.%s=%r but the tensors say %r; using the tensors", what, name, args[name], value)
    try:
        return GeneratorConfig(
            z_dim=style_dim, w_dim=w_dim, img_resolution=res, img_channels=_dim(state, "to_rgb1.conv.weight", 1, what),
            mapping=MappingConfig(num_layers=n_mlp, lr_multiplier=lr_mlp),
            synthesis=SynthesisConfig(channel_base=base, channel_max=cmax, architecture="skip", resample_filter=taps,
                                      kernel_size=_dim(state, "conv1.conv.weight", -1, what)))
    except InvalidArgumentError as exc:
        raise CheckpointError(f"{what}: the tensors or args describe an invalid architecture ({exc})") from None


def infer_discriminator_config(state: Mapping[str, torch.Tensor], args: Mapping[str, Any],
                               what: str) -> DiscriminatorConfig:
    """Architecture of a rosinality discriminator (resnet, minibatch-stddev group 4) from its tensors."""
    try:
        return _infer_discriminator_config(state, args, what)
    except KeyError as exc:
        raise CheckpointError(f"{what}: tensor {exc} is missing; not a rosinality StyleGAN2 discriminator") from None


def _infer_discriminator_config(state: Mapping[str, torch.Tensor], args: Mapping[str, Any],
                                what: str) -> DiscriminatorConfig:
    saved = args.get("styleblend_d_config")
    if isinstance(saved, Mapping):
        return _saved_config(DiscriminatorConfig, saved, state, what)
    if "convs.0.0.weight" not in state or "final_conv.0.weight" not in state:
        raise CheckpointError(f"{what} is not a rosinality StyleGAN2 discriminator")
    num_blocks = len([k for k in state if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k)])
    res = _resolution(num_blocks, what)
    channels = {res: _dim(state, "convs.0.0.weight", 0, what), 4: _dim(state, "final_conv.0.weight", 0, what)}
    for j in range(1, num_blocks + 1):
        channels[res >> (j - 1)] = _dim(state, f"convs.{j}.conv1.0.weight", 0, what)
    cm = args.get("channel_multiplier")
    prefer = 16384 * int(cm) if isinstance(cm, (int, float)) and cm > 0 else 32768
    base, cmax = fit_channels(channels, what, prefer_base=prefer)
    kernel = state.get("convs.1.conv2.0.kernel")
    taps = taps_from_kernel(kernel, 1.0, what) if kernel is not None else (1, 3, 3, 1)
    return DiscriminatorConfig(img_resolution=res, img_channels=_dim(state, "convs.0.0.weight", 1, what),
                               architecture="resnet", channel_base=base, channel_max=cmax, mbstd_group_size=4,
                               mbstd_num_channels=1, resample_filter=taps)


def _check_kernels(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], what: str) -> None:
    for key, value in expected.items():
        if key in state and not torch.allclose(state[key].float(), value, atol=1e-6):
            raise UnsupportedArchitectureError(f"{what}: blur kernel '{key}' differs from the others; "
                                               "mixed resampling filters are not supported")


def _to_ours(state: Mapping[str, torch.Tensor], table: list[keymap.Entry], kernels: Mapping[str, torch.Tensor],
             skip_noise: bool, what: str) -> StateDict:
    out: StateDict = {}
    for ros, ours, layout in table:
        if skip_noise and (ours.endswith(("noise_const", "noise_strength"))):
            if ros in state and bool(state[ros].any()) and layout == "scalar":
                raise ArchitectureMismatchError(f"{what}: '{ros}' is non-zero but the architecture has no noise")
            continue
        if ros not in state:
            raise ArchitectureMismatchError(f"{what}: tensor '{ros}' is missing")
        value = keymap.to_ours(state[ros].detach(), layout, ros)
        out[ours] = (value.float() if value.is_floating_point() else value).clone()
    known = {ros for ros, _, _ in table} | set(kernels)
    unexpected = sorted(k for k in state if k not in known)
    if unexpected:
        raise ArchitectureMismatchError(f"{what}: {len(unexpected)} tensors that rosinality's architecture does "
                                        f"not have, e.g. {unexpected[:3]}; a modified fork cannot be converted")
    _check_kernels(state, kernels, what)
    return out


def _w_avg(latent_avg: Any, w_dim: int) -> torch.Tensor | None:
    """latent_avg as [w_dim]; pSp/e4e store it repeated per layer ([num_ws, w_dim])."""
    if not isinstance(latent_avg, torch.Tensor):
        return None
    t = latent_avg.detach().float()
    if t.numel() == w_dim:
        return t.reshape(w_dim).clone()
    rows = t.reshape(-1, w_dim) if t.numel() % w_dim == 0 else None
    if rows is not None and torch.equal(rows, rows[:1].expand_as(rows)):
        return rows[0].clone()
    return None


def _fixed_noise(cfg: GeneratorConfig) -> dict[str, torch.Tensor]:
    """Deterministic stand-ins for the per-layer constant noise of files that lack them."""
    gen = torch.Generator().manual_seed(0)
    sizes = [4] + [r for r in cfg.block_resolutions[1:] for _ in range(2)]
    return {f"noises.noise_{i}": torch.randn([1, 1, r, r], generator=gen) for i, r in enumerate(sizes)}


def estimate_w_avg(state: Mapping[str, torch.Tensor], cfg: GeneratorConfig,
                   samples: int = W_AVG_SAMPLES) -> torch.Tensor:
    """Mean of mapping(z) over ``samples`` z drawn with seed 0 (rosinality's ``mean_latent`` idea)."""
    from ...nn import MappingNetwork

    net = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, None, cfg.mapping)
    net.load_state_dict({k[len("mapping."):]: v for k, v in state.items() if k.startswith("mapping.")
                         and k != "mapping.w_avg"})
    z = torch.randn([samples, cfg.z_dim], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w_avg: torch.Tensor = net(z).mean(dim=0)
    return w_avg


@reader("rosinality checkpoint")
def read(path: Path) -> Checkpoint:
    """Read a rosinality checkpoint (training, converted, bare state dict or pSp/e4e) without running code.

    Raises:
        CheckpointError: corrupt/truncated file or not a rosinality StyleGAN2 checkpoint.
        UnsafeCheckpointError: the pickle names a global outside the allow-list (the name is given).
        UnsupportedArchitectureError: channels or filters not expressible in our configs.
    """
    payload = safe_torch_load(path)
    parts, latent_avg, args, dropped = _split_payload(payload, path)
    meta: dict[str, Any] = {"dropped": dropped}
    if args:
        meta["args"] = args
    if isinstance(payload, Mapping) and "ada_aug_p" in payload:
        meta["ada_aug_p"] = _plain(payload["ada_aug_p"])
    if "g_ema" not in parts:
        parts["g_ema"] = parts["g"]
        dropped.append("no 'g_ema' in the file: the training generator 'g' is used for rendering")
    what = f"{path.name} (rosinality)"
    g_cfg = infer_generator_config(parts["g_ema"], args, what)
    check_weights_cover(g_cfg, count_elements(parts["g_ema"]), what)  # before building anything from it
    shapes = state_shapes(lambda: _generator(g_cfg))
    w_avg = _w_avg(latent_avg, g_cfg.w_dim)
    if latent_avg is not None and w_avg is None:
        dropped.append(f"latent_avg of shape {tuple(latent_avg.shape)} (not one w vector)")
    states: dict[str, StateDict] = {}
    g_w_avg = _w_avg(payload.get("styleblend_g_latent_avg"), g_cfg.w_dim) if isinstance(payload, Mapping) else None
    for part in ("g_ema", "g"):
        if part not in parts:
            continue
        if part == "g" and g_w_avg is not None:
            w_avg = g_w_avg
        source = parts[part]
        if g_cfg.synthesis.use_noise and not any(k.startswith("noises.") for k in source):
            source = {**source, **_fixed_noise(g_cfg)}
            meta["noise_const"] = ("drawn from seed 0: the file has no 'noises.noise_*' buffers (older "
                                   "rosinality versions did not save them)")
        state = _to_ours(source, keymap.generator_table(g_cfg), keymap.generator_kernels(g_cfg),
                         not g_cfg.synthesis.use_noise, f"{what} '{part}'")
        if g_cfg.mapping.w_avg_beta is not None:
            if w_avg is None:
                w_avg = estimate_w_avg(state, g_cfg)
                meta["w_avg"] = (f"estimated as the mean of mapping(z) over {W_AVG_SAMPLES} z (seed 0): "
                                 "the file has no latent_avg")
            state["mapping.w_avg"] = w_avg.clone()
        states[part] = complete_and_check(state, shapes, g_cfg.synthesis.resample_filter, f"{what} '{part}'")
    d_cfg = None
    if "d" in parts:
        try:
            d_cfg = infer_discriminator_config(parts["d"], args, f"{what} 'd'")
            d_state = _to_ours(parts["d"], keymap.discriminator_table(d_cfg), keymap.discriminator_kernels(d_cfg),
                               False, f"{what} 'd'")
            d_cfg_read = d_cfg  # a name the lambda can close over with its type (not None)
            states["d"] = complete_and_check(d_state, state_shapes(lambda: _discriminator(d_cfg_read)),
                                             d_cfg.resample_filter, f"{what} 'd'")
        except (CheckpointError, ArchitectureMismatchError, InvalidArgumentError) as exc:
            dropped.append(f"discriminator ({exc})")
            d_cfg = None
    return Checkpoint(g_config=g_cfg, g_ema=states["g_ema"], g=states.get("g"), d_config=d_cfg,
                      d=states.get("d"), source=path, meta=meta)


def _generator(cfg: GeneratorConfig) -> torch.nn.Module:
    from ...nn import Generator

    return Generator(cfg)


def _discriminator(cfg: DiscriminatorConfig) -> torch.nn.Module:
    from ...nn import Discriminator

    return Discriminator(cfg)


# --------------------------------------------------------------------------------------------- writer


def channel_multiplier(cfg: GeneratorConfig) -> int | None:
    """rosinality's ``channel_multiplier`` that reproduces ``cfg``'s channels, or None if none does."""
    if cfg.synthesis.channel_max != 512:
        return None
    cm = cfg.channels(64) // 256 if cfg.img_resolution >= 64 else max(cfg.synthesis.channel_base // 16384, 1)
    ok = cm >= 1 and all(cfg.channels(r) == keymap.rosinality_channels(r, cm) for r in cfg.block_resolutions)
    return cm if ok else None


def _writable(cfg: AnyGeneratorConfig) -> GeneratorConfig:
    """``cfg`` itself when rosinality's code can build it; the error says what it cannot express."""
    if is_stylegan3(cfg):
        raise InvalidArgumentError("cannot write a rosinality checkpoint: it holds StyleGAN2 generators only and "
                                   "this is a StyleGAN3 one; write 'native' (or 'nvidia-pkl' into an NVIDIA pickle)")
    m, s = cfg.mapping, cfg.synthesis
    problems = []
    if cfg.c_dim:
        problems.append(f"c_dim={cfg.c_dim} (rosinality's generator has no label input)")
    if cfg.z_dim != cfg.w_dim or m.layer_features not in (None, cfg.w_dim):
        problems.append(f"z_dim={cfg.z_dim}, w_dim={cfg.w_dim}, layer_features={m.layer_features} "
                        "(rosinality's mapping is style_dim wide throughout)")
    if s.architecture != "skip":
        problems.append(f"synthesis architecture '{s.architecture}' (rosinality's generator is 'skip')")
    if m.activation != "lrelu" or s.activation != "lrelu":
        problems.append(f"activations {m.activation}/{s.activation} (rosinality uses lrelu)")
    if s.kernel_size != 3:
        problems.append(f"kernel_size={s.kernel_size} (rosinality uses 3)")
    if problems:
        raise InvalidArgumentError("cannot write a rosinality checkpoint: " + "; ".join(problems) +
                                   "; write 'native' instead")
    if s.conv_clamp is not None:
        log.warning("conv_clamp=%s is not part of rosinality's networks; its code will not clamp "
                    "(styleblend restores it from args.styleblend_g_config)", s.conv_clamp)
    differs = []  # only what differs, each with this network's value and rosinality's
    if channel_multiplier(cfg) is None:
        table = ", ".join(f"{r}px: {cfg.channels(r)}" for r in cfg.block_resolutions)
        differs.append(f"channels {table} (no channel_multiplier of rosinality's channel table gives them)")
    if cfg.img_channels != 3:
        differs.append(f"img_channels={cfg.img_channels} (rosinality's generator makes 3)")
    if tuple(s.resample_filter) != ROSINALITY_BLUR_KERNEL:
        differs.append(f"resample filter {list(s.resample_filter)} (rosinality's default blur_kernel is "
                       f"{list(ROSINALITY_BLUR_KERNEL)})")
    if m.lr_multiplier != ROSINALITY_LR_MLP:
        differs.append(f"mapping lr_multiplier={m.lr_multiplier} (rosinality's default lr_mlp is {ROSINALITY_LR_MLP}; "
                       f"the file's args['lr_mlp'] records {m.lr_multiplier})")
    if differs:
        log.warning("the tensors are written in rosinality's layout, but rosinality's Generator with its default "
                    "arguments does not build this network: %s", "; ".join(differs))
    return cfg


def _from_ours(state: StateDict, table: list[keymap.Entry], kernels: Mapping[str, torch.Tensor],
               what: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for ros, ours, layout in table:
        value = state.get(ours)
        if value is None and ours.endswith("noise_strength"):
            value = torch.zeros([])  # no noise == zero strength: the same images
        elif value is None and ours.endswith("noise_const"):
            match = re.search(r"\.b(\d+)\.", ours)
            assert match is not None  # every noise_const key of the table names its block
            res = int(match.group(1))
            value = torch.zeros([res, res])
        if value is None:
            raise ArchitectureMismatchError(f"{what}: tensor '{ours}' is missing")
        out[ros] = keymap.from_ours(value.detach().to("cpu").clone(), layout).contiguous()
    mapped = {ours for _, ours, _ in table}
    extra = sorted(k for k in state if k not in mapped and not k.endswith("resample_filter") and k != "mapping.w_avg")
    if extra:
        raise ArchitectureMismatchError(f"{what}: tensors with no place in rosinality's layout, e.g. {extra[:3]}")
    out.update({k: v.clone() for k, v in kernels.items()})
    return out


def discriminator_problem(cfg: DiscriminatorConfig) -> str | None:
    if cfg.architecture != "resnet" or cfg.c_dim or cfg.activation != "lrelu":
        return f"architecture '{cfg.architecture}', c_dim={cfg.c_dim}, activation '{cfg.activation}'"
    if cfg.mbstd_group_size != 4 or cfg.mbstd_num_channels != 1:
        return f"minibatch-stddev group {cfg.mbstd_group_size} / {cfg.mbstd_num_channels} channels (rosinality: 4 / 1)"
    return None


def write(ckpt: Checkpoint, out: Path) -> Path:
    """Write ``ckpt`` as a rosinality-layout ``.pt`` (``torch.save`` of plain dicts and tensors), atomically.

    The file holds ``g_ema`` (and ``g``, ``d`` when present) in rosinality's names and layouts,
    ``latent_avg`` (= ``mapping.w_avg`` of g_ema; g's own is kept as ``styleblend_g_latent_avg``) and
    ``args`` - a **plain dict**, not an ``argparse.Namespace``,
    so any ``torch.load(weights_only=True)`` opens it. ``args`` has rosinality's ``size``, ``latent``,
    ``n_mlp``, ``channel_multiplier`` (when one reproduces the channels) and ``lr_mlp``, plus
    ``styleblend_g_config``/``styleblend_d_config`` so that styleblend reads the exact architecture back.
    Optimizer states are not written (a checkpoint carries none). A discriminator rosinality cannot
    express (e.g. not resnet) is left out and listed in ``args['styleblend_dropped']``.

    Raises:
        InvalidArgumentError: the generator has no rosinality equivalent (class labels, other
            architecture or activation); write 'native' instead.
        ArchitectureMismatchError: a state dict does not match its config.
    """
    cfg = _writable(ckpt.g_config)
    args: dict[str, Any] = {"arch": "stylegan2", "size": cfg.img_resolution, "latent": cfg.w_dim,
                            "n_mlp": cfg.mapping.num_layers, "lr_mlp": cfg.mapping.lr_multiplier,
                            "styleblend_g_config": cfg.to_dict()}
    cm = channel_multiplier(cfg)
    if cm is not None:
        args["channel_multiplier"] = cm
    table, kernels = keymap.generator_table(cfg), keymap.generator_kernels(cfg)
    payload: dict[str, Any] = {"g_ema": _from_ours(ckpt.g_ema, table, kernels, "g_ema")}
    if "mapping.w_avg" in ckpt.g_ema:
        payload["latent_avg"] = ckpt.g_ema["mapping.w_avg"].detach().to("cpu").clone()
    if ckpt.g is not None:
        payload["g"] = _from_ours(ckpt.g, table, kernels, "g")
        if "mapping.w_avg" in ckpt.g:  # rosinality has one latent_avg; keep G's own for a lossless round trip
            payload["styleblend_g_latent_avg"] = ckpt.g["mapping.w_avg"].detach().to("cpu").clone()
    if ckpt.d is not None and ckpt.d_config is not None:
        problem = discriminator_problem(ckpt.d_config)
        if problem is None:
            payload["d"] = _from_ours(ckpt.d, keymap.discriminator_table(ckpt.d_config),
                                      keymap.discriminator_kernels(ckpt.d_config), "d")
            args["styleblend_d_config"] = ckpt.d_config.to_dict()
        else:
            log.warning("the discriminator is not written: rosinality's cannot express %s", problem)
            args["styleblend_dropped"] = [f"discriminator: {problem}"]
    payload["args"] = args
    with atomic_path(out) as tmp, tmp.open("wb") as f:
        torch.save(payload, f)
    return Path(out)
