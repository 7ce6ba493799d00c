"""The photo panel with a feature head: the answer at once is W+ + the base's features (and renders exactly
as synthesize_from_features / blend_features say), the background job refines both, the page can turn the
head off (the pure W+ path), and a head that cannot be used is refused or explained."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from styleblend.errors import ArchitectureMismatchError, InvalidArgumentError, MissingWeightsError
from styleblend.io import load_checkpoint
from styleblend.media.images import from_uint8, to_uint8
from styleblend.nn.feature_space import blend_features, synthesize_from_features
from styleblend.project.encoder import encode
from styleblend.project.feature_encoder import FeatureHead, FeatureHeadConfig, encode_features, save_feature_head
from styleblend.ui.service import BlendSession, open_session, png_bytes

from .photos import mse, photo_png

BLOCK = 8


def write_head(path, base_path, block: int = BLOCK, seed: int = 3):
    """A head for the tiny base with a non-zero residual (so its features differ from G's own)."""
    G = load_checkpoint(base_path).generator("cpu")
    torch.manual_seed(seed)
    head = FeatureHead(FeatureHeadConfig.for_generator(G, block, width=16, depth=2))
    with torch.no_grad():
        head.out.weight.normal_(std=0.05)
    return save_feature_head(path, head)


@pytest.fixture(scope="module")
def head_path(pair_paths):
    return write_head(pair_paths[0].parent / "head.safetensors", pair_paths[0])


@pytest.fixture
def fs_session(pair_paths, encoder_path, head_path):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                     feature_head=head_path)
    yield s
    s.close()


ALPHAS = [0, 0.5, 1, 1]  # the tiny pair's four resolutions: blocks up to 8 px take some of the transfer


def test_the_answer_at_once_is_w_plus_and_features_and_renders_them(fs_session):
    info = fs_session.info()
    assert info["feature_head"] == "head.safetensors" and info["feature_block"] == BLOCK
    job = fs_session.start_embedding(photo_png(fs_session), steps=4)
    status = fs_session.job_status(job)
    assert status["has_result"] and status["info"]["latent"] == f"W+ + {BLOCK} px features"
    first = fs_session.jobs.result(job)
    assert first.stage == "encoder" and first.features is not None and first.feature_block == BLOCK
    G = fs_session._G["base"]
    img = from_uint8(first.target)
    with torch.no_grad():
        ws, feats = encode_features(fs_session.photo.encoder.encoder, fs_session.photo.feature_head.head, G, img)
    torch.testing.assert_close(first.ws, ws, rtol=0, atol=1e-5)
    torch.testing.assert_close(first.features, feats, rtol=0, atol=1e-5)
    _, shown = fs_session.toonify_result(job, alphas=ALPHAS)
    assert shown["latent"] == f"W+ + {BLOCK} px features" and shown["stage"] == "encoder"
    photo, recon, toon = fs_session.toonify_images(job, alphas=ALPHAS)
    B = fs_session._photo_blend(ALPHAS, None)
    with torch.no_grad():
        w, f = first.ws, first.features
        assert np.array_equal(recon, to_uint8(synthesize_from_features(G, w, f, BLOCK))[0])
        expected = to_uint8(synthesize_from_features(B, w, blend_features(G, B, w, f, BLOCK), BLOCK))[0]
        assert np.array_equal(toon, expected)
        assert not np.array_equal(recon, to_uint8(G.synthesis(w))[0])  # the features matter
    assert np.array_equal(photo, first.target)
    fs_session.cancel(job)
    fs_session.jobs.wait(job, 60)


def test_the_refinement_moves_w_plus_and_features_and_fits_better(fs_session):
    job = fs_session.start_embedding(photo_png(fs_session), steps=6)
    first = fs_session.jobs.result(job)
    start_cells = fs_session.toonify_images(job, alphas=ALPHAS)  # the page fetched it: refinement may start
    status = fs_session.jobs.wait(job, 120)
    assert status["state"] == "done" and status["done"] == 6
    refined = fs_session.jobs.result(job)
    assert refined.stage == "refined" and refined.features is not None and refined.feature_block == BLOCK
    assert not torch.equal(refined.features, first.features) and not torch.equal(refined.ws, first.ws)
    # The image loss (the job's own: pixel MSE + MS-SSIM here, or VGG-16 where installed) is lower.
    loss, _ = fs_session.photo._embed_loss()
    G = fs_session._G["base"]
    target = from_uint8(first.target)
    with torch.no_grad():
        before = float(loss(synthesize_from_features(G, first.ws, first.features, BLOCK), target)[0])
        after = float(loss(synthesize_from_features(G, refined.ws, refined.features, BLOCK), target)[0])
    assert after < before
    photo, recon, _ = fs_session.toonify_images(job, alphas=ALPHAS)
    assert mse(recon, photo) < mse(start_cells[1], photo)
    assert fs_session.toonify_result(job)[1]["latent"] == f"W+ + {BLOCK} px features"


