import pytest
import torch

from styleblend.errors import CheckpointError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.formats import native

from ..conftest import tiny_checkpoint


def test_round_trip_is_bit_exact(tmp_path):
    ckpt = tiny_checkpoint(with_d=True)
    ckpt.meta = {"note": "x"}
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    back = load_checkpoint(path)
    assert back.format == "native" and back.g_config == ckpt.g_config and back.d_config == ckpt.d_config
    for part in ("g_ema", "g", "d"):
        a, b = getattr(ckpt, part), getattr(back, part)
        assert set(a) == set(b)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert back.meta["note"] == "x"


def test_fp16_storage_loads_as_float32(tmp_path):
    ckpt = tiny_checkpoint()
    path = native.write(ckpt, tmp_path / "m.safetensors", dtype=torch.float16)
    back = load_checkpoint(path)
    for k, v in ckpt.g_ema.items():
        assert back.g_ema[k].dtype == torch.float32
        assert torch.allclose(back.g_ema[k], v, atol=1e-2, rtol=1e-3)


def test_same_images_after_round_trip(tmp_path, nvidia_g64):
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    back = load_checkpoint(save_checkpoint(ckpt, tmp_path / "m.safetensors"))
    z = torch.randn(2, 128)
    assert torch.equal(ckpt.generator()(z), back.generator()(z))


def test_truncated_native_file_is_refused(tmp_path):
    path = save_checkpoint(tiny_checkpoint(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(native, "save_file", boom)
    with pytest.raises(RuntimeError):
        save_checkpoint(tiny_checkpoint(), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []
