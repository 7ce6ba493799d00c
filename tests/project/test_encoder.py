"""The encoder network and its file format: shapes, the W start, save/load, refused files, the size budget."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from styleblend.errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from styleblend.io import load_checkpoint
from styleblend.models import bundled_path
from styleblend.project.encoder import (
    METADATA_KEY,
    Encoder,
    EncoderConfig,
    encode,
    load_encoder,
    make_iterative,
    save_encoder,
)


def _encoder(G, seed=0):
    torch.manual_seed(seed)
    E = Encoder(EncoderConfig.for_generator(G))
    with torch.no_grad():  # non-zero offset heads and statistics, so every tensor matters in a round trip
        E.offset_weight.normal_(std=0.01)
        E.offset_bias.normal_(std=0.01)
        E.w_avg.normal_()
        E.w_std.fill_(0.7)
    return E.eval()


def test_shapes_any_input_size_and_parts(tiny_G):
    E = _encoder(tiny_G)
    for size in (32, 20, 64):
        img = torch.rand([3, 3, size, size]) * 2 - 1
        ws = E(img)
        assert ws.shape == (3, tiny_G.num_ws, tiny_G.w_dim)
    w_base, offsets = E.encode_parts(img)
    assert w_base.shape == (3, tiny_G.w_dim) and offsets.shape == (3, tiny_G.num_ws, tiny_G.w_dim)
    torch.testing.assert_close(E(img), w_base[:, None] + offsets)
    with pytest.raises(InvalidArgumentError, match="expected"):
        E(torch.zeros([1, 1, 32, 32]))


def test_untrained_encoder_predicts_a_point_of_w_near_w_avg(tiny_G):
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(tiny_G)).eval()
    E.w_avg.copy_(torch.randn([tiny_G.w_dim]))
    with torch.no_grad():
        ws = E(torch.rand([2, 3, 32, 32]) * 2 - 1)
    # Offsets start at zero: every row is the base w, and the base starts close to w_avg.
    assert torch.equal(ws, ws[:, :1].expand_as(ws))
    assert float((ws[:, 0] - E.w_avg).norm(dim=1).max()) < 0.5 * float(E.w_avg.norm())


def test_rows_read_the_level_of_their_resolution():
    cfg = EncoderConfig(img_resolution=64, img_channels=3, num_ws=10, w_dim=8, input_resolution=64,
                        channel_base=1024, channel_max=64)
    assert [cfg.row_level(r) for r in range(10)] == ["coarse"] * 3 + ["mid"] * 4 + ["fine"] * 3
    assert cfg.level_resolutions == {"coarse": 4, "mid": 16, "fine": 32}
    big = EncoderConfig(img_resolution=1024, img_channels=3, num_ws=18, w_dim=8, input_resolution=256,
                        channel_base=4096, channel_max=64)
    # pSp's split for 1024 px: rows 0-2 coarse, 3-6 mid, 7-17 fine.
    assert [big.row_level(r) for r in range(18)] == ["coarse"] * 3 + ["mid"] * 4 + ["fine"] * 11


def test_save_load_round_trip_is_exact_and_float16_is_close(tmp_path, tiny_G):
    E = _encoder(tiny_G)
    img = torch.rand([2, 3, 32, 32]) * 2 - 1
    path = save_encoder(tmp_path / "enc.safetensors", E, {"network_sha256": "ab" * 32, "kimg": 1.5})
    E2 = load_encoder(path)
    assert E2.cfg == E.cfg and E2.meta == {"network_sha256": "ab" * 32, "kimg": 1.5}
    for key, value in E.state_dict().items():
        assert torch.equal(value, E2.state_dict()[key]), key
    assert torch.equal(E(img), E2(img))
    assert not any(p.requires_grad for p in E2.parameters()) and not E2.training
    half = save_encoder(tmp_path / "half.safetensors", E, {}, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    torch.testing.assert_close(load_encoder(half)(img), E(img), rtol=0, atol=2e-2)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def _write_raw(path, tensors, header):
    save_file(tensors, str(path), metadata={METADATA_KEY: header if isinstance(header, str) else json.dumps(header)})
    return path


def test_bad_files_are_refused_with_checkpoint_errors(tmp_path, tiny_G, tiny_ckpt):
    E = _encoder(tiny_G)
    good = save_encoder(tmp_path / "good.safetensors", E, {})
    header = {"format_version": 1, "config": E.cfg.to_dict(), "meta": {}}
    state = {k: v.clone().contiguous() for k, v in E.state_dict().items()}
    cases = {}
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoder(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    cases["junk.safetensors"] = "not a readable"
    (tmp_path / "trunc.safetensors").write_bytes(good.read_bytes()[:-100])
    cases["trunc.safetensors"] = "corrupt or truncated|not a readable"
    from styleblend.io import save_checkpoint

    save_checkpoint(tiny_ckpt, tmp_path / "generator.safetensors")
    cases["generator.safetensors"] = "without styleblend encoder metadata"
    _write_raw(tmp_path / "version.safetensors", state, {**header, "format_version": 99})
    cases["version.safetensors"] = "version 99"
    _write_raw(tmp_path / "notjson.safetensors", state, "{not json")
    cases["notjson.safetensors"] = "not JSON"
    _write_raw(tmp_path / "badcfg.safetensors", state, {**header, "config": {**header["config"], "num_ws": -1}})
    cases["badcfg.safetensors"] = "invalid encoder architecture"
    _write_raw(tmp_path / "unknown.safetensors", state, {**header, "config": {**header["config"], "extra": 1}})
    cases["unknown.safetensors"] = "unknown fields"
    _write_raw(tmp_path / "shape.safetensors", state, {**header, "config": {**header["config"], "w_dim": 16}})
    cases["shape.safetensors"] = "shape"
    _write_raw(tmp_path / "missingkey.safetensors", {k: v for k, v in state.items() if k != "base.bias"}, header)
    cases["missingkey.safetensors"] = "1 missing"
    _write_raw(tmp_path / "nan.safetensors", {**state, "offset_bias": state["offset_bias"] * float("nan")}, header)
    cases["nan.safetensors"] = "not finite"
    for name, pattern in cases.items():
        with pytest.raises(CheckpointError, match=pattern):
            load_encoder(tmp_path / name)


def test_generator_mismatch_is_named(tiny_G):
    from tests.project.conftest import tiny_checkpoint

    E = _encoder(tiny_G)
    other = tiny_checkpoint(res=16).generator()
    E.check_generator(tiny_G)
    with pytest.raises(ArchitectureMismatchError, match="train an encoder"):
        E.check_generator(other)


def test_encoder_of_the_bundled_base_fits_the_size_budget():
    path = bundled_path("base")
    G = load_checkpoint(path).generator()
    E = Encoder(EncoderConfig.for_generator(G))
    params = sum(t.numel() for t in E.state_dict().values())
    assert params * 2 <= 5e6  # float16 storage, the 5 MB budget
    assert E(torch.zeros([1, 3, 64, 64])).shape == (1, 10, 128)


def test_make_iterative_first_pass_predicts_what_the_one_shot_encoder_did(tiny_G):
    one_shot = _encoder(tiny_G)
    with torch.no_grad():
        one_shot.offset_bias.normal_(0, 0.1)  # nonzero offsets, so the check covers the per-row heads too
    iterative = make_iterative(one_shot, iterations=3)
    assert iterative.cfg.iterative and iterative.cfg.iterations == 3
    img = torch.rand([2, 3, 32, 32]) * 2 - 1
    with torch.no_grad():
        first = encode(iterative, tiny_G, img, iterations=1)
        again = encode(iterative, tiny_G, img, iterations=2)
    torch.testing.assert_close(first, one_shot(img), rtol=0, atol=1e-6)
    # The reconstruction inputs are zero, so an untrained second pass adds the same correction again.
    torch.testing.assert_close(again - first, first - iterative.start_ws(2), rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="encode"):
        iterative(img)  # a plain call cannot iterate: it needs the generator
    with pytest.raises(InvalidArgumentError, match="already iterative"):
        make_iterative(iterative)
    with pytest.raises(InvalidArgumentError, match="iterations"):
        encode(iterative, tiny_G, img, iterations=0)


def test_iterative_encoder_file_round_trip(tmp_path, tiny_G):
    iterative = make_iterative(_encoder(tiny_G), iterations=2)
    path = save_encoder(tmp_path / "it.safetensors", iterative)
    loaded = load_encoder(path)
    assert loaded.cfg == iterative.cfg
    img = torch.rand([1, 3, 32, 32]) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(encode(loaded, tiny_G, img), encode(iterative.eval(), tiny_G, img))
    with pytest.raises(InvalidArgumentError, match="needs iterative"):
        EncoderConfig.from_dict(dict(loaded.cfg.to_dict(), iterative=False))


def test_the_start_rendering_is_reused_only_for_the_same_generator_state(tiny_G):
    import copy

    iterative = make_iterative(_encoder(tiny_G), iterations=2)
    ws0 = iterative.start_ws(1)
    with torch.no_grad():
        fresh = tiny_G.synthesis(ws0, noise_mode="const")
    first = iterative.start_render(tiny_G, torch.device("cpu"))
    assert torch.equal(first, fresh) and iterative.start_render(tiny_G, torch.device("cpu")) is first  # reused
    other = copy.deepcopy(tiny_G)
    assert iterative.start_render(other, torch.device("cpu")) is not first  # another generator object
    with torch.no_grad():
        next(other.synthesis.parameters()).mul_(1.5)  # an in-place change of its weights
        changed = other.synthesis(ws0, noise_mode="const")
    assert not torch.equal(changed, fresh)
    assert torch.equal(iterative.start_render(other, torch.device("cpu")), changed)
    img = torch.rand([1, 3, 32, 32]) * 2 - 1
    with torch.no_grad():  # encode() with the kept rendering = a run that renders the start itself
        reused = encode(iterative, other, img)
        iterative._start_render = None
        assert torch.equal(reused, encode(iterative, other, img))
