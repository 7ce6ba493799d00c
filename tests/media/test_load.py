"""Robust image loading: every odd input becomes uint8 RGB, or one clear ImageError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.media.load import list_images, load_image, load_target


def _rgb(h=12, w=12):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_rgb_png_round_trip(tmp_path):
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (12, 12, 3)
    np.testing.assert_array_equal(out, a)


def test_grayscale_becomes_rgb(tmp_path):
    g = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[:, :, 0], g)
    np.testing.assert_array_equal(out[:, :, 1], g)
    assert load_image(tmp_path / "g.png", channels=1).shape == (8, 8, 1)


def test_rgba_is_composited_over_background(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 255  # red
    a[:2, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[3, 0].tolist() == [255, 255, 255]
    black = load_image(tmp_path / "a.png", background=(0, 0, 0))
    assert black[3, 0].tolist() == [0, 0, 0]


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    im.info["transparency"] = 1
    im.save(tmp_path / "p.png", transparency=1)
    out = load_image(tmp_path / "p.png")
    assert out[0, 0].tolist() == [255, 255, 255]
    im2 = Image.new("P", (4, 4), 1)
    im2.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    im2.save(tmp_path / "p2.gif")
    assert load_image(tmp_path / "p2.gif")[0, 0].tolist() == [0, 255, 0]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3)
    r, g, b = out[4, 4].astype(int)
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full = red


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    a = np.full((4, 4), 32768, dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    assert abs(int(out[0, 0, 0]) - 128) <= 1


def test_float_tiff(tmp_path):
    a = np.full((4, 4), 0.5, dtype=np.float32)
    Image.fromarray(a, "F").save(tmp_path / "f.tif")
    assert abs(int(load_image(tmp_path / "f.tif")[0, 0, 0]) - 128) <= 1


def test_exif_rotation_is_applied(tmp_path):
    a = np.zeros((4, 8, 3), np.uint8)  # wide image, stored landscape
    a[:, :4] = 255
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape == (8, 4, 3)  # displayed portrait


def test_non_square_centre_crop_and_pad(tmp_path):
    a = np.zeros((10, 30, 3), np.uint8)
    a[:, 10:20] = 200
    Image.fromarray(a).save(tmp_path / "w.png")
    out = load_image(tmp_path / "w.png", resolution=10)
    assert out.shape == (10, 10, 3) and out.min() == 200  # the centre third only
    padded = load_image(tmp_path / "w.png", resolution=30, fit="pad", background=(7, 7, 7))
    assert padded.shape == (30, 30, 3) and padded[0, 0, 0] == 7
    with pytest.raises(InvalidArgumentError):
        load_image(tmp_path / "w.png", resolution=10, fit="zoom")


def test_tiny_image_upscales_with_warning(tmp_path, caplog):
    Image.fromarray(_rgb(2, 2)).save(tmp_path / "t.png")
    with caplog.at_level("WARNING"):
        out = load_image(tmp_path / "t.png", resolution=32)
    assert out.shape == (32, 32, 3)
    assert "blurry" in caplog.text


def _bomb_png(width: int, height: int) -> bytes:
    """A valid-header grayscale PNG claiming width x height pixels with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_and_pil_global_is_untouched(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    (tmp_path / "bomb.png").write_bytes(_bomb_png(100_000, 100_000))
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(tmp_path / "bomb.png")
    assert Image.MAX_IMAGE_PIXELS == before
    (tmp_path / "big.png").write_bytes(_bomb_png(300, 300))
    with pytest.raises(ImageError, match="limit"):
        load_image(tmp_path / "big.png", max_pixels=1000)
    assert Image.MAX_IMAGE_PIXELS == before


def test_huge_image_loads_downscaled(tmp_path):
    Image.new("RGB", (3000, 2000), (10, 20, 30)).save(tmp_path / "h.jpg", quality=90)
    out = load_image(tmp_path / "h.jpg", resolution=16)
    assert out.shape == (16, 16, 3)
    assert abs(int(out[8, 8, 2]) - 30) <= 3


@pytest.mark.parametrize("content, name", [(b"hello world\n", "notes.png"), (b"", "empty.jpg"),
                                           (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "trunc.png")])
def test_non_images_give_one_clear_error(tmp_path, content, name):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / name)
    msg = str(info.value)
    assert name in msg and "\n" not in msg


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format="JPEG")
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(tmp_path / "t.jpg")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_load_target_range_and_shape(tmp_path):
    a = _rgb(8, 8)
    Image.fromarray(a).save(tmp_path / "a.png")
    t = load_target(tmp_path / "a.png", 8)
    assert t.shape == (1, 3, 8, 8) and t.min() >= -1 and t.max() <= 1
    back = (t * 127.5 + 128).clamp(0, 255).to(dtype=__import__("torch").uint8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(back, a)


def test_list_images(tmp_path):
    for name in ["b.PNG", "a.jpg", ".hidden.png", "c.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]


def _png_header_only(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    """A PNG whose header claims width x height at the given depth, with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_16_bit_greyscale_bomb_under_the_pixel_limit_is_refused_from_its_header(tmp_path):
    """16000 x 16000 is under the 2**28 pixel limit, but 16-bit: refused before decoding, at once."""
    import time
    import tracemalloc

    from styleblend.media.load import DEFAULT_MAX_PIXELS, decoded_bytes

    assert 16000 * 16000 < DEFAULT_MAX_PIXELS
    path = tmp_path / "deep.png"
    path.write_bytes(_png_header_only(16000, 16000, 16, 0))
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ImageError, match="16000x16000 pixels of mode I.*limit of 1024 MB") as info:
        load_image(path, resolution=64)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "\n" not in str(info.value) and seconds < 2 and peak < 20 * 2**20
    # 8-bit RGB of a large camera photo fits the same budget.
    assert decoded_bytes("RGB", 12000, 9000) < 2**30 < decoded_bytes("I;16", 16000, 16000)


def test_16_bit_images_convert_in_bands_exactly(tmp_path):
    a = (np.arange(300 * 200, dtype=np.uint32).reshape(300, 200) * 37 % 65536).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "d.png")
    out = load_image(tmp_path / "d.png", channels=1)[:, :, 0]
    np.testing.assert_array_equal(out, np.clip(np.rint(a / 65535.0 * 255.0), 0, 255).astype(np.uint8))


def test_one_image_suffix_list_for_targets_latents_and_data_sets(tmp_path):
    import styleblend.latents.files as latent_files
    import styleblend.train.data as data
    from styleblend.latents.files import read_latent_file
    from styleblend.media.load import IMAGE_SUFFIXES

    assert latent_files.IMAGE_SUFFIXES is IMAGE_SUFFIXES and data.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.ppm")
    with pytest.raises(InvalidArgumentError, match="is an image, not a latent"):
        read_latent_file(tmp_path / "photo.ppm", None)
