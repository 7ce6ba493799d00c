"""Build a training data set: a zip of square RGB PNGs in NVIDIA's ``dataset_tool`` layout.

The output zip holds ``00000/img00000000.png, 00000/img00000001.png, ...`` (the folder
is the first five of the eight index digits, so 1000 images per folder) and a
``dataset.json`` with ``{"labels": [[archive_name, label], ...]}`` or
``{"labels": null}``, which is exactly what NVIDIA's StyleGAN2-ADA training code reads,
so a data set made here trains there too, and :class:`styleblend.train.data.ImageZipDataset`
reads both.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# Decoding, conversion and the decompression-bomb guard are styleblend.media.load's; DEFAULT_MAX_PIXELS,
# to_rgb, max_image_pixels and prepare_image are re-exported as this module's public names.
from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.io.atomic import atomic_path
from styleblend.media.load import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    max_image_pixels,
    prepare_image,
    to_rgb,
)

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_FILE_BYTES", "DatasetReport", "archive_name", "make_dataset",
           "max_image_pixels", "prepare_image", "to_rgb"]

logger = logging.getLogger(__name__)

#: Largest single file read from the source, in bytes; guards against zip bombs, whose
#: members claim a small compressed size but inflate to gigabytes.
MAX_FILE_BYTES = 512 * 1024 * 1024

#: Most bytes a zip source may inflate to in total, checked from its directory before extracting.
MAX_SOURCE_BYTES = 64 * 2**30

#: A zip member above 16 MB that inflates more than this many times its compressed size is skipped
#: unread: image files hardly compress inside a zip (PNG and JPEG are compressed already), while a zip
#: bomb's members are runs of zeros that inflate a thousandfold.
MAX_MEMBER_RATIO = 100

#: Fixed timestamp for zip entries, so the same input gives a byte-identical zip.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# Why a source file is skipped: decode_image refuses it (not an image, corrupt, truncated, too many
# pixels), reading it fails (OSError, e.g. larger than MAX_FILE_BYTES) or Pillow cannot convert its
# mode (ValueError). Kept explicit (no bare `except`) so a bug in this module still surfaces.
_SKIP_ERRORS: tuple[type[BaseException], ...] = (ImageError, OSError, ValueError)


@dataclass
class DatasetReport:
    """What :func:`make_dataset` did.

    Attributes:
        written: number of images written to the zip.
        skipped: source names (relative paths or zip member names) that could not be
            read as images, in source order.
        out: path of the zip that was written.
        reasons: for each skipped name, why it was skipped (exception type and message).
    """

    written: int
    skipped: list[str]
    out: Path
    reasons: dict[str, str] = field(default_factory=dict)


def archive_name(index: int) -> str:
    """Return NVIDIA's archive name for image ``index``, e.g. ``00001/img00001234.png``."""
    digits = f"{index:08d}"
    return f"{digits[:5]}/img{digits}.png"


def _is_candidate(name: str) -> bool:
    """Tell whether a source entry may be an image (skip hidden files and metadata)."""
    parts = PurePosixPath(name).parts
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return name != "dataset.json"  # an NVIDIA data set's own metadata, not an image


@contextlib.contextmanager
def _open_source(source: Path, exclude: Path) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """Open a folder or zip source; yield its sorted entry names and a reader by name.

    Raises:
        ImageError: ``source`` is missing, is neither a folder nor a zip, or has no files.
        OSError: (from the reader) an entry is larger than ``MAX_FILE_BYTES``.
    """
    if source.is_dir():
        names = sorted(
            p.relative_to(source).as_posix()
            for p in source.rglob("*")
            if p.is_file() and p.resolve() != exclude
        )

        def read(name: str) -> bytes:
            path = source / name
            if path.stat().st_size > MAX_FILE_BYTES:
                raise OSError(f"file larger than {MAX_FILE_BYTES} bytes")
            return path.read_bytes()

        yield [n for n in names if _is_candidate(n)], read
    elif source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}

            total = sum(i.file_size for n, i in infos.items() if _is_candidate(n))
            if total > MAX_SOURCE_BYTES:
                raise ImageError(f"dataset source '{source}' inflates to {total / 2**30:.1f} GB, more than the limit "
                                 f"of {MAX_SOURCE_BYTES >> 30} GB (a guard against zip bombs); unpack it into a folder "
                                 "and pass the folder")

            def read_member(name: str) -> bytes:
                info = infos[name]
                if info.file_size > MAX_FILE_BYTES:
                    raise OSError(f"zip member inflates to {info.file_size} bytes (> {MAX_FILE_BYTES})")
                if info.file_size > 16 * 2**20 and info.file_size > MAX_MEMBER_RATIO * max(1, info.compress_size):
                    raise OSError(f"zip member inflates {info.file_size // max(1, info.compress_size)}x, to "
                                  f"{info.file_size} bytes; not read (a likely zip bomb)")
                return zf.read(info)

            yield sorted(n for n in infos if _is_candidate(n)), read_member
    elif not source.exists():
        raise ImageError(f"dataset source '{source}' does not exist; pass a folder of images or a .zip of images")
    else:
        raise ImageError(f"dataset source '{source}' is neither a folder nor a zip file; pass a folder of images or a "
                         ".zip of images")


