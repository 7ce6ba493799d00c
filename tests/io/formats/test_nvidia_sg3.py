"""StyleGAN3 snapshots in NVIDIA pickles: read without running code, design numbers checked, hostile
files refused, written back into a copy with only tensor bytes changed."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pytest
import torch

from styleblend.config import MappingConfig
from styleblend.config_sg3 import SG3SynthesisConfig, StyleGAN3Config
from styleblend.errors import (
    CheckpointError,
    InvalidArgumentError,
    UnsafeCheckpointError,
    UnsupportedArchitectureError,
)
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.formats import nvidia_sg3
from styleblend.io.formats.nvidia_pkl import _blob_offsets, _load, generator_config
from styleblend.io.safe_unpickle import plain_data
from styleblend.latents.mapping import seeds_to_ws

from ...conftest import tiny_sg3_checkpoint
from ..conftest import Reduce, dumps

_BUFFERS = {"magnitude_ema", "up_filter", "down_filter", "transform", "freqs", "phases", "w_avg"}


def sg3_like_pickle(cfg: StyleGAN3Config, state: dict, g_kwargs: dict | None = None, layer_attr=None) -> bytes:
    """A pickle in the structure of an NVIDIA StyleGAN3 snapshot (persistent objects, flat synthesis kwargs,
    design numbers as layer attributes) built from a canonical state dict; no NVIDIA code involved.

    layer_attr: optional (layer name, attribute, value) planted into one layer's attributes.
    """
    tree: dict = {}
    for key, tensor in state.items():
        *modules, leaf = key.split(".")
        node = tree
        for name in modules:
            node = node.setdefault(name, {})
        node[leaf] = tensor.detach().clone()
    specs = {spec.name: spec for spec in cfg.layers}

    def module(node: dict, class_name: str, attrs: dict) -> Reduce:
        params = OrderedDict((k, v) for k, v in node.items() if not isinstance(v, dict) and k not in _BUFFERS)
        buffers = OrderedDict((k, v) for k, v in node.items() if not isinstance(v, dict) and k in _BUFFERS)
        children = OrderedDict()
        for name, child in node.items():
            if isinstance(child, dict):
                spec = specs.get(name)
                child_attrs = {} if spec is None else {
                    f.name: list(getattr(spec, f.name)) if f.name == "padding" else getattr(spec, f.name)
                    for f in dataclasses.fields(spec) if f.name not in ("index", "name")}
                if layer_attr is not None and layer_attr[0] == name:
                    child_attrs[layer_attr[1]] = layer_attr[2]
                children[name] = module(child, "SynthesisLayer" if spec else "Module", child_attrs)
        module_state = {"training": False, "_parameters": params, "_buffers": buffers,
                        "_non_persistent_buffers_set": set(), "_modules": children, "_init_args": (),
                        "_init_kwargs": {}, **attrs}
        meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": class_name,
                "state": module_state}
        return Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)

    s = cfg.synthesis
    kwargs = {"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim, "img_resolution": cfg.img_resolution,
              "img_channels": cfg.img_channels, "mapping_kwargs": {"num_layers": cfg.mapping.num_layers},
              **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, **(g_kwargs or {})}
    G = module(tree, "Generator", {"_init_kwargs": kwargs, "z_dim": cfg.z_dim})
    return dumps({"G": G, "G_ema": G, "augment_pipe": None, "training_set_kwargs": None})


def fixture_config() -> StyleGAN3Config:
    return StyleGAN3Config(z_dim=64, w_dim=64, img_resolution=32,
                           mapping=MappingConfig(num_layers=2, w_avg_beta=0.998),
                           synthesis=SG3SynthesisConfig(channel_base=1024, channel_max=48,
                                                        magnitude_ema_beta=0.5 ** (32 / 20000)))


def test_reads_the_real_snapshot(nvidia_sg3t32):
    ckpt = load_checkpoint(nvidia_sg3t32 / "network-snapshot.pkl")
    assert ckpt.format == "nvidia-pkl" and ckpt.g_config == fixture_config()
    assert ckpt.g is not None and any(not torch.equal(ckpt.g[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    assert ckpt.d_config is not None and ckpt.d_config.architecture == "resnet" and ckpt.d is not None
    assert ckpt.meta["embedded_source"] == ["G", "D", "G_ema"]
    ckpt.check_networks()
    ckpt.discriminator()(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("kind,c_dim", [("T", 0), ("R", 0), ("T", 3)])
def test_stylegan3_like_pickles_round_trip(tmp_path, kind, c_dim):
    ckpt = tiny_sg3_checkpoint(kind=kind, c_dim=c_dim)
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(sg3_like_pickle(ckpt.g_config, ckpt.g_ema))
    loaded = load_checkpoint(path)
    assert loaded.g_config == dataclasses.replace(ckpt.g_config, mapping=MappingConfig(num_layers=2, w_avg_beta=0.998))
    assert set(loaded.g_ema) == set(ckpt.g_ema)
    assert all(torch.equal(loaded.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    G0, G1 = ckpt.generator(), loaded.generator()
    ws = seeds_to_ws(G0, [0], class_idx=1 if c_dim else None)
    assert torch.equal(G0.synthesis(ws), G1.synthesis(ws))


def test_write_back_changes_only_tensor_bytes(tmp_path, nvidia_sg3t32):
    source = tmp_path / "snapshot.pkl"
    source.write_bytes((nvidia_sg3t32 / "network-snapshot.pkl").read_bytes())
    ckpt = load_checkpoint(source)
    for key in ("synthesis.L3_36_48.weight", "synthesis.input.freqs", "synthesis.L9_52_48.magnitude_ema"):
        ckpt.g_ema[key] = ckpt.g_ema[key] * 0.5 + 0.25
    out = save_checkpoint(ckpt, tmp_path / "out.pkl", "nvidia-pkl")
    again = load_checkpoint(out)
    assert again.g_config == ckpt.g_config
    assert all(torch.equal(again.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    assert all(torch.equal(again.g[k], ckpt.g[k]) for k in ckpt.g)
    old = np.frombuffer(source.read_bytes(), dtype=np.uint8)
    new = np.frombuffer(out.read_bytes(), dtype=np.uint8)
    assert old.shape == new.shape and (old != new).any()
    in_blob = np.zeros(old.shape, dtype=bool)
    for start, n in _blob_offsets(source):
        in_blob[start:start + n] = True
    assert not ((old != new) & ~in_blob).any()  # the opcode stream is unchanged: only tensor bytes differ


def test_embedded_source_is_never_executed(tmp_path, nvidia_sg3t32):
    marker = tmp_path / "executed"
    data = (nvidia_sg3t32 / "network-snapshot.pkl").read_bytes()
    needle = b"# source removed"
    evil = f"open({str(marker)!r},'w')".encode()[: len(needle)].ljust(len(needle), b" ")
    path = tmp_path / "evil.pkl"
    path.write_bytes(data.replace(needle, evil))
    G = load_checkpoint(path).generator()
    G.synthesis(seeds_to_ws(G, [0]))
    assert not marker.exists()


def test_hostile_global_inside_a_stylegan3_layer_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tiny_sg3_checkpoint()
    data = sg3_like_pickle(ckpt.g_config, ckpt.g_ema,
                           layer_attr=("L1_20_16", "padding", Reduce("os", "system", f"touch {marker}")))
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeCheckpointError, match="os.system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_design_numbers_that_differ_from_the_kwargs_are_refused(tmp_path):
    ckpt = tiny_sg3_checkpoint()
    path = tmp_path / "modified.pkl"
    path.write_bytes(sg3_like_pickle(ckpt.g_config, ckpt.g_ema, layer_attr=("L2_20_13", "padding", [1, 2, 3, 4])))
    with pytest.raises(UnsupportedArchitectureError, match="L2_20_13 stores padding"):
        load_checkpoint(path)


def test_unknown_kwargs_and_renamed_layers_are_refused(nvidia_sg3t32):
    nets, _ = _load(nvidia_sg3t32 / "network-snapshot.pkl")
    G = nets["G_ema"]
    assert nvidia_sg3.is_stylegan3(G)
    G.state["_init_kwargs"]["fancy_new_option"] = 1
    with pytest.raises(UnsupportedArchitectureError, match="fancy_new_option"):
        generator_config(G)
    del G.state["_init_kwargs"]["fancy_new_option"]
    G.state["_init_kwargs"]["channel_max"] = 64  # the layers in the file have 48 channels
    with pytest.raises(UnsupportedArchitectureError, match="not the"):
        generator_config(G)


@pytest.mark.parametrize("where,attr,value", [("L5_52_48", "conv_clamp", None), ("L14_32_3", "conv_clamp", 128),
                                               ("synthesis", "output_scale", 0.5), ("synthesis", "num_fp16_res", 0)])
def test_stored_clamp_and_output_scale_that_differ_from_the_kwargs_are_refused(nvidia_sg3t32, where, attr, value):
    """What the code that built the file used (its attributes) must be what its kwargs give us: a fork whose
    defaults differ (no clamp, another output scale) would otherwise render silently differently."""
    nets, _ = _load(nvidia_sg3t32 / "network-snapshot.pkl")
    G = nets["G_ema"]
    synthesis = G.state["_modules"]["synthesis"]
    target = synthesis if where == "synthesis" else synthesis.state["_modules"][where]
    assert attr in target.state
    generator_config(G)  # as stored: accepted
    target.state[attr] = value
    with pytest.raises(UnsupportedArchitectureError, match=f"stores {attr}="):
        generator_config(G)


@pytest.mark.parametrize("path,attr,value", [("mapping.fc0", "weight_gain", 0.125), ("mapping.fc1", "bias_gain", 1),
                                              ("mapping.fc1", "activation", "linear"), ("mapping", "num_ws", 15),
                                              ("synthesis.L3_36_48.affine", "weight_gain", 1.0),
                                              ("synthesis.input.affine", "bias_gain", 0.01)])
def test_dense_layer_gains_that_differ_from_the_kwargs_are_refused(nvidia_sg3t32, path, attr, value):
    """The mapping's lr multiplier (0.01) is a code default, not a kwarg: the stored gains must agree with it."""
    nets, _ = _load(nvidia_sg3t32 / "network-snapshot.pkl")
    G = nets["G_ema"]
    target = G
    for part in path.split("."):
        target = target.state["_modules"][part]
    assert attr in target.state and plain_data(target.state[attr]) != value
    generator_config(G)
    target.state[attr] = value
    with pytest.raises(UnsupportedArchitectureError, match=f"{path} stores {attr}="):
        generator_config(G)


