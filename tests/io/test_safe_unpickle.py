"""The restricted unpickler: stand-ins are inert (no file can change how a later file loads) and
every size a pickle states is checked before memory is allocated."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.errors import CheckpointError, UnsafeCheckpointError
from styleblend.io import budgets, load_checkpoint
from styleblend.io.formats.nvidia_pkl import STAND_INS
from styleblend.io.safe_unpickle import (
    MAX_DEPTH,
    EasyDictStandIn,
    check_graph,
    check_view,
    restricted_load,
)
from styleblend.nn import Generator

from .conftest import nvidia_like_pickle

# A mixed-precision, clamped tiny generator: dropping its synthesis_kwargs would change the config.
G_KWARGS = {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2},
            "synthesis_kwargs": {"channel_base": 128, "channel_max": 16, "num_fp16_res": 2, "conv_clamp": 256,
                                 "architecture": "skip"}}
G_CONFIG = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, mapping=MappingConfig(num_layers=2),
                           synthesis=SynthesisConfig(channel_base=128, channel_max=16, num_fp16_res=2,
                                                     conv_clamp=256.0))


@pytest.fixture(scope="module")
def tiny_nvidia_pkl(tmp_path_factory):
    torch.manual_seed(0)
    state = Generator(G_CONFIG).state_dict()
    with torch.no_grad():
        for key, value in state.items():
            if value.is_floating_point() and not key.endswith("resample_filter"):
                value.copy_(torch.randn(value.shape) * 0.5)
    path = tmp_path_factory.mktemp("nv") / "tiny.pkl"
    path.write_bytes(nvidia_like_pickle(G_KWARGS, state, {"path": "data.zip", "resolution": 16}))
    return path


def _render(ckpt):
    z = torch.randn([2, ckpt.g_config.z_dim], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return ckpt.generator(mixed_precision=True)(z)


def _build_attack(module: str, name: str, attr: str, value_global: tuple[str, str]) -> bytes:
    """GLOBAL module.name; BUILD (None, {attr: <global>}) - setattr on a shared object - then junk."""
    def global_op(mod: str, nm: str) -> bytes:
        return b"c" + mod.encode() + b"\n" + nm.encode() + b"\n"

    attr_b = attr.encode()
    return (b"\x80\x02" + global_op(module, name) + b"N}X" + struct.pack("<I", len(attr_b)) + attr_b
            + global_op(*value_global) + b"s\x86b" + b"\xff")


def test_refused_file_leaves_the_next_load_unchanged(tmp_path, tiny_nvidia_pkl, nvidia_g64):
    real = nvidia_g64 / "network-snapshot.pkl"
    real_before = load_checkpoint(real)
    before = load_checkpoint(tiny_nvidia_pkl)
    assert before.g_config == G_CONFIG  # conv_clamp 256, num_fp16_res 2 read from synthesis_kwargs
    image = _render(before)
    # The attack: empty EasyDict.items (then every EasyDict reads as {}), in a file refused as corrupt.
    attack = tmp_path / "poison.pkl"
    attack.write_bytes(_build_attack("dnnlib.util", "EasyDict", "items", ("builtins", "frozenset")))
    assert len(attack.read_bytes()) < 151
    with pytest.raises(UnsafeCheckpointError, match="shared"):
        load_checkpoint(attack)
    assert "items" not in vars(EasyDictStandIn)
    after = load_checkpoint(tiny_nvidia_pkl)
    assert after.g_config == before.g_config
    assert after.meta["training_set_kwargs"] == before.meta["training_set_kwargs"] == {"path": "data.zip",
                                                                                       "resolution": 16}
    assert torch.equal(_render(after), image)
    real_after = load_checkpoint(real)
    assert real_after.g_config == real_before.g_config and real_after.meta == real_before.meta
    assert torch.equal(_render(real_after), _render(real_before))


@pytest.mark.parametrize("target", [("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict"),
                                    ("torch_utils.persistence", "_reconstruct_persistent_obj"),
                                    ("collections", "OrderedDict"), ("numpy", "dtype"), ("torch", "Size"),
                                    ("torch._utils", "_rebuild_tensor_v2"), ("numpy.core.multiarray", "scalar")])
@pytest.mark.parametrize("attr", ["items", "__defaults__", "__call__"])
def test_no_shared_stand_in_can_be_modified(target, attr):
    unpickler_globals = dict(STAND_INS)
    data = _build_attack(*target, attr, ("builtins", "frozenset"))
    with pytest.raises(UnsafeCheckpointError, match="shared"):
        restricted_load(data, extra=unpickler_globals)
    for obj in STAND_INS.values():
        assert attr not in vars(obj) or attr == "__defaults__" and getattr(obj, "__defaults__", None) is None


def test_numpy_dtype_is_a_fresh_copy():
    # numpy caches dtype('f4'); a BUILD that changes byte order must only touch this file's copy.
    obj, _ = restricted_load(pickle.dumps(np.dtype(">f4"), protocol=3))  # dtype('f4') + BUILD '>'
    assert obj == np.dtype(">f4")
    assert np.dtype("f4").byteorder in "=<" and np.ones(1, "f4").tobytes() == np.float32(1).tobytes()


def test_build_on_fresh_stand_ins_still_works():
    # argparse-like BUILD on a fresh instance, OrderedDict '_metadata' (torch state dicts), numpy arrays.
    from collections import OrderedDict

    sd = OrderedDict(w=np.ones(2, np.float32))
    sd._metadata = {"": {"version": 1}}
    obj, _ = restricted_load(pickle.dumps(sd, protocol=3))
    assert obj._metadata == {"": {"version": 1}} and obj["w"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("opcode,fmt", [(b"B", "<I"), (b"\x8e", "<Q"), (b"X", "<I"), (b"\x8d", "<Q"),
                                        (b"\x96", "<Q"), (b"T", "<i"), (b"\x8b", "<i"), (b"\x95", "<Q")])
def test_declared_lengths_beyond_the_file_are_refused(opcode, fmt):
    # BINBYTES, BINBYTES8, BINUNICODE, BINUNICODE8, BYTEARRAY8, BINSTRING, LONG4, FRAME announcing ~2 GB .. 8 EB.
    n = 2**31 - 1 if fmt == "<i" else (2**32 - 1 if fmt == "<I" else 2**62)
    data = b"\x80\x05" + opcode + struct.pack(fmt, n) + b"\x00" * 40 + b"."
    with pytest.raises(CheckpointError, match="announces .* bytes but the whole file has"):
        restricted_load(data)


def _billion_laughs(levels: int = 30, fan: int = 10, container: bytes = b"l") -> bytes:
    """Each level is a list of ``fan`` references to the previous one: 10**30 items when expanded."""
    out = b"\x80\x02K\x00q\x00"
    for i in range(1, levels + 1):
        items = (b"h" + bytes([i - 1])) * fan
        out += b"(" + items + container + b"q" + bytes([i])
    return out + b"."


@pytest.mark.parametrize("container", [b"l", b"t"])  # lists, and tuples (hashed as dict keys below)
def test_memo_reuse_expansion_is_refused(container, monkeypatch):
    monkeypatch.setattr(budgets, "MAX_NODES", 100_000)  # the same walk, stopped sooner
    with pytest.raises(CheckpointError, match="expands to over"):
        restricted_load(_billion_laughs(container=container))


def test_hashing_shared_tuples_is_bounded():
    # A 2**19-item tuple (via sharing) used as a dict key 200 times: 1e8 hash steps if unbounded.
    data = _billion_laughs(levels=18, fan=2, container=b"t")[:-1]
    data += b"}" + b"(" + b"h\x12K\x01" + b"u" + (b"h\x12K\x01s" * 200) + b"."
    with pytest.raises(CheckpointError, match="steps"):
        restricted_load(data)


def test_deep_nesting_and_self_reference_are_refused():
    deep = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    with pytest.raises(CheckpointError, match="nested more than"):
        restricted_load(deep)
    selfref = b"\x80\x02]q\x00h\x00a."  # a list that contains itself
    with pytest.raises(CheckpointError, match="nested more than"):
        restricted_load(selfref)
    tree: list = []
    for _ in range(MAX_DEPTH - 2):
        tree = [tree]
    check_graph(tree)  # just within the budget


def test_graph_budget_counts_shared_references(monkeypatch):
    monkeypatch.setattr(budgets, "MAX_NODES", 100_000)
    shared = list(range(1000))
    check_graph([shared] * 90)
    with pytest.raises(CheckpointError, match="expands"):
        check_graph([shared] * 110)
    with pytest.raises(CheckpointError, match="expands"):
        check_graph(["x" * 64 * 1000] * 110)  # long strings weigh their length


@pytest.mark.parametrize("offset,size,stride,match", [
    (0, (4,), (1,), None), (2, (2,), (1,), None), (0, (2, 2), (2, 1), None), (4, (0,), (1,), None),
    (3, (2,), (1,), "reaches"), (5, (0,), (1,), "past the end"), (0, (10**12,), (0,), "overlapping"),
    (-1, (1,), (1,), "negative"), (0, (2,), (-1,), "negative"), (0, (2, 2), (1,), "different lengths"),
    (0, ("a",), (1,), "integer"), (1.5, (1,), (1,), "integer"),
])
def test_tensor_views_are_checked_against_their_storage(offset, size, stride, match):
    if match is None:
        check_view(4, offset, size, stride)
    else:
        with pytest.raises(CheckpointError, match=match):
            check_view(4, offset, size, stride)


def test_tensor_past_its_storage_is_refused_in_pickles():
    t = torch.arange(4.0)
    data = pickle.dumps(t, protocol=3)
    # torch writes offset 0 as 'K\x00' right after the storage's REDUCE: make it 3 (size 4 no longer fits).
    i = data.index(b"K\x00K\x04\x85")
    bad = data[:i] + b"K\x03" + data[i + 2:]
    with pytest.raises(CheckpointError, match="reaches element"):
        restricted_load(bad)
    assert torch.equal(restricted_load(data)[0], t)


@pytest.mark.parametrize("shape", [(2**40,), (2**20, 2**20), (-1,)])
def test_numpy_arrays_must_hold_the_bytes_they_announce(shape):
    data = pickle.dumps(np.zeros(2, np.float32), protocol=3)
    i = data.index(b"K\x02\x85")
    shape_ops = b"(" + b"".join(b"\x8a" + bytes([8]) + int(s).to_bytes(8, "little", signed=True) for s in shape) + b"t"
    bad = data[:i] + shape_ops + data[i + 3:]
    with pytest.raises(CheckpointError, match="bytes but the file stores|negative"):
        restricted_load(bad)


def test_storage_blob_announcing_more_than_it_holds():
    data = bytearray(pickle.dumps(torch.arange(4.0), protocol=3))
    blob_header = struct.pack("<q", 4)  # the element count just before the raw data
    i = bytes(data).rindex(blob_header)
    data[i:i + 8] = struct.pack("<q", 2**40)
    with pytest.raises(CheckpointError, match="element count"):
        restricted_load(bytes(data))


def test_numpy_ndarray_global_cannot_allocate_what_a_file_states():
    # REDUCE numpy.ndarray((2**40,)) would ask for a terabyte; the global is a name only.
    data = b"\x80\x03cnumpy\nndarray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85\x85R."
    with pytest.raises(CheckpointError, match="not callable"):
        restricted_load(data)
