"""Training loop: weights move, files appear, resume is exact, transfer starts from the source."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.nn import Discriminator, Generator
from styleblend.train import checkpointing as ckpt_io
from styleblend.train.loop import DataOrder, build_networks, train, update_ema
from styleblend.train.options import TrainOptions, preset_configs

RES = 16
BATCH = 4


def make_images(folder: Path, count: int = 12, res: int = RES, seed: int = 0) -> Path:
    """A folder of simple RGB PNGs: coloured discs on white, so D has something to learn."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:res, :res]
    for i in range(count):
        img = np.full([res, res, 3], 255, np.uint8)
        cy, cx, r = rng.integers(res // 4, res - res // 4, 2).tolist() + [rng.integers(2, 5)]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def options(tmp_path: Path, name: str = "run", steps: int = 3, **kw) -> TrainOptions:
    base = dict(data=str(tmp_path / "data"), outdir=str(tmp_path / name), cfg="tiny32", batch=BATCH,
                kimg=steps * BATCH / 1000, snap=2 * BATCH / 1000, tick=BATCH / 1000, d_reg_interval=2,
                g_reg_interval=2, augment="ada", ada_interval=1, ada_kimg=0.05, ada_target=0.0, seed=7,
                keep_every=0, grid=4)
    base.update(kw)
    return TrainOptions(**base)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_images(tmp_path / "data")


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_few_steps_change_weights_and_write_the_run(tmp_path, data):
    opts = options(tmp_path, steps=3)
    _, _, G0, G_ema0, D0 = build_networks(opts, RES, 0, torch.device("cpu"))
    records = []
    result = train(opts, show_progress=False, callback=records.append)
    assert result.finished and result.step == 3 and result.cur_nimg == 3 * BATCH
    run = Path(opts.outdir)
    for name in ("options.json", "log.jsonl", "reals.png", "fakes000000.png", "training-state.pt"):
        assert (run / name).is_file(), name
    assert json.loads((run / "options.json").read_text())["batch"] == BATCH
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and lines[-1]["kimg"] == pytest.approx(0.012)
    assert {"loss_G", "loss_D_real", "loss_D_fake", "augment_p", "kimg_per_s", "time"} <= set(lines[0])
    assert any("r1" in x for x in lines) and any("pl_length" in x for x in lines)
    assert lines == [{k: v for k, v in r.items()} | {"time": line["time"]} for r, line in zip(records, lines)]
    ckpt = load_checkpoint(result.snapshots[-1])
    assert ckpt.d is not None and ckpt.g is not None and ckpt.meta["step"] == 3
    for before, after in ((G0.state_dict(), ckpt.g), (G_ema0.state_dict(), ckpt.g_ema), (D0.state_dict(), ckpt.d)):
        assert not torch.equal(before["synthesis.b16.conv1.weight" if "synthesis.b16.conv1.weight" in before
                                     else "b16.conv0.weight"], after["synthesis.b16.conv1.weight"
                                                                     if "synthesis.b16.conv1.weight" in after
                                                                     else "b16.conv0.weight"])
    assert float(ckpt.meta["augment_p"]) > 0  # ada_target 0 forces p up
    img = ckpt.generator()(torch.randn(2, 32))
    assert img.shape == (2, 3, RES, RES) and torch.isfinite(img).all()


def test_resume_run_is_exact(tmp_path, data):
    # Regularisation every 2 steps: the interrupted run stops after a regularised step and the
    # resumed one starts with a plain one and then regularises again.
    straight = train(options(tmp_path, "a", steps=4), show_progress=False)
    assert straight.step == 4
    opts_b = options(tmp_path, "b", steps=4)
    first = train(opts_b, max_steps=1, show_progress=False)
    assert first.step == 1 and not first.finished
    state = ckpt_io.load_training_state(Path(opts_b.outdir))
    assert state["step"] == 1
    second = train(opts_b, resume_state=state, show_progress=False)
    assert second.finished and second.step == 4
    a = ckpt_io.load_training_state(Path(tmp_path / "a"))
    b = ckpt_io.load_training_state(Path(tmp_path / "b"))
    for key in ("G", "G_ema", "D"):
        assert _states_equal(a[key], b[key]), key
    for key in ("pl_mean", "augment_p"):
        assert torch.equal(a[key], b[key]), key
    for key in ("opt_G", "opt_D"):
        sa, sb = a[key]["state"], b[key]["state"]
        assert sa.keys() == sb.keys()
        assert all(_states_equal(sa[i], sb[i]) for i in sa)
    assert a["ada_acc"] == b["ada_acc"] and a["cur_nimg"] == b["cur_nimg"]


def _source_checkpoint(path: Path, with_d: bool = True) -> Checkpoint:
    g_cfg, d_cfg = preset_configs("tiny32", RES)
    torch.manual_seed(123)
    G, G_ema, D = Generator(g_cfg), Generator(g_cfg), Discriminator(d_cfg)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        G_ema.mapping.w_avg.normal_()
    ckpt = Checkpoint(g_config=g_cfg, g_ema=G_ema.state_dict(), g=G.state_dict(),
                      d_config=d_cfg if with_d else None, d=D.state_dict() if with_d else None)
    save_checkpoint(ckpt, path)
    return load_checkpoint(path)


def test_transfer_starts_from_exactly_the_given_weights(tmp_path, data):
    src = _source_checkpoint(tmp_path / "base.safetensors")
    opts = options(tmp_path, "t", resume=str(tmp_path / "base.safetensors"), lr_g=0.002, lr_d=0.002)
    _, _, G, G_ema, D = build_networks(opts, RES, 0, torch.device("cpu"))
    assert _states_equal(G_ema.state_dict(), src.g_ema)
    assert _states_equal(G.state_dict(), src.g)
    assert _states_equal(D.state_dict(), src.d)
    result = train(opts, max_steps=1, show_progress=False)
    assert result.step == 1
    after = load_checkpoint(result.snapshots[-1])
    assert not torch.equal(after.g["synthesis.b16.conv1.weight"], src.g["synthesis.b16.conv1.weight"])


def test_transfer_without_d_warns_and_builds_a_fresh_one(tmp_path, data, caplog):
    _source_checkpoint(tmp_path / "g_only.safetensors", with_d=False)
    opts = options(tmp_path, "t", resume=str(tmp_path / "g_only.safetensors"))
    with caplog.at_level(logging.WARNING):
        _, d_cfg, _, _, D = build_networks(opts, RES, 0, torch.device("cpu"))
    assert "no discriminator" in caplog.text
    assert d_cfg.img_resolution == RES


def test_freeze_d_and_mapping_keep_those_weights(tmp_path, data):
    src = _source_checkpoint(tmp_path / "base.safetensors")
    opts = options(tmp_path, "f", steps=2, resume=str(tmp_path / "base.safetensors"), freeze_d=2,
                   freeze_mapping=True)
    result = train(opts, show_progress=False)
    after = load_checkpoint(result.snapshots[-1])
    for key in ("b16.fromrgb.weight", "b16.conv0.weight", "b16.conv0.bias"):
        assert torch.equal(after.d[key], src.d[key]), key
    assert not torch.equal(after.d["b16.conv1.weight"], src.d["b16.conv1.weight"])
    for key in ("mapping.fc0.weight", "mapping.fc1.bias"):
        assert torch.equal(after.g[key], src.g[key]), key
    assert not torch.equal(after.g["synthesis.b16.conv1.weight"], src.g["synthesis.b16.conv1.weight"])


def test_update_ema_rampup_and_buffers():
    torch.manual_seed(0)
    g_cfg, _ = preset_configs("tiny32", RES)
    G, G_ema = Generator(g_cfg), Generator(g_cfg)
    with torch.no_grad():
        G.mapping.w_avg.fill_(3.0)
    beta = update_ema(G_ema, G, cur_nimg=1000, batch=32, ema_kimg=10, ema_rampup=0.05)
    assert beta == pytest.approx(0.5 ** (32 / 50))  # half-life limited to 0.05 * 1000 images
    assert torch.equal(G_ema.mapping.w_avg, G.mapping.w_avg)
    assert update_ema(G_ema, G, cur_nimg=10**6, batch=32, ema_kimg=10, ema_rampup=0.05) == pytest.approx(
        0.5 ** (32 / 10000))
    assert update_ema(G_ema, G, cur_nimg=32, batch=32, ema_kimg=10, ema_rampup=None) == pytest.approx(
        0.5 ** (32 / 10000))


def test_data_order_is_a_permutation_per_epoch():
    order = DataOrder(10, seed=1)
    stream = order.take(0, 30)
    for e in range(3):
        assert sorted(stream[10 * e:10 * e + 10].tolist()) == list(range(10))
    assert torch.equal(DataOrder(10, seed=1).take(7, 9), stream[7:16])
    assert not torch.equal(stream[:10], stream[10:20])


def test_prune_keeps_last_and_every_nth(tmp_path):
    for kimg in range(0, 44, 4):
        ckpt_io.snapshot_path(tmp_path, kimg).write_bytes(b"x")
    ckpt_io.prune_snapshots(tmp_path, keep_last=2, keep_every=5, snap_kimg=4)
    kept = [k for k, _ in ckpt_io.list_snapshots(tmp_path)]
    assert kept == [0, 20, 36, 40]


def test_cli_train_then_resume_run(tmp_path, data, capsys):
    out = tmp_path / "cli"
    common = ["--data", str(data), "--cfg", "tiny32", "--batch", "4", "--snap", "0.008", "--tick", "0.004",
              "--no-progress", "--mirror", "--grid", "4"]
    assert main(["train", "--outdir", str(out), "--kimg", "0.008", *common]) == 0
    assert json.loads((out / "options.json").read_text())["lr_g"] == 0.0025
    assert main(["train", "--outdir", str(out), "--kimg", "0.008", *common]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume-run", str(out), "--kimg", "0.016", "--no-progress"]) == 0
    assert ckpt_io.load_training_state(out)["step"] == 4
    assert [k for k, _ in ckpt_io.list_snapshots(out)] == [0.008, 0.016]
    # Transfer: --resume defaults to lr 0.002.
    snap = ckpt_io.list_snapshots(out)[-1][1]
    tr = tmp_path / "tr"
    assert main(["train", "--outdir", str(tr), "--resume", str(snap), "--kimg", "0.004", *common]) == 0
    assert json.loads((tr / "options.json").read_text())["lr_g"] == 0.002


def test_cli_rejects_wrong_resolution(tmp_path, data, capsys):
    code = main(["train", "--data", str(data), "--outdir", str(tmp_path / "x"), "--cfg", "tiny32", "--res", "32",
                 "--batch", "4", "--kimg", "0.004", "--no-progress"])
    assert code == 1 and "--res 32" in capsys.readouterr().err


def test_snapshot_labels_never_collide():
    # --snap 0.2 with --batch 32: snapshots after 224, 416, 608, 800, 1024... images.
    counts = [32 * -(-200 * k // 32) for k in range(1, 11)]
    labels = [ckpt_io.snapshot_label(n) for n in counts]
    assert labels[:5] == ["000000.224", "000000.416", "000000.608", "000000.800", "000001.024"]
    assert len(set(labels)) == len(labels)
    assert ckpt_io.snapshot_label(224000) == "000224"  # whole kimg keep the names runs always had
    assert ckpt_io.snapshot_path(Path("r"), 4.224).name == "network-snapshot-000004.224.safetensors"
    for n in (224, 4000, 4224, 1000000):
        ckpt_io.snapshot_path(Path("r"), n / 1000)
    assert ckpt_io.SNAPSHOT_RE.match("network-snapshot-000004.224.safetensors")


def test_snapshots_below_one_kimg_are_all_kept(tmp_path, data):
    opts = options(tmp_path, steps=6, snap=0.008, keep_every=0)  # a snapshot every 2 steps of 4 images
    result = train(opts, show_progress=False)
    run = Path(opts.outdir)
    assert [k for k, _ in ckpt_io.list_snapshots(run)] == [0.008, 0.016, 0.024]
    assert [p.name for p in result.snapshots] == [f"network-snapshot-000000.{n:03d}.safetensors" for n in (8, 16, 24)]
    assert sorted(p.name for p in run.glob("fakes*.png")) == [
        "fakes000000.008.png", "fakes000000.016.png", "fakes000000.024.png", "fakes000000.png"]
    steps = [load_checkpoint(p).meta["step"] for _, p in ckpt_io.list_snapshots(run)]
    assert steps == [2, 4, 6]


def _log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_resume_run_cuts_the_log_back_to_the_state(tmp_path, data, capsys):
    out = tmp_path / "run"
    common = ["--data", str(data), "--cfg", "tiny32", "--batch", "4", "--snap", "0.008", "--tick", "0.004",
              "--no-progress", "--grid", "4", "--keep-every", "0"]
    assert main(["train", "--outdir", str(out), "--kimg", "0.016", "--max-steps", "2", *common]) == 0
    saved = (out / ckpt_io.STATE_NAME).read_bytes()  # the state at step 2
    # --batch-gpu only changes how the batch is split, so a resumed run may change it.
    assert main(["train", "--resume-run", str(out), "--kimg", "0.016", "--batch-gpu", "2", "--no-progress"]) == 1
    assert "minibatch-stddev group of 4 images must divide the per-pass batch 2" in capsys.readouterr().err
    assert main(["train", "--resume-run", str(out), "--kimg", "0.016", "--batch-gpu", "4", "--no-progress"]) == 0
    assert json.loads((out / "options.json").read_text())["batch_gpu"] == 4
    assert _log_steps(out) == [1, 2, 3, 4]
    # Killed after logging steps 3 and 4 but before their state was written: the state is step 2's.
    (out / ckpt_io.STATE_NAME).write_bytes(saved)
    with open(out / "log.jsonl", "a") as f:
        f.write('{"kimg": 0.02, "st')  # torn last line
    assert main(["train", "--resume-run", str(out), "--kimg", "0.016", "--no-progress"]) == 0
    assert _log_steps(out) == [1, 2, 3, 4]


def test_resume_run_at_or_past_its_target_says_so(tmp_path, data, capsys):
    out = tmp_path / "run"
    assert main(["train", "--outdir", str(out), "--data", str(data), "--cfg", "tiny32", "--batch", "4", "--kimg",
                 "0.008", "--snap", "0", "--tick", "0.004", "--no-progress", "--grid", "4"]) == 0
    capsys.readouterr()
    before = (out / "log.jsonl").read_text(), (out / ckpt_io.STATE_NAME).read_bytes()
    assert main(["train", "--resume-run", str(out), "--kimg", "0.004", "--no-progress"]) == 0
    msg = capsys.readouterr().out
    assert "already at 0.008 kimg, which reaches --kimg 0.004; nothing to train" in msg and "%" not in msg
    assert main(["train", "--resume-run", str(out), "--no-progress"]) == 0
    assert "already finished at 0.008 kimg" in capsys.readouterr().out
    assert ((out / "log.jsonl").read_text(), (out / ckpt_io.STATE_NAME).read_bytes()) == before
    state = ckpt_io.load_training_state(out)
    result = train(options(tmp_path, "run", steps=1), resume_state=state, show_progress=False)
    assert result.already_done and result.finished and result.step == 2 and not result.snapshots


def test_run_stopped_before_its_first_state_restarts(tmp_path, data, capsys, caplog):
    """Killed before the first snapshot: options.json, reals, the first grid and a log, no state."""
    straight = train(options(tmp_path, "straight", steps=2), show_progress=False)
    opts = options(tmp_path, "killed", steps=2)
    train(opts, show_progress=False)
    run = Path(opts.outdir)
    for p in [run / ckpt_io.STATE_NAME, *run.glob("network-snapshot-*")]:
        p.unlink()
    # --resume-run starts it over from options.json: the same run as an uninterrupted one.
    with caplog.at_level(logging.WARNING):
        assert main(["train", "--resume-run", str(run), "--no-progress"]) == 0
    assert "starting the run over" in caplog.text
    a, b = ckpt_io.load_training_state(Path(straight.run_dir)), ckpt_io.load_training_state(run)
    assert _states_equal(a["G"], b["G"]) and _states_equal(a["D"], b["D"])
    assert _log_steps(run) == [1, 2]
    # A fresh start into such a directory works too (and starts a new log).
    (run / ckpt_io.STATE_NAME).unlink()
    for p in run.glob("network-snapshot-*"):
        p.unlink()
    assert main(["train", "--outdir", str(run), "--data", str(data), "--cfg", "tiny32", "--batch", "4", "--kimg",
                 "0.004", "--snap", "0", "--tick", "0.004", "--no-progress", "--grid", "4"]) == 0
    assert _log_steps(run) == [1]
    # A stray snapshot without a state is not overwritten by a fresh start; the message says how to go on.
    (run / ckpt_io.STATE_NAME).unlink()
    assert main(["train", "--outdir", str(run), "--data", str(data), "--cfg", "tiny32", "--kimg", "0.004",
                 "--no-progress"]) == 1
    assert f"--resume-run {run}" in capsys.readouterr().err
    # Neither a state nor options.json: one line.
    assert main(["train", "--resume-run", str(tmp_path / "data"), "--no-progress"]) == 1
    assert "has no training-state.pt" in capsys.readouterr().err


def test_state_of_the_committed_base_run_still_loads():
    """The bundled base run's state (written by the loop before draws were per image) restores into
    the networks and optimisers the loop builds from it."""
    run = Path(__file__).resolve().parents[2] / "runs" / "base-emoji64"
    if not (run / ckpt_io.STATE_NAME).is_file():
        pytest.skip("runs/base-emoji64 is not in this checkout")
    from styleblend.config import DiscriminatorConfig, GeneratorConfig
    from styleblend.train.loop import _adam, _restore_state
    from styleblend.train.loss import StyleGAN2Loss

    state = ckpt_io.load_training_state(run)
    opts = TrainOptions.from_dict(state["options"])
    configs = (GeneratorConfig.from_dict(state["g_config"]), DiscriminatorConfig.from_dict(state["d_config"]))
    _, _, G, G_ema, D = build_networks(opts, configs[0].img_resolution, configs[0].c_dim, torch.device("cpu"),
                                       configs)
    nets = {"G": G, "G_ema": G_ema, "D": D, "opt_G": _adam(list(G.parameters()), 0.1, (0, 0.99), 1e-8, 4),
            "opt_D": _adam(list(D.parameters()), 0.1, (0, 0.99), 1e-8, 16)}
    from styleblend.train.augment import AugmentPipe

    step, nimg, ada = _restore_state(state, nets, StyleGAN2Loss(G, D), AugmentPipe())
    assert step == state["step"] > 0 and nimg == step * opts.batch and len(ada) == 2
    assert torch.equal(G.state_dict()["synthesis.b64.conv1.weight"], state["G"]["synthesis.b64.conv1.weight"])


@pytest.mark.slow
def test_snap_0_2_kimg_keeps_every_snapshot_and_grid(tmp_path):
    """--snap 0.2 as a user would pass it (one step of 200 images per snapshot, 600 images)."""
    data = make_images(tmp_path / "data", res=8)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--outdir", str(out), "--cfg", "tiny32", "--batch", "200",
                 "--batch-gpu", "40", "--kimg", "0.6", "--snap", "0.2", "--tick", "0.2", "--keep-every", "0",
                 "--grid", "4", "--no-progress", "--threads", "1"]) == 0
    assert [p.name for _, p in ckpt_io.list_snapshots(out)] == [
        f"network-snapshot-000000.{n}.safetensors" for n in (200, 400, 600)]
    assert sorted(p.name for p in out.glob("fakes*.png")) == [
        "fakes000000.200.png", "fakes000000.400.png", "fakes000000.600.png", "fakes000000.png"]
