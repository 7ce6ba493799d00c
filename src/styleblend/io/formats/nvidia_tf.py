"""NVIDIA StyleGAN2 / StyleGAN2-ADA TensorFlow pickles (``stylegan2-ffhq-config-f.pkl`` and the like).

Such a file pickles ``(G, D, Gs)`` (sometimes a single ``Gs``): ``dnnlib.tflib.network.Network``
objects whose ``__setstate__`` receives ``{version, name, static_kwargs, components,
build_module_src, build_func_name, variables, ...}``. NVIDIA's loader ``exec``s ``build_module_src``;
we never do: a stand-in class keeps the dict, numpy arrays are rebuilt by the restricted unpickler,
and the network is rebuilt from our own code using the variable names
(:mod:`styleblend.io.keymaps.nvidia_tf`) and ``static_kwargs``.

Shapes (resolution, widths, channels per resolution, layer counts, architecture) come from the
tensors and are cross-checked against ``static_kwargs``; kwargs that only change speed, precision or
run-time defaults are ignored; kwargs that change the images in ways we do not implement - or that
we do not know - make the generator unreadable, with the kwarg named. A discriminator that cannot be
converted exactly is left out and listed in ``meta['dropped']``.
"""

from __future__ import annotations

import functools
import logging
import re
import reprlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...config import (
    MAX_RESOLUTION,
    DiscriminatorConfig,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
)
from ...errors import (
    ArchitectureMismatchError,
    CheckpointError,
    InvalidArgumentError,
    UnsupportedArchitectureError,
)
from ...ops.bias_act import ACTIVATIONS
from ..checkpoint import Checkpoint, StateDict, state_shapes
from ..keymaps import nvidia_tf as keymap
from ..keymaps.common import complete_and_check, fit_channels
from ..reading import check_weights_cover, reader
from ..safe_unpickle import EasyDictStandIn, plain_data, restricted_load

log = logging.getLogger(__name__)