def test_an_architecture_larger_than_the_file_is_refused_before_building(tmp_path):
    big = StyleGAN3Config(z_dim=16, w_dim=16, img_resolution=4096,
                          synthesis=SG3SynthesisConfig(channel_base=2**24, channel_max=16384))
    tiny = tiny_sg3_checkpoint()
    # Every module the big design names, but only the tiny model's first tensors.
    state = {f"synthesis.{name}.bias": torch.zeros(1) for name in big.layer_names}
    state["synthesis.input.weight"] = torch.zeros(1)
    state.update({k: v for k, v in tiny.g_ema.items() if k.startswith("mapping.")})
    path = tmp_path / "claims.pkl"
    path.write_bytes(sg3_like_pickle(big, state))
    with pytest.raises(CheckpointError, match="needs at least"):
        load_checkpoint(path)


def test_a_nonsense_stylegan3_config_is_one_clear_error(tmp_path):
    ckpt = tiny_sg3_checkpoint()
    path = tmp_path / "bad.pkl"
    path.write_bytes(sg3_like_pickle(ckpt.g_config, ckpt.g_ema, g_kwargs={"conv_kernel": 2}))
    with pytest.raises(CheckpointError, match="conv_kernel=2 must be odd"):
        load_checkpoint(path)


def test_native_copy_goes_back_into_the_nvidia_template(tmp_path, nvidia_sg3t32):
    from styleblend.io.formats.nvidia_pkl import write_into_template

    ckpt = load_checkpoint(nvidia_sg3t32 / "network-snapshot.pkl")
    ckpt.g_ema = {k: v + 0.5 for k, v in ckpt.g_ema.items()}
    native = load_checkpoint(save_checkpoint(ckpt, tmp_path / "model.safetensors"))
    done = write_into_template(native, nvidia_sg3t32 / "network-snapshot.pkl", tmp_path / "back.pkl")
    back = load_checkpoint(done.path)
    assert back.g_config == ckpt.g_config and set(done.written) == {"G_ema", "G", "D"}
    assert all(torch.equal(back.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)


def test_rosinality_output_is_refused_for_stylegan3(tmp_path):
    with pytest.raises(InvalidArgumentError, match="StyleGAN2 generators only"):
        save_checkpoint(tiny_sg3_checkpoint(), tmp_path / "model.pt", "rosinality")
    assert not (tmp_path / "model.pt").exists()


def test_hub_folder_round_trip_of_a_stylegan3_generator(tmp_path):
    from styleblend.io.hub import load_pretrained, save_pretrained

    ckpt = tiny_sg3_checkpoint(kind="R")
    folder = save_pretrained(ckpt.generator(), tmp_path / "sg3-model")
    card = (folder / "README.md").read_text()
    assert "A StyleGAN3 generator" in card and "- stylegan3" in card
    loaded = load_pretrained(folder)
    assert loaded.g_config == ckpt.g_config
    assert all(torch.equal(loaded.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
