"""The page's α-sweep export (:mod:`styleblend.ui.export`): the session's models and sliders in, a GIF / MP4 /
zip of named PNGs out; every size checked and MP4's dependency looked for before any frame is rendered."""

from __future__ import annotations

import io
import json
import sys
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from styleblend.blend.sweep import MAX_SWEEP_FRAMES
from styleblend.errors import InvalidArgumentError, MissingDependencyError
from styleblend.media.video import read_video
from styleblend.ui.export import SweepExports, export_options

from .test_server import call, error_of


@pytest.fixture(scope="module")
def exports(session):
    return SweepExports(session)


def test_a_slider_sweep_zip_holds_the_blend_column_of_each_alpha_named_by_seed_and_alpha(exports, session) -> None:
    alphas = [1.0, 0.5, 0.0, 0.25]
    data, name, ctype = exports.export({"kind": "slider", "format": "zip", "seeds": "3,5", "psi": 0.7,
                                        "mapping": "base", "alphas": alphas, "res": 16, "frames": 3})
    assert ctype == "application/zip" and name == "base-sweep-alpha16px.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = json.loads(zf.read("sweep.json"))
        assert [f["alphas"][2] for f in meta["frames"]] == [0.0, 0.5, 1.0]
        assert meta["frames"][1]["files"] == ["seed3_01_alpha16px-0.500.png", "seed5_01_alpha16px-0.500.png"]
        for i, a in enumerate([0.0, 0.5, 1.0]):
            # The PNG is the preview's blend column for the same sliders, seed and ψ.
            expected = session.preview_images([1.0, 0.5, a, 0.25], [5], 0.7, "base")[0, 2]
            png = np.asarray(Image.open(zf.open(f"seed5_{i:02d}_alpha16px-{a:.3f}.png")))
            assert np.array_equal(png, expected)


def test_a_swap_sweep_gif_steps_through_the_resolutions(exports, tmp_path) -> None:
    data, name, ctype = exports.export({"kind": "swap", "format": "gif", "seeds": [1], "psi": 1.0, "fps": 2})
    assert ctype == "image/gif" and name.endswith("-sweep-swap.gif")
    (tmp_path / name).write_bytes(data)
    assert read_video(tmp_path / name).shape == (4, 32, 32, 3)  # swap 4, 8, 16, 32


def test_mp4_is_offered_and_written_only_with_imageio_ffmpeg(exports, tmp_path, monkeypatch) -> None:
    if "mp4" in export_options()["formats"]:
        data, name, ctype = exports.export({"kind": "swap", "format": "mp4", "seeds": "1,2"})
        (tmp_path / name).write_bytes(data)
        assert ctype == "video/mp4" and read_video(tmp_path / name).shape == (4, 32, 66, 3)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    options = export_options()
    assert options["formats"] == ["gif", "zip"] and "pip install imageio-ffmpeg" in options["mp4_note"]
    with pytest.raises(MissingDependencyError, match="imageio-ffmpeg"):
        exports.export({"kind": "swap", "format": "mp4", "seeds": "1"})


def test_bad_requests_are_refused_before_any_work(exports, monkeypatch) -> None:
    def no_render(*args, **kwargs):
        raise AssertionError("rendered")

    monkeypatch.setattr("styleblend.ui.export.iter_sweep", no_render)
    slider = {"kind": "slider", "format": "gif", "seeds": "1", "alphas": [0, 0, 0, 0], "res": 16}
    cases = [({**slider, "frames": MAX_SWEEP_FRAMES + 1}, f"1 to {MAX_SWEEP_FRAMES}"),
             ({**slider, "frames": 1}, "at least 2"), ({**slider, "res": 64}, "not one of"),
             ({**slider, "alphas": None}, "needs 'alphas'"), ({**slider, "seeds": "0-8"}, "at most 8"),
             ({**slider, "format": "avi"}, "export format"), ({**slider, "kind": "all"}, "sweep kind"),
             ({**slider, "fps": 0}, "fps"), ({**slider, "fps": "x"}, "fps")]
    for request, message in cases:
        with pytest.raises(InvalidArgumentError, match=message):
            exports.export(request)


