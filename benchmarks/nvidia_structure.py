"""Write network pickles with the *structure* of NVIDIA StyleGAN2-ADA and StyleGAN3 snapshots, for benchmarks and tests.

A snapshot is a pickled dict ``{G, D, G_ema, augment_pipe, training_set_kwargs}``; each network is a
call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose meta dict holds the module's
class name, source code and ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``).
This writer builds that structure from our own modules, with ``module_src = '# source removed'``
(no code of anyone's is written), so big realistic files (e.g. 1024 px config-f) can be made without
NVIDIA's code. Tensors are pickled by PyTorch's own reducers (``_rebuild_tensor_v2`` /
``_rebuild_parameter`` over ``storage._load_from_bytes`` blobs), exactly as in a real snapshot.

StyleGAN3 generators (:func:`write_sg3_snapshot`) get the classes and attributes of NVIDIA's
``networks_stylegan3`` as its constructors set them (see ``tests/fixtures/nvidia-sg3t32/README.md``):
``Generator`` > ``SynthesisNetwork`` > ``SynthesisInput`` / ``SynthesisLayer`` > ``FullyConnectedLayer``,
``MappingNetwork``; sizes as numpy int arrays, cut-offs as numpy float64, ``use_fp16`` as numpy bool, the
ToRGB layer's filters as ``None`` buffers, ``mapping_kwargs`` as a ``dnnlib.util.EasyDict``.

Not part of the library: only ``benchmarks/`` and tests use it.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

_MODULE = "torch_utils.persistence"
_FUNC = "_reconstruct_persistent_obj"


def _placeholder(meta: dict) -> Any:  # never called: only its pickled name matters
    raise AssertionError("placeholder called")


class EasyDict(dict):
    """Pickles as ``dnnlib.util.EasyDict`` (the dict subclass NVIDIA's train.py passes kwargs in)."""


@contextlib.contextmanager
def _fake_persistence_module() -> Iterator[None]:
    """Make ``torch_utils.persistence._reconstruct_persistent_obj`` (and ``dnnlib.util.EasyDict``) resolvable
    while pickling, then undo it.

    pickle checks that a global it writes can be imported by name; the modules exist only during
    the dump and are removed afterwards (nothing else sees them, and they hold no code of NVIDIA's).
    """
    saved = {name: sys.modules.get(name) for name in ("torch_utils", _MODULE, "dnnlib", "dnnlib.util")}
    parent = types.ModuleType("torch_utils")
    child = types.ModuleType(_MODULE)
    _placeholder.__module__ = _MODULE
    _placeholder.__qualname__ = _placeholder.__name__ = _FUNC
    setattr(child, _FUNC, _placeholder)
    parent.persistence = child  # type: ignore[attr-defined]
    sys.modules["torch_utils"], sys.modules[_MODULE] = parent, child
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    EasyDict.__module__ = "dnnlib.util"
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    dnnlib.util = util  # type: ignore[attr-defined]
    sys.modules["dnnlib"], sys.modules["dnnlib.util"] = dnnlib, util
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Persistent:
    """Pickles as ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self):
        return _placeholder, (self.meta,)


def persistent_tree(module: torch.nn.Module, init_kwargs: dict | None = None) -> _Persistent:
    """A module and its children as nested persistent meta dicts (parameters kept as nn.Parameter)."""
    state = {
        "training": False,
        "_parameters": OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                   for k, v in module._parameters.items() if v is not None),
        "_buffers": OrderedDict((k, v.detach().clone()) for k, v in module._buffers.items() if v is not None),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict((k, persistent_tree(m)) for k, m in module._modules.items() if m is not None),
        "_init_args": (),
        "_init_kwargs": dict(init_kwargs or {}),
    }
    meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": type(module).__name__,
            "state": state}
    return _Persistent(meta)


def generator_kwargs(cfg) -> dict:
    """NVIDIA Generator constructor kwargs for a :class:`GeneratorConfig`."""
    m, s = cfg.mapping, cfg.synthesis
    return {"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim, "img_resolution": cfg.img_resolution,
            "img_channels": cfg.img_channels,
            "mapping_kwargs": {"num_layers": m.num_layers},
            "synthesis_kwargs": {"channel_base": s.channel_base, "channel_max": s.channel_max,
                                 "num_fp16_res": s.num_fp16_res, "conv_clamp": s.conv_clamp,
                                 "architecture": s.architecture}}


def discriminator_kwargs(cfg) -> dict:
    """NVIDIA Discriminator constructor kwargs for a :class:`DiscriminatorConfig`."""
    return {"c_dim": cfg.c_dim, "img_resolution": cfg.img_resolution, "img_channels": cfg.img_channels,
            "architecture": cfg.architecture, "channel_base": cfg.channel_base, "channel_max": cfg.channel_max,
            "num_fp16_res": cfg.num_fp16_res, "conv_clamp": cfg.conv_clamp, "cmap_dim": cfg.cmap_dim,
            "block_kwargs": {}, "mapping_kwargs": {}, "epilogue_kwargs": {"mbstd_group_size": cfg.mbstd_group_size}}


def write_snapshot(path: str | Path, G: torch.nn.Module, G_ema: torch.nn.Module, D: torch.nn.Module | None,
                   g_cfg, d_cfg=None) -> Path:
    """Write ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` like NVIDIA's training loop (protocol 4)."""
    data = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "resolution":
                                    g_cfg.img_resolution},
            "G": persistent_tree(G, generator_kwargs(g_cfg)),
            "D": persistent_tree(D, discriminator_kwargs(d_cfg)) if D is not None else None,
            "G_ema": persistent_tree(G_ema, generator_kwargs(g_cfg)),
            "augment_pipe": None}
    path = Path(path)
    with _fake_persistence_module(), path.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    return path


_SG3_LAYER_ARGS = ("conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp",
                   "magnitude_ema_beta")


def _sg3_node(module: torch.nn.Module, class_name: str, attrs: dict, children: dict,
              init_args: tuple = (), init_kwargs: dict | None = None) -> _Persistent:
    """One NVIDIA StyleGAN3 module: its tensors (``None`` buffers kept, as NVIDIA's modules have them),
    the attributes its constructor sets, and its constructor arguments."""
    state = {
        "training": False,
        "_parameters": OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                   for k, v in module._parameters.items() if v is not None),
        "_buffers": OrderedDict((k, None if v is None else v.detach().clone()) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict(children),
        **attrs,
        "_init_args": init_args,
        "_init_kwargs": dict(init_kwargs or {}),
    }
    return _Persistent({"type": "class", "version": 6, "module_src": "# source removed", "class_name": class_name,
                        "state": state})


def _fc_node(fc: torch.nn.Module, init_kwargs: dict | None = None) -> _Persistent:
    attrs = {"in_features": fc.in_features, "out_features": fc.out_features, "activation": fc.activation,
             "weight_gain": np.float64(fc.weight_gain), "bias_gain": fc.bias_gain}
    return _sg3_node(fc, "FullyConnectedLayer", attrs, {}, (fc.in_features, fc.out_features), init_kwargs)


def sg3_generator_kwargs(cfg) -> dict:
    """The Generator kwargs NVIDIA's train.py passes for a :class:`StyleGAN3Config`: z/w/c dims, resolution,
    ``mapping_kwargs``, and the synthesis options flat beside them (channel_base, channel_max and
    magnitude_ema_beta always; others where they differ from NVIDIA's defaults, e.g. -R's conv_kernel and
    use_radial_filters, --fp32's num_fp16_res=0 and conv_clamp=None)."""
    from styleblend.config_sg3 import SG3SynthesisConfig

    s, default = cfg.synthesis, SG3SynthesisConfig()
    kwargs: dict[str, Any] = {"z_dim": cfg.z_dim, "w_dim": cfg.w_dim,
                              "mapping_kwargs": EasyDict(num_layers=cfg.mapping.num_layers),
                              "channel_base": s.channel_base, "channel_max": s.channel_max,
                              "magnitude_ema_beta": s.magnitude_ema_beta}
    for name in SG3SynthesisConfig.__dataclass_fields__:
        if name not in kwargs and getattr(s, name) != getattr(default, name):
            kwargs[name] = getattr(s, name)
    kwargs.update(c_dim=cfg.c_dim, img_resolution=cfg.img_resolution, img_channels=cfg.img_channels)
    return kwargs


def sg3_persistent_tree(G: torch.nn.Module) -> _Persistent:
    """A :class:`~styleblend.nn.stylegan3.StyleGAN3Generator` as NVIDIA's StyleGAN3 ``Generator`` object tree."""
    cfg, syn = G.cfg, G.synthesis
    s = cfg.synthesis
    spec_in = cfg.input_spec
    size = np.array([spec_in.size, spec_in.size])
    inp = syn.input
    input_kwargs = {"w_dim": cfg.w_dim, "channels": spec_in.channels, "size": spec_in.size,
                    "sampling_rate": np.float64(spec_in.sampling_rate), "bandwidth": np.float64(spec_in.bandwidth)}
    children = {"input": _sg3_node(inp, "SynthesisInput", {**input_kwargs, "size": size},
                                   {"affine": _fc_node(inp.affine, {"weight_init": 0, "bias_init": [1, 0, 0, 0]})},
                                   init_kwargs=input_kwargs)}
    for spec in cfg.layers:
        layer = getattr(syn, spec.name)
        layer_kwargs = {"w_dim": cfg.w_dim, "is_torgb": spec.is_torgb,
                        "is_critically_sampled": spec.is_critically_sampled, "use_fp16": np.bool_(spec.use_fp16),
                        "in_channels": spec.in_channels, "out_channels": spec.out_channels,
                        "in_size": spec.in_size, "out_size": spec.out_size,
                        "in_sampling_rate": spec.in_sampling_rate, "out_sampling_rate": spec.out_sampling_rate,
                        "in_cutoff": np.float64(spec.in_cutoff), "out_cutoff": np.float64(spec.out_cutoff),
                        "in_half_width": np.float64(spec.in_half_width),
                        "out_half_width": np.float64(spec.out_half_width)}
        # The SynthesisNetwork passes the Generator's remaining kwargs on to every layer.
        extra = {k: v for k, v in sg3_generator_kwargs(cfg).items() if k in _SG3_LAYER_ARGS}
        attrs = {**layer_kwargs, "in_size": np.array([spec.in_size] * 2), "out_size": np.array([spec.out_size] * 2),
                 "tmp_sampling_rate": spec.tmp_sampling_rate, "conv_kernel": spec.conv_kernel,
                 "conv_clamp": s.conv_clamp, "magnitude_ema_beta": s.magnitude_ema_beta,
                 "up_factor": spec.up_factor, "up_taps": spec.up_taps, "down_factor": spec.down_factor,
                 "down_taps": spec.down_taps, "down_radial": spec.down_radial, "padding": list(spec.padding)}
        children[spec.name] = _sg3_node(layer, "SynthesisLayer", attrs, {"affine": _fc_node(layer.affine,
                                                                                              {"bias_init": 1})},
                                        init_kwargs={**layer_kwargs, **extra})
    syn_kwargs = {k: v for k, v in sg3_generator_kwargs(cfg).items()
                  if k not in ("z_dim", "c_dim", "mapping_kwargs")}
    syn_attrs = {"w_dim": cfg.w_dim, "num_ws": cfg.num_ws, "img_resolution": cfg.img_resolution,
                 "img_channels": cfg.img_channels, "num_layers": s.num_layers, "num_critical": s.num_critical,
                 "margin_size": s.margin_size, "output_scale": s.output_scale, "num_fp16_res": s.num_fp16_res,
                 "layer_names": list(syn.layer_names)}
    synthesis = _sg3_node(syn, "SynthesisNetwork", syn_attrs, children, init_kwargs=syn_kwargs)
    mapping = G.mapping
    m_children = {}
    if cfg.c_dim > 0:
        m_children["embed"] = _fc_node(mapping.embed)
    for i in range(mapping.num_layers):
        m_children[f"fc{i}"] = _fc_node(getattr(mapping, f"fc{i}"),
                                        {"activation": "lrelu", "lr_multiplier": cfg.mapping.lr_multiplier})
    m_attrs = {"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim, "num_ws": cfg.num_ws,
               "num_layers": cfg.mapping.num_layers, "w_avg_beta": cfg.mapping.w_avg_beta}
    m_node = _sg3_node(mapping, "MappingNetwork", m_attrs, m_children,
                       init_kwargs={"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim,
                                    "num_ws": cfg.num_ws, "num_layers": cfg.mapping.num_layers})
    g_attrs = {"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim, "img_resolution": cfg.img_resolution,
               "img_channels": cfg.img_channels, "num_ws": cfg.num_ws}
    return _sg3_node(G, "Generator", g_attrs, {"synthesis": synthesis, "mapping": m_node},
                     init_kwargs=sg3_generator_kwargs(cfg))


def write_sg3_snapshot(path: str | Path, G: torch.nn.Module, G_ema: torch.nn.Module, D: torch.nn.Module | None,
                       d_cfg=None) -> Path:
    """Write a StyleGAN3 ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` in the key order of NVIDIA's
    StyleGAN3 training loop (protocol 4); D is StyleGAN2's discriminator, as StyleGAN3 training uses it."""
    data = {"G": sg3_persistent_tree(G),
            "D": persistent_tree(D, discriminator_kwargs(d_cfg)) if D is not None else None,
            "G_ema": sg3_persistent_tree(G_ema), "augment_pipe": None,
            "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset",
                                            resolution=G.cfg.img_resolution, use_labels=G.cfg.c_dim > 0)}
    path = Path(path)
    with _fake_persistence_module(), path.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    return path
