"""Tests for styleblend.train.dataset_tool: conversion, skipping, layout, atomic writes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.train import dataset_tool
from styleblend.train.dataset_tool import archive_name, make_dataset, max_image_pixels, to_rgb

RES = 16
BG = (10, 200, 30)


def _save(img: Image.Image, path: Path, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)


def _read_zip_image(zf: zipfile.ZipFile, name: str) -> Image.Image:
    img = Image.open(io.BytesIO(zf.read(name)))
    img.load()
    return img


@pytest.fixture()
def mixed_source(tmp_path: Path) -> Path:
    """A folder with one image of each awkward kind plus two files that are not images."""
    src = tmp_path / "src"
    # RGBA: pixel (0,0) fully transparent red, (1,0) half-transparent red, rest opaque blue.
    rgba = np.zeros((RES, RES, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[..., 3] = 255
    rgba[0, 0] = (255, 0, 0, 0)
    rgba[0, 1] = (255, 0, 0, 128)
    _save(Image.fromarray(rgba), src / "a_rgba.png")
    # Palette with a transparent index 0 at (0,0), index 1 (green) elsewhere.
    pal = Image.new("P", (RES, RES), 1)
    pal.putpalette([255, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 6))
    pal.putpixel((0, 0), 0)
    _save(pal, src / "b_palette.png", transparency=0)
    # Grayscale.
    _save(Image.new("L", (RES, RES), 77), src / "c_gray.png")
    # 16-bit grayscale: 0, 65535 and mid grey.
    g16 = np.full((RES, RES), 32896, np.uint16)  # 32896 / 257 = 128
    g16[0, 0] = 0
    g16[0, 1] = 65535
    _save(Image.fromarray(g16), src / "d_gray16.png")
    # CMYK JPEG, all white (no ink).
    _save(Image.new("CMYK", (RES, RES), (0, 0, 0, 0)), src / "e_cmyk.jpg", quality=95)
    # EXIF-rotated JPEG: stored 32x16, left half red, right half blue; orientation 6 means
    # "rotate 90 degrees clockwise to display", so upright it is 16x32 with red on top.
    rot = np.zeros((16, 32, 3), np.uint8)
    rot[:, :16] = (255, 0, 0)
    rot[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(Image.fromarray(rot), src / "f_rotated.jpg", quality=95, exif=exif)
    # Non-square: 32x16, R channel = 8 * column, so the centre crop is columns 8..23.
    ns = np.zeros((16, 32, 3), np.uint8)
    ns[..., 0] = (np.arange(32) * 8).astype(np.uint8)[None, :]
    _save(Image.fromarray(ns), src / "g_nonsquare.png")
    # Larger than RES: resized with Lanczos.
    _save(Image.new("RGB", (40, 40), (1, 2, 3)), src / "sub" / "h_big.png")
    # Not images.
    (src / "notes.txt").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    (src / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    # Hidden files are ignored entirely (neither written nor counted).
    (src / ".DS_Store").write_bytes(b"\0\1\2")
    return src


# Source names in sorted order; the readable ones get consecutive archive indices.
READABLE = ["a_rgba.png", "b_palette.png", "c_gray.png", "d_gray16.png", "e_cmyk.jpg", "f_rotated.jpg",
            "g_nonsquare.png", "sub/h_big.png"]
UNREADABLE = ["notes.txt", "truncated.png"]


def test_make_dataset_converts_every_kind(mixed_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "ds.zip"
    calls: list[tuple[int, int]] = []
    report = make_dataset(mixed_source, out, RES, background=BG, progress=lambda d, t: calls.append((d, t)))

    assert report.written == len(READABLE)
    assert sorted(report.skipped) == UNREADABLE
    assert set(report.reasons) == set(UNREADABLE)
    assert report.out == out
    total = len(READABLE) + len(UNREADABLE)
    assert calls == [(i, total) for i in range(1, total + 1)]

    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == [archive_name(i) for i in range(len(READABLE))] + ["dataset.json"]
        assert json.loads(zf.read("dataset.json")) == {"labels": None}
        imgs = {src: np.asarray(_read_zip_image(zf, archive_name(i))) for i, src in enumerate(READABLE)}
        for i in range(len(READABLE)):
            img = _read_zip_image(zf, archive_name(i))
            assert img.mode == "RGB" and img.size == (RES, RES)

    rgba = imgs["a_rgba.png"]
    assert tuple(rgba[0, 0]) == BG  # transparent pixel shows the background exactly
    assert np.abs(rgba[0, 1].astype(int) - [(255 * 128 + 10 * 127) / 255, 200 * 127 / 255, 30 * 127 / 255]).max() <= 1
    assert tuple(rgba[5, 5]) == (0, 0, 255)

    pal = imgs["b_palette.png"]
    assert tuple(pal[0, 0]) == BG and tuple(pal[3, 3]) == (0, 255, 0)

    assert (imgs["c_gray.png"] == 77).all()

    g16 = imgs["d_gray16.png"]
    assert tuple(g16[0, 0]) == (0, 0, 0) and tuple(g16[0, 1]) == (255, 255, 255) and tuple(g16[5, 5]) == (128, 128, 128)

    assert np.abs(imgs["e_cmyk.jpg"].astype(int) - 255).max() <= 3  # no ink = white

    rot = imgs["f_rotated.jpg"].astype(int)
    # Upright and centre-cropped: top half red, bottom half blue. Without the EXIF
    # rotation the crop would be red on the left and blue on the right.
    assert np.abs(rot[2, RES - 2] - [255, 0, 0]).max() < 40
    assert np.abs(rot[RES - 2, 2] - [0, 0, 255]).max() < 40

    ns = imgs["g_nonsquare.png"]
    assert ns[0, 0, 0] == 8 * 8 and ns[0, RES - 1, 0] == 8 * (8 + RES - 1)

    assert (imgs["sub/h_big.png"] == (1, 2, 3)).all()


def test_zip_source_and_labels(tmp_path: Path) -> None:
    src = tmp_path / "src.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for name, colour in (("x/one.png", (255, 0, 0)), ("two.png", (0, 255, 0))):
            buf = io.BytesIO()
            Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
            zf.writestr(name, buf.getvalue())
        zf.writestr("__MACOSX/._two.png", b"junk")
        zf.writestr("empty_dir/", b"")
    out = tmp_path / "ds.zip"
    report = make_dataset(src, out, 8, labels={"two.png": 1, "x/one.png": 0})
    assert report.written == 2 and report.skipped == []
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("dataset.json"))
        # Sorted source order: "two.png" < "x/one.png".
        assert meta == {"labels": [[archive_name(0), 1], [archive_name(1), 0]]}
        assert tuple(np.asarray(_read_zip_image(zf, archive_name(0)))[0, 0]) == (0, 255, 0)


def test_labels_must_cover_every_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _save(Image.new("RGB", (8, 8)), src / "a.png")
    _save(Image.new("RGB", (8, 8)), src / "b.png")
    with pytest.raises(InvalidArgumentError, match="b.png"):
        make_dataset(src, tmp_path / "ds.zip", 8, labels={"a.png": 0})
    with pytest.raises(InvalidArgumentError, match="ints >= 0"):
        make_dataset(src, tmp_path / "ds.zip", 8, labels={"a.png": 0, "b.png": -1})
    assert not (tmp_path / "ds.zip").exists()


def test_archive_name_matches_nvidia_layout() -> None:
    assert archive_name(0) == "00000/img00000000.png"
    assert archive_name(999) == "00000/img00000999.png"
    assert archive_name(1234) == "00001/img00001234.png"


def test_output_is_deterministic(mixed_source: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    make_dataset(mixed_source, a, RES)
    make_dataset(mixed_source, b, RES)
    assert a.read_bytes() == b.read_bytes()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_abort_midway_leaves_no_partial_file(mixed_source: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out = out_dir / "ds.zip"

    def stop(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_dataset(mixed_source, out, RES, progress=stop)
    assert not out.exists()
    assert _leftovers(out_dir) == []

    # An existing output survives a failed rebuild unchanged.
    out.write_bytes(b"previous data set")
    with pytest.raises(KeyboardInterrupt):
        make_dataset(mixed_source, out, RES, progress=stop)
    assert out.read_bytes() == b"previous data set"
    assert _leftovers(out_dir) == []


def test_unexpected_error_midway_propagates_and_cleans_up(
    mixed_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dataset_tool.prepare_image
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> Image.Image:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")  # not a decode error: must not be swallowed as "skipped"
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dataset_tool, "prepare_image", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        make_dataset(mixed_source, tmp_path / "ds.zip", RES)
    assert list(tmp_path.glob("*.zip")) == [] and _leftovers(tmp_path) == []


def test_decompression_bomb_guard_skips_and_restores_global(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _save(Image.new("RGB", (8, 8)), src / "small.png")
    _save(Image.new("RGB", (32, 32)), src / "large.png")
    before = Image.MAX_IMAGE_PIXELS
    report = make_dataset(src, tmp_path / "ds.zip", 8, max_pixels=100)
    assert report.written == 1 and report.skipped == ["large.png"]
    assert "DecompressionBomb" in report.reasons["large.png"]
    assert Image.MAX_IMAGE_PIXELS == before


def test_max_image_pixels_restores_on_error() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(RuntimeError), max_image_pixels(10):
        assert Image.MAX_IMAGE_PIXELS == 10
        raise RuntimeError
    assert Image.MAX_IMAGE_PIXELS == before
    with pytest.raises(InvalidArgumentError), max_image_pixels(0):
        pass


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        make_dataset(tmp_path / "nope", tmp_path / "ds.zip", 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="no files"):
        make_dataset(tmp_path / "empty", tmp_path / "ds.zip", 8)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ImageError, match="neither a folder nor a zip"):
        make_dataset(tmp_path / "file.png", tmp_path / "ds.zip", 8)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("hello")
    with pytest.raises(ImageError, match="none of the 1 file"):
        make_dataset(junk, tmp_path / "ds.zip", 8)
    assert not (tmp_path / "ds.zip").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("resolution", [0, 3, 12, 2.0, True])
def test_bad_resolution(tmp_path: Path, resolution: object) -> None:
    with pytest.raises(InvalidArgumentError, match="power of two"):
        make_dataset(tmp_path, tmp_path / "ds.zip", resolution)  # type: ignore[arg-type]


def test_bad_background_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="background"):
        make_dataset(tmp_path, tmp_path / "ds.zip", 8, background=(0, 0, 256))
    with pytest.raises(InvalidArgumentError, match=r"\.zip"):
        make_dataset(tmp_path, tmp_path / "ds.tar", 8)


def test_output_inside_source_is_not_read_back(tmp_path: Path) -> None:
    _save(Image.new("RGB", (8, 8)), tmp_path / "a.png")
    make_dataset(tmp_path, tmp_path / "ds.zip", 8)
    report = make_dataset(tmp_path, tmp_path / "ds.zip", 8)
    assert report.written == 1 and report.skipped == []


def test_to_rgb_la_and_float() -> None:
    la = Image.fromarray(np.array([[[200, 0], [200, 255]]], np.uint8), mode="LA")
    out = np.asarray(to_rgb(la, (0, 0, 255)))
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[0, 1]) == (200, 200, 200)
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert np.asarray(to_rgb(f))[0, :, 0].tolist() == [0, 128, 255]
