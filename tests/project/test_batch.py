"""Projection outputs, the CLI, latent files that `generate` reads back, and resumable sharded batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import save_checkpoint
from styleblend.latents.files import read_latent_file
from styleblend.media.images import to_uint8
from styleblend.project.batch import (
    LATENT_NAME,
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
        assert data["w"].shape == (1, tiny_G.num_ws, tiny_G.w_dim)  # NVIDIA's projected_w.npz layout
        assert str(data["method"]) == "fast" and int(data["steps"]) == 5 and str(data["space"]) == "w+"
        assert len(str(data["network_sha256"])) == 64 and str(data["network"]).endswith("tiny.safetensors")
        assert np.isfinite(float(data["final_loss"]))
    lf = read_latent_file(out / LATENT_NAME, tiny_G.cfg)
    assert lf.data.shape == (1, tiny_G.num_ws, tiny_G.w_dim) and lf.meta["seed"] == 3
    assert lf.meta["settings"]["method"] == "fast"  # nested metadata survives (meta_json)
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
    # Re-run into the same folder without --video: no stale video of the earlier run is left beside the new files.
    assert main(["-q", "project", "--network", str(network), "--target", str(target), "--outdir",
                 str(tmp_path / "b"), "--steps", "2"]) == 0
    assert not (tmp_path / "b" / "proj.mp4").exists() and (tmp_path / "b" / LATENT_NAME).is_file()
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


@pytest.fixture()
def network_with_d(tmp_path, tiny_ckpt_d):
    return save_checkpoint(tiny_ckpt_d, tmp_path / "tiny-d.safetensors")


def test_video_without_ffmpeg_fails_before_any_work(tmp_path, network, tiny_G, no_vgg, monkeypatch, capsys):
    (target,) = _images(tmp_path / "in", tiny_G, n=1)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)  # import now raises ImportError
    import styleblend.project.batch as batch_mod

    calls = []
    monkeypatch.setattr(batch_mod, "project", lambda *a, **k: calls.append(1))
    out = tmp_path / "out"
    assert main(["project", "--network", str(network), "--target", str(target), "--outdir", str(out),
                 "--steps", "2", "--video"]) == 1
    err = capsys.readouterr().err.strip()
    assert "imageio-ffmpeg" in err and "\n" not in err
    assert calls == [] and not out.exists()


def test_failing_extra_keeps_latent_and_metrics(tmp_path, network, tiny_G, no_vgg, monkeypatch):
    (target,) = _images(tmp_path / "in", tiny_G, n=1)
    import styleblend.media.video as video_mod

    def broken(*args, **kwargs):
        raise OSError("disk full while writing the video")

    monkeypatch.setattr(video_mod, "write_video", broken)
    job = prepare_job(network, "fast", steps=3, video=True)
    from styleblend.project.batch import project_file

    with pytest.raises(OSError, match="disk full"):
        project_file(job, target, tmp_path / "out")
    for name in ("metrics.json", LATENT_NAME, "proj.png", "loss.png"):
        assert (tmp_path / "out" / name).is_file(), name
    assert not (tmp_path / "out" / "proj.mp4").exists()


def test_cli_loss_choice_regulariser_and_noise_flags(tmp_path, network, network_with_d, tiny_G, no_vgg, capsys):
    (target,) = _images(tmp_path / "in", tiny_G, n=1)
    # A checkpoint with D and no VGG weights: the dfeat loss runs by default, and the output says so.
    assert main(["project", "--network", str(network_with_d), "--target", str(target), "--outdir",
                 str(tmp_path / "d"), "--method", "fast", "--steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert "loss: dfeat" in printed and "row spread" in printed
    m = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert m["loss_kind"] == "dfeat" and m["discriminator"] and set(m["term_weights"]) == {"dfeat", "mse"}
    assert m["row_spread"] >= 0 and m["mean_distance"] > 0 and m["w_reg"] == 0
    # The same D taken from another file, for a network without one.
    assert main(["-q", "project", "--network", str(network), "--target", str(target), "--outdir",
                 str(tmp_path / "d2"), "--method", "fast", "--steps", "2", "--discriminator", str(network_with_d)]) == 0
    assert json.loads((tmp_path / "d2" / "metrics.json").read_text())["loss_kind"] == "dfeat"
    # Explicit pixel loss, the W+ regulariser on, nvidia without noise optimisation.
    assert main(["-q", "project", "--network", str(network_with_d), "--target", str(target), "--outdir",
                 str(tmp_path / "p"), "--method", "nvidia", "--steps", "3", "--loss", "pixel", "--w-reg", "0.5",
                 "--no-optimize-noise"]) == 0
    m = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert m["loss_kind"] == "pixel" and m["w_reg"] == 0.5 and m["optimize_noise"] is False
    assert "w_reg" in m["term_weights"] and "noise_reg" not in m["term_weights"]
    with np.load(tmp_path / "p" / LATENT_NAME) as data:
        assert not any(k.startswith("noise.") for k in data.files)
    # dfeat asked for where there is no discriminator: one clear line.
    assert main(["project", "--network", str(network), "--target", str(target), "--outdir", str(tmp_path / "x"),
                 "--loss", "dfeat", "--steps", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--discriminator" in err and "\n" not in err
    assert main(["project", "--network", str(network), "--target", str(target), "--outdir", str(tmp_path / "x"),
                 "--w-reg", "-1", "--steps", "2"]) == 1


def test_loss_curve_plots_each_weighted_term():
    history = [{"loss": 1e5 * 0.1 / (i + 1) + 0.1, "mse": 0.1, "noise_reg": 0.1 / (i + 1)} for i in range(30)]
    img = loss_curve_image(history, term_weights={"mse": 1.0, "noise_reg": 1e5})
    single = loss_curve_image(history)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert (30, 90, 200) in colours and (30, 150, 60) in colours  # the two term curves
    assert (30, 90, 200) not in {tuple(c) for c in single.reshape(-1, 3)}
