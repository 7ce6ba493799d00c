"""Encoder training on a tiny generator: the loss falls, resume is bit-exact, and the CLI commands work.

Also `project --method encoder`: the prediction of a trained encoder lands nearer a known latent than
the mean w does, folders are encoded in batches, and bad option combinations are one-line errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.errors import CheckpointError, InvalidArgumentError
from styleblend.io import save_checkpoint
from styleblend.latents.files import read_latent_file
from styleblend.media.images import to_uint8
from styleblend.project.batch import LATENT_NAME, prepare_job, project_batch
from styleblend.project.encoder import load_encoder
from styleblend.project.encoder_train import (
    EncoderTrainOptions,
    load_encoder_state,
    log_path,
    sample_ws,
    state_path,
    train_encoder,
)

from .conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return save_checkpoint(tiny_checkpoint(), tmp_path_factory.mktemp("net") / "tiny.safetensors")


@pytest.fixture(scope="module")
def trained(network, tmp_path_factory):
    """An encoder trained briefly on W samples of the tiny generator (latent loss only: fast)."""
    out = tmp_path_factory.mktemp("enc") / "enc.safetensors"
    opts = EncoderTrainOptions(network=str(network), out=str(out), kimg=0.8, batch=16, recon_weight=0,
                               mix_prob=0, perturb_prob=0, snap=0, tick=0.16, w_samples=1000, input_resolution=16)
    torch.set_num_threads(1)
    records = []
    train_encoder(opts, show_progress=False, callback=records.append)
    return out, records


def _opts(network, out, **kw):
    base = dict(network=str(network), out=str(out), kimg=1.0, batch=4, snap=0, tick=0.004, w_samples=200)
    base.update(kw)
    return EncoderTrainOptions(**base)


def test_training_lowers_the_losses(trained):
    out, records = trained
    first, last = records[0], records[-1]
    assert last["latent"] < 0.7 * first["latent"], records
    assert last["kimg"] == pytest.approx(0.8)
    assert len(log_path(out).read_text().splitlines()) == len(records)


def test_reconstruction_loss_falls_too(network, tmp_path):
    records = []
    train_encoder(_opts(network, tmp_path / "e.safetensors", batch=8, lr=0.003, tick=0.024), max_steps=15,
                  show_progress=False, callback=records.append)
    assert records[-1]["recon"] < records[0]["recon"], records


def test_sampled_latents_mix_and_perturb_rows(tiny_G):
    plain = sample_ws(tiny_G, _opts("n", "o", batch=6, mix_prob=0, perturb_prob=0), 0, 1.0, torch.device("cpu"))
    assert torch.equal(plain, plain[:, :1].expand_as(plain))  # pure W: all rows equal
    mixed = sample_ws(tiny_G, _opts("n", "o", batch=6, mix_prob=1, perturb_prob=0), 0, 1.0, torch.device("cpu"))
    assert torch.equal(mixed[:, 0], plain[:, 0])  # the first row always keeps the first w
    assert all(not torch.equal(m[0], m[-1]) for m in mixed)  # the last row always comes from the second
    again = sample_ws(tiny_G, _opts("n", "o", batch=6, mix_prob=1, perturb_prob=1), 0, 1.0, torch.device("cpu"))
    assert not torch.equal(again, mixed) and float((again - mixed).std()) == pytest.approx(0.1, rel=0.2)


def test_iterative_training_from_a_one_shot_encoder_lowers_the_loss_and_uses_several_passes(network, trained,
                                                                                          tmp_path):
    records = []
    out = tmp_path / "it.safetensors"
    train_encoder(_opts(network, out, init_encoder=str(trained[0]), iterations=3, batch=8, lr=0.003, tick=0.024),
                  max_steps=15, show_progress=False, callback=records.append)
    assert records[-1]["recon"] < records[0]["recon"], records
    assert {r["passes"] for r in records} != {1.0}  # the per-step pass count is drawn, not always 1
    E = load_encoder(out)
    assert E.cfg.iterative and E.cfg.iterations == 3
    start = load_encoder(trained[0])
    torch.testing.assert_close(E.w_avg, start.w_avg)  # the start's statistics are kept, not re-estimated


@pytest.mark.parametrize("iterations, ema_kimg", [(1, 0.0), (3, 0.01)])
def test_resume_is_bit_exact(network, tmp_path, iterations, ema_kimg):
    images = tmp_path / "reals"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, [40, 40, 3], dtype=np.uint8)).save(images / f"{i}.png")
    kw = dict(images=str(images), noise_mode="random", batch=4, real_batch=2, snap=0.008, iterations=iterations,
              ema_kimg=ema_kimg)
    train_encoder(_opts(network, tmp_path / "a.safetensors", **kw), max_steps=4, show_progress=False)
    train_encoder(_opts(network, tmp_path / "b.safetensors", **kw), max_steps=2, show_progress=False)
    state = load_encoder_state(tmp_path / "b.safetensors")
    assert state["step"] == 2
    train_encoder(_opts(network, tmp_path / "b.safetensors", **kw), resume_state=state, max_steps=2,
                  show_progress=False)
    a, b = load_encoder_state(tmp_path / "a.safetensors"), load_encoder_state(tmp_path / "b.safetensors")
    assert a["step"] == b["step"] == 4 and a["cur_nimg"] == b["cur_nimg"] == 16
    for key, value in a["encoder"].items():
        assert torch.equal(value, b["encoder"][key]), key
    for pid, st in a["optimizer"]["state"].items():
        for name, value in st.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][name]), (pid, name)
    # The stored file is the float16 copy of the state's encoder (of its moving average when there is one).
    E = load_encoder(tmp_path / "b.safetensors")
    stored = b["encoder_ema"] if ema_kimg else b["encoder"]
    assert (b["encoder_ema"] is None) == (ema_kimg == 0)
    torch.testing.assert_close(E.state_dict()["base.weight"], stored["base.weight"], rtol=1e-3, atol=1e-4)
    if ema_kimg:
        for key, value in a["encoder_ema"].items():
            assert torch.equal(value, b["encoder_ema"][key]), key
        assert not torch.equal(b["encoder_ema"]["base.weight"], b["encoder"]["base.weight"])


def test_resume_with_another_network_and_bad_options_are_refused(network, tmp_path):
    train_encoder(_opts(network, tmp_path / "e.safetensors"), max_steps=1, show_progress=False)
    other = save_checkpoint(tiny_checkpoint(seed=1), tmp_path / "other.safetensors")
    state = load_encoder_state(tmp_path / "e.safetensors")
    with pytest.raises(CheckpointError, match="another network"):
        train_encoder(_opts(other, tmp_path / "e.safetensors"), resume_state=state, max_steps=1, show_progress=False)
    with pytest.raises(CheckpointError, match="no training state"):
        load_encoder_state(tmp_path / "none.safetensors")
    state_path(tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_encoder_state(tmp_path / "bad.safetensors")
    for bad in (dict(batch=0), dict(mix_prob=2.0), dict(noise_mode="seed"), dict(kimg=0), dict(recon_scales=0)):
        with pytest.raises(InvalidArgumentError):
            _opts(network, tmp_path / "x.safetensors", **bad)


def test_conditional_generator_trains(tmp_path):
    from tests.conftest import tiny_checkpoint as tiny_any

    net = save_checkpoint(tiny_any(c_dim=3), tmp_path / "cond.safetensors")
    result = train_encoder(_opts(net, tmp_path / "e.safetensors"), max_steps=2, show_progress=False)
    assert result.step == 2 and np.isfinite(result.last_stats["loss"])


def _known_target(G, folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for s in seeds:
        z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(s))
        with torch.no_grad():
            ws = G.mapping(z, None)
            Image.fromarray(to_uint8(G.synthesis(ws, noise_mode="const"))[0]).save(folder / f"t{s}.png")
        truths[f"t{s}"] = ws
    return truths


def test_encoder_projection_lands_nearer_the_true_latent_than_the_mean(network, trained, tmp_path, no_vgg):
    enc, _ = trained
    job = prepare_job(network, "encoder", steps=0, encoder=enc)
    G = job.G
    truths = _known_target(G, tmp_path / "in", seeds=range(100, 106))
    files = sorted((tmp_path / "in").glob("*.png"))
    report = project_batch(job, files, tmp_path / "out")
    assert [s for *_, s in report] == ["done"] * len(files)
    w_avg = G.mapping.w_avg.view(1, 1, -1)
    nearer = 0
    for f in files:
        lf = read_latent_file(tmp_path / "out" / f.stem / LATENT_NAME, G.cfg)
        ws, meta = torch.from_numpy(lf.data), lf.meta
        assert meta["steps"] == 0 and meta["method"] == "encoder" and meta["encoder"] == str(enc)
        truth = truths[f.stem]
        nearer += float((ws - truth).norm()) < float((w_avg - truth).norm())
    assert nearer >= len(files) - 1
    metrics = json.loads((tmp_path / "out" / files[0].stem / "metrics.json").read_text())
    assert metrics["steps"] == 0 and metrics["seconds"] > 0 and np.isfinite(metrics["final_loss"])


def test_refinement_starts_at_the_prediction_and_improves_it(network, trained, tmp_path, no_vgg):
    enc, _ = trained
    tiny = prepare_job(network, "encoder", steps=0, encoder=enc)
    _known_target(tiny.G, tmp_path / "in", seeds=[7])
    (target,) = sorted((tmp_path / "in").glob("*.png"))
    refine = prepare_job(network, "encoder", steps=20, encoder=enc)
    assert refine.settings.method == "encoder" and refine.settings.steps == 20 and refine.settings.lr == 0.1
    from styleblend.project.batch import project_file

    m0 = project_file(tiny, target, tmp_path / "zero")
    m20 = project_file(refine, target, tmp_path / "twenty")
    assert m20["steps"] == 20 and m20["psnr"] > m0["psnr"]


def test_encoder_method_errors(network, trained, tmp_path):
    enc, _ = trained
    with pytest.raises(InvalidArgumentError, match="needs an encoder file"):
        prepare_job(network, "encoder")
    with pytest.raises(InvalidArgumentError, match="used by `method` 'encoder' only"):
        prepare_job(network, "fast", encoder=enc)
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        prepare_job(network, "encoder", steps=-1, encoder=enc)
    with pytest.raises(InvalidArgumentError, match="`init` does not apply") as info:
        prepare_job(network, "encoder", encoder=enc, init="mean")
    assert info.value.params == ("init", "method")
    other = save_checkpoint(tiny_checkpoint(res=16), tmp_path / "small.safetensors")
    from styleblend.errors import ArchitectureMismatchError

    with pytest.raises(ArchitectureMismatchError, match="trained for a generator"):
        prepare_job(other, "encoder", encoder=enc)


def test_cli_train_resume_and_project(network, tmp_path, no_vgg, capsys):
    out = tmp_path / "enc.safetensors"
    args = ["encoder", "train", "--network", str(network), "--out", str(out), "--batch", "4", "--kimg", "0.012",
            "--no-progress", "--threads", "1"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert "continue with --resume" in capsys.readouterr().out
    assert main(args) == 1  # the run exists: --resume or another --out
    assert "already has a run" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert "0.01 kimg after 3 steps" in capsys.readouterr().out
    assert main(["encoder", "train", "--network", str(network), "--out", str(tmp_path / "x.safetensors"),
                 "--resume"]) == 1
    assert "no training state" in capsys.readouterr().err

    G = tiny_checkpoint().generator()
    _known_target(G, tmp_path / "in", seeds=[1, 2])
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                 str(tmp_path / "proj"), "--method", "encoder", "--encoder", str(out), "--steps", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("encoder only") == 2 and "2 projected" in printed
    assert (tmp_path / "proj" / "t1" / LATENT_NAME).is_file()
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in" / "t1.png"), "--outdir",
                 str(tmp_path / "one"), "--method", "encoder", "--encoder", str(out), "--steps", "2"]) == 0
    assert "2 steps" in capsys.readouterr().out
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                 str(tmp_path / "p2"), "--method", "encoder"]) == 1
    assert "needs an encoder file (--encoder;" in capsys.readouterr().err
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                 str(tmp_path / "p3"), "--method", "fast", "--steps", "0"]) == 1
    assert ">= 1" in capsys.readouterr().err
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "in"), "--outdir",
                 str(tmp_path / "p4"), "--method", "encoder", "--encoder", str(network), "--steps", "0"]) == 1
    assert "without styleblend encoder metadata" in capsys.readouterr().err


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(network, tmp_path):
    """torchrun with 2 processes (each half of the batch, gradients averaged) trains like 1 process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import styleblend

    src = Path(styleblend.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    args = ["-m", "styleblend.cli.main", "encoder", "train", "--network", str(network), "--batch", "8", "--kimg",
            "0.016", "--no-progress", "--seed", "5"]
    for name, launcher in (("one", []), ("two", ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"])):
        cmd = [sys.executable, *launcher, *args, "--out", str(tmp_path / f"{name}.safetensors")]
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = load_encoder_state(tmp_path / "one.safetensors"), load_encoder_state(tmp_path / "two.safetensors")
    assert one["step"] == two["step"] == 2
    for key, a in one["encoder"].items():
        b = two["encoder"][key]
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), f"{key}: {float((a - b).abs().max()):g}"
    assert len(log_path(tmp_path / "two.safetensors").read_text().splitlines()) == 1  # rank 0 logs alone
