"""StyleGAN3 generators in NVIDIA network pickles: architecture from the inert object tree.

NVIDIA's StyleGAN3 repository pickles its generator like StyleGAN2's (persistent objects whose
source is never run here; see :mod:`.nvidia_pkl`), but with the classes of
``training/networks_stylegan3.py``: a ``Generator`` whose synthesis kwargs sit flat beside
``mapping_kwargs``, a ``SynthesisInput`` and layers ``L<i>_<size>_<channels>``. This module turns such
a tree into a :class:`~styleblend.config_sg3.StyleGAN3Config` and checks that every design number the
file stores (layer names, sizes, sampling rates, factors, paddings, kernel sizes) is the one the
config implies, so that a fork with a different design is refused instead of rendered wrongly.

It plugs into the NVIDIA pickle reader at one point: its ``generator_config`` calls
:func:`stylegan3_config` when :func:`is_stylegan3` says so. Tensors (weights, the stored filters,
``magnitude_ema``, the input's ``transform``/``freqs``/``phases``) are read by the same flattening as
StyleGAN2's, and written back into a copy of the pickle by the same in-place patching.
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

from ...config import MappingConfig
from ...config_sg3 import LayerSpec, SG3SynthesisConfig, StyleGAN3Config
from ...errors import CheckpointError, InvalidArgumentError, UnsupportedArchitectureError
from ..safe_unpickle import PersistentObject, plain_data

_TOP = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
_MAPPING_FIELDS = {"num_layers", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_FIELDS = {f for f in SG3SynthesisConfig.__dataclass_fields__}
# Kwargs that only freeze layers during fine-tuning (Freeze-M / Freeze-E); they never change images.
_IGNORED = {"freeze_layers", "freeze_embed"}
# Layer attributes NVIDIA stores and how they must equal our design (attribute -> LayerSpec field).
_LAYER_ATTRS = ("is_torgb", "is_critically_sampled", "use_fp16", "in_channels", "out_channels", "in_size",
                "out_size", "in_sampling_rate", "out_sampling_rate", "tmp_sampling_rate", "conv_kernel",
                "up_factor", "down_factor", "up_taps", "down_taps", "down_radial", "padding", "in_cutoff",
                "out_cutoff", "in_half_width", "out_half_width")


def _modules(obj: PersistentObject) -> dict[str, Any]:
    value = obj.state.get("_modules")
    return dict(value) if isinstance(value, dict) else {}


def is_stylegan3(obj: PersistentObject) -> bool:
    """Whether a ``Generator`` object is StyleGAN3's: its synthesis has an ``input`` or ``L0_*`` layers
    (the embedded source, often removed, is not needed)."""
    synthesis = _modules(obj).get("synthesis")
    if isinstance(synthesis, PersistentObject):
        names = list(_modules(synthesis))
        if "input" in names or any(isinstance(n, str) and n.startswith("L0_") for n in names):
            return True
    return "filtered_lrelu" in obj.module_src


def _kwargs(value: Any, what: str) -> dict[str, Any]:
    value = plain_data(value or {})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CheckpointError(f"the StyleGAN3 {what} is a {type(value).__name__}, not a dict of kwargs")
    return dict(value)


def _known(kwargs: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        if key in known:
            out[key] = value
        elif key not in _IGNORED:
            raise UnsupportedArchitectureError(
                f"StyleGAN3 {where} kwarg '{key}={reprlib.repr(value)}' changes the network in a way styleblend "
                "does not implement; please report it with the model's origin")
    return out


def _whole(value: Any, name: str) -> Any:
    if isinstance(value, float) and value.is_integer() and name in {"channel_base", "channel_max", "num_layers",
                                                                   "z_dim", "c_dim", "w_dim", "img_resolution",
                                                                   "img_channels", "margin_size", "num_critical",
                                                                   "num_fp16_res", "conv_kernel", "filter_size",
                                                                   "lrelu_upsampling"}:
        return int(value)
    return value


def stylegan3_config(obj: PersistentObject) -> StyleGAN3Config:
    """Architecture of a StyleGAN3 ``Generator`` object from its constructor kwargs, checked against the
    design numbers stored in its synthesis layers.

    Raises:
        CheckpointError: kwargs missing, malformed or invalid.
        UnsupportedArchitectureError: a kwarg or a stored layer design styleblend does not reproduce.
    """
    kwargs = _kwargs(obj.state.get("_init_kwargs"), "Generator's _init_kwargs")
    args = plain_data(obj.state.get("_init_args") or ())
    if not isinstance(args, (list, tuple)):
        raise CheckpointError(f"the Generator's _init_args is a {type(args).__name__}, not a tuple")
    kwargs.update(zip(_TOP, args))
    missing = [k for k in _TOP if k not in kwargs]
    if missing:
        raise CheckpointError(f"the StyleGAN3 Generator's constructor kwargs lack {missing}")
    top = {k: _whole(kwargs.pop(k), k) for k in _TOP}
    mapping = _known(_kwargs(kwargs.pop("mapping_kwargs", None), "mapping_kwargs"), _MAPPING_FIELDS, "mapping")
    mapping = {k: _whole(v, k) for k, v in mapping.items()}
    mapping.setdefault("num_layers", 2)
    mapping.setdefault("w_avg_beta", 0.998)
    synthesis = {k: _whole(v, k) for k, v in _known(kwargs, _SYNTHESIS_FIELDS, "synthesis").items()}
    try:
        cfg = StyleGAN3Config(mapping=MappingConfig(**mapping), synthesis=SG3SynthesisConfig(**synthesis), **top)
    except InvalidArgumentError as exc:
        raise CheckpointError(f"the StyleGAN3 Generator's constructor kwargs are invalid: {exc}") from None
    check_stored_design(obj, cfg)
    check_stored_mapping(obj, cfg)
    return cfg


def _same(stored: Any, ours: Any) -> bool:
    stored = plain_data(stored)
    if isinstance(stored, np.ndarray):
        stored = stored.tolist()
    if isinstance(ours, tuple):
        return isinstance(stored, (list, tuple)) and list(stored) == list(ours)
    if isinstance(ours, float):
        is_number = isinstance(stored, (int, float)) and not isinstance(stored, bool)
        return is_number and abs(stored - ours) <= 1e-9 * max(1, abs(ours))
    if isinstance(stored, list) and len(stored) == 2 and stored[0] == stored[1]:
        stored = stored[0]  # sizes are stored as [width, height]
    return bool(stored == ours)


def check_stored_design(obj: PersistentObject, cfg: StyleGAN3Config) -> None:
    """Every layer name and design number stored in the file equals the one ``cfg`` implies.

    Attributes the file lacks are not required (older or trimmed files); present ones must agree.

    Raises:
        UnsupportedArchitectureError: naming the first layer and number that differ.
    """
    synthesis = _modules(obj).get("synthesis")
    if not isinstance(synthesis, PersistentObject):
        raise CheckpointError("the StyleGAN3 Generator has no synthesis network")
    modules = _modules(synthesis)
    expected: list[LayerSpec] = cfg.layers
    stored_names = plain_data(synthesis.state.get("layer_names"))
    names = [spec.name for spec in expected]
    present = [n for n in modules if isinstance(n, str) and n != "input"]
    if (stored_names is not None and list(stored_names) != names) or present != names:
        raise UnsupportedArchitectureError(
            f"the StyleGAN3 synthesis layers {reprlib.repr(stored_names or present)} are not the "
            f"{names[:2]}...{names[-1:]} "
            "its constructor kwargs imply; this generator was built by modified code styleblend does not reproduce")
    s = cfg.synthesis
    # Synthesis-wide numbers NVIDIA's SynthesisNetwork stores; output_scale and num_fp16_res are in no layer.
    for attr, ours in (("num_layers", s.num_layers), ("num_critical", s.num_critical),
                       ("margin_size", s.margin_size), ("output_scale", float(s.output_scale)),
                       ("num_fp16_res", s.num_fp16_res), ("num_ws", cfg.num_ws)):
        if attr in synthesis.state and not _same(synthesis.state[attr], ours):
            raise UnsupportedArchitectureError(
                f"the StyleGAN3 synthesis network stores {attr}={reprlib.repr(plain_data(synthesis.state[attr]))} "
                f"but its kwargs imply {ours}; this generator was built by modified code styleblend does not reproduce")
    spec_in = cfg.input_spec
    net_input = modules.get("input")
    if not isinstance(net_input, PersistentObject):
        raise CheckpointError("the StyleGAN3 synthesis network has no 'input' layer")
    for attr, ours in (("channels", spec_in.channels), ("size", spec_in.size),
                       ("sampling_rate", spec_in.sampling_rate), ("bandwidth", spec_in.bandwidth)):
        if attr in net_input.state and not _same(net_input.state[attr], ours):
            raise UnsupportedArchitectureError(
                f"synthesis.input stores {attr}={reprlib.repr(plain_data(net_input.state[attr]))} but its kwargs imply "
                f"{ours}; this generator was built by modified code styleblend does not reproduce")
    for spec in expected:
        layer = modules[spec.name]
        if not isinstance(layer, PersistentObject):
            raise CheckpointError(f"synthesis.{spec.name} is not a network layer")
        for attr in (*_LAYER_ATTRS, "conv_clamp"):
            implied = s.conv_clamp if attr == "conv_clamp" else getattr(spec, attr)
            if attr in layer.state and not _same(layer.state[attr], implied):
                raise UnsupportedArchitectureError(
                    f"synthesis.{spec.name} stores {attr}={reprlib.repr(plain_data(layer.state[attr]))} but its kwargs "
                    f"imply {implied}; this generator was built by modified code styleblend does not reproduce")


def check_stored_mapping(obj: PersistentObject, cfg: StyleGAN3Config) -> None:
    """The numbers stored in the mapping network and in every dense layer are those ``cfg`` implies.

    NVIDIA's ``FullyConnectedLayer`` stores ``weight_gain = lr_multiplier / sqrt(in_features)`` and
    ``bias_gain = lr_multiplier``; the mapping's lr multiplier is a constructor default (0.01) that
    ``mapping_kwargs`` rarely names, so the stored gains are what tell a fork with another default apart.
    ``embed`` (class conditioning, c_dim -> w_dim) and the style affines are linear with unit multiplier.

    Raises:
        UnsupportedArchitectureError: naming the layer and number that differ.
    """
    m = cfg.mapping
    dense: dict[str, tuple[int, float, str]] = {}  # dotted module path -> (in_features, lr multiplier, activation)
    if cfg.c_dim > 0:
        dense["mapping.embed"] = (cfg.c_dim, 1.0, "linear")
    features = cfg.z_dim + (cfg.w_dim if cfg.c_dim > 0 else 0)
    for idx in range(m.num_layers):
        dense[f"mapping.fc{idx}"] = (features if idx == 0 else cfg.w_dim, float(m.lr_multiplier), m.activation)
    for name in ("input", *cfg.layer_names):
        dense[f"synthesis.{name}.affine"] = (cfg.w_dim, 1.0, "linear")
    mapping = _modules(obj).get("mapping")
    if isinstance(mapping, PersistentObject):
        for attr, implied in (("z_dim", cfg.z_dim), ("c_dim", cfg.c_dim), ("w_dim", cfg.w_dim),
                              ("num_ws", cfg.num_ws), ("num_layers", m.num_layers)):
            if attr in mapping.state and not _same(mapping.state[attr], implied):
                raise UnsupportedArchitectureError(
                    f"mapping stores {attr}={reprlib.repr(plain_data(mapping.state[attr]))} but the kwargs imply "
                    f"{implied}; this generator was built by modified code styleblend does not reproduce")
    for path, (in_features, lr, activation) in dense.items():
        layer: Any = obj
        for part in path.split("."):
            layer = _modules(layer).get(part) if isinstance(layer, PersistentObject) else None
        if not isinstance(layer, PersistentObject):
            continue  # a missing layer is reported when its tensors are checked
        numbers: tuple[tuple[str, Any], ...] = (("in_features", in_features), ("bias_gain", lr),
                                                ("weight_gain", lr / float(np.sqrt(in_features))),
                                                ("activation", activation))
        for attr, want in numbers:
            if attr in layer.state and not _same(layer.state[attr], want):
                raise UnsupportedArchitectureError(
                    f"{path} stores {attr}={reprlib.repr(plain_data(layer.state[attr]))} but the kwargs imply "
                    f"{want}; this generator was built by modified code styleblend does not reproduce")
