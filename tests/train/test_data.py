"""Tests for styleblend.train.data.ImageZipDataset."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.train.data import ImageZipDataset
from styleblend.train.dataset_tool import archive_name, make_dataset

RES = 8


def _random_images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (RES, RES, 3), dtype=np.uint8) for _ in range(n)]


def _write_folder(folder: Path, arrays: list[np.ndarray]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img{i:02d}.png" for i in range(len(arrays))]
    for name, arr in zip(names, arrays):
        Image.fromarray(arr).save(folder / name)
    return names


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """A zip made by make_dataset from random RGB images, with labels 0, 1, 2, 0, 1."""
    arrays = _random_images(5)
    names = _write_folder(tmp_path / "src", arrays)
    out = tmp_path / "ds.zip"
    make_dataset(tmp_path / "src", out, RES, labels={n: i % 3 for i, n in enumerate(names)})
    return out, arrays


def test_zip_round_trips_pixels_and_labels(built: tuple[Path, list[np.ndarray]]) -> None:
    path, arrays = built
    ds = ImageZipDataset(path)
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (5, 3, RES, RES)
    expected = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    assert torch.equal(ds.images, expected)
    assert ds.names == [archive_name(i) for i in range(5)]
    assert ds.resolution == RES and ds.num_channels == 3
    assert ds.has_labels and ds.labels is not None and ds.labels.tolist() == [0, 1, 2, 0, 1]
    assert ds.c_dim == 3
    img, c = ds[2]
    assert torch.equal(img, expected[2])
    assert c.dtype == torch.float32 and c.tolist() == [0.0, 0.0, 1.0]


def test_use_labels_false_gives_empty_c(built: tuple[Path, list[np.ndarray]]) -> None:
    ds = ImageZipDataset(built[0], use_labels=False)
    assert ds.labels is None and ds.c_dim == 0
    img, c = ds[0]
    assert c.shape == (0,)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 3, RES, RES) and batch[1].shape == (4, 0)


def test_xflip_doubles_with_mirrored_copies(built: tuple[Path, list[np.ndarray]]) -> None:
    ds = ImageZipDataset(built[0], xflip=True)
    assert len(ds) == 10
    for i in range(5):
        img, c = ds[i]
        flipped, c_flipped = ds[5 + i]
        assert torch.equal(flipped, img.flip(-1)) and not torch.equal(flipped, img)
        assert torch.equal(c, c_flipped)
    assert torch.equal(ds[-1][0], ds[9][0])
    imgs, cs = ds.get_batch(torch.tensor([0, 5, 5, 1]))
    assert torch.equal(imgs[1], ds.images[0].flip(-1)) and torch.equal(imgs[1], imgs[2])
    assert torch.equal(imgs[0], ds.images[0]) and torch.equal(imgs[3], ds.images[1])
    assert cs.shape == (4, 3)
    # The stored images are never modified by flipping a batch.
    assert torch.equal(ds.images, torch.from_numpy(np.stack(built[1])).permute(0, 3, 1, 2))


def test_index_errors(built: tuple[Path, list[np.ndarray]]) -> None:
    ds = ImageZipDataset(built[0])
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(IndexError):
        ds[-6]
    with pytest.raises(InvalidArgumentError, match=r"\[0, 5\)"):
        ds.get_batch(torch.tensor([0, 7]))


def test_folder_of_pngs_with_grayscale(tmp_path: Path) -> None:
    arrays = _random_images(2, seed=1)
    _write_folder(tmp_path / "f", arrays)
    Image.new("L", (RES, RES), 9).save(tmp_path / "f" / "z_gray.png")
    (tmp_path / "f" / "readme.txt").write_text("ignored: not an image suffix")
    ds = ImageZipDataset(tmp_path / "f")
    assert len(ds) == 3 and not ds.has_labels
    assert torch.equal(ds.images[1], torch.from_numpy(arrays[1]).permute(2, 0, 1))
    assert (ds.images[2] == 9).all()


def test_a_folder_reads_every_image_suffix_the_library_reads(tmp_path: Path) -> None:
    arrays = _random_images(2, seed=2)
    (tmp_path / "f").mkdir()
    Image.fromarray(arrays[0]).save(tmp_path / "f" / "a.tif")  # one suffix list: media.load.IMAGE_SUFFIXES
    Image.fromarray(arrays[1]).save(tmp_path / "f" / "b.ppm")
    ds = ImageZipDataset(tmp_path / "f")
    assert len(ds) == 2 and torch.equal(ds.images[1], torch.from_numpy(arrays[1]).permute(2, 0, 1))


def test_reads_nvidia_style_zip_with_folder_entries(tmp_path: Path) -> None:
    path = tmp_path / "nv.zip"
    arrays = _random_images(2, seed=2)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("00000/", b"")
        for i, arr in enumerate(arrays):
            png = tmp_path / f"{i}.png"
            Image.fromarray(arr).save(png)
            zf.write(png, archive_name(i))
        zf.writestr("dataset.json", json.dumps({"labels": None}))
    ds = ImageZipDataset(path)
    assert len(ds) == 2 and not ds.has_labels
    assert torch.equal(ds.images[0], torch.from_numpy(arrays[0]).permute(2, 0, 1))


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        ImageZipDataset(tmp_path / "missing.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="holds no images"):
        ImageZipDataset(tmp_path / "empty")

    sizes = tmp_path / "sizes"
    sizes.mkdir()
    Image.new("RGB", (8, 8)).save(sizes / "a.png")
    Image.new("RGB", (16, 16)).save(sizes / "b.png")
    with pytest.raises(ImageError, match="one size"):
        ImageZipDataset(sizes)

    rgba = tmp_path / "rgba"
    rgba.mkdir()
    Image.new("RGBA", (8, 8)).save(rgba / "a.png")
    with pytest.raises(ImageError, match="mode RGBA"):
        ImageZipDataset(rgba)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match="cannot be read"):
        ImageZipDataset(bad)

    labelled = tmp_path / "labelled"
    _write_folder(labelled, _random_images(2))
    (labelled / "dataset.json").write_text(json.dumps({"labels": [["img00.png", 0]]}))
    with pytest.raises(ImageError, match="no label"):
        ImageZipDataset(labelled)
    assert ImageZipDataset(labelled, use_labels=False).labels is None