class TFNetworkStandIn:
    """Inert stand-in for ``dnnlib.tflib.network.Network``: keeps the pickled state dict, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError(f"a TensorFlow network's state is a {type(state).__name__}, not a dict")
        self.__dict__["state"] = state

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.__dict__.get("state", {})
        return state

    @property
    def build_func_name(self) -> str:
        return str(self.state.get("build_func_name"))

    @property
    def static_kwargs(self) -> dict[str, Any]:
        return {str(k): plain_data(v) for k, v in self._dict_field("static_kwargs").items()}

    @property
    def components(self) -> dict[str, Any]:
        return self._dict_field("components")

    def _dict_field(self, key: str) -> dict[str, Any]:
        value = self.state.get(key) or {}
        if not isinstance(value, dict):
            raise CheckpointError(f"a TensorFlow network's {key} is a {type(value).__name__}, not a dict")
        return dict(value)

    def variables(self) -> dict[str, torch.Tensor]:
        """Variables as float32 tensors, each checked to have the rank its name implies."""
        out = {}
        items = self.state.get("variables") or []
        if not isinstance(items, (list, tuple)):
            raise CheckpointError(f"a TensorFlow network's variables are a {type(items).__name__}, not a list")
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], (np.ndarray, np.generic, int, float))):
                raise CheckpointError("a TensorFlow network's variables are not (name, array) pairs")
            array = np.asarray(item[1])
            if array.dtype.kind not in "fiub":
                raise CheckpointError(f"TensorFlow variable '{item[0][:80]}' has dtype {array.dtype}")
            rank = _expected_rank(item[0])
            if rank is not None and array.ndim != rank:
                raise CheckpointError(f"TensorFlow variable '{item[0][:80]}' has shape {array.shape}; a variable of "
                                      f"that name has {rank} dimensions")
            out[item[0]] = torch.from_numpy(np.array(array, dtype=np.float32))
        return out


# Rank of a variable by its name (first match wins); names not listed are checked by the key map.
_RANKS = ((re.compile(r"(^|/)(Dense\d+|LabelEmbed|LabelConcat|Output)/weight$"), 2), (re.compile(r"/weight$"), 4),
          (re.compile(r"/mod_weight$"), 2), (re.compile(r"(/bias|/mod_bias|^dlatent_avg)$"), 1),
          (re.compile(r"(/noise_strength|^lod)$"), 0), (re.compile(r"(^noise\d+|/const)$"), 4))


def _expected_rank(name: str) -> int | None:
    for pattern, rank in _RANKS:
        if pattern.search(name):
            return rank
    return None


STAND_INS: dict[tuple[str, str], Any] = {
    ("dnnlib.tflib.network", "Network"): TFNetworkStandIn,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("dnnlib", "EasyDict"): EasyDictStandIn,
}

_SYNTHESIS_FUNCS = {"G_synthesis_stylegan2", "G_synthesis"}  # StyleGAN2 repo, StyleGAN2-ADA repo
# Kwargs that change only speed, precision, training or run-time defaults - never the converted weights' images.
_G_IGNORED = {"truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
              "style_mixing_prob", "dlatent_avg_beta", "randomize_noise", "fused_modconv", "dtype", "num_fp16_res",
              "is_training", "is_validation", "return_dlatents", "is_template_graph", "force_clean_graph",
              "structure", "dlatent_broadcast", "mapping_func", "synthesis_func"}
_G_USED = {"latent_size", "label_size", "dlatent_size", "mapping_layers", "mapping_fmaps", "mapping_lrmul",
           "mapping_nonlinearity", "normalize_latents", "label_fmaps", "num_channels", "resolution", "fmap_base",
           "fmap_decay", "fmap_min", "fmap_max", "fmap_const", "use_noise", "architecture", "nonlinearity",
           "conv_clamp", "resample_kernel", "resolution_w", "resolution_h"}
_D_IGNORED = {"dtype", "num_fp16_res", "structure", "freeze_layers", "augment_strength", "score_size",
              "pagan_num", "pagan_fade", "mapping_layers", "mapping_fmaps", "mapping_lrmul", "is_template_graph"}
_D_USED = {"num_channels", "resolution", "label_size", "fmap_base", "fmap_decay", "fmap_min", "fmap_max",
           "architecture", "nonlinearity", "mbstd_group_size", "mbstd_num_features", "conv_clamp",
           "resample_kernel", "use_pagan", "use_spectral_norm", "adaptive_dropout", "score_max",
           "resolution_w", "resolution_h"}


def _load(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            return restricted_load(f, extra=STAND_INS)[0]
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None


def _kwargs(nets: list[TFNetworkStandIn], ignored: set[str], used: set[str], what: str) -> dict[str, Any]:
    """Merge the static kwargs of a network and its components, refusing unknown ones by name."""
    merged: dict[str, Any] = {}
    for net in nets:
        for key, value in net.static_kwargs.items():
            if key not in ignored and key not in used:
                raise UnsupportedArchitectureError(
                    f"{what}: static kwarg '{key}={reprlib.repr(value)}' is not one of NVIDIA's StyleGAN2 kwargs; "
                    "it may "
                    "change the network in a way styleblend does not implement, so the file is not converted")
            merged.setdefault(key, value)
    return merged


def _filter(kw: Mapping[str, Any], what: str) -> tuple[int, ...]:
    taps = kw.get("resample_kernel", [1, 3, 3, 1])
    if taps is None:
        return (1, 1)  # TF: None means a box filter
    if not isinstance(taps, (list, tuple)) or not all(isinstance(t, (int, float)) and t == int(t) for t in taps):
        raise UnsupportedArchitectureError(
            f"{what}: resample_kernel={reprlib.repr(taps)} is not a 1-D list of integer taps")
    return tuple(int(t) for t in taps)


def _activation(kw: Mapping[str, Any], key: str, what: str) -> str:
    act = kw.get(key, "lrelu")
    if act not in ACTIVATIONS:
        raise UnsupportedArchitectureError(
            f"{what}: {key}={reprlib.repr(act)} is not an activation styleblend implements")
    return str(act)


def _check_equal(kw: Mapping[str, Any], key: str, actual: Any, what: str) -> None:
    if kw.get(key) is not None and kw[key] != actual:
        raise UnsupportedArchitectureError(
            f"{what}: static kwarg {key}={reprlib.repr(kw[key])} but the variables describe {actual!r}; "
            f"styleblend only converts networks whose {key} matches their weights")


def _channel_base(kw: Mapping[str, Any], channels: dict[int, int], what: str) -> tuple[int, int]:
    """Fit TF's nf() table (as read from the variables) to channel_base/channel_max; check the fmap kwargs."""
    base, decay = kw.get("fmap_base", 16384), kw.get("fmap_decay", 1.0)
    fmin, fmax = kw.get("fmap_min", 1), kw.get("fmap_max", 512)
    expected = {r: keymap.tf_channels(r, base, decay, fmin, fmax) for r in channels}
    if expected != channels:
        raise UnsupportedArchitectureError(
            f"{what}: fmap kwargs (fmap_base={base}, fmap_decay={decay}, fmap_min={fmin}, fmap_max={fmax}) give "
            f"channels {expected}, but the variables have {channels}")
    return fit_channels(channels, what, prefer_base=int(2 * base) if decay == 1 else None)


