"""BlendSession: previews, caching, editing, embedding jobs, downloads and hostile or mismatched uploads."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import styleblend.ui
from styleblend.blend import Table, blend_two
from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.errors import (
    ArchitectureMismatchError,
    CheckpointError,
    ImageError,
    InvalidArgumentError,
    UnsafeCheckpointError,
)
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.nn import Generator
from styleblend.ui.service import PAD, BlendSession, png_bytes

from ..conftest import tiny_checkpoint
from .conftest import hostile_pickles, perturbed, write_pair

R = 32  # the tiny models' resolution


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def file_bytes(ckpt: Checkpoint, tmp_path, name: str = "m.safetensors") -> bytes:
    return save_checkpoint(ckpt, tmp_path / name).read_bytes()


@pytest.fixture
def fresh(pair_paths):
    """A session of its own, for tests that replace models."""
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)
    yield s
    s.close()


# -- blending previews -------------------------------------------------------------------------


def test_all_zero_alphas_give_the_base_and_all_one_the_transfer(session):
    cells = session.preview_images([0, 0, 0, 0], "1,2", 0.7)
    assert cells.shape == (2, 3, R, R, 3) and cells.dtype == np.uint8
    np.testing.assert_array_equal(cells[:, 2], cells[:, 0])  # blend == base, bit for bit
    assert not np.array_equal(cells[:, 1], cells[:, 0])
    ones = session.preview_images([1, 1, 1, 1], "1,2", 0.7, mapping="transfer")
    np.testing.assert_array_equal(ones[:, 2], ones[:, 1])  # all from the transfer, mapping included


def test_preview_changes_with_alpha_and_is_a_grid_png(session):
    a = decode(session.preview([0, 0, 0, 0], "1,2,3", 0.7))
    b = decode(session.preview([1, 0, 0, 0], "1,2,3", 0.7))
    assert a.shape == (3 * R + 2 * PAD, 3 * R + 2 * PAD, 3)
    blend_col = np.s_[:, 2 * (R + PAD):]
    assert not np.array_equal(a[blend_col], b[blend_col])  # the blend column moved...
    np.testing.assert_array_equal(a[:, :2 * R + PAD], b[:, :2 * R + PAD])  # ...base and transfer did not


def test_preview_matches_the_library_blend(session):
    alphas = [1.0, 0.5, 0.25, 0.0]
    cells = session.preview_images(alphas, [4], 1.0, mapping="base")
    state = blend_two(session._base.g_ema, session._transfer.g_ema, Table({4: 1.0, 8: 0.5, 16: 0.25, 32: 0.0}),
                      session._base.g_config)
    G = Generator(session._base.g_config).eval()
    G.load_state_dict(state)
    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8
    from styleblend.render import render_ws

    np.testing.assert_array_equal(cells[0, 2], to_uint8(render_ws(G, seeds_to_ws(G, [4], 1.0)))[0])


def test_repeated_previews_are_cached(session):
    alphas = [0.3, 0.6, 0.1, 0.9]
    first = session.preview(alphas, "5,6", 0.5)
    hits = dict(session.stats)
    again = session.preview([a + 1e-6 for a in alphas], "5,6", 0.5)  # jitter below the 4th decimal
    assert again is first and session.stats["png_hits"] == hits["png_hits"] + 1
    # Back to a blend seen before, with new seeds: re-rendered, but the blended state dict is re-used.
    session.mix(1, 2, "0-3", alphas=[0.01, 0.02, 0.03, 0.04])
    session.mix(1, 2, "0-3", alphas=alphas)
    session.mix(1, 2, "0-3", alphas=[0.01, 0.02, 0.03, 0.04])
    assert session.stats["blend_hits"] == hits["blend_hits"] + 1
    assert session.stats["blend_misses"] == hits["blend_misses"] + 2  # both blends were new, the third a revisit


def test_a_slider_move_renders_only_the_blocks_from_its_resolution_up(session):
    seeds, psi = "2,9", 0.6
    session.preview([0.0, 0.0, 0.0, 0.0], seeds, psi)
    blocks = session.stats["live_blocks"]
    # Seeds render one by one (the first one's image need not wait for the others): counts are per seed.
    moved = session.preview_images([0.0, 0.0, 0.0, 0.7], seeds, psi)  # the 32 px slider: the last block
    assert session.stats["live_blocks"] == blocks + 2 * 1
    session.preview_images([0.0, 0.4, 0.0, 0.7], seeds, psi)  # the 8 px slider: blocks 8, 16 and 32
    assert session.stats["live_blocks"] == blocks + 2 * 4
    # Still exactly the blended generator's images.
    state = blend_two(session._base.g_ema, session._transfer.g_ema, Table({4: 0.0, 8: 0.0, 16: 0.0, 32: 0.7}),
                      session._base.g_config)
    G = Generator(session._base.g_config).eval()
    G.load_state_dict(state)
    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8
    from styleblend.render import render_ws

    np.testing.assert_array_equal(moved[:, 2], to_uint8(render_ws(G, seeds_to_ws(G, [2, 9], psi), batch_size=1)))


def test_blend_cache_respects_its_memory_budget(pair_paths):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), cache_mb=0.2)
    try:
        for i in range(6):
            s.mix(1, 2, "0-3", alphas=[0.1 * i, 0.5, 0.5, 0.5])
        assert 1 <= len(s._states) < 6
        s.preview([0.5, 0.5, 0.5, 0.5], "1", 0.7)
        assert s.info()["alphas"] == [0.5, 0.5, 0.5, 0.5]  # the last preview became the current blend
    finally:
        s.close()


def test_preset_defaults_are_defined_once_and_given_to_the_page(session):
    defaults = session.info()["presets"]
    assert defaults == {"swap": {"res": 16}, "linear": {"from_res": 8, "to_res": 16},
                        "sigmoid": {"centre": 16, "width": 1.0}}  # resolutions 4, 8, 16, 32
    for kind, kwargs in defaults.items():
        assert session.preset(kind) == session.preset(kind, **kwargs)  # what the page shows is what it gets
    static = (Path(styleblend.ui.__file__).parent / "static")
    page = (static / "app.js").read_text() + (static / "index.html").read_text()
    assert "res.length / 2" not in page and 'value="1" min="0.1"' not in page  # no second copy of them


def test_presets_follow_the_library_schedules(session):
    assert session.preset("swap", res=8) == [1.0, 1.0, 0.0, 0.0]
    assert session.preset("swap", res=8, flip=True) == [0.0, 0.0, 1.0, 1.0]
    assert session.preset("linear", from_res=4, to_res=16) == [1.0, 0.5, 0.0, 0.0]
    sig = session.preset("sigmoid", centre=8, width=1)
    assert sig[1] == 0.5 and sig[0] > 0.5 > sig[2]
    assert session.schedule([1, 1, 0, 0]).spec() == "table:4:1,8:1,16:0,32:0"
    with pytest.raises(InvalidArgumentError, match="exceeds the model's 32"):
        session.preset("swap", res=64)
    with pytest.raises(InvalidArgumentError, match="preset"):
        session.preset("cubic")


@pytest.mark.parametrize("kwargs, match", [
    (dict(alphas=[0, 0, 0]), "one alpha each"),
    (dict(alphas=[0, 0, 0, 1.5]), r"must be in \[0, 1\]"),
    (dict(alphas=[0, 0, 0, "x"]), "not a number"),
    (dict(seeds="1-20"), "at most 8"),
    (dict(seeds="a"), "not a list"),
    (dict(psi=5), "truncation psi"),
    (dict(mapping="median"), "mapping"),
])
def test_bad_preview_arguments_raise_clear_errors(session, kwargs, match):
    args = dict(alphas=[0, 0, 0, 0], seeds="1", psi=0.7, mapping="base")
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=match):
        session.preview(**args)


def test_lower_resolution_transfer_is_enlarged(tmp_path):
    base = tiny_checkpoint(seed=0, res=32)
    low = tiny_checkpoint(seed=3, res=16)  # same channels up to 16 px: gives the low blocks only
    with BlendSession(base, low) as s:
        assert s.info()["transfer_resolution"] == 16
        cells = s.preview_images([1, 1, 1, 1], "1", 0.7)
        assert cells.shape == (1, 3, 32, 32, 3)
        np.testing.assert_array_equal(cells[0, 1, ::2, ::2], cells[0, 1, 1::2, 1::2])  # pixel-repeated


# -- editing -----------------------------------------------------------------------------------


def test_style_mixing_shapes_and_layers(session):
    a, b, mixed = session.mix_images(1, 2, "0-3", model="base")
    assert a.shape == (R, R, 3)
    assert not np.array_equal(mixed, a) and not np.array_equal(mixed, b)
    _, _, all_b = session.mix_images(1, 2, list(range(session.info()["num_ws"])), model="base")
    np.testing.assert_array_equal(all_b, b)  # every layer from B is B
    assert decode(session.mix(1, 2, "0-3")).shape == (R, 3 * R + 2 * PAD, 3)
    with pytest.raises(InvalidArgumentError, match="W\\+ range 0-7"):
        session.mix(1, 2, "0-9")
    with pytest.raises(InvalidArgumentError, match="model"):
        session.mix(1, 2, "0-3", model="teacher")


def test_morph_shapes_and_endpoints(session):
    frames = session.morph_images(1, 2, steps=5, model="transfer")
    assert frames.shape == (5, R, R, 3)
    a, b, _ = session.mix_images(1, 2, "0", model="transfer")
    np.testing.assert_array_equal(frames[0], a)
    np.testing.assert_array_equal(frames[-1], b)
    assert decode(session.morph(1, 2, 4)).shape == (R, 4 * R + 3 * PAD, 3)
    with pytest.raises(InvalidArgumentError, match="morph steps"):
        session.morph(1, 2, 40)


# -- embedding jobs ----------------------------------------------------------------------------


def _photo(session) -> bytes:
    """A PNG the base can nearly reproduce: one of its own images."""
    return png_bytes(session.mix_images(9, 9, "0", model="base")[0])


def test_embedding_reports_progress_and_toonifies(session):
    job = session.start_embedding(_photo(session), steps=4)
    status = session.jobs.wait(job, timeout=60)
    assert status["state"] == "done" and status["done"] == status["total"] == 4
    assert status["info"]["loss"] is not None
    assert "pixel MSE" in status["info"]["warning"]  # no VGG weights here: the visible fallback
    photo, recon, toon = session.toonify_images(job, alphas=[0, 0, 0, 0])
    np.testing.assert_array_equal(recon, toon)  # α = 0: the blend is the base
    assert photo.shape == (R, R, 3)
    _, _, toon1 = session.toonify_images(job, alphas=[1, 1, 0, 0])
    assert not np.array_equal(toon1, toon)
    assert decode(session.toonify(job)).shape == (R, 3 * R + 2 * PAD, 3)


def _wait_steps(session, job, steps: int) -> None:
    deadline = time.monotonic() + 60
    while session.job_status(job)["done"] < steps:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_embedding_can_be_cancelled_and_keeps_its_partial_result(session):
    job = session.start_embedding(_photo(session), steps=5000)
    _wait_steps(session, job, 2)
    session.cancel(job)
    status = session.jobs.wait(job, timeout=30)
    assert status["state"] == "cancelled" and 2 <= status["done"] < 5000
    assert session.toonify_images(job).shape == (3, R, R, 3)


def test_a_new_photo_cancels_the_running_embedding(session):
    old = session.start_embedding(_photo(session), steps=5000)
    _wait_steps(session, old, 1)
    new = session.start_embedding(_photo(session), steps=3)  # no "still running" error: the old one is stale
    assert session.jobs.wait(old, 30)["state"] == "cancelled"
    status = session.jobs.wait(new, 60)
    assert status["state"] == "done" and status["done"] == 3 and status["info"]["stage"] == "optimised"
    assert session.jobs.result(new).stage == "optimised"


def test_new_models_cancel_the_embedding_and_say_why_and_info_finds_the_job(fresh, tmp_path):
    assert fresh.info()["embed_job"] is None
    job = fresh.start_embedding(_photo(fresh), steps=5000)
    _wait_steps(fresh, job, 1)
    assert fresh.info()["embed_job"]["id"] == job  # a reloaded page finds it
    new = perturbed(fresh._base, scale=1.0, seed=7)
    shown = fresh.load_uploaded("transfer", file_bytes(new, tmp_path))["embed_job"]
    assert shown["id"] == job and shown["stopped_because"].startswith("the models changed")
    assert shown["stopping"] or shown["state"] == "cancelled"
    assert fresh.jobs.wait(job, 30)["state"] == "cancelled"
    with pytest.raises(InvalidArgumentError, match="models changed"):
        fresh.toonify(job)
    # Nothing keeps the next photo from starting.
    assert fresh.jobs.wait(fresh.start_embedding(_photo(fresh), steps=2), 60)["state"] == "done"


def test_a_refused_pair_leaves_no_temp_folder(pair_paths, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    small = tiny_checkpoint(seed=5, res=16)
    with pytest.raises(ArchitectureMismatchError):
        BlendSession(Checkpoint(g_config=small.g_config, g_ema=small.g_ema), load_checkpoint(pair_paths[1]))
    assert not list(tmp_path.glob("styleblend-ui-*"))


class FakeDetector:
    """Finds one 'face' whose eyes and mouth corners sit at fixed pixels (no dlib needed)."""

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        from styleblend.align.landmarks import Face

        self.calls += 1
        lm = np.zeros((68, 2))
        lm[36:42], lm[42:48] = [40, 50], [80, 50]  # eye centres
        lm[48], lm[54] = [45, 90], [75, 90]  # mouth corners
        return [Face(landmarks=lm, box=(20, 20, 100, 110))]


def test_aligned_embedding_uses_the_face_crop(pair_paths):
    detector = FakeDetector()
    with BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]),
                      face_detector=detector) as s:
        photo = np.zeros((128, 128, 3), np.uint8)
        photo[:, 64:] = 255  # left half black, right half white: a centre crop keeps both halves
        job = s.start_embedding(png_bytes(photo), steps=1, align=True)
        assert detector.calls == 1
        assert s.jobs.wait(job, 60)["state"] == "done"
        target = s.jobs.result(job).target
        assert target.shape == (R, R, 3)
        plain = s.start_embedding(png_bytes(photo), steps=1)
        s.jobs.wait(plain, 60)
        assert not np.array_equal(s.jobs.result(plain).target, target)


def test_bad_photos_fail_at_once(session):
    with pytest.raises(ImageError, match="not an image"):
        session.start_embedding(b"this is text, not a photo", filename="notes.txt")
    with pytest.raises(InvalidArgumentError, match="empty"):
        session.start_embedding(b"")
    with pytest.raises(InvalidArgumentError, match="steps"):
        session.start_embedding(_photo(session), steps=0)
    with pytest.raises(InvalidArgumentError, match="no job"):
        session.toonify("embed-999")


# -- downloads ---------------------------------------------------------------------------------


def test_download_is_the_blend_in_the_base_format(session, tmp_path):
    data, name = session.download_blend([1, 0.5, 0, 0], "base")
    assert name == "base-blend.safetensors"
    path = tmp_path / name
    path.write_bytes(data)
    got = load_checkpoint(path)
    want = blend_two(session._base.g_ema, session._transfer.g_ema, Table({4: 1, 8: 0.5, 16: 0, 32: 0}),
                     session._base.g_config)
    assert got.g_config == session._base.g_config
    for key, value in want.items():
        assert torch.equal(got.g_ema[key], value), key


def test_download_keeps_an_nvidia_base_an_nvidia_pickle(nvidia_g64, tmp_path):
    base = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    with BlendSession(base, perturbed(base)) as s:
        data, name = s.download_blend()
    assert name == "network-snapshot-blend.pkl"
    (tmp_path / name).write_bytes(data)
    got = load_checkpoint(tmp_path / name)
    assert got.format == "nvidia-pkl" and got.g_config == base.g_config


# -- uploads -----------------------------------------------------------------------------------


def test_uploaded_transfer_replaces_the_old_one(fresh, tmp_path):
    before = fresh.preview_images([1, 1, 1, 1], "1", 0.7)
    new = perturbed(fresh._base, scale=1.0, seed=7)
    info = fresh.load_uploaded("transfer", file_bytes(new, tmp_path), "my transfer.safetensors")
    assert info["transfer"] == "my_transfer.safetensors (native)" and info["warning"] is None
    after = fresh.preview_images([1, 1, 1, 1], "1", 0.7)
    assert not np.array_equal(before[:, 1], after[:, 1])


@pytest.mark.parametrize("variant, error", [("plain", CheckpointError), ("nvidia", UnsafeCheckpointError)])
def test_hostile_pickles_are_refused_without_running(fresh, tmp_path, variant, error):
    marker = tmp_path / "pwned"
    data = hostile_pickles(marker)[variant]
    before = fresh.info()
    with pytest.raises(error):
        fresh.load_uploaded("base", data, "network-snapshot.pkl")
    with pytest.raises(error):
        fresh.load_uploaded("transfer", data, "network-snapshot.pkl")
    assert not marker.exists()
    assert fresh.info() == before  # nothing replaced, still working
    fresh.preview([0.5] * 4, "1", 0.7)
    assert not list(fresh.workdir.glob("upload-*"))  # refused uploads are not kept


def test_not_a_checkpoint_and_empty_uploads(fresh):
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        fresh.load_uploaded("base", b"hello world, definitely not weights", "x.bin")
    with pytest.raises(CheckpointError, match="empty"):
        fresh.load_uploaded("transfer", b"")
    with pytest.raises(InvalidArgumentError, match="upload kind"):
        fresh.load_uploaded("discriminator", b"x")


def _other_architecture() -> Checkpoint:
    cfg = GeneratorConfig(z_dim=32, w_dim=32, img_resolution=32, mapping=MappingConfig(num_layers=2),
                          synthesis=SynthesisConfig(channel_base=512, channel_max=16))
    return Checkpoint(g_config=cfg, g_ema=Generator(cfg).state_dict())


def test_mismatched_transfer_is_refused_and_the_old_one_kept(fresh, tmp_path):
    before = fresh.info()
    with pytest.raises(ArchitectureMismatchError, match="same architecture"):
        fresh.load_uploaded("transfer", file_bytes(_other_architecture(), tmp_path))
    assert fresh.info() == before
    fresh.preview([0.5] * 4, "1", 0.7)


def test_mismatched_base_blocks_blending_until_a_matching_transfer_arrives(fresh, tmp_path):
    other = _other_architecture()
    info = fresh.load_uploaded("base", file_bytes(other, tmp_path, "other.safetensors"))
    assert "same architecture" in info["warning"] and info["pair_error"] == info["warning"]
    with pytest.raises(ArchitectureMismatchError, match="upload a transfer"):
        fresh.preview([0.5] * 4, "1", 0.7)
    info = fresh.load_uploaded("transfer", file_bytes(perturbed(other), tmp_path, "other-t.safetensors"))
    assert info["pair_error"] is None
    fresh.preview([0.5] * 4, "1", 0.7)


def test_conditional_models_are_refused(fresh, tmp_path):
    cond = tiny_checkpoint(c_dim=3)
    with pytest.raises(InvalidArgumentError, match="class-conditional"):
        fresh.load_uploaded("transfer", file_bytes(cond, tmp_path))


def test_write_pair_helper_round_trips(tmp_path):
    base, transfer = write_pair(tmp_path)
    assert load_checkpoint(base).g_config == load_checkpoint(transfer).g_config
