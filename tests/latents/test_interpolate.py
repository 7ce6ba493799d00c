"""Math of lerp, slerp, schedules, truncation and the Gaussian post-filter."""

import math

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.interpolate import ease, gaussian_smooth, layer_schedule, lerp, psi_schedule, slerp, truncate_ws


def test_lerp_endpoints_and_per_row_and_per_layer_t():
    a, b = torch.randn(3, 8, 16), torch.randn(3, 8, 16)
    assert torch.equal(lerp(a, b, 0.0), a)
    assert torch.allclose(lerp(a, b, 1.0), b)
    t = torch.tensor([0.0, 0.5, 1.0])
    out = lerp(a, b, t)
    assert torch.allclose(out[1], (a[1] + b[1]) / 2)
    tl = torch.zeros(3, 8)
    tl[:, :2] = 1
    out = lerp(a, b, tl)
    assert torch.allclose(out[:, :2], b[:, :2]) and torch.equal(out[:, 2:], a[:, 2:])


def test_lerp_of_one_row_pair_with_a_vector_t_is_the_path():
    ws = torch.randn(2, 8, 16)
    path = lerp(ws[0:1], ws[1:2], torch.linspace(0, 1, 5))
    assert path.shape == (5, 8, 16)
    assert torch.equal(path[0], ws[0]) and torch.equal(path[-1], ws[1])
    assert torch.allclose(path[2], (ws[0] + ws[1]) / 2, atol=1e-6)
    zpath = slerp(ws[0:1, 0], ws[1:2, 0], torch.linspace(0, 1, 5))
    assert zpath.shape == (5, 16) and torch.allclose(zpath[-1], ws[1, 0], atol=1e-5)


def test_slerp_keeps_norm_of_equal_norm_endpoints():
    torch.manual_seed(0)
    a = torch.randn(64, 512)
    b = torch.randn(64, 512)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    for t in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
        out = slerp(a, b, t)
        assert torch.allclose(out.norm(dim=1), a.norm(dim=1), rtol=1e-5)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-4)


def test_slerp_constant_angular_speed_and_unequal_norms():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 3.0]])
    out = slerp(a, b, 1 / 3)
    angle = math.atan2(out[0, 1].item(), out[0, 0].item())
    assert angle == pytest.approx(math.pi / 6, abs=1e-6)
    assert out.norm().item() == pytest.approx(1 + (3 - 1) / 3, abs=1e-6)


def test_slerp_near_parallel_and_opposite_are_finite():
    a = torch.randn(4, 32)
    near = a + 1e-9 * torch.randn(4, 32)
    out = slerp(a, near, 0.5)
    assert torch.isfinite(out).all() and torch.allclose(out, a, atol=1e-5)
    opp = slerp(a, -a, torch.tensor([0.0, 0.5, 1.0, 0.25]))
    assert torch.isfinite(opp).all()
    assert torch.allclose(opp[0], a[0], atol=1e-5) and torch.allclose(opp[2], -a[2], atol=1e-4)
    assert torch.allclose(opp.norm(dim=1), a.norm(dim=1), rtol=1e-5)
    assert (opp[1] @ a[1]).abs() < 1e-3 * a[1].norm() ** 2  # halfway = orthogonal
    with pytest.raises(InvalidArgumentError):
        slerp(torch.zeros(1, 4), a[:1, :4], 0.5)


def test_layer_schedule_coarse_first():
    t = torch.linspace(0, 1, 11)
    s = layer_schedule(t, 8, "coarse-first", spread=0.5)
    assert s.shape == (11, 8)
    assert torch.equal(s[0], torch.zeros(8)) and torch.equal(s[-1], torch.ones(8))
    assert (s[:, :-1] >= s[:, 1:]).all()  # coarse layers are always ahead
    assert torch.equal(layer_schedule(t, 8, "uniform"), t[:, None].expand(-1, 8))
    f = layer_schedule(t, 8, "fine-first", spread=0.5)
    assert torch.allclose(f, s.flip(1), atol=1e-6)
    with pytest.raises(InvalidArgumentError):
        layer_schedule(t, 8, spread=1.0)


def test_easing_endpoints():
    t = torch.tensor([0.0, 0.5, 1.0])
    for kind in ("linear", "smoothstep", "cosine"):
        assert torch.allclose(ease(t, kind), t, atol=1e-6)


def test_psi_schedule_and_truncate_rowwise():
    psi = psi_schedule(torch.tensor([0.0, 0.5, 1.0]), 1.0, 1.0, 0.7)
    assert torch.allclose(psi, torch.tensor([1.0, 0.7, 1.0]), atol=1e-6)
    ws = torch.randn(3, 6, 4)
    avg = torch.randn(4)
    out = truncate_ws(ws, avg, torch.tensor([1.0, 0.0, 0.5]), cutoff=3)
    assert torch.allclose(out[0], ws[0])
    assert torch.allclose(out[1, :3], avg.expand(3, 4)) and torch.equal(out[1, 3:], ws[1, 3:])
    assert torch.allclose(out[2, :3], avg + 0.5 * (ws[2, :3] - avg))


def test_gaussian_smooth_keeps_lines_and_endpoints_and_rounds_corners():
    line = torch.linspace(0, 1, 20)[:, None] * torch.randn(1, 5)
    assert torch.allclose(gaussian_smooth(line, 3.0), line, atol=1e-6)
    # A path with a corner: the corner is rounded, the ends stay exact, the kernel may exceed the path.
    x = torch.cat([torch.linspace(0, 1, 6), torch.linspace(1, 0, 6)[1:]])[:, None]
    for sigma in (1.0, 5.0):
        y = gaussian_smooth(x, sigma)
        assert torch.allclose(y[0], x[0], atol=1e-6) and torch.allclose(y[-1], x[-1], atol=1e-6)
        assert y[5] < x[5]
    loop = torch.randn(10, 3)
    y = gaussian_smooth(loop, 1.0, closed=True)
    assert torch.allclose(y.mean(0), loop.mean(0), atol=1e-6)  # a circular filter keeps the mean
    assert torch.equal(gaussian_smooth(loop, 0.0), loop)