def test_one_export_at_a_time(session, monkeypatch) -> None:
    exports = SweepExports(session)
    entered, release = threading.Event(), threading.Event()
    real = __import__("styleblend.ui.export", fromlist=["iter_sweep"]).iter_sweep

    def slow(*args, **kwargs):
        entered.set()
        release.wait(30)
        yield from real(*args, **kwargs)

    monkeypatch.setattr("styleblend.ui.export.iter_sweep", slow)
    results = []
    worker = threading.Thread(target=lambda: results.append(exports.export({"kind": "swap", "seeds": "1"})))
    worker.start()
    try:
        assert entered.wait(30)
        with pytest.raises(InvalidArgumentError, match="already running"):
            exports.export({"kind": "swap", "seeds": "1"})
    finally:
        release.set()
        worker.join(60)
    assert results and results[0][2] == "image/gif"
    assert exports.export({"kind": "swap", "seeds": "1", "format": "zip"})[2] == "application/zip"  # free again


def test_the_route_sends_an_attachment_or_a_json_error(server) -> None:
    status, ctype, headers, body = call(server, "/api/export", {"kind": "swap", "format": "zip", "seeds": "2"})
    assert status == 200 and ctype == "application/zip"
    assert 'filename="base-sweep-swap.zip"' in headers["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(body)).namelist()[0] == "seed2_00_swap4.png"
    response = call(server, "/api/export", {"kind": "slider", "format": "gif", "seeds": "2", "res": 16,
                                            "alphas": [0, 0, 0, 0], "frames": 1000})
    assert response[0] == 400 and f"1 to {MAX_SWEEP_FRAMES}" in error_of(response)
    info = json.loads(call(server, "/api/info")[3])
    assert "gif" in info["export"]["formats"] and info["export"]["max_frames"] == MAX_SWEEP_FRAMES


def gated_sweep(monkeypatch, at: int = 2):
    """Make exports wait after frame ``at`` until the returned gate is set; ``reached`` is set when they wait."""
    import styleblend.ui.export as module

    gate, reached = threading.Event(), threading.Event()
    real = module.iter_sweep

    def gated(*args, progress=None, **kwargs):
        def slow(done, total):
            progress(done, total)  # raises once the export is asked to stop
            if done == at:
                reached.set()
                gate.wait(30)
        yield from real(*args, progress=slow, **kwargs)

    monkeypatch.setattr(module, "iter_sweep", gated)
    return gate, reached


SLIDER = {"kind": "slider", "format": "zip", "seeds": "1", "alphas": [0, 0, 0, 0], "res": 16, "frames": 5}


def test_progress_is_reported_and_cancel_stops_the_export_writing_nothing(session, monkeypatch) -> None:
    from styleblend.ui.export import ExportStopped

    exports = SweepExports(session)
    gate, reached = gated_sweep(monkeypatch)
    errors = []
    worker = threading.Thread(target=lambda: errors.append(pytest.raises(ExportStopped, exports.export, SLIDER)))
    worker.start()
    try:
        assert reached.wait(30)
        assert exports.status() == {"running": True, "done": 2, "total": 5, "stopping": False}
        assert exports.cancel()["stopping"] is True
    finally:
        gate.set()
        worker.join(60)
    assert "cancelled" in str(errors[0].value)
    assert exports.status()["running"] is False
    assert not list(session.workdir.glob("export-*"))  # nothing left in the session's folder
    assert exports.export({**SLIDER, "frames": 2})[2] == "application/zip"  # the next one runs to the end


def test_close_stops_a_running_export_and_refuses_new_ones(session, monkeypatch) -> None:
    from styleblend.ui.export import ExportStopped

    exports = SweepExports(session)
    gate, reached = gated_sweep(monkeypatch)
    errors = []
    worker = threading.Thread(target=lambda: errors.append(pytest.raises(ExportStopped, exports.export, SLIDER)))
    worker.start()
    assert reached.wait(30)
    closer = threading.Thread(target=exports.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close waits for the export to end
    gate.set()
    closer.join(60)
    worker.join(60)
    assert not closer.is_alive() and "stopping" in str(errors[0].value)
    with pytest.raises(ExportStopped, match="not started"):
        exports.export(SLIDER)
