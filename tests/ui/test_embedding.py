"""The photo panel's encoder path: the encoder's latent at once, refined in the background, stale jobs
cancelled, the encoder chosen per base (given, bundled, or none with the reason)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from styleblend.errors import ArchitectureMismatchError, MissingWeightsError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.media.images import from_uint8
from styleblend.project.encoder import encode
from styleblend.ui.embedding import DEFAULT_REFINE_STEPS, HOLD_SECONDS
from styleblend.ui.service import BlendSession, open_session

from ..conftest import tiny_checkpoint
from .conftest import perturbed, write_encoder
from .photos import mse, photo_png


@pytest.fixture
def enc_session(pair_paths, encoder_path):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                     embed_steps=3)
    yield s
    s.close()


def test_the_encoder_latent_is_the_result_at_once_and_refinement_replaces_it(enc_session):
    info = enc_session.info()
    assert info["encoder"] == "encoder.safetensors" and info["refine_steps"] == DEFAULT_REFINE_STEPS
    job = enc_session.start_embedding(photo_png(enc_session), steps=5)
    status = enc_session.job_status(job)
    # Before any refinement step (it waits until the page has fetched this result), the job has a result.
    assert status["state"] == "running" and status["has_result"] and status["done"] == 0
    assert status["info"]["stage"] == "encoder" and status["info"]["encoder_ms"] >= 0
    first = enc_session.jobs.result(job)
    assert first.stage == "encoder" and first.steps_done == 0
    with torch.no_grad():
        expected = encode(enc_session.photo.encoder.encoder, enc_session._G["base"], from_uint8(first.target))
    # The encoder's prediction (for the float target, which ``target`` shows rounded to uint8).
    torch.testing.assert_close(first.ws, expected, rtol=0, atol=1e-5)
    png, shown = enc_session.toonify_result(job)
    assert shown == {"stage": "encoder", "steps": 0, "cancelled": False, "latent": "W+"} and png[:4] == b"\x89PNG"
    encoder_cells = enc_session.toonify_images(job, alphas=[0, 0, 0, 0])

    status = enc_session.jobs.wait(job, 60)
    assert status["state"] == "done" and status["done"] == 5
    refined = enc_session.jobs.result(job)
    assert refined.stage == "refined" and refined.steps_done == 5 and np.isfinite(refined.final_loss)
    assert not torch.equal(refined.ws, first.ws)
    assert enc_session.toonify_result(job)[1] == {"stage": "refined", "steps": 5, "cancelled": False, "latent": "W+"}
    photo, recon, _ = enc_session.toonify_images(job, alphas=[0, 0, 0, 0])
    assert mse(recon, photo) < mse(encoder_cells[1], photo)  # the refinement fits the photo better


def test_an_iterative_encoder_renders_through_the_base(pair_paths, tmp_path):
    from styleblend.project.encoder import load_encoder

    path = write_encoder(tmp_path / "iterative.safetensors", pair_paths[0], iterations=3)
    with BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=path) as s:
        job = s.start_embedding(photo_png(s), steps=0)
        first = s.jobs.result(job)
        E, G = load_encoder(path), s._G["base"]
        img = from_uint8(first.target)
        with torch.no_grad():
            three, one = encode(E, G, img), encode(E, G, img, iterations=1)
        torch.testing.assert_close(first.ws, three, rtol=0, atol=1e-5)
        assert not torch.allclose(first.ws, one, atol=1e-3)  # three passes, not one


def test_refinement_starts_without_the_page_after_a_while(enc_session):
    job = enc_session.start_embedding(photo_png(enc_session), steps=2)
    t0 = time.monotonic()
    status = enc_session.jobs.wait(job, 60)  # nobody fetches the encoder's result: it starts anyway
    assert status["state"] == "done" and time.monotonic() - t0 >= HOLD_SECONDS * 0.9
    assert enc_session.jobs.result(job).stage == "refined"


def test_zero_steps_keep_the_encoder_latent(enc_session):
    job = enc_session.start_embedding(photo_png(enc_session), steps=0)
    status = enc_session.jobs.wait(job, 30)
    assert status["state"] == "done" and status["info"]["method"] == "encoder"
    assert enc_session.jobs.result(job).stage == "encoder"


def test_a_new_photo_or_new_models_cancel_the_stale_refinement(enc_session, pair_paths, tmp_path):
    old = enc_session.start_embedding(photo_png(enc_session), steps=5000)
    enc_session.toonify(old)  # shown: the refinement starts
    while enc_session.job_status(old)["done"] < 1:
        time.sleep(0.01)
    new = enc_session.start_embedding(photo_png(enc_session, seed=4), steps=5000)
    assert enc_session.job_status(new)["has_result"]  # the new encoder latent, at once
    assert enc_session.jobs.wait(old, 30)["state"] == "cancelled"
    assert enc_session.jobs.result(old).stage == "refined"  # the stale job's partial latent, still readable
    enc_session.toonify(new)
    while enc_session.job_status(new)["done"] < 1:
        time.sleep(0.01)
    # A new base of the same architecture: the job is cancelled; the given encoder still fits (same latent
    # shape) and the note says it was trained for another file.
    other = perturbed(load_checkpoint(pair_paths[0]), scale=0.1, seed=3)
    data = save_checkpoint(other, tmp_path / "other.safetensors").read_bytes()
    info = enc_session.load_uploaded("base", data, "other.safetensors")
    assert enc_session.jobs.wait(new, 30)["state"] == "cancelled"
    assert info["encoder"] == "encoder.safetensors" and "trained for another network file" in info["encoder_note"]
    with pytest.raises(Exception, match="models changed"):
        enc_session.toonify(new)


def test_an_encoder_that_does_not_fit_is_refused_or_falls_back(pair_paths, encoder_path, tmp_path):
    small = tiny_checkpoint(seed=2, res=16)
    small_path = save_checkpoint(Checkpoint(g_config=small.g_config, g_ema=small.g_ema), tmp_path / "s.safetensors")
    # Given at the start for a base it does not fit: one clear error.
    with pytest.raises(ArchitectureMismatchError, match="encoder.safetensors.*train an encoder"):
        BlendSession(load_checkpoint(small_path), load_checkpoint(small_path), encoder=encoder_path)
    # A base uploaded later that it does not fit: photos are embedded by optimisation, and the page says why.
    with BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                      embed_steps=2) as s:
        info = s.load_uploaded("base", small_path.read_bytes(), "s.safetensors")
        assert info["encoder"] is None and "embedding by optimisation" in info["encoder_note"]
        job = s.start_embedding(photo_png(s), steps=2)
        assert not s.job_status(job)["has_result"]
        assert s.jobs.wait(job, 60)["state"] == "done" and s.jobs.result(job).stage == "optimised"


def test_without_an_encoder_the_note_says_how_to_get_one(session):
    info = session.info()
    assert info["encoder"] is None and "styleblend encoder train" in info["encoder_note"]


def test_the_bundled_base_gets_the_bundled_encoder():
    from styleblend.models import BUNDLED_ENCODER, bundled_encoder_path

    try:
        s = open_session()
    except MissingWeightsError as exc:
        pytest.skip(str(exc))
    with s:
        if bundled_encoder_path() is None:
            assert s.info()["encoder"] is None
            return
        assert s.info()["encoder"] == BUNDLED_ENCODER and "bundled" in s.info()["encoder_note"]
        # The transfer is not the bundled base: as a base it gets no encoder.
        from styleblend.models import bundled_path

        info = s.load_uploaded("base", bundled_path("transfer").read_bytes(), "twemoji.safetensors")
        assert info["encoder"] is None and "no encoder for this base" in info["encoder_note"]


def test_before_its_first_step_a_job_says_what_it_is_doing(session):
    """Loading the loss and preparing the projector take a while before step 1: the status has a 'phase' then,
    and none once steps run."""
    import threading

    from styleblend.ui.embedding import PHASES, embedding_work
    from styleblend.ui.jobs import JobRunner

    release = threading.Event()
    real = session.photo._embed_loss

    def slow_loss():
        release.wait(30)
        return real()

    G = session.photo._job_generator()
    target = from_uint8(session.mix_images(4, 4, "0", model="base")[0])
    runner = JobRunner()
    phases = []
    job = runner.start("embed", embedding_work(G, target, 2, 0, slow_loss, 0), total=2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not phases:
            phases = [runner.status(job)["info"].get("phase")] if runner.status(job)["info"].get("phase") else []
            time.sleep(0.01)
        assert phases == [PHASES["loss"]] and runner.status(job)["done"] == 0
    finally:
        release.set()
    status = runner.wait(job, 60)
    assert status["state"] == "done" and status["done"] == 2 and status["info"]["phase"] is None
