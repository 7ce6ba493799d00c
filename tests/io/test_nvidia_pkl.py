"""NVIDIA pickles: safe reading, refusal of hostile and corrupt files, in-place tensor writing."""

import pickle
import pickletools
import shutil

import pytest
import torch

from styleblend.errors import CheckpointError, UnsafeCheckpointError, UnsupportedArchitectureError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.formats.nvidia_pkl import STAND_INS
from styleblend.io.safe_unpickle import restricted_load

from .conftest import Reduce, dumps


def test_reads_architecture_and_all_networks(nvidia_g64):
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    assert ckpt.format == "nvidia-pkl"
    assert ckpt.g_config.img_resolution == 64 and ckpt.g_config.num_ws == 10
    assert ckpt.g_config.mapping.num_layers == 4 and ckpt.g_config.synthesis.channel_max == 64
    assert ckpt.d_config is not None and ckpt.d_config.architecture == "resnet"
    assert ckpt.g is not None and ckpt.d is not None
    # The fixture's G deliberately differs from G_ema.
    assert any(not torch.equal(ckpt.g[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    ckpt.discriminator()(torch.zeros(2, 3, 64, 64))


def _marker_payload(tmp_path, module="os", name="system"):
    marker = tmp_path / "pwned"
    return marker, Reduce(module, name, f"touch {marker}")


@pytest.mark.parametrize("global_name", [("os", "system"), ("builtins", "eval"), ("subprocess", "call"),
                                         ("posix", "system")])
def test_hostile_pickle_is_refused_without_side_effect(tmp_path, global_name):
    marker, payload = _marker_payload(tmp_path, *global_name)
    path = tmp_path / "network-snapshot-evil.pkl"
    path.write_bytes(dumps({"G_ema": payload, "training_set_kwargs": Reduce("torch_utils.persistence", "x")}))
    with pytest.raises(UnsafeCheckpointError, match=f"{global_name[0]}.{global_name[1]}"):
        load_checkpoint(path)
    assert not marker.exists()


def test_hostile_object_nested_inside_allowed_structure(tmp_path):
    marker, payload = _marker_payload(tmp_path)
    meta = {"type": "class", "version": 6, "module_src": "import os", "class_name": "Generator",
            "state": {"_init_kwargs": {"z_dim": payload}}}
    data = dumps({"G_ema": Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)})
    with pytest.raises(UnsafeCheckpointError):
        restricted_load(data, extra=STAND_INS)
    assert not marker.exists()


def test_module_source_is_never_executed(tmp_path, nvidia_g64):
    # Replace the sanitised source of every network with code that would create a marker file.
    marker = tmp_path / "executed"
    data = (nvidia_g64 / "network-snapshot.pkl").read_bytes()
    ckpt_path = tmp_path / "src.pkl"
    ckpt_path.write_bytes(data)
    ckpt = load_checkpoint(ckpt_path)
    assert all("open(" not in str(v) for v in ckpt.meta.values())
    evil = f"open({str(marker)!r}, 'w').write('x')"
    # Same-length replacement keeps the pickle valid.
    needle = b"# source removed"
    assert needle in data
    replacement = (evil.encode()[: len(needle)]).ljust(len(needle), b" ")
    (tmp_path / "evil.pkl").write_bytes(data.replace(needle, replacement))
    load_checkpoint(tmp_path / "evil.pkl").generator()
    assert not marker.exists()


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"hello world, not a model", "not a checkpoint"),
    (b"\x80\x04\x95", "pickle|corrupt"),
])
def test_corrupt_files_give_one_clear_error(tmp_path, content, match):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_truncated_snapshot_is_refused(tmp_path, nvidia_g64):
    data = (nvidia_g64 / "network-snapshot.pkl").read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        path = tmp_path / "cut.pkl"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_write_replaces_tensors_in_place(tmp_path, nvidia_g64):
    src = tmp_path / "src.pkl"
    shutil.copy(nvidia_g64 / "network-snapshot.pkl", src)
    ckpt = load_checkpoint(src)
    key = "synthesis.b16.conv1.weight"
    ckpt.g_ema = {k: v.clone() for k, v in ckpt.g_ema.items()}
    ckpt.g_ema[key] += 1.0
    ckpt.g_ema["mapping.w_avg"] = torch.arange(128, dtype=torch.float32)
    out = save_checkpoint(ckpt, tmp_path / "out.pkl", "nvidia-pkl")
    back = load_checkpoint(out)
    for k in ckpt.g_ema:
        assert torch.equal(back.g_ema[k], ckpt.g_ema[k]), k
    original = load_checkpoint(src)
    for k in original.g:
        assert torch.equal(back.g[k], original.g[k])
    assert not torch.equal(back.g_ema[key], original.g_ema[key])
    # Structure untouched: same size and the same opcode stream apart from tensor bytes.
    a, b = src.read_bytes(), out.read_bytes()
    assert len(a) == len(b)
    ops_a = [(op.name, pos) for op, _, pos in pickletools.genops(a)]
    ops_b = [(op.name, pos) for op, _, pos in pickletools.genops(b)]
    assert ops_a == ops_b


