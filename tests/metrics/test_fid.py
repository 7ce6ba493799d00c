"""FID: closed forms, properties, both square-root methods, feature statistics, and the `metrics` command."""

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.errors import InvalidArgumentError, MissingDependencyError
from styleblend.io import save_checkpoint
from styleblend.latents.seeds import z_from_seeds
from styleblend.metrics.features import (
    FeatureStats,
    StandInFeatures,
    dataset_features,
    generated_uint8,
    generator_features,
)
from styleblend.metrics.fid import fid_from_features, fid_from_stats, frechet_distance, trace_sqrt_product
from styleblend.train.data import ImageZipDataset
from styleblend.train.dataset_tool import make_dataset

from ..conftest import tiny_checkpoint

# scipy is optional for the library; without it only the numpy method is tested.
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None
needs_scipy = pytest.mark.skipif(not HAVE_SCIPY, reason="scipy is not installed")
METHODS = ("sqrtm", "eigh") if HAVE_SCIPY else ("eigh",)


def random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((d, 2 * d))
    return a @ a.T / (2 * d) + 0.1 * np.eye(d)


@pytest.mark.parametrize("method", METHODS)
def test_diagonal_gaussians_closed_form(method):
    rng = np.random.default_rng(1)
    d = 12
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_identity_symmetry_and_mean_shift(method):
    rng = np.random.default_rng(2)
    d = 16
    mu, s1, s2 = rng.standard_normal(d), random_spd(d, rng), random_spd(d, rng)
    assert abs(frechet_distance(mu, s1, mu, s1, method)) < 1e-9
    forward = frechet_distance(mu, s1, mu + 0.3, s2, method)
    assert forward == pytest.approx(frechet_distance(mu + 0.3, s2, mu, s1, method), rel=1e-9)
    # Equal covariances: FID is exactly the squared mean distance, so it grows with the shift.
    shifts = [0.0, 0.1, 0.5, 2.0]
    values = [frechet_distance(mu, s1, mu + s, s1, method) for s in shifts]
    np.testing.assert_allclose(values, [d * s * s for s in shifts], atol=1e-8)


@needs_scipy
def test_methods_agree_on_full_covariances():
    rng = np.random.default_rng(3)
    s1, s2 = random_spd(32, rng), random_spd(32, rng)
    assert trace_sqrt_product(s1, s2, "sqrtm") == pytest.approx(trace_sqrt_product(s1, s2, "eigh"), rel=1e-10)


def test_features_of_sampled_gaussians_approach_closed_form():
    rng = np.random.default_rng(4)
    d, n = 4, 100_000
    a, b = np.array([1.0, 2.0, 0.5, 1.5]), np.array([1.5, 1.0, 0.5, 3.0])
    x = rng.standard_normal((n, d)) * np.sqrt(a)
    y = rng.standard_normal((n, d)) * np.sqrt(b) + 0.5
    expected = d * 0.25 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    for method in METHODS:
        assert fid_from_features(x, y, method) == pytest.approx(expected, abs=0.03)
        assert fid_from_features(x, x, method) == pytest.approx(0, abs=1e-9)


def test_singular_covariances_stay_finite():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 20)), rng.standard_normal((6, 20)) + 1  # fewer images than dimensions
    values = [fid_from_features(x, y, m) for m in METHODS]
    assert all(np.isfinite(values))
    assert values[0] == pytest.approx(values[-1], rel=1e-3)


def test_errors(monkeypatch):
    with pytest.raises(InvalidArgumentError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(InvalidArgumentError, match="covariance"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(InvalidArgumentError, match="unknown"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="newton")
    monkeypatch.setitem(sys.modules, "scipy", None)  # makes `from scipy import linalg` fail
    with pytest.raises(MissingDependencyError, match="eigh"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="sqrtm")
    assert frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2), method="eigh") == pytest.approx(2)


def test_feature_stats_batches_match_numpy():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((257, 5)) * 0.01 + 1e4  # large mean, small spread: naive moments would cancel
    stats = FeatureStats(capture_all=True)
    for start in range(0, len(x), 50):
        stats.append(x[start:start + 50])
    stats.append(np.zeros((0, 5)))
    mean, cov = stats.mean_cov()
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(x.T, bias=True), rtol=1e-8, atol=1e-14)
    assert stats.num_items == 257 and stats.feature_dim == 5
    np.testing.assert_array_equal(stats.all_features(), x.astype(np.float32))
    with pytest.raises(InvalidArgumentError, match="dimension"):
        stats.append(np.zeros((2, 4)))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        stats.append(np.full((1, 5), np.nan))
    one = FeatureStats()
    one.append(np.zeros((1, 5)))
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        one.mean_cov()
    with pytest.raises(InvalidArgumentError, match="capture_all"):
        one.all_features()


# ------------------------------------------------------------------------------------ images and generators


