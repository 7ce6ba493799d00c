"""Hostile and malformed files, one class at a time: each ends in one CheckpointError line naming the
file (never a traceback, never torch's advice to pass weights_only=False), before memory is spent."""

from __future__ import annotations

import json
import math
import pickle
import pickletools
import struct
import zipfile

import pytest
import torch

from styleblend.errors import CheckpointError, StyleblendError, UnsafeCheckpointError
from styleblend.io import budgets, load_checkpoint, save_checkpoint
from styleblend.io.formats.native import write as write_native

from .conftest import Reduce, dumps, nvidia_like_pickle
from .formats.conftest import random_checkpoint, tiny_g_config
from .test_safe_unpickle import G_CONFIG, G_KWARGS


def _refused(path, match: str, cls: type = CheckpointError) -> str:
    with pytest.raises(cls, match=match) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message, message
    assert "weights_only" not in message and "MemoryError" not in message, message
    return message


@pytest.fixture(scope="module")
def tiny_state():
    from styleblend.nn import Generator

    return Generator(G_CONFIG).state_dict()


def _nvidia(tmp_path, state, name="net.pkl", kwargs=None, **overrides):
    g_kwargs = json.loads(json.dumps(G_KWARGS))
    for key, value in overrides.items():
        if key in g_kwargs["synthesis_kwargs"]:
            g_kwargs["synthesis_kwargs"][key] = value
        else:
            g_kwargs[key] = value
    path = tmp_path / name
    path.write_bytes(nvidia_like_pickle(g_kwargs, state, kwargs))
    return path


# ------------------------------------------------------------------------------ pickle opcodes


@pytest.mark.parametrize("op", [b"\x8e" + struct.pack("<Q", 2**62),  # BINBYTES8
                                b"\x95" + struct.pack("<Q", 2**40),  # FRAME
                                b"\x8d" + struct.pack("<Q", 2**50),  # BINUNICODE8
                                b"\x96" + struct.pack("<Q", 2**45)])  # BYTEARRAY8
def test_tiny_pickles_announcing_huge_lengths(tmp_path, op):
    # ~60 bytes: a global that makes it look like an NVIDIA pickle, then a length of up to 4 EB.
    path = tmp_path / "huge.pkl"
    path.write_bytes(b"\x80\x04\x8c\x0bdnnlib.util\x8c\x08EasyDict\x93" + op + b"\x00" * 16)
    assert len(path.read_bytes()) < 68
    _refused(path, "announces")


def test_one_flipped_bit_in_a_length(tmp_path, nvidia_g64):
    data = bytearray((nvidia_g64 / "network-snapshot.pkl").read_bytes())
    i = data.index(b"B", 1000)  # a BINBYTES opcode; its 4-byte length follows
    while data[i + 5] != 0x80:  # the blob starts with its own PROTO opcode
        i = data.index(b"B", i + 1)
    data[i + 4] |= 0x40  # length + 1 GB
    path = tmp_path / "flip.pkl"
    path.write_bytes(bytes(data))
    _refused(path, "announces|corrupt")


# ------------------------------------------------------------------------------ object graphs


def _laughs(levels: int = 25, fan: int = 10) -> list:
    item: list = [0]
    for _ in range(levels):
        item = [item] * fan  # pickle memoizes the shared list: 25 levels take a few hundred bytes
    return item


def test_billion_laughs_in_training_set_kwargs(tmp_path, tiny_state, monkeypatch):
    monkeypatch.setattr(budgets, "MAX_NODES", 100_000)  # the same refusal, reached sooner
    path = _nvidia(tmp_path, tiny_state, kwargs={"path": "x.zip", "laughs": _laughs()})
    assert path.stat().st_size < 200_000
    _refused(path, "expands to over")


def test_self_referencing_and_deeply_nested_kwargs(tmp_path, tiny_state):
    loop: dict = {"resolution": 16}
    loop["self"] = loop
    _refused(_nvidia(tmp_path, tiny_state, "a.pkl", kwargs=loop), "nested more than")
    deep: list = []
    for _ in range(100):
        deep = [deep]
    _refused(_nvidia(tmp_path, tiny_state, "b.pkl", kwargs={"x": deep}), "nested more than")


# ------------------------------------------------------------------------------ structure


def _persistent(class_name, **state):
    meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": class_name,
            "state": {"_init_args": (), "_init_kwargs": Reduce("dnnlib.util", "EasyDict", G_KWARGS), **state}}
    return Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)


