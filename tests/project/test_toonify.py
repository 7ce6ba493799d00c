"""The toonify pipeline: embed once with the base, render through every blend, reuse the cached embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.errors import ArchitectureMismatchError
from styleblend.io import Checkpoint, save_checkpoint
from styleblend.media.images import to_uint8
from styleblend.project.toonify import toonify

from .conftest import tiny_checkpoint, tiny_config


@pytest.fixture()
def models(tmp_path, tiny_ckpt):
    base = save_checkpoint(tiny_ckpt, tmp_path / "base.safetensors")
    blend = save_checkpoint(tiny_checkpoint(seed=1), tmp_path / "blend1.safetensors")
    return base, blend


def _photo(tmp_path, G):
    with torch.no_grad():
        a = to_uint8(G(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0))))[0]
    path = tmp_path / "photo.png"
    Image.fromarray(a).save(path)
    return path


def test_toonify_renders_blends_and_caches(tmp_path, models, tiny_G, no_vgg):
    base, blend = models
    photo = _photo(tmp_path, tiny_G)
    calls = []
    r1 = toonify(base, [blend], photo, tmp_path / "out", align=False, method="fast", steps=4,
                 callback=lambda s, p, w: calls.append(s))
    assert not r1.cache_hit and calls == [1, 2, 3, 4] and r1.cache_path.is_file()
    for name in ("target.png", "reconstruction.png", "toon_blend1.png", "toonify.png"):
        assert (tmp_path / "out" / name).is_file()
    assert Image.open(tmp_path / "out" / "toonify.png").size == (3 * 32, 32)
    # The toon is the blend model rendering the base embedding.
    Gb = tiny_checkpoint(seed=1).generator()
    with torch.no_grad():
        expected = to_uint8(Gb.synthesis(r1.ws, noise_mode="const"))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "toon_blend1.png")), expected)
    calls.clear()
    r2 = toonify(base, [blend, base], photo, tmp_path / "out", align=False, method="fast", steps=4,
                 callback=lambda s, p, w: calls.append(s))
    assert r2.cache_hit and calls == [] and torch.equal(r1.ws, r2.ws)
    r3 = toonify(base, [blend], photo, tmp_path / "out", align=False, method="fast", steps=5)
    assert not r3.cache_hit and r3.cache_path != r1.cache_path
    # Every setting is part of the key, not only method and steps (here the learning rate).
    r4 = toonify(base, [blend], photo, tmp_path / "out", align=False, method="fast", steps=4, lr=0.05)
    assert not r4.cache_hit and r4.cache_path not in (r1.cache_path, r3.cache_path)


def test_toonify_refuses_other_latent_layouts(tmp_path, models, tiny_G, no_vgg):
    from styleblend.nn import Generator

    base, _ = models
    cfg16 = tiny_config(16)
    other = save_checkpoint(Checkpoint(g_config=cfg16, g_ema=Generator(cfg16).state_dict()), tmp_path / "o.safetensors")
    with pytest.raises(ArchitectureMismatchError):
        toonify(base, [other], _photo(tmp_path, tiny_G), tmp_path / "out", align=False, method="fast", steps=1)


def test_toonify_cli(tmp_path, models, tiny_G, no_vgg, capsys):
    base, blend = models
    photo = _photo(tmp_path, tiny_G)
    args = ["toonify", "--base", str(base), "--blend", str(blend), "--photo", str(photo), "--outdir",
            str(tmp_path / "o"), "--no-align", "--method", "fast", "--steps", "2"]
    assert main(args) == 0
    assert "embedded into" in capsys.readouterr().out
    assert main(args) == 0
    assert "reused embedding" in capsys.readouterr().out


def test_toonify_aligns_the_largest_face_with_a_given_detector(tmp_path, models, tiny_G, no_vgg):
    from styleblend.align.landmarks import Face

    base, blend = models
    photo = tmp_path / "photo.png"
    Image.new("RGB", (200, 160), (120, 100, 90)).save(photo)

    def face(cx, cy, d):
        lm = np.zeros((68, 2))
        lm[36:42], lm[42:48] = (cx - d / 2, cy), (cx + d / 2, cy)
        lm[48], lm[54] = (cx - d / 3, cy + d), (cx + d / 3, cy + d)
        return Face(landmarks=lm, box=(int(cx - d), int(cy - d), int(cx + d), int(cy + 2 * d)))

    class TwoFaces:
        def detect(self, image):
            return [face(50, 60, 20), face(130, 60, 40)]

    r = toonify(base, [blend], photo, tmp_path / "out", detector=TwoFaces(), method="fast", steps=1)
    assert r.target.shape == (32, 32, 3)
    assert r.cache_path.is_file() and (tmp_path / "out" / "toon_blend1.png").is_file()


def test_toonify_with_zero_steps_is_the_encoder_prediction_and_needs_no_loss(tmp_path, models, tiny_G, no_vgg):
    from styleblend.io import load_checkpoint
    from styleblend.media.images import from_uint8
    from styleblend.project.encoder import Encoder, EncoderConfig, encode, load_encoder, save_encoder

    base, blend = models
    G = load_checkpoint(base).generator()
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(G))
    with torch.no_grad():
        E.offset_weight.normal_(std=0.02)
    enc = save_encoder(tmp_path / "enc.safetensors", E)
    photo = _photo(tmp_path, tiny_G)
    calls = []
    r = toonify(base, [blend], photo, tmp_path / "out", align=False, steps=0, encoder=enc,
                callback=lambda s, p, w: calls.append(s))
    assert calls == [] and r.warning is None  # nothing optimised: no "no VGG-16 weights" warning either
    assert r.metrics["embedding"]["loss"] == "none (no optimisation)"
    with torch.no_grad():
        expected = encode(load_encoder(enc), G, from_uint8(r.target))
    torch.testing.assert_close(r.ws.cpu(), expected, rtol=0, atol=1e-5)
    refined = toonify(base, [blend], photo, tmp_path / "out2", align=False, steps=2, encoder=enc)
    assert refined.warning is not None and not torch.equal(refined.ws, r.ws)  # with steps, the loss is resolved