def _check_arguments(resolution: int, background: tuple[int, int, int], out: Path, max_pixels: int) -> None:
    """Raise :class:`InvalidArgumentError` for a bad resolution, background, output name or pixel limit."""
    if (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4
            or resolution & (resolution - 1)):
        raise InvalidArgumentError(
            f"resolution must be a power of two >= 4 (StyleGAN trains on such sizes), got {resolution!r}; try 64, 128 "
            "or 256"
        )
    if len(background) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in background):
        raise InvalidArgumentError(f"background must be an (R, G, B) tuple of ints in 0..255, got {background!r}")
    if out.suffix.lower() != ".zip":
        raise InvalidArgumentError(f"output '{out}' must end in .zip (NVIDIA's tools detect a zip data set by its "
                                   "suffix)")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise InvalidArgumentError(f"max_pixels must be a positive pixel count, got {max_pixels!r}")


def _check_labels(labels: dict[str, int], names: list[str]) -> None:
    """Raise :class:`InvalidArgumentError` unless every source name has an int label >= 0."""
    missing = [n for n in names if n not in labels]
    if missing:
        raise InvalidArgumentError(
            f"labels has no entry for {len(missing)} source file(s), e.g. {missing[:3]}; "
            "give a label for every file, keyed by its path relative to the source (with '/')"
        )
    bad = {n: labels[n] for n in names
           if isinstance(labels[n], bool) or not isinstance(labels[n], int) or labels[n] < 0}
    if bad:
        raise InvalidArgumentError(f"labels must be ints >= 0 (class indices), got e.g. {dict(list(bad.items())[:3])}")


def make_dataset(
    source: str | Path,
    out: str | Path,
    resolution: int,
    background: tuple[int, int, int] = (255, 255, 255),
    labels: dict[str, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DatasetReport:
    """Convert a folder or zip of images into a training zip in NVIDIA's layout.

    Every file in ``source`` (recursively, sorted by path; hidden files skipped) is
    decoded and turned upright by its EXIF orientation
    (:func:`styleblend.media.load.decode_image`), converted to RGB with alpha composited
    on ``background`` (16-bit and float images scaled, CMYK through its ICC profile; see
    :func:`styleblend.media.load.to_rgb`), centre-cropped to a square and resized to
    ``resolution`` with Lanczos. Files that are not images, are corrupt or truncated,
    or exceed ``max_pixels`` are skipped and listed in the report, never fatal.

    The zip is written to a temporary file beside ``out`` and moved into place only
    when complete, so an error or an interrupt never leaves a partial ``out`` (and an
    existing ``out`` stays untouched).

    Args:
        source: a folder of images or a ``.zip`` of images.
        out: output path ending in ``.zip``; parent folders are created.
        resolution: side of the square output images; a power of two >= 4.
        background: (R, G, B), 0..255, shown where images are transparent.
        labels: optional class index (int >= 0) per source file, keyed by its path
            relative to ``source`` with ``/`` separators (or its zip member name);
            ``None`` writes ``{"labels": null}``. Every file needs a label.
        progress: called as ``progress(done, total)`` after each source file; an
            exception raised by it aborts the run (nothing is written).
        max_pixels: largest accepted image (width * height); bigger ones are skipped
            as possible decompression bombs.

    Returns:
        A :class:`DatasetReport` with the number written and the names skipped.

    Raises:
        ImageError: ``source`` is missing, not a folder or zip, has no files, or has
            no readable image.
        InvalidArgumentError: bad ``resolution``, ``background``, ``labels``, ``out`` or
            ``max_pixels``.
        OSError: the output cannot be written.
    """
    source, out = Path(source), Path(out)
    _check_arguments(resolution, background, out, max_pixels)
    background = tuple(background)  # type: ignore[assignment]
    out.parent.mkdir(parents=True, exist_ok=True)

    with _open_source(source, exclude=out.resolve()) as (names, read):
        if not names:
            raise ImageError(f"dataset source '{source}' contains no files; put the training images in it")
        if labels is not None:
            _check_labels(labels, names)

        written = 0
        skipped: list[str] = []
        reasons: dict[str, str] = {}
        label_rows: list[list[str | int]] = []
        # atomic_path: a temporary file beside ``out`` (os.replace is atomic only within a file system),
        # removed on any error or interrupt; one left by a killed run is removed by the next.
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            # PNGs are already deflated; storing them keeps the zip fast to read.
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
                for done, name in enumerate(names, start=1):
                    try:
                        img = decode_image(read(name), name, max_pixels)
                        result = prepare_image(img, resolution, background, name=name)
                    except _SKIP_ERRORS as exc:
                        skipped.append(name)
                        reasons[name] = f"{type(exc).__name__}: {exc}"
                        logger.warning("skipping %s: %s", name, reasons[name])
                    else:
                        buf = io.BytesIO()
                        result.save(buf, format="PNG")
                        arcname = archive_name(written)
                        zf.writestr(_zip_info(arcname), buf.getvalue())
                        if labels is not None:
                            label_rows.append([arcname, labels[name]])
                        written += 1
                    if progress is not None:
                        progress(done, len(names))
                if written == 0:
                    raise ImageError(
                        f"none of the {len(names)} file(s) in '{source}' could be read as an image "
                        f"(e.g. {skipped[0]}: {reasons[skipped[0]]}); check the source folder"
                    )
                meta = {"labels": label_rows if labels is not None else None}
                zf.writestr(_zip_info("dataset.json"), json.dumps(meta))
            f.flush()
            os.fsync(f.fileno())

    logger.info("wrote %d images to %s (%d skipped)", written, out, len(skipped))
    return DatasetReport(written=written, skipped=skipped, out=out, reasons=reasons)


def _zip_info(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed timestamp and ordinary permissions (reproducible zips)."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info
