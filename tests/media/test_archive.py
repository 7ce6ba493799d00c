import zipfile

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import InvalidArgumentError
from styleblend.media.archive import write_png_zip


def test_images_round_trip_exactly_with_extra_files(tmp_path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, [5, 7, 3], dtype=np.uint8), rng.integers(0, 256, [4, 4, 1], dtype=np.uint8)
    names = write_png_zip([("a.png", a), ("b.png", b)], tmp_path / "x.zip", {"info.json": b"{}"})
    assert names == ("a.png", "b.png")
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert zf.namelist() == ["a.png", "b.png", "info.json"]
        assert np.array_equal(np.asarray(Image.open(zf.open("a.png"))), a)
        assert np.array_equal(np.asarray(Image.open(zf.open("b.png"))), b[:, :, 0])
        assert zf.read("info.json") == b"{}"


@pytest.mark.parametrize("name", ["../up.png", "dir/a.png", ".hidden.png", "a.jpg", "a b.png"])
def test_unsafe_names_are_refused_and_nothing_is_written(tmp_path, name) -> None:
    img = np.zeros([2, 2, 3], np.uint8)
    with pytest.raises(InvalidArgumentError):
        write_png_zip([("ok.png", img), (name, img)], tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []


def test_repeated_names_bad_images_and_no_images_are_refused(tmp_path) -> None:
    img = np.zeros([2, 2, 3], np.uint8)
    with pytest.raises(InvalidArgumentError, match="repeated"):
        write_png_zip([("a.png", img), ("a.png", img)], tmp_path / "x.zip")
    with pytest.raises(InvalidArgumentError, match="uint8"):
        write_png_zip([("a.png", img.astype(np.float32))], tmp_path / "x.zip")
    with pytest.raises(InvalidArgumentError, match="no images"):
        write_png_zip([], tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []
