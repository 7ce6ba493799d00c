"""ADA augmentation: identities, geometry, colour invariants, differentiability and the p update."""

from __future__ import annotations

import math

import pytest
import torch

from styleblend.train.augment import AugmentPipe, ada_adjust, apply_color, color_matrices, translate_integer


def test_p_zero_is_identity_object():
    img = torch.randn(4, 3, 8, 8)
    assert AugmentPipe(p=0.0)(img) is img


def test_translate_integer_shifts_and_reflects():
    img = torch.arange(5.0).reshape(1, 1, 1, 5).repeat(1, 1, 3, 1)
    out = translate_integer(img, torch.tensor([1]), torch.tensor([0]))
    # Shift right by one: the left border reflects pixel 1 (edge not repeated).
    assert out[0, 0, 0].tolist() == [1.0, 0.0, 1.0, 2.0, 3.0]
    out = translate_integer(img, torch.tensor([-2]), torch.tensor([0]))
    assert out[0, 0, 0].tolist() == [2.0, 3.0, 4.0, 3.0, 2.0]
    assert torch.equal(translate_integer(img, torch.tensor([0]), torch.tensor([0])), img)


def test_translate_integer_vertical_matches_transpose():
    torch.manual_seed(0)
    img = torch.randn(2, 3, 6, 6)
    tx, ty = torch.tensor([2, -1]), torch.tensor([-3, 1])
    a = translate_integer(img, tx, ty)
    b = translate_integer(img.transpose(2, 3), ty, tx).transpose(2, 3)
    assert torch.equal(a, b)


def test_color_matrices_identity_at_p_zero():
    m = color_matrices(5, 0.0, torch.device("cpu"))
    assert torch.allclose(m, torch.eye(4).expand(5, 4, 4))


def test_hue_and_saturation_keep_grey_grey():
    torch.manual_seed(1)
    grey = torch.rand(6, 1, 4, 4).repeat(1, 3, 1, 1) * 2 - 1
    m = color_matrices(6, 1.0, torch.device("cpu"), brightness_std=0, contrast_std=0, lumaflip=False)
    assert torch.allclose(apply_color(grey, m), grey, atol=1e-5)


def test_lumaflip_inverts_luma_and_is_involution():
    torch.manual_seed(2)
    for _ in range(20):
        m = color_matrices(1, 1.0, torch.device("cpu"), brightness_std=0, contrast_std=0, hue_max=0,
                           saturation_std=0)
        if not torch.allclose(m, torch.eye(4)):
            break
    grey = torch.full([1, 3, 2, 2], 0.3)
    assert torch.allclose(apply_color(grey, m), -grey, atol=1e-6)
    assert torch.allclose(m @ m, torch.eye(4), atol=1e-6)


def test_hue_rotation_is_orthogonal():
    torch.manual_seed(3)
    m = color_matrices(8, 1.0, torch.device("cpu"), brightness_std=0, contrast_std=0, lumaflip=False,
                       saturation_std=0)
    r = m[:, :3, :3]
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(8, 3, 3), atol=1e-5)


def test_p_one_changes_most_images_and_keeps_shape():
    torch.manual_seed(4)
    img = torch.rand(16, 3, 16, 16) * 2 - 1
    out = AugmentPipe(p=1.0)(img)
    assert out.shape == img.shape
    changed = (out - img).abs().flatten(1).amax(1) > 1e-4
    assert changed.sum() >= 14


def _seeded_pipe(p: float):
    pipe = AugmentPipe(p=p).double()

    def f(x):
        with torch.random.fork_rng():
            torch.manual_seed(123)
            return pipe(x)
    return f


def test_gradients_first_and_second_order():
    torch.manual_seed(5)
    x = torch.randn(3, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    f = _seeded_pipe(0.8)
    # fast_mode compares u^T J v for random u, v with the finite difference instead of every
    # column of J: the same check of each derivative (a wrong one fails it), 100x cheaper (5.6 s ->
    # 0.05 s of CPU; the full Jacobians made this the suite's third slowest test).
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda t: f(t).square(), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_ada_adjust_reaches_one_in_ada_kimg():
    p = 0.0
    batch, interval, ada_kimg = 32, 4, 1.0  # 1 kimg: 1000 / 128 = 7.8 updates
    steps = 0
    while p < 1.0:
        p = ada_adjust(p, 0.9, 0.6, batch, interval, ada_kimg)
        steps += 1
    assert steps == math.ceil(ada_kimg * 1000 / (batch * interval))
    assert ada_adjust(1.0, 0.9, 0.6, batch, interval, ada_kimg) == 1.0
    assert ada_adjust(0.0, 0.1, 0.6, batch, interval, ada_kimg) == 0.0
    assert ada_adjust(0.5, 0.6, 0.6, batch, interval, ada_kimg) == 0.5


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_flip_probability_is_half_p(p):
    torch.manual_seed(6)
    pipe = AugmentPipe(xint=False, color=False, p=p)
    img = torch.arange(8.0).reshape(1, 1, 1, 8).repeat(4000, 1, 1, 1)
    flipped = (pipe(img)[:, 0, 0, 0] == 7).float().mean().item()
    assert abs(flipped - p / 2) < 0.03
