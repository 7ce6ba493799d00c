"""Auxiliary weights: lookup order, SHA-256 checks, opt-in downloads (to a fake server), offline errors."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import pytest

import styleblend.weights as weights
from styleblend.cli.common import error_line
from styleblend.errors import MissingWeightsError
from styleblend.weights import INCEPTION, VGG16, download_allowed, find_weights


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """A published file whose content is b'weights' (so its SHA-256 prefix is known), caches empty."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("DNNLIB_CACHE_DIR", str(tmp_path / "dnnlib"))
    prefix = hashlib.sha256(b"weights").hexdigest()[:8]
    return dataclasses.replace(VGG16, filename=f"w-{prefix}.pth", url="https://example.invalid/w.pth",
                               sha256_prefix=prefix)


def serve(monkeypatch, body: bytes) -> list[str]:
    asked: list[str] = []

    def fake(url):
        asked.append(url)
        return io.BytesIO(body)

    monkeypatch.setattr(weights, "_open_url", fake)
    return asked


def test_nothing_is_fetched_unless_allowed(spec, monkeypatch):
    asked = serve(monkeypatch, b"weights")
    with pytest.raises(MissingWeightsError) as info:
        find_weights(spec)
    assert asked == [] and info.value.params == ("vgg_path", "download")
    assert "allow `download`" in str(info.value) and str(spec.cache_path().parent) in str(info.value)
    line = error_line(info.value)  # the CLI names the flags; only the marked parameters change
    assert "vgg_path" not in line and line.count("--vgg") == 2 and line.count("--download") == 1
    assert "allow --download" in line and f"download {spec.url} yourself" in line
    monkeypatch.setenv("STYLEBLEND_ALLOW_DOWNLOAD", "1")
    assert download_allowed() and find_weights(spec) == spec.cache_path()
    assert asked == [spec.url] and spec.cache_path().read_bytes() == b"weights"


def test_download_is_checked_before_it_lands_in_the_cache(spec, monkeypatch):
    serve(monkeypatch, b"something else")
    with pytest.raises(MissingWeightsError, match="SHA-256"):
        find_weights(spec, download_ok=True)
    assert not spec.cache_path().exists() and list(spec.cache_path().parent.iterdir()) == []


def test_offline_is_one_clear_error(spec):
    # the session-wide fixture makes every fetch fail, as it would offline
    with pytest.raises(MissingWeightsError, match="you may be offline") as info:
        find_weights(spec, download_ok=True)
    assert spec.url in str(info.value) and not spec.cache_path().exists()


def test_lookup_order_and_cache_verification(spec, tmp_path):
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"any content: an explicit file is used as given")
    assert find_weights(spec, explicit) == explicit
    with pytest.raises(MissingWeightsError, match="`vgg_path` .* does not exist"):
        find_weights(spec, tmp_path / "nope.pth")
    nvidia = tmp_path / "dnnlib" / "downloads" / "abc-vgg16.pt"
    nvidia.parent.mkdir(parents=True)
    nvidia.write_bytes(b"nvidia")
    assert find_weights(spec) == nvidia
    cache = spec.cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"weights")
    assert find_weights(spec) == cache  # the hub cache comes before NVIDIA's
    cache.write_bytes(b"weigh")  # truncated
    with pytest.raises(MissingWeightsError, match="truncated or another one; delete it"):
        find_weights(spec)


def test_published_names_carry_their_hash_prefix():
    for published in (VGG16, INCEPTION):
        assert published.sha256_prefix in published.filename and published.url.endswith(published.filename)