def _resolutions(names: list[str]) -> list[int]:
    """Block resolutions named by the variables ('64x64/Conv0_up/weight'), each a power of two in range."""
    found = sorted({int(m[1]) for n in names if (m := re.match(r"(\d{1,6})x\1/", n))})
    for res in found:
        if res < 4 or res > MAX_RESOLUTION or res & (res - 1):
            raise CheckpointError(f"a variable names a {res}x{res} block; block resolutions are powers of two "
                                  f"from 4 to {MAX_RESOLUTION}")
    if not found:
        raise CheckpointError("no variable names a block resolution ('4x4/...'); not a StyleGAN2 network")
    return found


def generator_config(net: TFNetworkStandIn, what: str) -> tuple[GeneratorConfig, dict[str, dict[str, torch.Tensor]]]:
    """Architecture of a TF generator (``G_main``) and its variables by component ('', 'mapping', 'synthesis').

    Raises:
        UnsupportedArchitectureError: not StyleGAN2, or a kwarg that changes the math (named).
        CheckpointError: a variable the architecture needs is missing.
    """
    try:
        return _generator_config(net, what)
    except KeyError as exc:
        raise CheckpointError(f"{what}: variable {exc} is missing; not a StyleGAN2 generator") from None


def _generator_config(net: TFNetworkStandIn, what: str) -> tuple[GeneratorConfig, dict[str, dict[str, torch.Tensor]]]:
    if net.build_func_name == "G_style":
        raise UnsupportedArchitectureError(f"{what} is a StyleGAN (version 1) generator; only StyleGAN2 is supported")
    if net.build_func_name != "G_main":
        raise UnsupportedArchitectureError(f"{what}: build function '{net.build_func_name}' is not a StyleGAN2 "
                                           "generator (expected 'G_main')")
    version = net.state.get("version")
    if version not in (2, 3, 4, 5):
        raise UnsupportedArchitectureError(
            f"{what}: TensorFlow network pickle version {reprlib.repr(version)} is not supported")
    comps = net.components
    mapping, synthesis = comps.get("mapping"), comps.get("synthesis")
    if not isinstance(mapping, TFNetworkStandIn) or not isinstance(synthesis, TFNetworkStandIn):
        raise CheckpointError(f"{what}: the generator has no 'mapping' and 'synthesis' sub-networks")
    if mapping.build_func_name != "G_mapping" or synthesis.build_func_name not in _SYNTHESIS_FUNCS:
        raise UnsupportedArchitectureError(
            f"{what}: sub-networks '{mapping.build_func_name}'/'{synthesis.build_func_name}' are not StyleGAN2's "
            "(configs A-D of the StyleGAN2 paper and StyleGAN 1 are not supported)")
    kw = _kwargs([synthesis, mapping, net], _G_IGNORED, _G_USED, what)
    variables = {"": net.variables(), "mapping": mapping.variables(), "synthesis": synthesis.variables()}
    mv, sv = variables["mapping"], variables["synthesis"]

    if "LabelConcat/weight" in mv:
        raise UnsupportedArchitectureError(f"{what}: class-conditional StyleGAN2 (LabelConcat) generators are not "
                                           "supported; StyleGAN2-ADA's LabelEmbed is")
    if kw.get("normalize_latents", True) is not True:
        raise UnsupportedArchitectureError(
            f"{what}: normalize_latents={reprlib.repr(kw['normalize_latents'])} changes the "
            "mapping network; styleblend always normalises z")
    num_layers = len([n for n in mv if re.fullmatch(r"Dense\d+/weight", n)])
    if num_layers == 0 or "4x4/Const/const" not in sv or "4x4/Conv/weight" not in sv:
        raise CheckpointError(f"{what}: no mapping layers or no 4x4 block; not a StyleGAN2 generator")
    w_dim = int(mv[f"Dense{num_layers - 1}/weight"].shape[1])
    hidden = int(mv["Dense0/weight"].shape[1]) if num_layers > 1 else w_dim
    c_dim = int(mv["LabelEmbed/weight"].shape[0]) if "LabelEmbed/weight" in mv else 0
    embed = int(mv["LabelEmbed/weight"].shape[1]) if c_dim else 0
    z_dim = int(mv["Dense0/weight"].shape[0]) - embed
    resolutions = _resolutions(list(sv))
    res = resolutions[-1]
    channels = {4: int(sv["4x4/Conv/weight"].shape[3])}
    channels.update({r: int(sv[f"{r}x{r}/Conv1/weight"].shape[3]) for r in resolutions if r > 4
                     and f"{r}x{r}/Conv1/weight" in sv})
    architecture = ("resnet" if any(n.endswith("/Skip/weight") for n in sv)
                    else "skip" if "4x4/ToRGB/weight" in sv else "orig")
    img_channels = int(sv[f"{res}x{res}/ToRGB/weight"].shape[3]) if f"{res}x{res}/ToRGB/weight" in sv else 0
    for key, actual in (("resolution", res), ("resolution_w", res), ("resolution_h", res), ("latent_size", z_dim),
                        ("dlatent_size", w_dim), ("mapping_layers", num_layers), ("label_size", c_dim),
                        ("num_channels", img_channels), ("architecture", architecture),
                        ("fmap_const", channels[4]), ("use_noise", "4x4/Conv/noise_strength" in sv)):
        _check_equal(kw, key, actual, what)
    if int(sv["4x4/Const/const"].shape[1]) != channels[4]:
        raise UnsupportedArchitectureError(f"{what}: the constant input has {sv['4x4/Const/const'].shape[1]} "
                                           f"channels but the 4x4 conv {channels[4]} (fmap_const is not supported)")
    base, cmax = _channel_base(kw, channels, what)
    beta = kw.get("dlatent_avg_beta", 0.995)
    try:
        cfg = GeneratorConfig(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=res, img_channels=img_channels,
            mapping=MappingConfig(num_layers=num_layers, embed_features=embed if c_dim and embed != w_dim else None,
                                  layer_features=hidden if hidden != w_dim else None,
                                  activation=_activation(kw, "mapping_nonlinearity", what),
                                  lr_multiplier=float(kw.get("mapping_lrmul", 0.01)),
                                  w_avg_beta=1.0 if beta is None else float(beta)),
            synthesis=SynthesisConfig(channel_base=base, channel_max=cmax, num_fp16_res=int(kw.get("num_fp16_res", 0)),
                                      architecture=architecture, resample_filter=_filter(kw, what),
                                      conv_clamp=None if kw.get("conv_clamp") is None else float(kw["conv_clamp"]),
                                      use_noise="4x4/Conv/noise_strength" in sv,
                                      activation=_activation(kw, "nonlinearity", what),
                                      kernel_size=int(sv["4x4/Conv/weight"].shape[0])))
    except InvalidArgumentError as exc:
        raise UnsupportedArchitectureError(f"{what}: {exc}") from None
    return cfg, variables


