"""Keyframe paths through latent space."""

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.files import latent_source, latent_source_z
from styleblend.latents.paths import build_path, keyframe_times, strip_indices

from ..conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def G():
    return tiny_checkpoint().generator()


def test_keyframe_times():
    seg, t = keyframe_times(2, 4)
    assert seg.tolist() == [0] * 5 and t.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    seg, t = keyframe_times(3, 2, closed=True)
    assert seg.tolist() == [0, 0, 1, 1, 2, 2] and t.tolist() == [0, 0.5] * 3
    with pytest.raises(InvalidArgumentError):
        keyframe_times(1, 4)


def test_morph_paths_hit_the_keys(G):
    keys = torch.cat([latent_source("seed:1", G), latent_source("seed:2", G)])
    ws = build_path(G, keys, "w", frames_per_segment=5)
    assert ws.shape == (6, 8, 32) and torch.equal(ws[0], keys[0]) and torch.equal(ws[-1], keys[1])
    staged = build_path(G, keys, "w", 5, layer_order="coarse-first", spread=0.6)
    assert torch.equal(staged[0], keys[0]) and torch.equal(staged[-1], keys[1])
    dip = build_path(G, keys, "w", 4, psi=1.0, psi_middle=0.0)
    assert torch.allclose(dip[2], G.mapping.w_avg.expand(8, 32), atol=1e-6)  # mid-path psi 0 = w_avg
    z = latent_source_z("seeds:1-3", G)
    zpath = build_path(G, z, "z", 3, closed=True, smooth_sigma=1.0)
    assert zpath.shape == (9, 8, 32)
    with pytest.raises(InvalidArgumentError, match="W\\+"):
        build_path(G, z, "z", 3, layer_order="coarse-first", spread=0.5)


def test_strip_indices():
    assert strip_indices(16, 4) == [0, 5, 10, 15] and strip_indices(3, 8) == [0, 1, 2]