@pytest.mark.parametrize("field,value,match", [
    ("_parameters", ["weight"], "_parameters' is a list"),
    ("_parameters", "weight", "_parameters' is a str"),
    ("_buffers", {"w_avg": "not a tensor"}, "not a tensor"),
    ("_modules", ["mapping"], "_modules' is a list"),
    ("_init_kwargs", ["z_dim"], "_init_kwargs is a list"),
    ("_init_args", "abc", "_init_args is a str"),
    ("_non_persistent_buffers_set", 5, "not a set"),
])
def test_module_fields_of_the_wrong_type(tmp_path, field, value, match):
    path = tmp_path / "odd.pkl"
    path.write_bytes(dumps({"G_ema": _persistent("Generator", **{field: value})}))
    _refused(path, match)


@pytest.mark.parametrize("override,match", [
    ({"channel_max": 0}, "channel_max=0"),
    ({"channel_base": 0}, "channel_base=0"),
    ({"conv_clamp": math.nan}, "conv_clamp=nan"),
    ({"conv_clamp": -math.inf}, "conv_clamp=-inf"),
    ({"num_fp16_res": -2}, "num_fp16_res=-2"),
    ({"z_dim": -16}, "z_dim=-16"),
    ({"z_dim": math.nan}, "z_dim"),
    ({"w_dim": "16"}, "w_dim"),
    ({"img_resolution": 2**30}, "img_resolution=1073741824"),
    ({"img_resolution": 24}, "power of two"),
    ({"resample_filter": "1331"}, "resample_filter"),
])
def test_invalid_architecture_kwargs(tmp_path, tiny_state, override, match):
    _refused(_nvidia(tmp_path, tiny_state, **override), match)


def test_huge_architecture_is_refused_before_it_is_built(tmp_path, tiny_state):
    # Valid numbers, but a 4096-px network with 16384 channels: terabytes of weights from a 100 KB file.
    path = _nvidia(tmp_path, tiny_state, img_resolution=4096, channel_base=2**26, channel_max=16384)
    message = _refused(path, "needs at least")
    assert "img_resolution=4096" in message


# ------------------------------------------------------------------------------ rosinality .pt


def _rosinality(tmp_path, name="ros.pt"):
    path = tmp_path / name
    save_checkpoint(random_checkpoint(tiny_g_config()), path, "rosinality")
    return path


