"""The format registry: one claim per file in any order, one name per format, and a format plugs in by one value."""

from __future__ import annotations

import itertools
import pickle
import random
import types
from pathlib import Path

import pytest
import torch

from styleblend.errors import CheckpointError, InvalidArgumentError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.io.detect import detect_format, recognise
from styleblend.io.format import FileHead, Format
from styleblend.io.registry import (
    DEFAULT_FORMAT,
    FORMATS,
    NATIVE,
    NVIDIA_PKL,
    ROSINALITY,
    check_formats,
    format_for_suffix,
    format_names,
    get_format,
    output_format,
    suffix_for,
    writable_formats,
)

from ..conftest import FIXTURES, NVIDIA_G64, tiny_checkpoint
from .conftest import Reduce, dumps
from .formats.conftest import random_generator, tiny_g_config
from .formats.test_nvidia_tf import tf_generator, tf_module  # noqa: F401 - tf_module is a fixture
from .test_conversion import nvidia_like_pickle, tiny_kwargs


@pytest.fixture
def sample_files(tmp_path, tf_module) -> list[tuple[Path, str]]:  # noqa: F811 - the fixture imported above
    """(file, the format it is) for a small file of every registered format, in every layout we read."""
    ckpt = tiny_checkpoint(0)
    files = [(save_checkpoint(ckpt, tmp_path / "native.safetensors"), "native"),
             (save_checkpoint(ckpt, tmp_path / "zip.pt", "rosinality"), "rosinality")]
    if (NVIDIA_G64 / "network-snapshot.pkl").is_file():  # written by NVIDIA's code (see tests/fixtures/README.md)
        files.append((NVIDIA_G64 / "network-snapshot.pkl", "nvidia-pkl"))
    legacy = tmp_path / "legacy.pt"  # torch.save before 1.6: a pickle stream opening with torch's magic number
    torch.save(torch.load(files[1][0], weights_only=True), legacy, _use_new_zipfile_serialization=False)
    files.append((legacy, "rosinality"))
    built = tmp_path / "built.pkl"
    built.write_bytes(nvidia_like_pickle(ckpt.g_ema, **tiny_kwargs(ckpt.g_config)))
    files.append((built, "nvidia-pkl"))
    tf = tmp_path / "tf.pkl"
    tf.write_bytes(dumps(tf_generator(random_generator(tiny_g_config(), 0)), protocol=3))
    files.append((tf, "nvidia-tf"))
    assert {name for _, name in files} == set(format_names()), "give every registered format a sample file"
    return files


def test_every_sample_is_claimed_by_exactly_its_format_and_reads_back(sample_files):
    for path, name in sample_files:
        head = FileHead.read(path)
        assert [f.name for f in FORMATS if f.recognise(head)] == [name], path.name
        ckpt = load_checkpoint(path)
        assert ckpt.format == name and ckpt.source == path


def test_a_stylegan3_snapshot_is_in_the_nvidia_pickle_format():
    """StyleGAN3 is an architecture inside NVIDIA's PyTorch container, not a format of its own: the registry
    recognises the container, and the container's reader decides what it can build from it."""
    path = FIXTURES / "nvidia-sg3t32" / "network-snapshot.pkl"
    if not path.is_file():
        pytest.skip("StyleGAN3 fixture missing")
    assert detect_format(path) == NVIDIA_PKL.name


def test_detection_does_not_depend_on_the_order_of_the_registry(sample_files):
    for order in itertools.permutations(FORMATS):
        for path, name in sample_files:
            assert detect_format(path, order) == name


def test_a_file_no_format_claims_is_one_error_line(tmp_path):
    cases = {"notes.pkl": b"plain text, not a checkpoint\n" * 10,
             "dict.pkl": pickle.dumps({"a": [1, 2]}, protocol=4),
             "numpy.pkl": dumps(Reduce("numpy", "array", [1, 2]))}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        for order in (FORMATS, FORMATS[::-1]):
            with pytest.raises(CheckpointError) as info:
                detect_format(tmp_path / name, order)
            message = str(info.value)
            assert "\n" not in message and name in message and "supported:" in message
            assert all(f.label in message for f in FORMATS)  # says what would have been read
    with pytest.raises(CheckpointError, match=r"numpy\.pkl is a pickle but not a known network checkpoint.*'numpy'"):
        load_checkpoint(tmp_path / "numpy.pkl")


