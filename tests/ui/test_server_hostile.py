"""The server under hostile requests: bounded work, a 4xx JSON error, no traceback, and the next request served."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import struct
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

from .conftest import ui_process
from .test_server import alive, call, error_of


def _deep_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


HOSTILE = [
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": "0-3000000000"}, "more than 8"),
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": "0-99999999999999999999"}, "seeds must lie in"),
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": ",".join(["1"] * 100000)}, "at most 8 seeds"),
    ("/api/preview", b'{"alphas": [0, 0, NaN, 0], "seeds": "1"}', "alpha at 16 px"),
    ("/api/preview", b'{"alphas": [0, 0, 0, 0], "seeds": "1", "psi": NaN}', "field 'psi'"),
    ("/api/preview", b'{"alphas": [0, 0, 0, 0], "seeds": "1", "psi": Infinity}', "field 'psi'"),
    ("/api/preview", {"alphas": [0, 0, 0, 0], "seeds": "1", "psi": 1e308}, r"psi 1e\+308 must be in"),
    ("/api/mix", {"seed_a": 1, "seed_b": 2, "layers": "0-3000000000"}, "W\\+ range"),
    ("/api/mix", b'{"seed_a": Infinity, "seed_b": 2, "layers": "0"}', "field 'seed_a'"),
    ("/api/mix", {"seed_a": 1.5, "seed_b": 2, "layers": "0"}, "field 'seed_a'"),
    ("/api/mix", {"seed_a": 10**30, "seed_b": 2, "layers": "0"}, r"must be in \[0, 2\*\*32\)"),
    ("/api/morph", {"seed_a": 1, "seed_b": 2, "steps": 10**12}, "morph steps"),
    ("/api/morph", b'{"seed_a": 1, "seed_b": 2, "steps": -Infinity}', "field 'steps'"),
    ("/api/preset", b'{"kind": "sigmoid", "centre": NaN}', "field 'centre'"),
    ("/api/preset", {"kind": "sigmoid", "centre": 16, "width": 0}, "width"),
    ("/api/preset", {"kind": "swap", "res": 2**62}, "exceeds"),
    ("/api/embed?steps=NaN", b"x", "field 'steps'"),
    ("/api/embed?seed=99999999999", b"x", r"seed 99999999999 must be in"),
    ("/api/embed?filename=deep.png", _deep_png(16000, 16000), "image bombs"),
]


@pytest.mark.parametrize("path, body, match", HOSTILE, ids=[f"{p}:{i}" for i, (p, _, _) in enumerate(HOSTILE)])
def test_hostile_requests_get_4xx_json_and_the_next_request_is_served(server, path, body, match, caplog):
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="styleblend.ui.server"):
        response = call(server, path, body)
    assert 400 <= response[0] < 500, response[3][:300]
    assert re.search(match, error_of(response)), error_of(response)
    assert time.perf_counter() - start < 10
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    alive(server)


def test_client_closing_mid_response_logs_no_traceback(server, caplog):
    """A download (hundreds of kB) whose client resets the connection right after asking."""
    body = json.dumps({"alphas": [1, 1, 0, 0]}).encode()
    request = (f"POST /api/download HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with caplog.at_level(logging.DEBUG, logger="styleblend.ui.server"):
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(request)
            # Linger 0: close sends a reset, so the server's writes fail as a closed browser tab's would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        time.sleep(1.5)  # the server renders the blend and writes into the reset connection
        alive(server)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert any("went away" in r.getMessage() for r in caplog.records)  # the path under test was taken


def test_sigterm_removes_the_temp_folder_with_uploads(pair_paths, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    with ui_process(pair_paths, TMPDIR=str(tmpdir), OMP_NUM_THREADS="1") as (proc, url):
        req = urllib.request.Request(url + "api/upload?kind=transfer&filename=t.safetensors",
                                     data=Path(pair_paths[1]).read_bytes(),
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=60) as res:
            assert res.status == 200
        folders = list(tmpdir.glob("styleblend-ui-*"))
        assert len(folders) == 1 and list(folders[0].glob("upload-*/t.safetensors"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert not list(tmpdir.glob("styleblend-ui-*"))
        assert "Traceback" not in proc.stderr.read()
