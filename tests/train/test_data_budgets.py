"""Size budgets of training data: zip bombs and image bombs are refused before they are inflated or decoded."""

import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import ImageError
from styleblend.train import data as data_module
from styleblend.train.data import MAX_MEMBER_BYTES, ImageZipDataset
from styleblend.train.dataset_tool import make_dataset


def _png(side: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), 7, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _deep_png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)  # 16-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak


def test_zip_bomb_member_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("00000/img00000000.png", _png())
        zf.writestr("00000/img00000001.png", b"\0" * (MAX_MEMBER_BYTES + 1))  # 64 MB of zeros, ~64 kB zipped
    assert path.stat().st_size < 1_000_000

    def load():
        with pytest.raises(ImageError, match="img00000001.png is 64 MB uncompressed.*zip bomb"):
            ImageZipDataset(path)

    seconds, peak = _measure(load)
    assert seconds < 2 and peak < 16 * 2**20


def test_total_uncompressed_size_and_decoded_size_are_budgeted(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"00000/img{i:08d}.png", _png(64))
    total = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    with pytest.raises(ImageError, match="uncompressed, more than the limit"):
        ImageZipDataset(path, max_bytes=total - 1)
    # Files fit, but 20 decoded 64 px images (20 x 12 kB) do not: refused after the first header.
    with pytest.raises(ImageError, match="20 images of 64x64 px take"):
        ImageZipDataset(path, max_bytes=max(total, 20 * 64 * 64 * 3 - 1))
    ds = ImageZipDataset(path, max_bytes=20 * 64 * 64 * 3)
    assert ds.images.shape == (20, 3, 64, 64) and ds.images.is_contiguous()
    assert int(ds.images[3, 1, 5, 5]) == 7


def test_deep_image_bomb_in_a_training_zip_is_one_clear_error(tmp_path):
    path = tmp_path / "deep.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("00000/img00000000.png", _deep_png_header(16000, 16000))

    def load():
        with pytest.raises(ImageError, match="16000x16000 pixels.*image bombs"):
            ImageZipDataset(path)

    seconds, peak = _measure(load)
    assert seconds < 2 and peak < 16 * 2**20


def test_dataset_tool_skips_bombs_cheaply(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "deep.png").write_bytes(_deep_png_header(16000, 16000))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "ok.png")
    report = make_dataset(src, tmp_path / "out.zip", 8)
    assert report.written == 1 and report.skipped == ["deep.png"]
    assert "image bombs" in report.reasons["deep.png"]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.png", (src / "ok.png").read_bytes())
        zf.writestr("zeros.png", b"\0" * (20 * 2**20))
    seconds, peak = _measure(lambda: make_dataset(bomb, tmp_path / "out2.zip", 8))
    assert seconds < 5 and peak < 16 * 2**20


def test_dataset_cli_refuses_a_lone_bomb_in_one_line(tmp_path, capsys):
    from styleblend.cli.main import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "deep.png").write_bytes(_deep_png_header(16000, 16000))
    assert main(["-q", "dataset", "--source", str(src), "--out", str(tmp_path / "o.zip"), "--res", "8"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "image bombs" in err


def test_module_constants_are_stated():
    assert data_module.DEFAULT_MAX_DATASET_BYTES == 8 * 2**30 and MAX_MEMBER_BYTES == 64 * 2**20