def test_rosinality_args_announcing_a_huge_architecture(tmp_path):
    path = _rosinality(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["args"]["styleblend_g_config"].update(img_resolution=4096, w_dim=16384, z_dim=16384)
    payload["args"]["styleblend_g_config"]["synthesis"].update(channel_base=2**26, channel_max=16384)
    torch.save(payload, path)
    _refused(path, "needs at least")


@pytest.mark.parametrize("value", ["a string", [1, 2], {"style.1.weight": [0.0]}])
def test_rosinality_state_that_is_not_tensors(tmp_path, value):
    path = tmp_path / "odd.pt"
    torch.save({"g_ema": value, "latent_avg": torch.zeros(4)}, path)
    _refused(path, "not a state dict")


def _rezip(path, edit):
    """Rewrite the data.pkl record of a torch zip file with ``edit(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as zin:
        records = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info, data in records:
            zout.writestr(info, edit(data) if info.filename.endswith("/data.pkl") else data)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.replace(b"K\x00K\x04\x85", b"K\x07K\x04\x85"), "reaches element"),  # storage offset past the end
    (lambda d: d.replace(b"K\x00K\x04\x85", b"J\x00\x00\x00\x7fK\x00\x85"), "past the end"),  # empty, far past
    (lambda d: d.replace(b"K\x04t", b"J\x00\x00\x00\x10t"), "announces"),  # storage numel 2**28 > record
    (lambda d: d.replace(b"K\x00K\x04\x85", b"K\x00J\x00\x00\x00\x40\x85", 1), "reaches element"),  # size 2**30
])
def test_torch_file_sizes_are_checked_before_torch_allocates(tmp_path, edit, match):
    path = tmp_path / "t.pt"
    torch.save({"g_ema": {"w": torch.arange(4.0)}}, path)
    _rezip(path, edit)
    _refused(path, match)


def test_legacy_torch_file_storage_larger_than_the_file(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"g_ema": {"w": torch.arange(4.0)}}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    i = data.index(b"cpu")
    j = data.index(b"K\x04", i)  # the storage's element count in its persistent id
    path.write_bytes(data[:j] + b"J\x00\x00\x00\x40" + data[j + 2:])
    _refused(path, "announce")


def test_corrupt_zip_and_torch_errors_are_one_line(tmp_path):
    path = _rosinality(tmp_path)
    data = bytearray(path.read_bytes())
    i = data.index(b"data.pkl") + 100  # inside the pickle record: its CRC no longer matches
    data[i: i + 32] = b"\xff" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(StyleblendError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


# ------------------------------------------------------------------------------ storage blobs


def test_nested_hostile_storage_blob_is_one_line(tmp_path, nvidia_g64):
    data = (nvidia_g64 / "network-snapshot.pkl").read_bytes()
    # Every storage blob names 'torch FloatStorage'; ask for os.system instead (same length).
    hostile = data.replace(b"ctorch\nFloatStorage\n", b"cos\nsystem\n" + b"N" * 9, 1)
    assert hostile != data
    path = tmp_path / "blob.pkl"
    path.write_bytes(hostile)
    message = _refused(path, "os.system|storage", UnsafeCheckpointError)
    assert "weights_only" not in message


# ------------------------------------------------------------------------------ native safetensors


@pytest.mark.parametrize("header,match", [
    ("[1, 2]", "not an object"),
    ('{"format_version": 1, "g_config": [], "meta": {}}', "g_config"),
    ('{"format_version": 1, "g_config": {"mapping": 5}, "meta": {}}', "mapping"),
    ('{"format_version": 1, "meta": []}', "meta"),
    ("[" * 100_000 + "]" * 100_000, "JSON|nested"),
    ("{not json", "JSON"),
])
def test_malformed_native_metadata(tmp_path, header, match):
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    save_file({"g_ema.x": torch.zeros(2)}, str(path), metadata={"styleblend": header})
    _refused(path, match)


def test_native_config_larger_than_its_weights(tmp_path):
    ckpt = random_checkpoint(tiny_g_config())
    path = write_native(ckpt, tmp_path / "ok.safetensors")
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        header = json.loads(f.metadata()["styleblend"])
    header["g_config"]["synthesis"].update(channel_base=2**26, channel_max=16384)
    header["g_config"]["img_resolution"] = 4096
    save_file(tensors, str(path), metadata={"styleblend": json.dumps(header)})
    _refused(path, "needs at least")


def test_native_header_length_beyond_the_file(tmp_path):
    path = write_native(random_checkpoint(tiny_g_config()), tmp_path / "n.safetensors")
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", 2**40)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_legacy_storage_key_list_is_checked_before_torch_reads_it(tmp_path):
    # Found by the fuzz test: torch read the key-list pickle's BINUNICODE length unchecked (MemoryError).
    path = tmp_path / "keys.pt"
    torch.save({"g_ema": {"w": torch.arange(4.0)}}, path, _use_new_zipfile_serialization=False)
    data = bytearray(path.read_bytes())
    offset = 0
    for _ in range(4):  # magic, protocol, system info, the object
        offset += [pos for _, _, pos in pickletools.genops(bytes(data[offset:]))][-1] + 1
    i = data.index(b"X", offset)  # first key: BINUNICODE with a 4-byte length
    data[i + 1: i + 5] = struct.pack("<I", 2**31 - 1)
    path.write_bytes(bytes(data))
    _refused(path, "announces")


def test_reader_errors_are_one_bounded_line(tmp_path):
    from styleblend.io.reading import MAX_MESSAGE, reader

    @reader("test file")
    def read(path):
        raise CheckpointError("a value\nspanning lines " + "x" * 5000)

    with pytest.raises(CheckpointError) as info:
        read(tmp_path / "f.bin")
    message = str(info.value)
    assert "\n" not in message and message.startswith("f.bin: a value spanning lines")
    assert len(message) <= MAX_MESSAGE + len("f.bin: ...")

    @reader("test file")
    def explode(path):
        return {}["missing"]

    with pytest.raises(CheckpointError, match=r"^f.bin: malformed test file \(KeyError: 'missing'\)$"):
        explode(tmp_path / "f.bin")


def test_unexpected_persistent_id_is_one_line(tmp_path, tiny_state):
    data = pickle.dumps(torch.arange(100.0), protocol=3)[:-1] + b"Q."  # BINPERSID with a tensor as the id
    path = tmp_path / "pid.pkl"
    path.write_bytes(data)
    _refused(path, "persistent id", UnsafeCheckpointError)
