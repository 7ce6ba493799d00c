"""Conversions: every loss is said, shapes are checked before writing, a fine-tune goes back into NVIDIA's pickle."""

from __future__ import annotations

import dataclasses
import logging
import pickletools
import shutil

import pytest
import torch

from styleblend.config import MappingConfig
from styleblend.errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.conversion import convert_checkpoint, find_template
from styleblend.io.digest import file_sha256
from styleblend.io.formats.nvidia_pkl import _blob_offsets
from styleblend.latents.mapping import seeds_to_ws
from styleblend.render import render_ws

from ..conftest import tiny_checkpoint
from .conftest import Reduce, dumps


def nvidia_like_pickle(state: dict[str, torch.Tensor], **init_kwargs) -> bytes:
    """A pickle shaped like an NVIDIA snapshot: a persistent Generator with ``state`` as its parameters."""
    meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": "Generator",
            "state": {"_parameters": dict(state), "_buffers": {}, "_modules": {}, "_init_args": (),
                      "_init_kwargs": init_kwargs}}
    return dumps({"G_ema": Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)})


def tiny_kwargs(cfg) -> dict:
    return {"z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "c_dim": cfg.c_dim, "img_resolution": cfg.img_resolution,
            "img_channels": cfg.img_channels, "mapping_kwargs": {"num_layers": cfg.mapping.num_layers},
            "synthesis_kwargs": {"channel_base": cfg.synthesis.channel_base,
                                 "channel_max": cfg.synthesis.channel_max}}


def perturbed(ckpt, scale: float = 0.01, seed: int = 1):
    """``ckpt`` as if fine-tuned: every floating tensor of every network moved a little."""
    gen = torch.Generator().manual_seed(seed)

    def move(state):
        if state is None:
            return None
        return {k: v + scale * torch.randn(v.shape, generator=gen) if v.is_floating_point() and
                not k.endswith("resample_filter") else v.clone() for k, v in state.items()}

    return dataclasses.replace(ckpt, g_ema=move(ckpt.g_ema), g=move(ckpt.g), d=move(ckpt.d))


def render(ckpt, seeds=(0, 1)) -> torch.Tensor:
    G = ckpt.generator()
    return render_ws(G, seeds_to_ws(G, list(seeds), truncation_psi=0.7))


def differs_only_in_tensor_bytes(template, written) -> None:
    a, b = template.read_bytes(), written.read_bytes()
    assert len(a) == len(b)
    assert [(op.name, pos) for op, _, pos in pickletools.genops(a)] == \
           [(op.name, pos) for op, _, pos in pickletools.genops(b)]
    # The raw data of each network tensor's storage ends its bytes blob; nothing else may change.
    ends = [s + n for s, n in _blob_offsets(template)]
    inside = torch.zeros(len(a), dtype=torch.bool)
    for origins in load_checkpoint(template).source_layout.origins.values():
        for origin in origins.values():
            end = ends[origin.storage.blob_index]
            inside[end - origin.storage.storage.nbytes():end] = True
    changed = torch.frombuffer(bytearray(a), dtype=torch.uint8) != torch.frombuffer(bytearray(b), dtype=torch.uint8)
    assert bool(changed.any()) and int((~inside).sum()) > 10_000  # structure, blob headers, augment pipeline
    assert not bool((changed & ~inside).any()), "bytes other than tensor data changed"


# ------------------------------------------------------------------ what a conversion drops


def test_pickle_to_native_and_rosinality_say_what_is_dropped(tmp_path, nvidia_g64):
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    assert ckpt.meta["augment_p"] == 0.25 and set(ckpt.meta["embedded_source"]) == {"G", "D", "G_ema", "augment_pipe"}
    done = convert_checkpoint(ckpt, tmp_path / "a.safetensors", "native")
    text = "\n".join(done.dropped)
    assert len(done.dropped) == 2 and "augment pipeline (p=0.25)" in text and "source code embedded for G" in text
    assert done.networks == ("g_ema", "g", "d")
    native = load_checkpoint(done.path)
    # The native file keeps the training-set kwargs and p as notes, not the claim of embedded code.
    assert native.meta["training_set_kwargs"]["resolution"] == 64 and native.meta["augment_p"] == 0.25
    assert "embedded_source" not in native.meta

    done = convert_checkpoint(ckpt, tmp_path / "a.pt", "rosinality")
    text = "\n".join(done.dropped)
    assert len(done.dropped) == 3 and "training-set kwargs" in text and "g64_skip-fake.zip" in text
    # A native training snapshot's record of its run is dropped by rosinality output, said once.
    native = dataclasses.replace(native, meta={**native.meta, "training_options": {"kimg": 1}, "kimg": 12.0})
    done = convert_checkpoint(native, tmp_path / "b.pt", "rosinality")
    assert [d for d in done.dropped if "augment" in d] == ["ADA's augment probability (p=0.25): a rosinality file "
                                                          "has no place for it"]
    assert any("options and progress at 12 kimg" in d for d in done.dropped)


