"""The metrics registry and evaluate(): shared features, checks before work, options as parameters."""

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import InvalidArgumentError, MissingWeightsError
from styleblend.metrics.evaluate import METRICS, Metric, MetricResult, evaluate, register
from styleblend.metrics.features import StandInFeatures, dataset_features, generator_features
from styleblend.metrics.fid import fid_from_stats
from styleblend.train.dataset_tool import make_dataset

from ..conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate-data")
    (root / "src").mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "src" / f"{i}.png")
    make_dataset(root / "src", root / "data.zip", 32)
    return root / "data.zip"


@pytest.fixture(scope="module")
def G():
    return tiny_checkpoint().generator()


class Counting(StandInFeatures):
    def __init__(self):
        super().__init__()
        self.images = 0

    def __call__(self, images):
        self.images += images.shape[0]
        return super().__call__(images)


def test_fid_and_kid_share_one_pass_and_match_the_functions(G, data):
    extractor = Counting()
    stages = set()
    report = evaluate(G, data, ["fid", "kid"], num_gen=4, batch_size=2, kid_subsets=3, kid_subset_size=2,
                      fid_sqrt="eigh", extractor=extractor, progress=lambda stage, done, total: stages.add(stage))
    assert extractor.images == 6 + 4  # real and generated once, for both metrics
    assert stages == {"real images", "generated images"}
    assert set(report.results) == {"fid4_full", "kid4_full"} and report.counts == {"num_gen": 4, "num_real": 6}
    real = dataset_features(StandInFeatures(), data, batch_size=6)
    gen = generator_features(StandInFeatures(), G, 4, batch_size=4)
    assert report.results["fid4_full"] == pytest.approx(fid_from_stats(real, gen, method="eigh"), rel=1e-6)
    assert report.lines[0].startswith("fid4_full = ") and "NOT Inception" in report.about[0]
    assert report.to_dict()["results"] == report.results


def test_a_registered_metric_runs_like_the_built_in_ones(G, data):
    seen = []

    def count_real(ev):
        seen.append(ev.num_real)
        return MetricResult({"real_images": float(ev.num_real)}, f"{ev.num_real} real images")

    register(Metric("count", "pixels", count_real))
    try:
        report = evaluate(G, data, ["count"], num_gen=2, max_real=3)
        assert report.results == {"real_images": 3.0} and seen == [3] and report.features is None
    finally:
        METRICS.pop("count")
    with pytest.raises(InvalidArgumentError, match="features"):
        register(Metric("bad", "clip", count_real))


@pytest.mark.parametrize("kwargs,param", [
    ({"metrics": ["fid", "lpips"]}, "metrics"),
    ({"num_gen": 1}, "num_gen"),
    ({"kid_subset_size": 1}, "kid_subset_size"),
    ({"max_real": 1}, "max_real"),
    ({"fid_sqrt": "cholesky"}, "fid_sqrt"),
])
def test_bad_options_are_refused_naming_the_parameter(G, data, kwargs, param):
    kwargs = {"metrics": ["fid"], "extractor": StandInFeatures(), **kwargs}
    with pytest.raises(InvalidArgumentError, match=f"`{param}`|unknown metric") as info:
        evaluate(G, data, **kwargs)
    assert info.value.params == (param,)


def test_checks_and_missing_weights_fail_before_any_image_is_made(G, tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "src" / "a.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "src" / "b.png")
    make_dataset(tmp_path / "src", tmp_path / "small.zip", 16)
    small = tmp_path / "small.zip"
    extractor = Counting()
    with pytest.raises(InvalidArgumentError, match="one resolution"):
        evaluate(G, small, ["fid", "swd"], num_gen=2, extractor=extractor)
    assert extractor.images == 0
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError, match="inception_path"):
        evaluate(G, small, ["kid"], num_gen=2)