def _convert(variables: Mapping[str, torch.Tensor], key_of: Callable[[str], Any], what: str) -> StateDict:
    out: StateDict = {}
    for name, value in variables.items():
        found = key_of(name)
        if found is keymap.IGNORED:
            continue
        if found is None:
            raise UnsupportedArchitectureError(f"{what}: unknown TensorFlow variable '{name}'; the network is not "
                                               "the StyleGAN2 architecture styleblend converts")
        key, transform = found
        out[key] = keymap.convert(value, transform, name)
    return out


def convert_generator(net: TFNetworkStandIn, what: str, shapes: dict[str, tuple[int, ...]] | None = None,
                      ) -> tuple[GeneratorConfig, StateDict, dict[str, tuple[int, ...]]]:
    """Config, canonical state dict and tensor shapes of a TF generator network.

    shapes: the expected tensor shapes when already known (G and Gs share them), to skip building a network.
    """
    cfg, variables = generator_config(net, what)
    check_weights_cover(cfg, sum(t.numel() for v in variables.values() for t in v.values()), what)
    state: StateDict = {}
    for component, values in variables.items():
        state.update(_convert(values, functools.partial(keymap.generator_key, component), what))
    if "mapping.w_avg" not in state:
        raise CheckpointError(f"{what}: the generator has no 'dlatent_avg' variable")
    from ...nn import Generator

    shapes = shapes if shapes is not None else state_shapes(lambda: Generator(cfg))
    return cfg, complete_and_check(state, shapes, cfg.synthesis.resample_filter, what), shapes


