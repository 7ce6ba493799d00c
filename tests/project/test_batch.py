"""Projection outputs, the CLI, latent files that `generate` reads back, and resumable sharded batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import save_checkpoint
from styleblend.media.images import to_uint8
from styleblend.project.batch import (
    LATENT_NAME,
    load_latent,
    loss_curve_image,
    output_names,
    parse_shard,
    prepare_job,
    project_batch,
    shard_files,
)
from styleblend.project.projector import Cancelled


@pytest.fixture()
def network(tmp_path, tiny_ckpt):
    return save_checkpoint(tiny_ckpt, tmp_path / "tiny.safetensors")


def _images(folder, G, n=3, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        imgs = to_uint8(G(torch.randn([n, G.z_dim], generator=g)))
    paths = []
    for i, a in enumerate(imgs):
        paths.append(folder / f"img{i}.png")
        Image.fromarray(a).save(paths[-1])
    return paths


def test_cli_single_image_outputs_and_generate_reads_the_latent(tmp_path, network, tiny_G, no_vgg, capsys):
    (target,) = _images(tmp_path / "in", tiny_G, n=1)
    out = tmp_path / "out"
    assert main(["project", "--network", str(network), "--target", str(target), "--outdir", str(out),
                 "--method", "fast", "--steps", "5", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert "PSNR" in captured.out
    # The fallback warning goes to stderr once, though both the library and the command report it.
    assert captured.err.count("no VGG-16 weights") == 1 and "warning: no VGG-16 weights" in captured.err
    for name in ("proj.png", "target.png", "compare.png", "loss.png", "metrics.json", LATENT_NAME):
        assert (out / name).is_file(), name
    assert Image.open(out / "compare.png").size == (64, 32)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"psnr", "ssim", "ms_ssim", "final_loss", "steps_per_second", "warning"} <= set(metrics)
    assert metrics["steps"] == 5 and metrics["method"] == "fast"
    with np.load(out / LATENT_NAME, allow_pickle=False) as data:
        assert data["w"].shape == (tiny_G.num_ws, tiny_G.w_dim)
        assert str(data["method"]) == "fast" and int(data["steps"]) == 5 and str(data["space"]) == "w+"
        assert len(str(data["network_sha256"])) == 64 and str(data["network"]).endswith("tiny.safetensors")
        assert np.isfinite(float(data["final_loss"]))
    ws, meta = load_latent(out / LATENT_NAME)
    assert ws.shape == (1, tiny_G.num_ws, tiny_G.w_dim) and meta["seed"] == 3
    # `generate --w-file` renders exactly the reconstruction we saved.
    assert main(["generate", "--network", str(network), "--w-file", str(out / LATENT_NAME),
                 "--outdir", str(tmp_path / "gen")]) == 0
    gen = sorted((tmp_path / "gen").glob("*.png"))
    assert len(gen) == 1
    np.testing.assert_array_equal(np.asarray(Image.open(gen[0])), np.asarray(Image.open(out / "proj.png")))


def test_cli_init_from_file_and_video(tmp_path, network, tiny_G, no_vgg):
    (target,) = _images(tmp_path / "in", tiny_G, n=1)
    assert main(["-q", "project", "--network", str(network), "--target", str(target), "--outdir",
                 str(tmp_path / "a"), "--method", "nvidia", "--steps", "3"]) == 0
    assert main(["-q", "project", "--network", str(network), "--target", str(target), "--outdir",
                 str(tmp_path / "b"), "--steps", "4", "--init", str(tmp_path / "a" / LATENT_NAME), "--video"]) == 0
    assert (tmp_path / "b" / "proj.mp4").stat().st_size > 0
    with np.load(tmp_path / "a" / LATENT_NAME) as data:
        assert any(k.startswith("noise.") for k in data.files)  # nvidia optimises noise maps; they are kept


def test_cli_errors_are_one_line(tmp_path, network, no_vgg, capsys):
    (tmp_path / "notes.png").write_text("hello")
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "notes.png"),
                 "--outdir", str(tmp_path / "o"), "--steps", "2"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    # The pixel-loss fallback warning, then the error in one line; no progress-bar fragments.
    assert "not an image" in lines[-1] and lines[-1].startswith("styleblend project: error:")
    assert all(line.startswith("warning: ") for line in lines[:-1]) and len(lines) <= 2
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "notes.png"),
                 "--outdir", str(tmp_path / "o"), "--vgg", str(tmp_path / "none.pth")]) == 1
    assert "--vgg" in capsys.readouterr().err


def test_batch_resume_after_interruption(tmp_path, network, tiny_G, no_vgg):
    files = _images(tmp_path / "in", tiny_G, n=3)
    job = prepare_job(network, "fast", steps=3, seed=0)
    started = []

    def callback_for(path):
        started.append(path.name)
        if len(started) == 2:
            def interrupt(step, parts, ws):
                raise KeyboardInterrupt  # the user presses Ctrl-C during the second image
            return interrupt
        return None

    with pytest.raises(KeyboardInterrupt):
        project_batch(job, files, tmp_path / "out", callback_for=callback_for)
    assert (tmp_path / "out" / "img0" / LATENT_NAME).is_file()
    assert not (tmp_path / "out" / "img1").exists() or not (tmp_path / "out" / "img1" / LATENT_NAME).exists()
    assert not list((tmp_path / "out").rglob("*.tmp"))
    before = (tmp_path / "out" / "img0" / LATENT_NAME).stat().st_mtime_ns
    report = project_batch(job, files, tmp_path / "out")
    assert [s for *_, s in report] == ["skipped", "done", "done"]
    assert (tmp_path / "out" / "img0" / LATENT_NAME).stat().st_mtime_ns == before


def test_batch_cancel_and_bad_file(tmp_path, network, tiny_G, no_vgg):
    files = _images(tmp_path / "in", tiny_G, n=2)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    job = prepare_job(network, "fast", steps=2)

    def cancel_second(path):
        if path.name == "img1.png":
            def cb(step, parts, ws):
                raise Cancelled
            return cb
        return None

    files = sorted(files + [tmp_path / "in" / "broken.png"])
    report = project_batch(job, files, tmp_path / "out", callback_for=cancel_second)
    assert [(f.name, s) for f, _, s in report] == [("broken.png", "failed"), ("img0.png", "done"),
                                                   ("img1.png", "cancelled")]


def test_cli_batch_with_shards(tmp_path, network, tiny_G, no_vgg, capsys):
    _images(tmp_path / "in", tiny_G, n=3)
    for shard in ("0/2", "1/2"):
        assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                     str(tmp_path / "out"), "--steps", "2", "--method", "fast", "--shard", shard]) == 0
    assert sorted(p.parent.name for p in (tmp_path / "out").glob(f"*/{LATENT_NAME}")) == ["img0", "img1", "img2"]
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                 str(tmp_path / "out"), "--steps", "2", "--method", "fast"]) == 0
    assert "0 projected, 3 already done" in capsys.readouterr().out


def test_shards_partition_and_torchrun_env(tmp_path):
    files = [tmp_path / f"{c}.png" for c in "edcba"]
    parts = [shard_files(files, i, 3) for i in range(3)]
    assert sorted(p.name for part in parts for p in part) == sorted(p.name for p in files)
    assert parts[0][0].name == "a.png"
    assert parse_shard("1/4") == (1, 4)
    assert parse_shard(None, env={"RANK": "2", "WORLD_SIZE": "3"}) == (2, 3)
    assert parse_shard(None, env={}) == (0, 1)
    from styleblend.errors import InvalidArgumentError
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(InvalidArgumentError):
            parse_shard(bad)
    assert output_names([tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "b.png"]) == {
        tmp_path / "a.png": "a_png", tmp_path / "a.jpg": "a_jpg", tmp_path / "b.png": "b"}


def test_loss_curve_image():
    img = loss_curve_image([{"loss": 10.0 / (i + 1)} for i in range(50)])
    assert img.shape == (360, 640, 3) and img.dtype == np.uint8
    assert (img != 255).any()
    assert loss_curve_image([]).shape == (360, 640, 3)


def test_output_names_never_collide(tmp_path):
    files = [tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "a_png.jpg", tmp_path / "A.PNG",
             tmp_path / "sub" / "b.png", tmp_path / "b.png", tmp_path / "a_png_2.png"]
    names = output_names(files)
    assert len({n.lower() for n in names.values()}) == len(files)
    assert names[tmp_path / "a_png.jpg"] == "a_png" and names[tmp_path / "a_png_2.png"] == "a_png_2"
    assert names[tmp_path / "a.jpg"] == "a_jpg"
    # Every shard computes the same names (they are decided over the whole list, in any order).
    assert output_names(list(reversed(files))) == names
