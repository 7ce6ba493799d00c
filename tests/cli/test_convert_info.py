"""styleblend convert / info, in-process: losses said, inputs never overwritten, fine-tunes back to NVIDIA pickles."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.digest import file_sha256
from styleblend.train import checkpointing as ckpt_io

from ..conftest import tiny_checkpoint
from ..io.test_conversion import nvidia_like_pickle, render, tiny_kwargs


@pytest.fixture
def pkl(tmp_path, nvidia_g64):
    path = tmp_path / "base.pkl"
    shutil.copy(nvidia_g64 / "network-snapshot.pkl", path)
    return path


def test_convert_prints_one_warning_per_loss(tmp_path, pkl, capsys):
    out = tmp_path / "a.safetensors"
    assert main(["convert", "--network", str(pkl), "--to", "native", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out} (native; networks: g_ema, g, d)" in captured.out
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: not converted: ") for w in warnings)
    assert "augment pipeline (p=0.25)" in warnings[0] and "source code" in warnings[1]
    assert main(["-q", "convert", "--network", str(pkl), "--to", "native", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fmt", ["rosinality", "native", "nvidia-pkl"])
def test_convert_never_overwrites_an_input_without_force(tmp_path, pkl, fmt, capsys):
    before = pkl.read_bytes()
    assert main(["convert", "--network", str(pkl), "--to", fmt, "--out", str(pkl)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to overwrite the input" in err and "--force" in err
    # The same file under another name (a hard link) is refused as well.
    link = tmp_path / "link.pkl"
    os.link(pkl, link)
    assert main(["convert", "--network", str(pkl), "--to", fmt, "--out", str(link)]) == 1
    assert pkl.read_bytes() == before


def test_convert_force_overwrites_and_template_is_an_input(tmp_path, pkl, capsys):
    native = save_checkpoint(load_checkpoint(pkl), tmp_path / "n.safetensors")
    assert main(["convert", "--network", str(native), "--to", "nvidia-pkl", "--template", str(pkl),
                 "--out", str(pkl)]) == 1
    assert "refusing to overwrite the input" in capsys.readouterr().err
    copy = tmp_path / "copy.safetensors"
    shutil.copy(native, copy)
    assert main(["convert", "--network", str(copy), "--to", "native", "--fp16", "--out", str(copy), "--force"]) == 0
    assert load_checkpoint(copy).g_ema["mapping.fc0.weight"].dtype == torch.float32  # read back as float32
    assert not torch.equal(load_checkpoint(copy).g_ema["mapping.fc0.weight"],
                           load_checkpoint(native).g_ema["mapping.fc0.weight"])  # rounded to float16


def test_convert_refuses_wrong_shapes_in_one_line(tmp_path, capsys):
    ckpt = tiny_checkpoint(0)
    state = dict(ckpt.g_ema)
    state["synthesis.b8.conv0.weight"] = torch.zeros(3, 3)
    path = tmp_path / "bad.pkl"
    path.write_bytes(nvidia_like_pickle(state, **tiny_kwargs(ckpt.g_config)))
    out = tmp_path / "out.safetensors"
    assert main(["convert", "--network", str(path), "--to", "native", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'synthesis.b8.conv0.weight' has shape (3, 3)" in err
    assert not out.exists()


def test_convert_to_nvidia_needs_a_template(tmp_path, capsys):
    path = save_checkpoint(tiny_checkpoint(0), tmp_path / "t.safetensors")
    assert main(["convert", "--network", str(path), "--to", "nvidia-pkl", "--out", str(tmp_path / "t.pkl")]) == 1
    assert "pass --template" in capsys.readouterr().err


def _images(folder, res: int = 64, count: int = 4):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, [res, res, 3], dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _train_then_convert_back(tmp_path, pkl, res: int, capsys, extra=()):
    """train --resume x.pkl -> the snapshot remembers x.pkl -> convert --to nvidia-pkl finds it by itself."""
    data, run = _images(tmp_path / "data", res), tmp_path / "run"
    assert main(["train", "--data", str(data), "--outdir", str(run), "--resume", str(pkl), "--batch", "4",
                 "--kimg", "0.004", "--snap", "0.004", "--grid", "4", "--no-progress", "--threads", "1", *extra]) == 0
    snap = ckpt_io.list_snapshots(run)[-1][1]
    tuned = load_checkpoint(snap)
    assert tuned.meta["started_from"] == {"format": "nvidia-pkl", "path": str(pkl.resolve()),
                                          "sha256": file_sha256(pkl)}
    assert ckpt_io.load_training_state(run)["started_from"] == tuned.meta["started_from"]
    out = tmp_path / "tuned.pkl"
    capsys.readouterr()
    assert main(["convert", "--network", str(snap), "--to", "nvidia-pkl", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"into the structure of {pkl.resolve()}" in captured.out
    assert "options and progress" in captured.err  # the run's record has no place in a pickle: said
    back = load_checkpoint(out)
    assert torch.equal(render(back), render(tuned))
    assert not torch.equal(render(back), render(load_checkpoint(pkl)))
    # The remembered pickle is the template, so --out may not be it.
    assert main(["convert", "--network", str(snap), "--to", "nvidia-pkl", "--out", str(pkl)]) == 1
    assert "refusing to overwrite the input" in capsys.readouterr().err
    return tuned, back


def test_finetune_of_a_small_pickle_goes_back_into_it(tmp_path, capsys):
    ckpt = tiny_checkpoint(0)
    pkl = tmp_path / "small.pkl"
    pkl.write_bytes(nvidia_like_pickle(ckpt.g_ema, **tiny_kwargs(ckpt.g_config)))
    _train_then_convert_back(tmp_path, pkl, 32, capsys, ["--cfg", "tiny32"])  # tiny32: a small fresh D


@pytest.mark.slow
def test_finetune_of_the_nvidia_snapshot_goes_back_into_it(tmp_path, pkl, capsys):
    tuned, back = _train_then_convert_back(tmp_path, pkl, 64, capsys)
    assert all(torch.equal(back.d[k], tuned.d[k]) for k in tuned.d)


def test_info_shows_precision_and_augment(pkl, capsys):
    assert main(["info", "--network", str(pkl)]) == 0
    text = capsys.readouterr().out
    assert "num_fp16_res=0 (float32 throughout)" in text and "conv_clamp=None" in text and "ADA p=0.25" in text


def test_info_names_fp16_resolutions(tmp_path, capsys):
    ckpt = tiny_checkpoint(0)
    cfg = ckpt.g_config
    ckpt.g_config = type(cfg)(**{**cfg.__dict__, "synthesis": type(cfg.synthesis)(
        **{**cfg.synthesis.__dict__, "num_fp16_res": 2, "conv_clamp": 256.0})})
    path = save_checkpoint(ckpt, tmp_path / "fp16.safetensors")
    assert main(["info", "--network", str(path)]) == 0
    text = capsys.readouterr().out
    assert "num_fp16_res=2 (16x16, 32x32 in float16 with --precision nvidia)" in text and "conv_clamp=256.0" in text


def test_info_refuses_a_generator_without_tensors_like_generate(tmp_path, capsys):
    path = tmp_path / "empty.pkl"
    path.write_bytes(nvidia_like_pickle({}, **tiny_kwargs(tiny_checkpoint(0).g_config)))
    assert main(["info", "--network", str(path)]) == 1
    info_err = capsys.readouterr().err
    assert main(["generate", "--network", str(path), "--seeds", "0", "--outdir", str(tmp_path / "o")]) == 1
    generate_err = capsys.readouterr().err
    assert info_err.count("\n") == 1 and "missing" in info_err
    assert info_err.split("error: ", 1)[1] == generate_err.split("error: ", 1)[1]


def test_info_of_a_model_folder_names_the_folder_its_licence_and_lineage(tmp_path, capsys):
    from styleblend.blend.model import blend_checkpoints
    from styleblend.blend.schedules import Swap
    from styleblend.io.hub import save_pretrained

    base, transfer = tiny_checkpoint(seed=0), tiny_checkpoint(seed=1)
    blended, recipe = blend_checkpoints(base, [transfer], Swap(8))
    folder = save_pretrained(blended, tmp_path / "toon", license="cc-by-4.0", recipe=recipe)
    assert main(["info", "--network", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"folder:      {folder} (hub-style model folder)\n" in out and "file:" not in out
    assert "format:      model.safetensors (native), config.json\n" in out
    assert "license:     cc-by-4.0\n" in out
    assert "lineage:     a blend of 2 models (schedule swap:8)" in out
    assert load_checkpoint(folder).describe() == "model.safetensors (native)"
    # a file is still described as a file
    path = save_checkpoint(base, tmp_path / "plain.safetensors")
    assert main(["info", "--network", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"file:        {path}\nformat:      native\n" in out and "folder:" not in out