def convert_discriminator(net: TFNetworkStandIn, what: str) -> tuple[DiscriminatorConfig, StateDict]:
    """Config and canonical state dict of a TF discriminator (``D_stylegan2`` or ``D_main``).

    Raises:
        UnsupportedArchitectureError / CheckpointError / ArchitectureMismatchError: not exactly convertible.
    """
    try:
        return _convert_discriminator(net, what)
    except KeyError as exc:
        raise CheckpointError(f"variable {exc} is missing") from None


def _convert_discriminator(net: TFNetworkStandIn, what: str) -> tuple[DiscriminatorConfig, StateDict]:
    func = net.build_func_name
    if func not in ("D_stylegan2", "D_main"):
        raise UnsupportedArchitectureError(f"build function '{func}' is not a StyleGAN2 discriminator")
    kw = _kwargs([net], _D_IGNORED, _D_USED, what)
    for key, harmless in (("label_size", 0), ("use_pagan", False), ("use_spectral_norm", False),
                          ("adaptive_dropout", 0), ("score_max", 1)):
        if kw.get(key, harmless) != harmless:
            raise UnsupportedArchitectureError(f"{key}={kw[key]!r} is not supported in discriminators")
    v = net.variables()
    resolutions = _resolutions(list(v))
    res = resolutions[-1]
    if f"{res}x{res}/FromRGB/weight" not in v or "4x4/Conv/weight" not in v or "4x4/Dense0/weight" not in v:
        raise CheckpointError("no FromRGB, 4x4/Conv or 4x4/Dense0 variable")
    channels = {r: int(v[f"{r}x{r}/Conv0/weight"].shape[3]) for r in resolutions if f"{r}x{r}/Conv0/weight" in v}
    channels[4] = int(v["4x4/Conv/weight"].shape[3])
    if int(v["4x4/Dense0/weight"].shape[1]) != channels[4]:
        raise UnsupportedArchitectureError(
            f"4x4/Dense0 has {v['4x4/Dense0/weight'].shape[1]} outputs but the 4x4 conv {channels[4]} "
            "(nf(0) != nf(1)); styleblend's epilogue needs them equal")
    architecture = ("resnet" if any(n.endswith("/Skip/weight") for n in v)
                    else "skip" if "4x4/FromRGB/weight" in v else "orig")
    mbstd = int(v["4x4/Conv/weight"].shape[2]) - channels[4]
    group = kw.get("mbstd_group_size", 4 if func == "D_stylegan2" else None)
    img_channels = int(v[f"{res}x{res}/FromRGB/weight"].shape[2])
    for key, actual in (("resolution", res), ("resolution_w", res), ("resolution_h", res),
                        ("architecture", architecture), ("num_channels", img_channels)):
        _check_equal(kw, key, actual, what)
    if func == "D_main":
        _check_equal(kw, "mbstd_num_features", mbstd, what)
    if func == "D_stylegan2" and mbstd and (group is None or group <= 1):
        raise UnsupportedArchitectureError(f"mbstd_group_size={group!r} disables the stddev layer, but 4x4/Conv has "
                                           f"{mbstd} extra input channel(s)")
    base, cmax = _channel_base(kw, channels, what)
    cfg = DiscriminatorConfig(img_resolution=res, img_channels=img_channels,
                              architecture=architecture, channel_base=base, channel_max=cmax,
                              num_fp16_res=int(kw.get("num_fp16_res", 0)),
                              conv_clamp=None if kw.get("conv_clamp") is None else float(kw["conv_clamp"]),
                              mbstd_group_size=None if group is None else int(group), mbstd_num_channels=mbstd,
                              activation=_activation(kw, "nonlinearity", what), resample_filter=_filter(kw, what))
    from ...nn import Discriminator

    check_weights_cover(cfg, sum(t.numel() for t in v.values()), what)
    state = _convert(v, keymap.discriminator_key, what)
    return cfg, complete_and_check(state, state_shapes(lambda: Discriminator(cfg)), cfg.resample_filter, what)