def test_turning_the_head_off_gives_the_w_plus_path(fs_session):
    job = fs_session.start_embedding(photo_png(fs_session), steps=2, features=False)
    first = fs_session.jobs.result(job)
    assert first.features is None and fs_session.job_status(job)["info"]["latent"] == "W+"
    with torch.no_grad():
        expected = encode(fs_session.photo.encoder.encoder, fs_session._G["base"], from_uint8(first.target))
    torch.testing.assert_close(first.ws, expected, rtol=0, atol=1e-5)  # the encoder's own passes, no head
    assert fs_session.toonify_result(job)[1]["latent"] == "W+"
    assert fs_session.jobs.wait(job, 60)["state"] == "done"
    refined = fs_session.jobs.result(job)
    assert refined.features is None and refined.stage == "refined"
    photo, recon, toon = fs_session.toonify_images(job, alphas=ALPHAS)
    with torch.no_grad():
        assert np.array_equal(recon, to_uint8(fs_session._G["base"].synthesis(refined.ws))[0])


def test_a_head_that_cannot_be_used_is_refused_or_explained(pair_paths, encoder_path, head_path, tmp_path,
                                                            session):
    from ..conftest import tiny_checkpoint

    # Features asked for where there is no head (here: no encoder either).
    assert session.info()["feature_head"] is None and "encoder" in session.info()["feature_head_note"]
    with pytest.raises(InvalidArgumentError, match="features"):
        session.start_embedding(photo_png(session), steps=1, features=True)
    # An encoder given without a head: W+ only (the bundled head belongs to the bundled encoder).
    with BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path) as s:
        assert s.info()["feature_head"] is None and "--feature-head FILE" in s.info()["feature_head_note"]
    # A head without an encoder for the base.
    with pytest.raises(InvalidArgumentError, match="encoder"):
        BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), feature_head=head_path)
    # A head for a generator of another size.
    other = tmp_path / "other.safetensors"
    from styleblend.io import save_checkpoint

    big = save_checkpoint(tiny_checkpoint(seed=0, res=64), tmp_path / "big.safetensors")
    write_head(other, big, block=8)
    with pytest.raises(ArchitectureMismatchError, match="feature head"):
        BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                     feature_head=other)


def test_a_new_base_of_another_size_drops_the_head(fs_session, tmp_path):
    from styleblend.io import save_checkpoint

    from ..conftest import tiny_checkpoint

    assert fs_session.info()["feature_head"] == "head.safetensors"
    big = save_checkpoint(tiny_checkpoint(seed=0, res=64), tmp_path / "big.safetensors")
    info = fs_session.load_uploaded("base", big.read_bytes(), "big.safetensors")  # the 32 px transfer stays
    # The given encoder and head fit the 32 px base only: the new base gets neither, and the notes say so.
    assert info["encoder"] is None and info["feature_head"] is None and info["feature_head_note"]
    with pytest.raises(InvalidArgumentError, match="features"):
        fs_session.start_embedding(photo_png(fs_session), steps=1, features=True)


def test_over_http_the_latent_is_named_and_features_0_turns_the_head_off(pair_paths, encoder_path, head_path):
    from styleblend.ui.server import UIServer

    from .test_server import call

    session = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                           feature_head=head_path)
    srv = UIServer(session, "127.0.0.1", 0)
    thread = srv.start_thread()
    try:
        assert json.loads(call(srv, "/api/info")[3])["feature_head"] == "head.safetensors"
        photo = png_bytes(np.full((40, 50, 3), 90, np.uint8))
        for query, latent in (("", f"W+ + {BLOCK} px features"), ("&features=0", "W+")):
            status, _, _, body = call(srv, f"/api/embed?steps=0&filename=grey.png{query}", photo)
            reply = json.loads(body)
            assert status == 200 and reply["status"]["info"]["latent"] == latent
            status, _, headers, _ = call(srv, "/api/toonify", {"job": reply["job"]})
            assert status == 200 and headers["X-Embedding-Latent"] == latent
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)
        session.close()


def test_the_bundled_encoder_gets_the_bundled_head():
    from styleblend.models import BUNDLED_FEATURE_HEAD, bundled_feature_head_path

    try:
        s = open_session()
    except MissingWeightsError as exc:
        pytest.skip(str(exc))
    with s:
        info = s.info()
        if info["encoder"] is None or bundled_feature_head_path() is None:
            assert info["feature_head"] is None
            return
        assert info["feature_head"] == BUNDLED_FEATURE_HEAD and info["feature_block"] == 16
        assert "bundled" in info["feature_head_note"]
    with open_session(feature_head="bundled") as s:  # 'styleblend ui --feature-head bundled': the same file
        assert s.info()["feature_head"] == BUNDLED_FEATURE_HEAD