def test_write_refuses_shape_change(tmp_path, nvidia_g64):
    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    ckpt.g_ema = dict(ckpt.g_ema)
    ckpt.g_ema["mapping.fc0.weight"] = torch.zeros(3, 3)
    with pytest.raises(Exception, match="shape"):
        save_checkpoint(ckpt, tmp_path / "out.pkl", "nvidia-pkl")
    assert not (tmp_path / "out.pkl").exists()


def test_stylegan3_tree_whose_layers_do_not_fit_its_kwargs_is_refused_clearly(tmp_path):
    def persistent(class_name, modules=None, **kwargs):
        state = {"_parameters": {}, "_buffers": {}, "_modules": modules or {}, "_init_args": (),
                 "_init_kwargs": kwargs}
        meta = {"type": "class", "version": 6, "module_src": "# source removed", "class_name": class_name,
                "state": state}
        return Reduce("torch_utils.persistence", "_reconstruct_persistent_obj", meta)

    synthesis = persistent("SynthesisNetwork", {"input": persistent("SynthesisInput"),
                                                 "L0_36_512": persistent("SynthesisLayer")})
    G = persistent("Generator", {"synthesis": synthesis}, z_dim=512, c_dim=0, w_dim=512, img_resolution=1024,
                   img_channels=3)
    path = tmp_path / "sg3.pkl"
    path.write_bytes(dumps({"G_ema": G}))
    with pytest.raises(UnsupportedArchitectureError, match="StyleGAN3 synthesis layers"):
        load_checkpoint(path)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_stream_positions_of_blobs_match_opcode_scan(tmp_path, protocol):
    from styleblend.io.formats.nvidia_pkl import _blob_offsets

    # Several storages of different sizes, some inside protocol-4 frames and some outside.
    tensors = {f"t{i}": torch.randn(n) for i, n in enumerate([3, 70000, 5, 20000, 1])}
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(tensors, protocol=protocol))
    with path.open("rb") as f:
        obj, unpickler = restricted_load(f)
    ends = [s + n for s, n in _blob_offsets(path)]
    for name, t in obj.items():
        origin = unpickler.tensor_origins[id(t)]
        assert origin.storage.blob_end == ends[origin.storage.blob_index]
        assert torch.equal(t, tensors[name])


def test_write_after_source_changed_reparses(tmp_path, nvidia_g64):
    src = tmp_path / "src.pkl"
    shutil.copy(nvidia_g64 / "network-snapshot.pkl", src)
    ckpt = load_checkpoint(src)
    ckpt.g_ema = {k: v + 0.5 for k, v in ckpt.g_ema.items()}
    import os

    os.utime(src, ns=(0, 0))  # the cached layout no longer matches
    back = load_checkpoint(save_checkpoint(ckpt, tmp_path / "out.pkl", "nvidia-pkl"))
    assert all(torch.equal(back.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)


def test_storage_contents_for_shared_and_whole_storages():
    from styleblend.io.formats.nvidia_pkl import _storage_contents
    from styleblend.io.safe_unpickle import StorageRef, TensorOrigin

    base = torch.arange(10, dtype=torch.float32)
    ref = StorageRef(0, base.untyped_storage(), torch.float32)
    # Two views sharing one storage: only their elements change.
    first = TensorOrigin(ref, 0, (2, 2), (2, 1))
    last = TensorOrigin(ref, 8, (2,), (1,))
    out = _storage_contents(ref, [(first, torch.full((2, 2), -1.0)), (last, torch.tensor([7.0, 7.0]))])
    assert out.tolist() == [-1, -1, -1, -1, 4, 5, 6, 7, 7, 7]
    assert base.tolist() == list(range(10))  # the source storage is not modified
    whole = TensorOrigin(ref, 0, (10,), (1,))
    assert _storage_contents(ref, [(whole, torch.ones(10, dtype=torch.float64))]).tolist() == [1.0] * 10
