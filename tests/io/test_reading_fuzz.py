"""Fuzzing the readers: deterministic mutations of a file of every format (bit flips, truncations,
inserted bytes, tampered opcodes and lengths) must each load or be refused with one StyleblendError
line - never another exception, a traceback's worth of torch advice, or a memory blow-up.

Memory is held to a budget while fuzzing: the process may grow its data segment by at most
``MEMORY_BUDGET`` (RLIMIT_DATA), so an allocation a file merely announces fails loudly here instead
of passing on a machine with memory to spare.
"""

from __future__ import annotations

import contextlib
import os
import pickletools
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from styleblend.errors import StyleblendError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.nn import Generator

from .conftest import dumps, nvidia_like_pickle
from .formats.conftest import random_checkpoint, random_generator, tiny_g_config
from .formats.test_nvidia_tf import tf_generator, tf_module  # noqa: F401 - tf_module is a fixture
from .test_safe_unpickle import G_CONFIG, G_KWARGS

MEMORY_BUDGET = 1 << 30  # bytes of data segment the fuzzed loads may add to the process
# Mutations per format are sized for a few seconds in the default suite; STYLEBLEND_FUZZ_SCALE=20
# runs twenty times as many (with the same seeds, so the default cases are among them).
SCALE = max(1, int(os.environ.get("STYLEBLEND_FUZZ_SCALE", "1")))

_OPCODES = [op.code.encode("latin-1") for op in pickletools.opcodes]


@contextlib.contextmanager
def memory_budget(extra: int = MEMORY_BUDGET) -> Iterator[None]:
    """Lower the soft RLIMIT_DATA to the current data size + ``extra`` for the block (Linux only)."""
    try:
        import resource

        status = Path("/proc/self/status").read_text()
        current = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmData:"))) * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    except (ImportError, OSError, StopIteration, ValueError):
        yield
        return
    limit = current + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _pickle_positions(data: bytes) -> list[int]:
    """Offsets of every opcode in a pickle (where tampering hits structure, not tensor bytes)."""
    try:
        return [pos for _, _, pos in pickletools.genops(data)]
    except Exception:  # noqa: BLE001 - a pickle followed by raw data (legacy torch) ends the scan early
        return []


