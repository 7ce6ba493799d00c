"""Progressive previews (a low-resolution stage first, then full-resolution rows) and server-side cancellation of
superseded previews (ui/progressive.py through BlendSession.preview_result)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from styleblend.blend.core import blend_two
from styleblend.blend.live import LiveBlend
from styleblend.blend.schedules import Table
from styleblend.errors import InvalidArgumentError
from styleblend.io import load_checkpoint
from styleblend.io.checkpoint import load_state_dict_strict
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn import Generator
from styleblend.ui.progressive import PreviewSuperseded, low_resolution
from styleblend.ui.server import UIServer
from styleblend.ui.service import BlendSession

from .test_service import R, decode

PAD = 2


@pytest.fixture
def low_session(pair_paths):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), low_preview=8)
    yield s
    s.close()


def blend_cell(png: bytes, row: int, size: int = R, col: int = 2) -> np.ndarray:
    image = decode(png)
    top, left = row * (size + PAD), col * (size + PAD)
    return image[top:top + size, left:left + size]


def reference(session: BlendSession, alphas, seed: int, psi: float, stop: int | None = None) -> np.ndarray:
    """The blend of ``seed`` by the blended generator (stop: its skip image at that block, pixel-enlarged)."""
    res = session.resolutions
    if stop is None:
        state = blend_two(session._base.g_ema, session._transfer.g_ema, Table(tuple(zip(res, alphas))),
                          session._base.g_config)
        G = Generator(session._base.g_config).eval()
        load_state_dict_strict(G, state, what="reference")
        with torch.no_grad():
            return to_uint8(G.synthesis(seeds_to_ws(G, [seed], psi), noise_mode="const"))[0]
    live = LiveBlend(session._base.g_ema, session._transfer.g_ema, session._base.g_config)
    image = live.render("r", live.latents([seed], psi), alphas, stop_resolution=stop).image
    return enlarged(to_uint8(image)[0], R // stop)


def enlarged(image: np.ndarray, factor: int) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def test_the_low_stage_resolution_rules():
    assert low_resolution([4, 8, 16, 32, 64, 128, 256, 512, 1024], "skip") == 64
    assert low_resolution([4, 8, 16, 32, 64, 128, 256], "skip") == 64
    assert low_resolution([4, 8, 16, 32, 64], "skip") is None  # small models: the full render is fast
    assert low_resolution([4, 8, 16, 32], "resnet", 8) is None  # no image before the last block
    assert low_resolution([4, 8, 16, 32], "skip", 0) is None
    with pytest.raises(InvalidArgumentError, match="block resolutions below the output"):
        low_resolution([4, 8, 16, 32], "skip", 32)


def test_stages_show_the_low_resolution_image_first_then_full_rows_continuing_the_same_blocks(low_session):
    s, alphas, psi = low_session, [0.2, 0.9, 0.4, 0.6], 0.7
    base = s.preview_images([0.0] * 4, "1", psi)[0, 0].astype(np.float32)  # (its α differs from the 4 px block on)
    png, meta = s.preview_result(alphas, "1,2,3", psi, full_rows=0)
    assert meta == {"stage": "low", "final": False, "full_rows": 0, "rows": 3, "low_resolution": 8, "blocks": 2,
                    "scale": 4, "width": 3 * R + 2 * PAD}
    # The first answer is the whole grid at 8 px: the blend's 8 px image, the base and transfer shrunk.
    assert decode(png).shape == (3 * 8 + 2 * PAD, 3 * 8 + 2 * PAD, 3)
    np.testing.assert_array_equal(enlarged(blend_cell(png, 0, 8), 4), reference(s, alphas, 1, psi, stop=8))
    assert (blend_cell(png, 1, 8) == 230).all() and (blend_cell(png, 2, 8) == 230).all()  # their turn comes later
    np.testing.assert_array_equal(blend_cell(png, 0, 8, col=0), np.rint(base.reshape(8, 4, 8, 4, 3).mean((1, 3))))

    png, meta = s.preview_result(alphas, "1,2,3", psi, full_rows=1)
    # seed 1 continues at 16 px (2 blocks), seed 2 runs up to its low stage (2 blocks)
    assert meta["stage"] == "low" and meta["full_rows"] == 1 and meta["blocks"] == 4
    np.testing.assert_array_equal(blend_cell(png, 0), reference(s, alphas, 1, psi))
    np.testing.assert_array_equal(blend_cell(png, 1), reference(s, alphas, 2, psi, stop=8))

    png, meta = s.preview_result(alphas, "1,2,3", psi, full_rows=3)
    assert meta["stage"] == "full" and meta["final"] and meta["blocks"] == 2 + 4  # seed 2 continues, seed 3 whole
    for row, seed in enumerate((1, 2, 3)):
        np.testing.assert_array_equal(blend_cell(png, row), reference(s, alphas, seed, psi))
    assert png == s.preview(alphas, "1,2,3", psi)  # the final grid is the plain preview (and now cached)


def test_a_move_of_a_high_slider_shows_every_row_at_the_low_stage_for_free(low_session):
    s, psi = low_session, 0.7
    s.preview_result([0.0] * 4, "1,2", psi)
    _, meta = s.preview_result([0.0, 0.0, 0.0, 1.0], "1,2", psi, full_rows=0)
    # The 32 px slider leaves the 8 px images as they were: both rows show them, no block runs.
    assert meta["blocks"] == 0


def test_models_without_a_low_stage_render_in_full(session):
    png, meta = session.preview_result([0.5] * 4, "1,2", 0.7, full_rows=0)
    assert meta["stage"] == "full" and meta["final"] and meta["low_resolution"] is None
    np.testing.assert_array_equal(blend_cell(png, 1), reference(session, [0.5] * 4, 2, 0.7))


def test_a_newer_request_stops_the_render_it_supersedes_between_two_blocks(session):
    """Request 1 renders seed 5 from the first block; while it is inside the 16 px block, request 2 of the same
    stream arrives (and waits for the lock). Request 1 must not run the 32 px block: it stops, and request 2
    renders its own blend at once."""
    s, psi = session, 0.7
    s.preview_result([0.0] * 4, "5", psi)  # makes the live renderer
    live = s._lives["base"]
    b16, b32 = live._blocks[2], live._blocks[3]
    inside, release, calls = threading.Event(), threading.Event(), {"b32": 0}
    blocking = {"on": True}

    def hold(module, args):
        if blocking["on"]:
            blocking["on"] = False
            inside.set()
            assert release.wait(30)

    def count(module, args):
        calls["b32"] += 1

    hooks = [b16.register_forward_pre_hook(hold), b32.register_forward_pre_hook(count)]
    outcome: dict[str, object] = {}

    def first():
        try:
            outcome["first"] = s.preview_result([0.3, 0.0, 0.0, 0.0], "5", psi, stream="tab", seq=1)
        except PreviewSuperseded as exc:
            outcome["first"] = exc

    try:
        stopped = s._gate.stopped
        t1 = threading.Thread(target=first)
        t1.start()
        assert inside.wait(30)
        second: dict[str, object] = {}
        t2 = threading.Thread(target=lambda: second.update(r=s.preview_result([0.0, 0.0, 0.6, 0.0], "5", psi,
                                                                              stream="tab", seq=2)))
        t2.start()
        for _ in range(3000):  # request 2 is registered before it waits for the lock
            if s._gate._latest.get("tab") == 2:
                break
            threading.Event().wait(0.01)
        assert calls["b32"] == 0
        release.set()
        t1.join(30)
        t2.join(30)
    finally:
        release.set()
        for h in hooks:
            h.remove()
    assert isinstance(outcome["first"], PreviewSuperseded)
    assert s._gate.stopped == stopped + 1
    png, meta = second["r"]
    # Only request 2 ran the last block; its image is its own blend's.
    assert calls["b32"] == 1 and meta["final"]
    np.testing.assert_array_equal(blend_cell(png, 0), reference(s, [0.0, 0.0, 0.6, 0.0], 5, psi))


def test_an_older_request_of_a_stream_is_superseded_at_once_and_other_streams_are_not(session):
    session.preview_result([0.1] * 4, "1", 0.7, stream="a", seq=5)
    with pytest.raises(PreviewSuperseded):
        session.preview_result([0.2] * 4, "1", 0.7, stream="a", seq=4)
    session.preview_result([0.2] * 4, "1", 0.7, stream="b", seq=1)  # another tab
    session.preview_result([0.2] * 4, "1", 0.7)  # no stream: never superseded
    with pytest.raises(InvalidArgumentError, match="needs its number"):
        session.preview_result([0.2] * 4, "1", 0.7, stream="a")
    with pytest.raises(InvalidArgumentError, match="full rows"):
        session.preview_result([0.2] * 4, "1", 0.7, full_rows=99)


def test_the_server_answers_409_to_a_superseded_preview_and_sends_the_stage(pair_paths):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), low_preview=16)
    srv = UIServer(s, "127.0.0.1", 0)
    thread = srv.start_thread()

    def post(body):
        req = urllib.request.Request(srv.url + "api/preview", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        return urllib.request.urlopen(req, timeout=60)

    try:
        with post({"alphas": [0.5] * 4, "seeds": "1,2", "psi": 0.7, "full_rows": 0, "stream": "t", "seq": 3}) as res:
            assert res.headers["X-Preview-Stage"] == "low" and res.headers["X-Preview-Low-Resolution"] == "16"
            assert res.headers["X-Preview-Full-Rows"] == "0" and res.headers["X-Preview-Rows"] == "2"
            assert res.headers["X-Preview-Scale"] == "2" and res.headers["X-Preview-Width"] == str(3 * R + 2 * PAD)
        with pytest.raises(urllib.error.HTTPError) as err:
            post({"alphas": [0.5] * 4, "seeds": "1,2", "psi": 0.7, "stream": "t", "seq": 2})
        assert err.value.code == 409 and json.loads(err.value.read())["superseded"] is True
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)
        s.close()


# -- the seed browser ------------------------------------------------------------------------------


def test_a_seed_page_shows_the_bases_images_of_its_seeds(session):
    png, meta = session.seed_page(40, 0.7)
    assert meta == {"seeds": list(range(40, 56)), "columns": 4, "thumb": R}
    grid = decode(png)
    assert grid.shape == (4 * R + 3 * PAD, 4 * R + 3 * PAD, 3)
    base = session.preview_images([0.0] * 4, "45,50", 0.7)[:, 0]  # the base column of a preview
    for seed, image in zip((45, 50), base):
        r, c = divmod(seed - 40, 4)
        np.testing.assert_array_equal(grid[r * (R + PAD):r * (R + PAD) + R, c * (R + PAD):c * (R + PAD) + R], image)
    with pytest.raises(InvalidArgumentError, match="first seed"):
        session.seed_page(-1)
    with pytest.raises(InvalidArgumentError, match="page size"):
        session.seed_page(0, count=17)


def test_big_models_get_cheap_thumbnails_from_the_64_px_block():
    from styleblend.io import Checkpoint
    from styleblend.ui.seeds import SeedBrowser

    from ..conftest import tiny_checkpoint
    from .conftest import perturbed

    base = tiny_checkpoint(seed=0, res=128)
    base = Checkpoint(g_config=base.g_config, g_ema=base.g_ema)
    browser = SeedBrowser(base, base.generator("cpu"), torch.device("cpu"))
    assert browser.resolution == 64
    thumbs = browser.images([3, 4], 0.7)
    # The base's own skip image at 64 px: the live renderer of the base with any transfer at α = 0.
    live = LiveBlend(base.g_ema, perturbed(base).g_ema, base.g_config)
    expected = live.render("x", live.latents([3, 4], 0.7), [0.0] * 6, stop_resolution=64).image
    assert thumbs.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(thumbs, to_uint8(expected))