@pytest.fixture(scope="module")
def data_zip(tmp_path_factory):
    """A tiny NVIDIA-style data set: 10 random 32 px PNGs of two colour families."""
    root = tmp_path_factory.mktemp("metrics-data")
    src = root / "src"
    src.mkdir()
    rng = np.random.default_rng(7)
    for i in range(10):
        base = np.array([200, 60, 60]) if i % 2 else np.array([60, 60, 200])
        arr = np.clip(base + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(src / f"img{i:02d}.png")
    out = root / "data.zip"
    make_dataset(src, out, 32)
    return out


def test_dataset_features_and_self_fid(data_zip):
    extractor = StandInFeatures()
    calls = []
    a = dataset_features(extractor, data_zip, batch_size=4, capture_all=True,
                         callback=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    dataset = ImageZipDataset(data_zip)
    b = dataset_features(extractor, dataset, batch_size=7)
    assert a.num_items == b.num_items == 10 and a.feature_dim == extractor.feature_dim
    # 10 images in 38 dimensions: singular covariances, whose zero eigenvalues carry rounding noise of
    # about 1e-16, i.e. 1e-8 after the square root.
    assert abs(fid_from_stats(a, b, METHODS[0])) < 1e-6
    np.testing.assert_allclose(a.all_features(), extractor(dataset.images).numpy(), rtol=1e-6)
    assert dataset_features(extractor, dataset, max_items=3).num_items == 3


def test_generator_features_are_seeded_and_batch_invariant():
    G = tiny_checkpoint().generator()
    extractor = StandInFeatures()
    a = generator_features(extractor, G, 6, batch_size=4, seed=5, capture_all=True)
    b = generator_features(extractor, G, 6, batch_size=6, seed=5, capture_all=True)
    np.testing.assert_allclose(a.all_features(), b.all_features(), rtol=1e-5, atol=1e-6)
    # Image i is the image of seed `seed + i` at psi 1 with constant noise, as `generate --seeds` makes it.
    with torch.no_grad():
        img = G(z_from_seeds([7], G.z_dim), None, truncation_psi=1, noise_mode="const")
    np.testing.assert_allclose(a.all_features()[2], extractor(generated_uint8(img))[0].numpy(), rtol=1e-5, atol=1e-6)
    other = generator_features(extractor, G, 6, batch_size=4, seed=100)
    assert fid_from_stats(a, other, "eigh") > 0
    with pytest.raises(InvalidArgumentError, match="2\\*\\*32"):
        generator_features(extractor, G, 2, seed=2**32 - 1)


def test_conditional_generator_needs_labels():
    G = tiny_checkpoint(c_dim=3).generator()
    extractor = StandInFeatures()
    with pytest.raises(InvalidArgumentError, match="conditional"):
        generator_features(extractor, G, 2)
    with pytest.raises(InvalidArgumentError, match="\\[0, 3\\)"):
        generator_features(extractor, G, 2, class_labels=[0, 5])
    assert generator_features(extractor, G, 3, class_labels=[0, 2]).num_items == 3


def test_generated_uint8_matches_nvidia_and_repeats_gray():
    img = torch.tensor([-1.0, -0.999, 0.0, 0.999, 1.0]).view(1, 1, 1, 5)
    out = generated_uint8(img)
    assert out.shape == (1, 3, 1, 5) and out.dtype == torch.uint8
    assert out[0, 0, 0].tolist() == [0, 0, 128, 255, 255]


# ------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return save_checkpoint(tiny_checkpoint(), tmp_path_factory.mktemp("metrics-net") / "g.safetensors")


def test_cli_metrics_with_stand_in_features(network, data_zip, tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["metrics", "--network", str(network), "--data", str(data_zip), "--metrics", "fid,kid",
               "--num-gen", "8", "--batch", "4", "--kid-subset-size", "5", "--kid-subsets", "10",
               "--stand-in-features", "--fid-sqrt", "eigh", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "fid8_full = " in text and "kid8_full = " in text and "NOT Inception" in text
    payload = json.loads(out.read_text())
    assert set(payload["results"]) == {"fid8_full", "kid8_full"}
    assert payload["results"]["fid8_full"] > 0 and payload["num_gen"] == 8 and payload["num_real"] == 10
    assert payload["stand_in_features"] is True
    # Same command, same numbers (seeded z and KID subsets).
    rc = main(["metrics", "--network", str(network), "--data", str(data_zip), "--metrics", "fid,kid",
               "--num-gen", "8", "--batch", "8", "--kid-subset-size", "5", "--kid-subsets", "10",
               "--stand-in-features", "--fid-sqrt", "eigh", "--json", str(tmp_path / "again.json")])
    again = json.loads((tmp_path / "again.json").read_text())["results"]
    assert again["fid8_full"] == pytest.approx(payload["results"]["fid8_full"], rel=1e-6)
    assert again["kid8_full"] == pytest.approx(payload["results"]["kid8_full"], rel=1e-6, abs=1e-9)


def test_cli_refuses_without_inception_weights(network, data_zip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    rc = main(["metrics", "--network", str(network), "--data", str(data_zip), "--num-gen", "4"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "https://github.com/mseitzer/pytorch-fid" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_help_hides_the_testing_option(capsys):
    with pytest.raises(SystemExit):
        main(["metrics", "--help"])
    assert "stand-in" not in capsys.readouterr().out