def test_rosinality_training_file_optimiser_and_p_are_said(tmp_path):
    import argparse

    path = tmp_path / "010000.pt"
    src = tiny_checkpoint(0)
    save_checkpoint(src, path, "rosinality")
    payload = torch.load(path, weights_only=True)
    payload["g_optim"] = {"state": {}, "param_groups": [{"lr": 0.002, "params": []}]}
    payload["ada_aug_p"] = 0.125
    payload["args"] = argparse.Namespace(**payload["args"], r1=10.0)
    torch.save(payload, path)
    done = convert_checkpoint(load_checkpoint(path), tmp_path / "out.pt", "rosinality")
    text = "\n".join(done.dropped)
    assert "'g_optim' (optimizer state)" in text and "p=0.125" in text and "r1=10.0" in text
    assert "size=" not in text  # architecture args are not losses
    assert convert_checkpoint(load_checkpoint(path), tmp_path / "out.safetensors", "native").dropped == (
        f"'g_optim' (optimizer state) (not read from {path.name} (rosinality))",)


def test_discriminator_rosinality_cannot_express_is_said_once(tmp_path, caplog):
    ckpt = tiny_checkpoint(0, with_d=True)
    ckpt = dataclasses.replace(ckpt, d_config=dataclasses.replace(ckpt.d_config, mbstd_group_size=2))
    with caplog.at_level(logging.WARNING):
        done = convert_checkpoint(ckpt, tmp_path / "out.pt", "rosinality")
    assert done.networks == ("g_ema", "g")
    assert [d for d in done.dropped if "discriminator" in d] == [
        "the discriminator: rosinality's cannot express minibatch-stddev group 2 / 1 channels (rosinality: 4 / 1)"]
    assert "discriminator" not in caplog.text


def test_rosinality_writer_names_only_what_differs(tmp_path, caplog):
    ckpt = tiny_checkpoint(0)
    with caplog.at_level(logging.WARNING):
        save_checkpoint(ckpt, tmp_path / "a.pt", "rosinality")
    assert "channels 4px: 32" in caplog.text and "lr_multiplier" not in caplog.text
    caplog.clear()
    cfg = dataclasses.replace(ckpt.g_config, mapping=MappingConfig(num_layers=2, lr_multiplier=0.1))
    with caplog.at_level(logging.WARNING):
        save_checkpoint(dataclasses.replace(ckpt, g_config=cfg), tmp_path / "b.pt", "rosinality")
    assert "mapping lr_multiplier=0.1 (rosinality's default lr_mlp is 0.01; the file's args['lr_mlp'] records 0.1)" \
        in caplog.text
    assert torch.load(tmp_path / "b.pt", weights_only=True)["args"]["lr_mlp"] == 0.1


# ------------------------------------------------------------------ shapes are checked before writing


def test_wrongly_shaped_tensors_are_refused_before_writing(tmp_path):
    ckpt = tiny_checkpoint(0)
    state = dict(ckpt.g_ema)
    state["mapping.fc0.weight"] = state["mapping.fc0.weight"][:, :16].clone()
    path = tmp_path / "bad.pkl"
    path.write_bytes(nvidia_like_pickle(state, **tiny_kwargs(ckpt.g_config)))
    bad = load_checkpoint(path)  # reading takes architecture and tensors separately
    for fmt in ("native", "rosinality", "nvidia-pkl"):
        out = tmp_path / f"out.{fmt}"
        with pytest.raises(ArchitectureMismatchError, match=r"'mapping.fc0.weight' has shape \(32, 16\)"):
            convert_checkpoint(bad, out, fmt)
        assert not out.exists()
    # A sound hand-made pickle converts (so the failure above is the shape, not the builder).
    path.write_bytes(nvidia_like_pickle(ckpt.g_ema, **tiny_kwargs(ckpt.g_config)))
    assert convert_checkpoint(load_checkpoint(path), tmp_path / "ok.safetensors", "native").networks == ("g_ema",)


def test_options_that_do_not_apply_are_refused(tmp_path, nvidia_g64):
    ckpt = tiny_checkpoint(0)
    with pytest.raises(InvalidArgumentError, match="native files only"):
        convert_checkpoint(ckpt, tmp_path / "a.pt", "rosinality", dtype=torch.float16)
    with pytest.raises(InvalidArgumentError, match="nvidia-pkl output only"):
        convert_checkpoint(ckpt, tmp_path / "a.pt", "rosinality", template=nvidia_g64 / "network-snapshot.pkl")
    with pytest.raises(InvalidArgumentError, match="choose one of"):
        convert_checkpoint(ckpt, tmp_path / "a.x", "nvidia-tf")
    # The plain writer, which needs the network's own pickle, points to the template route.
    with pytest.raises(CheckpointError, match=r"`template`: convert_checkpoint\(ckpt, out, 'nvidia-pkl', template="):
        save_checkpoint(ckpt, tmp_path / "a.pkl", "nvidia-pkl")


