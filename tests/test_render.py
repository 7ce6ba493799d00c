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


# -- StyleGAN3 translation / rotation sweeps ------------------------------------------------------------

def test_transform_sweep_is_linear_and_closes_as_asked():
    from styleblend.render import transform_sweep

    steps = transform_sweep(5, ((0.0, 0.1), (0.4, -0.3)), (0.0, 90.0))
    assert steps[0] == (0.0, 0.1, 0.0) and steps[-1] == pytest.approx((0.4, -0.3, 90.0))
    assert [round(r, 6) for *_, r in steps] == [0.0, 22.5, 45.0, 67.5, 90.0]
    loop = transform_sweep(4, rotate=(0.0, 360.0), loop=True)
    assert [r for *_, r in loop] == [0.0, 90.0, 180.0, 270.0]  # 360 would repeat frame 0
    bounce = transform_sweep(3, rotate=(0.0, 10.0), bounce=True)
    assert [r for *_, r in bounce] == [0.0, 5.0, 10.0, 5.0]
    assert transform_sweep(1, rotate=(7.0, 9.0)) == [(0.0, 0.0, 7.0)]
    with pytest.raises(InvalidArgumentError, match="pick one"):
        transform_sweep(3, loop=True, bounce=True)
    with pytest.raises(InvalidArgumentError, match="1-100000"):
        transform_sweep(0)
    with pytest.raises(InvalidArgumentError, match="finite"):
        transform_sweep(2, rotate=(0.0, float("nan")))


def test_transform_frames_render_each_step_and_restore_the_transform():
    from styleblend.media.images import make_grid
    from styleblend.render import iter_transform_frames, set_user_transform, transform_sweep

    from .conftest import tiny_sg3_checkpoint

    G = tiny_sg3_checkpoint(kind="R").generator()
    before = G.synthesis.input.transform.clone()
    ws = seeds_to_ws(G, [1, 2, 3])
    steps = transform_sweep(3, ((0.0, 0.0), (0.2, 0.1)), (0.0, 30.0))
    calls = []
    frames = list(iter_transform_frames(G, ws, steps, cols=2, callback=lambda d, t: calls.append((d, t))))
    assert calls == [(1, 3), (2, 3), (3, 3)] and torch.equal(G.synthesis.input.transform, before)
    G2 = tiny_sg3_checkpoint(kind="R").generator()  # an independent render of each step
    for frame, (x, y, degrees) in zip(frames, steps):
        set_user_transform(G2, (x, y), degrees)
        expected = make_grid(to_uint8(render_ws(G2, ws)), cols=2)
        assert frame.shape == (2 * 16, 2 * 16, 3)
        np.testing.assert_array_equal(frame, expected)
    assert not np.array_equal(frames[0], frames[-1])
    # Stopped after one frame: the transform is restored too.
    it = iter_transform_frames(G, ws, steps[1:])
    next(it)
    assert not torch.equal(G.synthesis.input.transform, before)  # moved while the sweep runs
    it.close()
    assert torch.equal(G.synthesis.input.transform, before)


def test_transform_frames_refuse_stylegan2_and_bad_grids(G):
    from styleblend.render import iter_transform_frames

    from .conftest import tiny_sg3_checkpoint

    with pytest.raises(InvalidArgumentError, match="StyleGAN3"):
        iter_transform_frames(G, seeds_to_ws(G, [0]), [(0.0, 0.0, 10.0)])
    G3 = tiny_sg3_checkpoint().generator()
    with pytest.raises(InvalidArgumentError, match="cols"):
        iter_transform_frames(G3, seeds_to_ws(G3, [0, 1]), [(0.0, 0.0, 10.0)], cols=3)
    with pytest.raises(InvalidArgumentError, match="no transform steps"):
        iter_transform_frames(G3, seeds_to_ws(G3, [0]), [])
