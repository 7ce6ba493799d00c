"""benchmarks/nvidia_structure.py writes StyleGAN3 snapshots in NVIDIA's structure (-R, conditional, --fp32):
our reader takes every tensor and constructor kwarg back, checks the stored design numbers, renders what
the written network renders, and writes back into the copy with only tensor bytes changed."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from styleblend.config import DiscriminatorConfig
from styleblend.config_sg3 import SG3SynthesisConfig
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.formats.nvidia_pkl import _blob_offsets, _load
from styleblend.io.safe_unpickle import PersistentObject
from styleblend.latents.mapping import seeds_to_ws
from styleblend.nn import Discriminator
from styleblend.nn.build import build_generator

from ..conftest import tiny_sg3_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nvidia_structure.py"


@pytest.fixture(scope="module")
def structure():
    spec = importlib.util.spec_from_file_location("nvidia_structure_sg3", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look classes up by module name
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield module
    sys.modules.pop(spec.name, None)


def _networks(kind: str, c_dim: int, fp32: bool):
    ckpt = tiny_sg3_checkpoint(kind=kind, c_dim=c_dim)
    cfg = ckpt.g_config
    if fp32:  # what NVIDIA's train.py --fp32 stores
        cfg = dataclasses.replace(cfg, synthesis=dataclasses.replace(cfg.synthesis, num_fp16_res=0, conv_clamp=None))
    G_ema = build_generator(cfg).eval()
    G_ema.load_state_dict(ckpt.g_ema)
    G = build_generator(cfg).eval()
    G.load_state_dict({k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() and "filter" not in k else v
                       for k, v in ckpt.g_ema.items()})
    d_cfg = DiscriminatorConfig(c_dim=c_dim, img_resolution=cfg.img_resolution, channel_base=128, channel_max=16)
    return cfg, G, G_ema, Discriminator(d_cfg).eval(), d_cfg


@pytest.mark.parametrize("kind,c_dim,fp32", [("R", 0, False), ("R", 3, False), ("T", 4, True)])
def test_sg3_snapshot_round_trips_every_tensor_and_kwarg(structure, tmp_path, kind, c_dim, fp32):
    cfg, G, G_ema, D, d_cfg = _networks(kind, c_dim, fp32)
    path = structure.write_sg3_snapshot(tmp_path / "network-snapshot.pkl", G, G_ema, D, d_cfg)

    # The structure NVIDIA's classes give it, as the reader meets it.
    nets, _ = _load(path)
    assert list(nets) == ["G", "D", "G_ema", "augment_pipe", "training_set_kwargs"]
    g = nets["G_ema"]
    assert isinstance(g, PersistentObject) and g.class_name == "Generator"
    kwargs = g.state["_init_kwargs"]
    assert type(kwargs["mapping_kwargs"]).__name__ == "EasyDictStandIn"
    if kind == "R":
        assert kwargs["conv_kernel"] == 1 and kwargs["use_radial_filters"] is True
    if fp32:
        assert kwargs["num_fp16_res"] == 0 and kwargs["conv_clamp"] is None
    synthesis = g.state["_modules"]["synthesis"]
    names = list(synthesis.state["_modules"])
    assert names == ["input", *cfg.layer_names]
    torgb = synthesis.state["_modules"][names[-1]]
    assert torgb.class_name == "SynthesisLayer" and torgb.state["_buffers"]["up_filter"] is None
    assert isinstance(torgb.state["in_size"], np.ndarray)

    ckpt = load_checkpoint(path)
    assert ckpt.format == "nvidia-pkl"
    assert ckpt.g_config == cfg and ckpt.d_config == d_cfg
    for ours, theirs in ((ckpt.g_ema, G_ema.state_dict()), (ckpt.g, G.state_dict()), (ckpt.d, D.state_dict())):
        assert ours is not None and set(ours) == set(theirs)
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    if kind == "R":  # the radial down-filters are read back as stored, 2-D
        radial = [k for k in ckpt.g_ema if k.endswith("down_filter") and ckpt.g_ema[k].ndim == 2]
        assert len(radial) == sum(s.down_radial for s in cfg.layers) > 0

    loaded = ckpt.generator()
    ws = seeds_to_ws(loaded, [0, 1], 0.7, class_idx=c_dim - 1 if c_dim else None)
    torch.testing.assert_close(seeds_to_ws(G_ema, [0, 1], 0.7, class_idx=c_dim - 1 if c_dim else None), ws,
                               rtol=0, atol=0)
    assert torch.equal(loaded.synthesis(ws), G_ema.synthesis(ws))


def test_written_back_sg3_snapshot_changes_only_tensor_bytes(structure, tmp_path):
    cfg, G, G_ema, D, d_cfg = _networks("R", 3, False)
    source = structure.write_sg3_snapshot(tmp_path / "network-snapshot.pkl", G, G_ema, D, d_cfg)
    ckpt = load_checkpoint(source)
    radial = next(s for s in cfg.layers if s.down_radial)
    for key in (f"synthesis.{radial.name}.weight", "mapping.embed.weight", f"synthesis.{radial.name}.down_filter"):
        ckpt.g_ema[key] = ckpt.g_ema[key] * 0.5 + 0.01
    out = save_checkpoint(ckpt, tmp_path / "out.pkl", "nvidia-pkl")
    again = load_checkpoint(out)
    assert again.g_config == cfg
    assert all(torch.equal(again.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    old = np.frombuffer(source.read_bytes(), dtype=np.uint8)
    new = np.frombuffer(out.read_bytes(), dtype=np.uint8)
    assert old.shape == new.shape and (old != new).any()
    in_blob = np.zeros(old.shape, dtype=bool)
    for start, n in _blob_offsets(source):
        in_blob[start:start + n] = True
    assert not ((old != new) & ~in_blob).any()


def test_sg3_kwargs_are_those_train_py_passes(structure):
    cfg = tiny_sg3_checkpoint(kind="R").g_config
    kwargs = structure.sg3_generator_kwargs(cfg)
    assert {"channel_base", "channel_max", "magnitude_ema_beta", "conv_kernel", "use_radial_filters"} <= set(kwargs)
    assert "synthesis_kwargs" not in kwargs and "output_scale" not in kwargs  # flat; defaults left out
    assert SG3SynthesisConfig(**{k: v for k, v in kwargs.items() if k in SG3SynthesisConfig.__dataclass_fields__}) \
        == cfg.synthesis