# ------------------------------------------------------------------ back into an NVIDIA pickle


def test_finetune_written_back_renders_bitwise_and_changes_only_tensor_bytes(tmp_path, nvidia_g64):
    template = tmp_path / "base.pkl"
    shutil.copy(nvidia_g64 / "network-snapshot.pkl", template)
    tuned = perturbed(load_checkpoint(template))
    native_path = save_checkpoint(tuned, tmp_path / "tuned.safetensors")
    native = load_checkpoint(native_path)
    done = convert_checkpoint(native, tmp_path / "tuned.pkl", "nvidia-pkl", template=template)
    assert done.networks == ("g_ema", "g", "d") and done.kept == ()
    assert done.dropped == ()  # p and training-set kwargs are the template's own: nothing is lost
    back = load_checkpoint(done.path)
    assert back.format == "nvidia-pkl" and back.g_config == native.g_config and back.d_config == native.d_config
    for part in ("g_ema", "g", "d"):
        ours, theirs = getattr(native, part), getattr(back, part)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), part
    assert torch.equal(render(back), render(native))
    assert not torch.equal(render(back), render(load_checkpoint(template)))
    differs_only_in_tensor_bytes(template, done.path)
    assert back.meta["augment_p"] == 0.25  # the template's augment pipeline is untouched


def test_template_keeps_what_the_network_lacks(tmp_path, nvidia_g64):
    template = nvidia_g64 / "network-snapshot.pkl"
    base = load_checkpoint(template)
    g_only = dataclasses.replace(perturbed(base), g=None, d=None, d_config=None)
    done = convert_checkpoint(g_only, tmp_path / "out.pkl", "nvidia-pkl", template=template)
    assert done.networks == ("g_ema",)
    assert len(done.kept) == 2 and "G (training generator)" in done.kept[0] and "D (discriminator)" in done.kept[1]
    back = load_checkpoint(done.path)
    assert all(torch.equal(back.g[k], base.g[k]) for k in base.g)
    assert all(torch.equal(back.d[k], base.d[k]) for k in base.d)
    assert all(torch.equal(back.g_ema[k], g_only.g_ema[k]) for k in base.g_ema)


def test_template_of_another_architecture_is_refused(tmp_path, nvidia_g64):
    template = nvidia_g64 / "network-snapshot.pkl"
    with pytest.raises(ArchitectureMismatchError, match=r"img_resolution: 32 != 64"):
        convert_checkpoint(tiny_checkpoint(0), tmp_path / "out.pkl", "nvidia-pkl", template=template)
    base = load_checkpoint(template)
    cfg = base.g_config
    # Same tensors, other images: NVIDIA's tools would render it differently, so it is refused too.
    for field, value, match in (("conv_clamp", 256.0, r"synthesis.conv_clamp: 256.0 != None"),
                                ("num_fp16_res", 2, r"synthesis.num_fp16_res: 2 != 0")):
        other = dataclasses.replace(cfg, synthesis=dataclasses.replace(cfg.synthesis, **{field: value}))
        with pytest.raises(ArchitectureMismatchError, match=match):
            convert_checkpoint(dataclasses.replace(base, g_config=other), tmp_path / "out.pkl", "nvidia-pkl",
                               template=template)
    assert not (tmp_path / "out.pkl").exists()
    with pytest.raises(CheckpointError, match="is a native file, not an NVIDIA PyTorch network pickle"):
        convert_checkpoint(base, tmp_path / "out.pkl", "nvidia-pkl",
                           template=save_checkpoint(tiny_checkpoint(0), tmp_path / "t.safetensors"))


def test_find_template_from_a_remembered_start(tmp_path, nvidia_g64):
    template = tmp_path / "base.pkl"
    shutil.copy(nvidia_g64 / "network-snapshot.pkl", template)
    tuned = perturbed(load_checkpoint(template))
    record = {"format": "nvidia-pkl", "path": str(template), "sha256": file_sha256(template)}
    snap = load_checkpoint(save_checkpoint(dataclasses.replace(tuned, meta={"started_from": record}),
                                           tmp_path / "snap.safetensors"))
    assert find_template(snap) == template
    with pytest.raises(CheckpointError, match="neither an NVIDIA pickle nor trained from one; pass `template`"):
        find_template(tiny_checkpoint(0))
    data = bytearray(template.read_bytes())
    data[-100] ^= 1
    template.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"has changed since.*pass `template` {template}"):
        find_template(snap)
    template.unlink()
    with pytest.raises(CheckpointError, match="no longer exists; pass `template`"):
        find_template(snap)
