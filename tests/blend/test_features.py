"""Feature region blends (styleblend.blend.features) on tiny generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from styleblend.blend.features import (
    feature_blend,
    iter_feature_blend,
    parse_feature_layers,
    soft_region,
)
from styleblend.errors import InvalidArgumentError
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.render import render_ws

from .conftest import finetuned, tiny_checkpoint


@pytest.fixture(scope="module")
def pair():
    base = tiny_checkpoint(0, res=32)
    return base.generator(), finetuned(base, 0.3).generator()


def corner(size: int = 32, side: int = 8) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[:side, :side] = True
    return m


def test_alpha_zero_or_empty_region_is_the_base_bit_for_bit(pair):
    Gb, Gt = pair
    ws = seeds_to_ws(Gb, [0, 1, 2])
    base = render_ws(Gb, ws)
    assert torch.equal(feature_blend(Gb, Gt, ws, corner(), [8, 16, 32], alpha=0.0), base)
    assert torch.equal(feature_blend(Gb, Gt, ws, torch.zeros(32, 32), [4, 8, 16, 32], feather=2.0), base)


def test_full_region_at_every_block_is_the_transfer_bit_for_bit(pair):
    Gb, Gt = pair
    ws = seeds_to_ws(Gb, [0, 1, 2])
    out = feature_blend(Gb, Gt, ws, torch.ones(32, 32), [4, 8, 16, 32], alpha=1.0, feather=0.0)
    assert torch.equal(out, render_ws(Gt, ws))
    assert not torch.equal(out, render_ws(Gb, ws))


def test_mixing_only_the_last_block_composites_the_two_images(pair):
    Gb, Gt = pair
    ws = seeds_to_ws(Gb, [3, 4])
    m = soft_region(corner(16, 6), 32, feather=1.5)  # soft edge, a 16 px mask enlarged to 32
    out = feature_blend(Gb, Gt, ws, corner(16, 6), [32], alpha=0.7, feather=1.5)
    expected = torch.lerp(render_ws(Gb, ws), render_ws(Gt, ws), 0.7 * m)
    assert torch.allclose(out, expected, atol=1e-6)


def test_pixels_beyond_the_convs_reach_stay_the_base(pair):
    Gb, Gt = pair
    ws = seeds_to_ws(Gb, [5, 6])
    base = render_ws(Gb, ws)
    out = feature_blend(Gb, Gt, ws, corner(32, 8), [16, 32], feather=0.0)
    change = (out - base).abs().amax(dim=1)
    assert float(change[:, :8, :8].mean()) > 0.05  # the region changed
    assert torch.equal(out[:, :, 20:, :], base[:, :, 20:, :])  # rows far below it did not, bit for bit
    assert torch.equal(out[:, :, :, 20:], base[:, :, :, 20:])


def test_soft_region_sizes_and_edges():
    hard = soft_region(corner(8, 4), 32, feather=0.0)
    assert hard.shape == (1, 1, 32, 32) and set(torch.unique(hard).tolist()) == {0.0, 1.0}
    assert float(hard[0, 0, :16, :16].min()) == 1.0  # an 8 px mask enlarged by repetition
    soft = soft_region(corner(32, 16), 32, feather=2.0)
    edge = soft[0, 0, 8, 14:19]
    assert 0 < float(edge.min()) < 1 and bool((edge[1:] <= edge[:-1]).all())  # falls off across the edge
    assert torch.equal(soft_region(torch.ones(64, 64), 32, feather=3.0), torch.ones(1, 1, 32, 32))
    assert float(soft_region(corner(64, 32), 32, 0.0).mean()) == pytest.approx(0.25)


def test_video_frames_follow_a_region_function(pair):
    Gb, Gt = pair
    ws = seeds_to_ws(Gb, [0, 1, 2, 3, 4])
    masks = torch.stack([corner(32, 4 + 4 * i) for i in range(5)])
    calls = []

    def region(batch: torch.Tensor) -> torch.Tensor:
        idx = [int((ws == w).all(dim=(1, 2)).nonzero()[0]) for w in batch]
        calls.append(len(idx))
        return masks[idx]

    frames = np.stack(list(iter_feature_blend(Gb, Gt, ws, region, [16, 32], batch_size=2)))
    assert calls == [2, 2, 1]
    expected = to_uint8(feature_blend(Gb, Gt, ws, masks, [16, 32]))
    assert np.array_equal(frames, expected)
    fixed = np.stack(list(iter_feature_blend(Gb, Gt, ws, masks, [16, 32], batch_size=3)))
    assert np.array_equal(fixed, expected)


def test_layers_parse_and_errors(pair):
    Gb, Gt = pair
    res = (4, 8, 16, 32)
    assert parse_feature_layers("16-32", res) == (16, 32)
    assert parse_feature_layers("b8,32", res) == (8, 32)
    for bad in ("12", "64", "x", ""):
        with pytest.raises(InvalidArgumentError, match="layers"):
            parse_feature_layers(bad, res)
    ws = seeds_to_ws(Gb, [0])
    with pytest.raises(InvalidArgumentError, match="alpha"):
        feature_blend(Gb, Gt, ws, corner(), [32], alpha=1.5)
    with pytest.raises(InvalidArgumentError, match="feather"):
        feature_blend(Gb, Gt, ws, corner(), [32], feather=-1)
    with pytest.raises(InvalidArgumentError, match="divide"):
        feature_blend(Gb, Gt, ws, corner(12, 4), [32])
    with pytest.raises(InvalidArgumentError, match="region masks"):
        feature_blend(Gb, Gt, ws, torch.stack([corner(), corner()]), [32])
    other = tiny_checkpoint(0, res=16).generator()
    with pytest.raises(InvalidArgumentError, match="architectures"):
        feature_blend(Gb, other, ws, corner(), [16])