def test_a_file_two_formats_claim_is_refused_in_any_order(tmp_path):
    # Names both NVIDIA's PyTorch persistence and TensorFlow's tflib: no order may pick one silently.
    path = tmp_path / "both.pkl"
    path.write_bytes(dumps({"a": Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", {}),
                            "b": Reduce("dnnlib.tflib.network", "Network", {})}))
    for order in (FORMATS, FORMATS[::-1], random.Random(0).sample(FORMATS, len(FORMATS))):
        with pytest.raises(CheckpointError, match="cannot tell how to read it") as info:
            detect_format(path, order)
        assert "\n" not in str(info.value) and "PyTorch" in str(info.value) and "TensorFlow" in str(info.value)
    with pytest.raises(CheckpointError, match="both.pkl looks like"):
        load_checkpoint(path)


def test_names_and_suffixes_are_declared_once():
    check_formats(FORMATS)
    assert len({f.name for f in FORMATS}) == len(FORMATS)
    assert DEFAULT_FORMAT in FORMATS and DEFAULT_FORMAT.writes
    for fmt in FORMATS:
        codec = fmt.codec()
        assert callable(codec.read) and callable(getattr(codec, "write", None)) == fmt.writes, fmt.name
        assert get_format(fmt.name) is fmt and suffix_for(fmt.name) == fmt.suffixes[0]
    with pytest.raises(InvalidArgumentError, match="choose one of .*'rosinality'"):
        get_format("caffe")
    with pytest.raises(AssertionError):
        check_formats((NATIVE, NATIVE))
    with pytest.raises(AssertionError):  # two written formats may not share a suffix: output_format would guess
        check_formats((ROSINALITY, Format("other", "x", (".pt",), lambda h: False, NATIVE.codec, writes=True)))


def test_output_format_and_writable_formats(tmp_path, nvidia_g64):
    mem = tiny_checkpoint(0)
    assert output_format(mem, "x.safetensors") == NATIVE.name and output_format(mem, "X.PKL") == NVIDIA_PKL.name
    assert output_format(mem, "x.pth") == ROSINALITY.name and output_format(mem, "x.bin") == DEFAULT_FORMAT.name
    assert format_for_suffix("x.pkl") is NVIDIA_PKL  # the TensorFlow format shares .pkl but is never written
    assert writable_formats(mem) == [NATIVE.name, ROSINALITY.name]
    nvidia = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    assert output_format(nvidia) == NVIDIA_PKL.name
    assert writable_formats(nvidia) == [NATIVE.name, NVIDIA_PKL.name, ROSINALITY.name]
    with pytest.raises(CheckpointError, match=r"`template`: convert_checkpoint\(ckpt, out, .nvidia-pkl., template="):
        save_checkpoint(mem, tmp_path / "x.pkl", NVIDIA_PKL.name)
    with pytest.raises(InvalidArgumentError, match="cannot write format 'nvidia-tf'"):
        save_checkpoint(mem, tmp_path / "x.pkl", "nvidia-tf")


def test_a_new_format_plugs_in_with_one_value(tmp_path):
    """A toy format: recognised by its magic, read by its codec, named by the registry value alone."""
    magic = b"TOYCKPT\x00"

    def read(path: Path) -> Checkpoint:
        ckpt = tiny_checkpoint(int(path.read_bytes()[len(magic):]))
        ckpt.source = path
        return ckpt

    codec = types.ModuleType("toy_codec")
    codec.read = read  # type: ignore[attr-defined]
    toy = Format(name="toy", label="toy checkpoint", suffixes=(".toy",), recognise=lambda h: h.data.startswith(magic),
                 codec=lambda: codec)
    path = tmp_path / "m.toy"
    path.write_bytes(magic + b"3")
    registry = (*FORMATS, toy)
    head = FileHead.read(path)
    assert recognise(head, registry) is toy and recognise(head, registry[::-1]) is toy
    ckpt = toy.read(path)
    assert ckpt.format == "toy" and torch.equal(ckpt.g_ema["mapping.w_avg"], tiny_checkpoint(3).g_ema["mapping.w_avg"])
    with pytest.raises(CheckpointError, match="not a checkpoint styleblend knows"):
        detect_format(path)  # not registered: the shipped registry does not know it
    with pytest.raises(InvalidArgumentError, match="reads toy checkpoints but does not write them"):
        toy.write(ckpt, tmp_path / "out.toy")