@reader("TensorFlow network pickle")
def read(path: Path) -> Checkpoint:
    """Read a TensorFlow StyleGAN2(-ADA) pickle without executing any of its code.

    Raises:
        CheckpointError: corrupt/truncated file or not a TF StyleGAN2 network pickle.
        UnsafeCheckpointError: a global outside the allow-list (named in the message).
        UnsupportedArchitectureError: e.g. StyleGAN 1, paper configs A-D, or a static kwarg that changes
            the generator in a way styleblend does not implement (named in the message).
    """
    obj = _load(path)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetworkStandIn) for n in obj):
        tf_g, tf_d, tf_gs = obj
    elif isinstance(obj, TFNetworkStandIn):
        tf_g, tf_d, tf_gs = None, None, obj
    else:
        raise CheckpointError(f"{path.name} is a pickle but not a TensorFlow (G, D, Gs) network tuple")
    what = f"{path.name} (TensorFlow)"
    g_cfg, g_ema, shapes = convert_generator(tf_gs, f"{what} Gs")
    dropped = ["embedded network source code (never executed)"]
    meta: dict[str, Any] = {"dropped": dropped, "tf_static_kwargs": tf_gs.static_kwargs}
    g = None
    if tf_g is not None:
        try:
            cfg, g, _ = convert_generator(tf_g, f"{what} G", shapes)
            if cfg != g_cfg:
                dropped.append("training generator G (its architecture differs from Gs)")
                g = None
        except (CheckpointError, ArchitectureMismatchError) as exc:
            dropped.append(f"training generator G ({exc})")
    d_cfg = d = None
    if tf_d is not None:
        try:
            d_cfg, d = convert_discriminator(tf_d, f"{what} D")
        except (CheckpointError, ArchitectureMismatchError, InvalidArgumentError) as exc:
            dropped.append(f"discriminator ({exc})")
    if meta["tf_static_kwargs"].get("truncation_psi") not in (None, 1, 1.0):
        log.info("%s: the file's default truncation_psi=%s is not applied; pass truncation_psi explicitly",
                 path.name, meta["tf_static_kwargs"]["truncation_psi"])
    return Checkpoint(g_config=g_cfg, g_ema=g_ema, g=g, d_config=d_cfg, d=d, source=path,
                      meta=meta)