def mutate(data: bytes, rng: random.Random, positions: list[int]) -> tuple[str, bytes]:
    """One deterministic mutation of ``data``; ``positions`` are opcode offsets to tamper with."""
    kind = rng.randrange(5)
    buf = bytearray(data)
    if kind == 0:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        return "bit flips", bytes(buf)
    if kind == 1:
        return "truncation", bytes(buf[: rng.randrange(len(buf))])
    if kind == 2:
        i = rng.randrange(len(buf) + 1)
        return "insertion", bytes(buf[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + buf[i:])
    if not positions:
        positions = [rng.randrange(len(buf))]
    i = rng.choice(positions)
    if kind == 3:  # another opcode in its place
        buf[i: i + 1] = rng.choice(_OPCODES)
        return "opcode", bytes(buf)
    # lengths and arguments: the bytes after an opcode become huge, negative or random
    fill = rng.choice([b"\xff" * 8, b"\x7f\xff\xff\xff" * 2, b"\x00\x00\x00\x80" * 2,
                       bytes(rng.randrange(256) for _ in range(8))])
    buf[i + 1: i + 1 + 8] = fill[: max(0, min(8, len(buf) - i - 1))]
    return "argument", bytes(buf[: len(data)])


def check_outcome(path: Path, what: str) -> str:
    """Load ``path``: success (and building its generator) or one StyleblendError line; nothing else."""
    try:
        ckpt = load_checkpoint(path)
    except StyleblendError as exc:
        message = str(exc)
        assert "\n" not in message, f"{what}: multi-line error {message!r}"
        assert "weights_only" not in message, f"{what}: torch's advice leaked: {message!r}"
        assert "MemoryError" not in message and "allocate" not in message, f"{what}: out of memory: {message!r}"
        return "refused"
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{what}: {type(exc).__name__} escaped: {str(exc)[:300]}")
    with contextlib.suppress(StyleblendError):
        ckpt.generator()
    return "loaded"


def fuzz(tmp_path: Path, name: str, data: bytes, count: int, seed: int,
         container: Callable[[bytes], bytes] | None = None, positions: list[int] | None = None) -> dict[str, int]:
    """``count`` mutations of ``data`` (wrapped by ``container`` when given), each checked; outcome counts."""
    rng = random.Random(seed)
    positions = _pickle_positions(data) if positions is None else positions
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / name
    with memory_budget():
        for i in range(count):
            kind, mutated = mutate(data, rng, positions)
            path.write_bytes(container(mutated) if container else mutated)
            outcomes[check_outcome(path, f"{name} mutation {i} ({kind}, seed {seed})")] += 1
    return outcomes


# ------------------------------------------------------------------------------------- formats


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return Generator(G_CONFIG).state_dict()


def test_fuzz_nvidia_pickle(tmp_path, tiny_state):
    data = nvidia_like_pickle(G_KWARGS, tiny_state, {"path": "x.zip", "resolution": 16})
    outcomes = fuzz(tmp_path, "nvidia.pkl", data, count=30 * SCALE, seed=1)
    assert outcomes["refused"] >= 10 * SCALE  # the mutations did reach the reader's checks


def test_fuzz_real_nvidia_snapshot(tmp_path, nvidia_g64):
    data = (nvidia_g64 / "network-snapshot.pkl").read_bytes()
    positions = _pickle_positions(data)
    # Structural tampering only (bit flips in a 4 MB file mostly land in weights): a few, the file is big.
    rng = random.Random(7)
    path = tmp_path / "real.pkl"
    with memory_budget():
        for i in range(3 * SCALE):
            kind, mutated = mutate(data, rng, positions)
            if kind in ("bit flips", "insertion"):
                kind, mutated = "argument", mutate(data, random.Random(100 + i), positions)[1]
            path.write_bytes(mutated)
            check_outcome(path, f"real snapshot mutation {i} ({kind})")


def test_fuzz_tensorflow_pickle(tmp_path, tf_module):  # noqa: F811 - the fixture imported above
    data = dumps(tf_generator(random_generator(tiny_g_config(res=8), 0)), protocol=3)
    outcomes = fuzz(tmp_path, "tf.pkl", data, count=24 * SCALE, seed=2)
    assert outcomes["refused"] >= 8 * SCALE


def _torch_zip_with(template: Path) -> Callable[[bytes], bytes]:
    """Wrap a mutated data.pkl back into the torch zip ``template`` (valid CRCs, so the pickle is reached)."""
    with zipfile.ZipFile(template) as z:
        records = [(info, z.read(info)) for info in z.infolist()]

    def wrap(pkl: bytes) -> bytes:
        import io

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for info, data in records:
                z.writestr(info, pkl if info.filename.endswith("/data.pkl") else data)
        return out.getvalue()

    return wrap


def test_fuzz_rosinality_pt(tmp_path):
    path = tmp_path / "template.pt"
    save_checkpoint(random_checkpoint(tiny_g_config(res=8)), path, "rosinality")
    with zipfile.ZipFile(path) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    inner = fuzz(tmp_path, "inner.pt", pkl, count=16 * SCALE, seed=3, container=_torch_zip_with(path))
    raw = fuzz(tmp_path, "raw.pt", path.read_bytes(), count=10 * SCALE, seed=4, positions=[])
    assert inner["refused"] >= 5 * SCALE and raw["refused"] > 0


def test_fuzz_legacy_torch_file(tmp_path):
    path = tmp_path / "template.pt"
    save_checkpoint(random_checkpoint(tiny_g_config(res=8)), path, "rosinality")
    legacy = tmp_path / "legacy.pt"
    torch.save(torch.load(path, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    data = legacy.read_bytes()
    # The legacy format is several pickles followed by raw storages: tamper with all pickle opcodes.
    positions, offset = [], 0
    for _ in range(5):
        ops = list(pickletools.genops(data[offset:]))
        positions += [offset + pos for _, _, pos in ops]
        offset += ops[-1][2] + 1
    outcomes = fuzz(tmp_path, "legacy.pt", data, count=16 * SCALE, seed=5, positions=positions)
    assert outcomes["refused"] >= 5 * SCALE


def test_fuzz_native_safetensors(tmp_path):
    path = save_checkpoint(random_checkpoint(tiny_g_config(res=8)), tmp_path / "template.safetensors")
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    # Tamper with the length field and the JSON header (offsets, shapes, dtypes, the architecture).
    outcomes = fuzz(tmp_path, "n.safetensors", data, count=24 * SCALE, seed=6,
                    positions=[-1] + list(range(8, 8 + header_len)))
    assert outcomes["refused"] >= 8 * SCALE


def test_memory_budget_is_enforced():
    # The guard itself: inside the budget a 4 GB allocation fails instead of succeeding.
    import resource  # noqa: F401 - skip on platforms without it

    with memory_budget(1 << 28), pytest.raises((MemoryError, RuntimeError)):
        torch.empty(1 << 32, dtype=torch.uint8).fill_(1)
