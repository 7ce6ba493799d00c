"""Perceptual path length: definition pieces, determinism, labelling, and scheme plumbing."""

import numpy as np
import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.pca import fit_pca, sample_w
from styleblend.metrics.ppl import (
    PathScheme,
    PixelProxyDistance,
    crop_face,
    default_distance,
    filtered_mean,
    layer_schedule_scheme,
    lerp_w_scheme,
    path_times,
    pca_subspace_scheme,
    perceptual_path_length,
    psi_schedule_scheme,
    slerp_z_scheme,
    step_distances,
)

from ..conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def G():
    return tiny_checkpoint().generator()


@pytest.fixture
def no_vgg(tmp_path, monkeypatch):
    """Hide any VGG-16 weights this machine may have, so the default distance is the proxy."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("DNNLIB_CACHE_DIR", str(tmp_path / "dnnlib"))
    monkeypatch.delenv("STYLEBLEND_ALLOW_DOWNLOAD", raising=False)


def test_pixel_proxy_distance(no_vgg):
    d = PixelProxyDistance(64)
    a = torch.zeros(2, 3, 128, 128)
    b = a.clone()
    b[1] += 0.5
    assert torch.allclose(d(a, b), torch.tensor([0.0, 0.25]))
    assert "pixel proxy" in d.name
    assert "pixel proxy" in default_distance().name  # no VGG weights here: the proxy, labelled


def test_filtered_mean_drops_outer_percentiles():
    d = np.concatenate([np.ones(990), np.full(5, 1e6), np.full(5, -1e6)])
    assert filtered_mean(d) == pytest.approx(1.0)
    assert filtered_mean(np.arange(1000.0)) == pytest.approx(np.arange(9, 991).mean())


def test_crop_and_times():
    img = torch.arange(64.0).reshape(1, 1, 8, 8)
    assert torch.equal(crop_face(img), img[..., 3:7, 2:6])
    gen = torch.Generator().manual_seed(0)
    t0, t1 = path_times(1000, "end", 1e-4, gen)
    t = t0.numpy()
    assert np.all(np.isclose(t, 0.0) | np.isclose(t, 1 - 1e-4)) and 0.3 < (t > 0.5).mean() < 0.7
    assert torch.allclose(t1 - t0, torch.full([1000], 1e-4), atol=1e-7) and t1.max() <= 1.0 + 1e-7
    t0, _ = path_times(1000, "full", 1e-4, gen)
    assert 0.0 <= t0.min() and t0.max() <= 1.0 and t0.std() > 0.25


def test_ppl_is_deterministic_labelled_and_leaves_G_untouched(G, no_vgg):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    a = perceptual_path_length(G, num_samples=12, batch_size=4, sampling="full", seed=1, scheme=lerp_w_scheme())
    assert a.num_samples == 12 and np.isfinite(a.distances).all() and a.filtered_mean > 0
    c = perceptual_path_length(G, num_samples=12, batch_size=4, sampling="full", seed=1, scheme=lerp_w_scheme())
    assert np.array_equal(a.distances, c.distances)
    assert "pixel proxy" in a.summary() and "lerp W" in a.summary()
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_ppl_of_a_still_path_is_zero(G):
    still = PathScheme("still", lambda G, z0, z1, t: G.mapping(z0, None))
    r = perceptual_path_length(G, num_samples=4, batch_size=4, scheme=still, distance=PixelProxyDistance())
    assert r.filtered_mean == 0.0


def test_every_scheme_runs(G):
    w = sample_w(lambda z: G.mapping(z, None), G.z_dim, 200)
    pca = fit_pca(w, 8)
    for scheme in (slerp_z_scheme(), lerp_w_scheme(), layer_schedule_scheme("coarse-first", 0.5),
                   pca_subspace_scheme(pca, 4), psi_schedule_scheme(0.7)):
        r = perceptual_path_length(G, num_samples=4, batch_size=4, sampling="end", scheme=scheme, crop=True,
                                   distance=PixelProxyDistance())
        assert np.isfinite(r.filtered_mean) and r.scheme == scheme.name
    with pytest.raises(InvalidArgumentError):
        perceptual_path_length(G, num_samples=4, sampling="middle")


def test_step_distances(G):
    ws = G.mapping(torch.randn(5, G.z_dim), None)
    d = step_distances(G, ws, PixelProxyDistance(), batch_size=2)
    assert d.shape == (4,) and (d > 0).all()
    assert step_distances(G, ws, PixelProxyDistance(), batch_size=3, closed=True).shape == (5,)


def test_lpips_vgg_distance_with_a_vgg_network():
    from styleblend.perceptual.lpips import LPIPS
    from styleblend.perceptual.vgg import VGG16Features

    torch.manual_seed(0)
    dist = LPIPS(VGG16Features().eval(), max_size=None)  # random weights: checks the plumbing, not the values
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    b = a.clone()
    b[1] = torch.rand(3, 32, 32) * 2 - 1
    d = dist(a, b)
    assert d.shape == (2,) and d[0] == 0 and d[1] > 0
    assert "VGG-16" in dist.name and "unit channel weights" in dist.name


def test_explicit_missing_vgg_is_an_error(tmp_path):
    from styleblend.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError):
        default_distance(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("closed", [False, True])
def test_frame_distances_match_direct_computation(G, closed):
    from styleblend.metrics.ppl import frame_distances, path_smoothness

    ws = G.mapping(torch.randn(7, G.z_dim), None)
    with torch.no_grad():
        img = G.synthesis(ws, noise_mode="const")
    dist = PixelProxyDistance()
    got = frame_distances(G, ws, dist, (1, 2), batch_size=3, closed=closed)
    idx = np.arange(7)
    for lag in (1, 2):
        n = 7 if closed else 7 - lag
        ref = dist(img[idx[:n]], img[(idx[:n] + lag) % 7]).double().numpy()
        assert got[lag].shape == ref.shape and np.allclose(got[lag], ref, rtol=1e-4)
    m = path_smoothness(got[1], got[2], closed=closed)
    assert 0 <= m["min_straightness"] <= m["mean_straightness"] <= 1 and m["mean_speed"] > 0


def test_straight_path_is_straight():
    from styleblend.metrics.ppl import path_smoothness

    v = np.full(10, 0.5)  # equal steps on a line: chord of two steps = 2 v, squared distances
    m = path_smoothness(v**2, (2 * v[:-1]) ** 2)
    assert m["min_straightness"] == pytest.approx(1.0) and m["max_speed_jump"] == pytest.approx(0.0)
