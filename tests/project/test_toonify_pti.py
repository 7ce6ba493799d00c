"""toonify with pivotal tuning, measures and metrics.json, stale-file removal, the default method and encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.blend.model import blend_checkpoints, save_blend
from styleblend.blend.schedules import parse_schedule
from styleblend.cli.main import main
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.media.images import to_uint8
from styleblend.project import toonify as toonify_module
from styleblend.project.pti import PTISettings, apply_delta, save_delta
from styleblend.project.toonify import bundled_encoder, toonify

from ..blend.conftest import finetuned
from ..conftest import astronaut_photo, tiny_checkpoint

PTI = PTISettings(steps=3, budget=0.1)  # the 32-channel test model needs ~5 % for a rank-1 delta


@pytest.fixture()
def pair(tmp_path):
    """A base, a transfer with a discriminator, and their blend with its recipe."""
    base_ckpt = tiny_checkpoint(seed=0)
    base = save_checkpoint(base_ckpt, tmp_path / "base.safetensors")
    transfer_ckpt = finetuned(tiny_checkpoint(seed=0, with_d=True), scale=0.3)
    transfer = save_checkpoint(transfer_ckpt, tmp_path / "transfer.safetensors")
    ckpt, recipe = blend_checkpoints(load_checkpoint(base), [load_checkpoint(transfer)], parse_schedule("linear:8:32"))
    blend, _ = save_blend(ckpt, recipe, tmp_path / "blend.safetensors")
    return base, transfer, blend


def _photo(tmp_path, ckpt: Checkpoint):
    G = ckpt.generator()
    with torch.no_grad():
        a = to_uint8(G(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(7))))[0]
    path = tmp_path / "photo.png"
    Image.fromarray(a).save(path)
    return path


def test_pti_toon_is_the_blend_of_the_tuned_base(tmp_path, pair, no_vgg):
    base, transfer, blend = pair
    photo = _photo(tmp_path, load_checkpoint(transfer))
    steps = []
    r = toonify(base, [blend], photo, tmp_path / "out", align=False, method="fast", steps=3, pti=PTI,
                pti_callback=lambda s, p: steps.append(s), critic=transfer, pti_export=tmp_path / "tuned.safetensors")
    assert steps == [1, 2, 3] and r.delta is not None and r.delta_path.is_file()
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["pti"]["final_loss"] < m["pti"]["initial_loss"]
    assert m["reconstruction_pti"]["psnr"] > m["reconstruction"]["psnr"]
    assert m["pti"]["bytes"] == r.delta_path.stat().st_size and m["pti"]["fraction_of_G"] <= 0.1
    # The toon equals re-blending the tuned base with the transfer by the same schedule.
    base_c, transfer_c = load_checkpoint(base), load_checkpoint(transfer)
    tuned = Checkpoint(g_config=base_c.g_config, g_ema=apply_delta(base_c.g_ema, r.delta))
    reblended, _ = blend_checkpoints(tuned, [transfer_c], parse_schedule("linear:8:32"))
    with torch.no_grad():
        expected = to_uint8(reblended.generator().synthesis(r.ws, noise_mode="const"))[0]
    toon = np.asarray(Image.open(tmp_path / "out" / "toon_blend.png")).astype(int)
    assert np.abs(toon - expected.astype(int)).max() <= 1
    # The tuned export is the base plus the delta.
    exported = load_checkpoint(tmp_path / "tuned.safetensors")
    key = r.delta.keys()[0]
    torch.testing.assert_close(exported.g_ema[key], tuned.g_ema[key])
    # Measures: the transfer's discriminator scored the toon; identity is off for --no-align photos.
    entry = m["toons"]["blend.safetensors"]
    assert isinstance(entry["realism_logit"], float) and isinstance(entry["critic_reference_logit"], float)
    assert "not a face photo" in m["identity_note"]
    assert m["w_distance"]["row_spread"] >= 0 and m["w_distance"]["mean_distance"] > 0
    # A second run reuses the cached delta (no tuning).
    steps.clear()
    r2 = toonify(base, [blend], photo, tmp_path / "out", align=False, method="fast", steps=3, pti=PTI,
                 pti_callback=lambda s, p: steps.append(s))
    assert steps == [] and r2.delta_path == r.delta_path
    # Without --critic, the transfer file the recipe names scores the toon (it has a discriminator).
    assert r2.metrics["toons"]["blend.safetensors"]["critic"] == str(transfer)


def test_rerun_removes_the_previous_runs_stale_images(tmp_path, pair, no_vgg):
    base, transfer, blend = pair
    other = save_checkpoint(load_checkpoint(blend), tmp_path / "other.safetensors")
    photo = _photo(tmp_path, load_checkpoint(base))
    out = tmp_path / "out"
    toonify(base, [blend, other], photo, out, align=False, method="fast", steps=1)
    assert (out / "toon_other.png").is_file()
    (out / "notes.txt").write_text("mine")
    r = toonify(base, [blend], photo, out, align=False, method="fast", steps=1)
    assert not (out / "toon_other.png").exists() and (out / "toon_blend.png").is_file()
    assert [p.name for p in r.removed] == ["toon_other.png"] and (out / "notes.txt").is_file()
    assert json.loads((out / "metrics.json").read_text())["files"] == sorted(
        ["target.png", "reconstruction.png", "toon_blend.png", "toonify.png"])


def test_default_method_is_editable_with_the_toonify_step_count(tmp_path, pair, no_vgg, monkeypatch):
    base, transfer, blend = pair
    transfer.unlink()  # no discriminator to be found: realism is skipped with a note
    monkeypatch.setattr(toonify_module, "DEFAULT_FAST_STEPS", 2)
    calls = []
    r = toonify(base, [blend], _photo(tmp_path, load_checkpoint(base)), tmp_path / "out", align=False,
                callback=lambda s, p, w: calls.append(s))
    assert calls == [1, 2] and r.metrics["embedding"]["method"] == "editable, 2 steps"
    assert "pass critic" in r.metrics["toons"]["blend.safetensors"]["realism_note"]
    assert bundled_encoder("0" * 64) is None  # no bundled encoder for a foreign base


def test_encoder_start_and_refinement(tmp_path, pair, no_vgg, monkeypatch):
    base, _, blend = pair
    G = load_checkpoint(base).generator()
    with torch.no_grad():
        predicted = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(3)), None)
    seen = []

    def load_encoder_fn(path, G, device):
        seen.append(path)
        return lambda img: predicted.expand(img.shape[0], -1, -1).clone()

    monkeypatch.setattr(toonify_module, "load_encoder_fn", load_encoder_fn)
    enc = tmp_path / "enc.safetensors"
    enc.write_bytes(b"weights")
    photo = _photo(tmp_path, load_checkpoint(base))
    r0 = toonify(base, [blend], photo, tmp_path / "a", align=False, encoder=enc, steps=0)
    assert torch.equal(r0.ws, predicted) and seen == [enc]
    assert r0.metrics["embedding"]["method"] == "encoder enc.safetensors + 0 editable refinement steps"
    first = []
    r2 = toonify(base, [blend], photo, tmp_path / "b", align=False, encoder=enc, steps=2,
                 callback=lambda s, p, w: first.append(w.clone()))
    assert len(first) == 2 and not torch.equal(r2.ws, predicted)
    assert (first[0] - predicted).abs().max() < (first[0] - G.mapping.w_avg).abs().max()  # started at the prediction


def test_cli_prints_measures_and_refuses_a_delta_of_another_base_in_one_line(tmp_path, pair, no_vgg, capsys):
    base, transfer, blend = pair
    photo = _photo(tmp_path, load_checkpoint(base))
    args = ["toonify", "--base", str(base), "--blend", str(blend), "--photo", str(photo), "--outdir",
            str(tmp_path / "o"), "--no-align", "--method", "fast", "--steps", "2", "--pti", "--pti-steps", "2",
            "--pti-budget", "0.1", "--critic", str(transfer)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "reconstruction with PTI: PSNR" in out and "D logit" in out and "% of G" in out
    from .test_pti import _random_delta

    foreign = save_delta(_random_delta(tiny_checkpoint(seed=5)), tmp_path / "foreign.safetensors")
    assert main(args[:-7] + ["--pti-delta", str(foreign)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 1 and "tuned on a base" in errors[0]


@pytest.mark.slow  # loads dlib's landmark and recognition models (~15 s on the busy 2-core machine)
def test_aligned_face_photos_get_an_identity_measure_or_a_note(tmp_path, pair, no_vgg):
    """On a real face (scikit-image's astronaut) the identity measure runs; a random tiny model renders no face,
    which the measure reports as a note instead of failing."""
    from styleblend.errors import MissingDependencyError, MissingWeightsError

    photo = astronaut_photo()
    try:
        from styleblend.align import default_detector
        from styleblend.metrics.identity import FaceIdentity

        detector = default_detector()
        FaceIdentity()
    except (MissingDependencyError, MissingWeightsError) as exc:
        pytest.skip(f"optional align extra not installed: {exc}")
    base, _, blend = pair
    r = toonify(base, [blend], photo, tmp_path / "out", detector=detector, method="fast", steps=1)
    entry = r.metrics["reconstruction"]
    assert "identity_note" not in r.metrics and "identity_distance" in entry
    assert entry["identity_distance"] is None and "no face found" in entry["identity_note"]
    assert "no face found" in r.metrics["toons"]["blend.safetensors"]["identity_note"]


def test_cli_method_encoder_needs_an_encoder_and_init_is_passed_on(tmp_path, pair, no_vgg, capsys):
    base, _, blend = pair
    photo = _photo(tmp_path, load_checkpoint(base))
    args = ["toonify", "--base", str(base), "--blend", str(blend), "--photo", str(photo), "--no-align"]
    assert main(args + ["--outdir", str(tmp_path / "e"), "--method", "encoder"]) == 1
    assert "--method 'encoder' needs an encoder file (--encoder;" in capsys.readouterr().err
    mean = toonify(base, [blend], photo, tmp_path / "m", align=False, method="fast", steps=1)
    rand = toonify(base, [blend], photo, tmp_path / "r", align=False, method="fast", steps=1, init="random")
    assert not torch.allclose(mean.ws, rand.ws)
