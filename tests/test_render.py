"""Rendering ws -> images: batching, frames, seed noise, and the ws shape check."""

import numpy as np
import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.render import iter_frames, noise_buffers, render_frames, render_with_seed_noise, render_ws

from .conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def G():
    return tiny_checkpoint().generator()


def test_batches_do_not_change_the_images_and_report_progress(G):
    ws = seeds_to_ws(G, range(5))
    calls = []
    one_pass = render_ws(G, ws, batch_size=5)
    batched = render_ws(G, ws, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert one_pass.shape == (5, 3, 32, 32) and not one_pass.requires_grad
    assert torch.allclose(batched, one_pass, atol=1e-5)
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_frames_are_the_uint8_images(G):
    ws = seeds_to_ws(G, range(5))
    calls = []
    frames = render_frames(G, ws, batch_size=2, callback=lambda d, t: calls.append((d, t)))
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert np.abs(frames.astype(int) - to_uint8(render_ws(G, ws, batch_size=5)).astype(int)).max() <= 1
    stream = iter_frames(G, ws[:3], batch_size=8)
    assert next(stream).shape == (32, 32, 3) and len(list(stream)) == 2
    assert render_frames(G, ws[:0]).shape == (0, 32, 32, 3)


def test_wrong_ws_and_batch_are_user_errors(G):
    with pytest.raises(InvalidArgumentError, match=r"\[N, 8, 32\]"):
        render_ws(G, torch.zeros(2, 7, 32))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        render_frames(G, seeds_to_ws(G, [0]), batch_size=0)


def test_seed_noise_is_per_seed_and_restored(G):
    ws = seeds_to_ws(G, [1, 2])
    before = [b.clone() for b in noise_buffers(G)]
    pair = render_with_seed_noise(G, ws, [1, 2])
    assert all(torch.equal(a, b) for a, b in zip(before, noise_buffers(G)))  # buffers restored
    assert torch.equal(render_with_seed_noise(G, ws[1:], [2])[0], pair[1])  # image i depends on seed i only
    assert not torch.allclose(pair, render_ws(G, ws))  # the seed's noise, not the stored one
    with pytest.raises(InvalidArgumentError, match="2 seeds for 1 latents"):
        render_with_seed_noise(G, ws[:1], [1, 2])
