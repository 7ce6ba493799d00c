"""The HTTP layer: a real server on an ephemeral port, hit with urllib."""

from __future__ import annotations

import http.client
import io
import json
import re
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from styleblend.ui.service import png_bytes

from .conftest import hostile_pickles


def call(server, path, body=None, ctype=None, method=None, headers=None):
    """(status, content type, headers, body bytes) of one request."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
            hdrs.setdefault("Content-Type", ctype or "application/octet-stream")
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", ctype or "application/json")
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers.get("Content-Type"), res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.headers, err.read()


def error_of(response) -> str:
    status, ctype, _, body = response
    assert ctype == "application/json", (status, body[:200])
    return json.loads(body)["error"]


def alive(server):
    status, _, _, body = call(server, "/api/info")
    assert status == 200 and json.loads(body)["resolutions"] == [4, 8, 16, 32]


def test_page_and_static_files(server):
    status, ctype, headers, body = call(server, "/")
    assert status == 200 and ctype.startswith("text/html") and b"styleblend" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        status, ctype, _, _ = call(server, f"/static/{name}")
        assert status == 200 and ctype.startswith(kind)
    for bad in ["/static/../service.py", "/static/%2e%2e/server.py", "/static/nope.js", "/static/.hidden"]:
        assert call(server, bad)[0] == 404


def test_info_and_preset(server):
    info = json.loads(call(server, "/api/info")[3])
    assert info["num_ws"] == 8 and info["max_upload_mb"] == 1
    status, _, _, body = call(server, "/api/preset", {"kind": "swap", "res": 8})
    assert status == 200 and json.loads(body) == {"alphas": [1, 1, 0, 0], "spec": "table:4:1,8:1,16:0,32:0"}


def test_preview_returns_a_png_that_follows_the_sliders(server):
    pngs = []
    for alphas in ([0, 0, 0, 0], [1, 0, 0, 0]):
        status, ctype, headers, body = call(server, "/api/preview", {"alphas": alphas, "seeds": "1,2", "psi": 0.7})
        assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG"
        assert float(headers["X-Elapsed-Ms"]) >= 0 and headers["X-Schedule"].startswith("table:")
        pngs.append(np.asarray(Image.open(io.BytesIO(body))))
    assert pngs[0].shape == (2 * 32 + 2, 3 * 32 + 4, 3)
    assert not np.array_equal(pngs[0], pngs[1])


def test_mix_morph_download(server):
    for path, body in [("/api/mix", {"seed_a": 1, "seed_b": 2, "layers": "0-3"}),
                       ("/api/morph", {"seed_a": 1, "seed_b": 2, "steps": 4, "model": "base"})]:
        status, ctype, _, data = call(server, path, body)
        assert status == 200 and ctype == "image/png", data[:200]
    status, ctype, headers, data = call(server, "/api/download", {"alphas": [1, 1, 0, 0], "mapping": "base"})
    assert status == 200 and ctype == "application/octet-stream"
    assert 'filename="base-blend.safetensors"' in headers["Content-Disposition"]
    assert data[8:9] == b"{"  # a safetensors header


@pytest.mark.parametrize("path, body, ctype, status, match", [
    ("/api/preview", b"{not json", "application/json", 400, "not valid JSON"),
    ("/api/preview", b"[1, 2]", "application/json", 400, "JSON object"),
    ("/api/preview", {"alphas": [0, 0, 0, 0]}, None, 400, "lacks the field 'seeds'"),
    ("/api/preview", {"alphas": [0, 0, 2, 0], "seeds": "1"}, None, 400, r"alpha at 16 px is 2"),
    ("/api/preview", {"alphas": "half", "seeds": "1"}, None, 400, "field 'alphas'"),
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": "1", "psi": "x"}, None, 400, "field 'psi'"),
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": "1", "psi": ""}, None, 400, "field 'psi'"),  # not ψ = 0.7
    ("/api/preset", {"kind": "linear", "from_res": 16, "to_res": 8}, None, 400, "use the 'flip' box"),
    ("/api/mix", {"seed_a": 1, "seed_b": 2, "layers": "0-99"}, None, 400, "W\\+ range"),
    ("/api/preset", {"kind": "swap", "res": 7}, None, 400, "power of two"),
    ("/api/preview", b"seeds=1", "application/x-www-form-urlencoded", 415, "application/json"),
    ("/api/nothing", {}, None, 404, "no such page"),
    ("/api/info", {}, None, 405, "not allowed"),
    ("/api/toonify", {"job": "embed-77"}, None, 400, "no job"),
    ("/api/upload?kind=base&filename=x.pkl", b"\x80\x02}q\x00.", None, 400, "not a known network checkpoint"),
    ("/api/upload?kind=base", b"x" * (2 << 20), None, 413, "limit of 1 MB"),
    ("/api/upload?kind=weights", b"abc", None, 400, "upload kind"),
    ("/api/embed?filename=notes.txt", b"plain text, not a photo", None, 400, "not an image"),
    ("/api/embed", b"x" * (1 << 20), None, 413, "photo"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_bad_requests_get_a_json_error_and_the_server_keeps_running(server, path, body, ctype, status, match):
    response = call(server, path, body, ctype)
    assert response[0] == status
    assert re.search(match, error_of(response))
    alive(server)


def test_hostile_upload_is_refused_without_running(server, tmp_path):
    marker = tmp_path / "pwned"
    for data in hostile_pickles(marker).values():
        response = call(server, "/api/upload?kind=transfer&filename=network-snapshot.pkl", data)
        message = error_of(response)
        assert response[0] == 400 and ("refused" in message or "not a known" in message), message
    assert not marker.exists()
    alive(server)


def test_foreign_host_header_is_refused(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/info", headers={"Host": "evil.example:80"})
    res = conn.getresponse()
    assert res.status == 403 and "localhost" in json.loads(res.read())["error"]
    conn.close()
    alive(server)


def test_embedding_over_http(server):
    photo = png_bytes(np.full((40, 50, 3), 128, np.uint8))
    status, _, _, body = call(server, "/api/embed?steps=3&filename=grey.png", photo)
    assert status == 200, body
    job = json.loads(body)["job"]
    deadline = time.monotonic() + 60
    while True:
        state = json.loads(call(server, f"/api/job?id={job}")[3])
        if state["state"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state["state"] == "done" and state["done"] == 3
    status, ctype, headers, _ = call(server, "/api/toonify", {"job": job, "alphas": [1, 1, 0, 0]})
    assert status == 200 and ctype == "image/png"
    assert headers["X-Embedding-Stage"] == "optimised" and headers["X-Embedding-Steps"] == "3"
    assert json.loads(call(server, "/api/cancel", {"job": job})[3])["state"] == "done"


def test_with_an_encoder_the_embed_reply_has_a_result_to_show(pair_paths, encoder_path):
    from styleblend.io import load_checkpoint
    from styleblend.ui.server import UIServer
    from styleblend.ui.service import BlendSession

    session = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path)
    srv = UIServer(session, "127.0.0.1", 0)
    thread = srv.start_thread()
    try:
        info = json.loads(call(srv, "/api/info")[3])
        assert info["encoder"] == "encoder.safetensors" and info["refine_steps"] > 0
        photo = png_bytes(np.full((40, 50, 3), 90, np.uint8))
        status, _, _, body = call(srv, "/api/embed?steps=2&filename=grey.png", photo)
        reply = json.loads(body)
        assert status == 200 and reply["status"]["has_result"] and reply["status"]["info"]["stage"] == "encoder"
        assert reply["elapsed_ms"] >= reply["status"]["info"]["encoder_ms"]
        status, ctype, headers, _ = call(srv, "/api/toonify", {"job": reply["job"]})
        assert status == 200 and headers["X-Embedding-Stage"] == "encoder" and headers["X-Embedding-Steps"] == "0"
        assert session.jobs.wait(reply["job"], 60)["state"] == "done"
        headers = call(srv, "/api/toonify", {"job": reply["job"]})[2]
        assert headers["X-Embedding-Stage"] == "refined" and headers["X-Embedding-Steps"] == "2"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)
        session.close()
