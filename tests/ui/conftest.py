"""Tiny random base/transfer pairs saved to disk, and sessions over them."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.ui.server import UIServer
from styleblend.ui.service import BlendSession

from ..conftest import tiny_checkpoint


def perturbed(base: Checkpoint, scale: float = 0.5, seed: int = 1) -> Checkpoint:
    """A 'fine-tuned' transfer: every trainable tensor of G_ema moved by ``scale`` of its spread."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in base.g_ema.items():
        if key.endswith(("resample_filter", "noise_const")):
            state[key] = value.clone()
        else:
            spread = value.std() if value.numel() > 1 else value.abs() + 0.1
            state[key] = value + scale * spread * torch.randn(value.shape, generator=gen)
    return Checkpoint(g_config=base.g_config, g_ema=state)


def write_pair(folder: Path, res: int = 32) -> tuple[Path, Path]:
    """Save a tiny base and its perturbed transfer as native checkpoints; returns their paths."""
    base = tiny_checkpoint(seed=0, res=res)
    base = Checkpoint(g_config=base.g_config, g_ema=base.g_ema)
    paths = folder / "base.safetensors", folder / "transfer.safetensors"
    save_checkpoint(base, paths[0])
    save_checkpoint(perturbed(base), paths[1])
    return paths


def write_encoder(path: Path, base_path: Path, seed: int = 0, iterations: int = 0) -> Path:
    """An untrained encoder for the base at ``base_path`` (its file hash recorded, as training does), with
    non-zero offset heads so that every W+ row depends on the image; ``iterations`` > 0: an iterative one."""
    from styleblend.io.digest import file_sha256
    from styleblend.project.encoder import Encoder, EncoderConfig, make_iterative, save_encoder

    G = load_checkpoint(base_path).generator("cpu")
    torch.manual_seed(seed)
    E = Encoder(EncoderConfig.for_generator(G))
    with torch.no_grad():
        E.offset_weight.normal_(std=0.02)
        E.w_avg.copy_(G.mapping.w_avg)
    if iterations:
        E = make_iterative(E, iterations)
    return save_encoder(path, E, {"network": str(base_path), "network_sha256": file_sha256(base_path)})


def _system(*args):  # placeholder: its GLOBAL is rewritten to os.system before anything loads it
    raise AssertionError("placeholder called")


def _persistence(*args):  # placeholder, rewritten to torch_utils.persistence.x
    raise AssertionError("placeholder called")


class _Call:
    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def hostile_pickles(marker: Path) -> dict[str, bytes]:
    """Pickles that would run ``touch <marker>`` if executed: a bare one, and one posing as an NVIDIA snapshot.

    The second names a ``torch_utils`` global too, so format detection takes it for an NVIDIA pickle and the
    restricted unpickler itself has to refuse it.
    """
    def dumps(obj) -> bytes:
        data = pickle.dumps(obj, protocol=2)  # protocol 2: GLOBAL opcodes are plain text we can rewrite
        for func, target in ((_system, b"os\nsystem\n"), (_persistence, b"torch_utils.persistence\nx\n")):
            data = data.replace(f"c{func.__module__}\n{func.__name__}\n".encode(), b"c" + target)
        assert b"placeholder" not in data and b"_system" not in data
        return data

    command = f"touch {marker}"
    return {"plain": dumps({"G_ema": _Call(_system, command)}),
            "nvidia": dumps({"G_ema": _Call(_system, command), "training_set_kwargs": _Call(_persistence)})}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run these tests with one intra-op thread (as `styleblend ui` does): on a busy 2-core machine two
    threads made the tiny renders ~5x slower. The previous setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def pair_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_pair(tmp_path_factory.mktemp("pair"))


@pytest.fixture(scope="module")
def session(pair_paths: tuple[Path, Path]):
    s = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=5)
    yield s
    s.close()


@pytest.fixture(scope="module")
def enc_server(pair_paths: tuple[Path, Path], encoder_path: Path):
    """A served session of the pair with the encoder (the browser tests' photo panel)."""
    from .browser import serving  # the browser helpers only where a browser test asks for them

    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]),
                              encoder=encoder_path)) as srv:
        yield srv


@pytest.fixture(scope="module")
def encoder_path(pair_paths: tuple[Path, Path]) -> Path:
    return write_encoder(pair_paths[0].parent / "encoder.safetensors", pair_paths[0])


@pytest.fixture(scope="module")
def server(pair_paths):
    """A UI server on a free port over the tiny pair, one per test module (small upload limits)."""
    session = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)
    srv = UIServer(session, "127.0.0.1", 0, max_upload_mb=1, max_image_mb=0.5)
    thread = srv.start_thread()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)
    session.close()


SRC = Path(__file__).resolve().parents[2] / "src"


@contextlib.contextmanager
def ui_process(pair_paths: tuple[Path, Path], **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``styleblend ui`` over the pair in a child process (extra environment ``env``), with the URL it printed;
    killed on exit if the test did not stop it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), **env)
    proc = subprocess.Popen([sys.executable, "-m", "styleblend.cli.main", "ui", "--base", str(pair_paths[0]),
                             "--transfer", str(pair_paths[1]), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url, lines, deadline = None, [], time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()



@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a test module (skipped where Chromium or Playwright is missing)."""
    from .browser import chromium_or_skip

    with chromium_or_skip() as chromium:
        yield chromium
