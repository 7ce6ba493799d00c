"""Robust loading of user images (projection targets, photos to align, training-set sources).

Whatever a user hands us - grayscale, RGBA, palette, CMYK, 16-bit, EXIF-rotated, non-square, tiny or
huge - becomes a plain uint8 RGB (or L) array, or is refused with one :class:`ImageError` line that
says what the file is and what to do. Nothing here changes PIL's global settings for longer than one
call (the decompression-bomb limit is only set inside a lock-protected, restoring block).

This is the one place that decodes and converts user images: :mod:`styleblend.train.dataset_tool`
builds training sets with :func:`decode_image` and :func:`prepare_image`, and
:mod:`styleblend.train.data` reads them under :func:`max_image_pixels`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, InvalidArgumentError

log = logging.getLogger(__name__)

#: Default refusal threshold in pixels (width * height). PIL warns above 89.5 Mpx and refuses above
#: twice that; 2**28 (about 16384 x 16384) is larger than any photo a camera makes, but a PNG that claims
#: more is almost certainly a decompression bomb (a few kB that would decode to gigabytes).
DEFAULT_MAX_PIXELS = 2**28

#: Default budget in bytes for decoding one image and converting it to 8-bit RGB, estimated from its
#: header before any pixel is decoded (:func:`decoded_bytes`). 1 GiB admits a 130-megapixel 8-bit RGB
#: photo but refuses, for example, a 16000 x 16000 16-bit greyscale PNG (about 1.5 GB to decode and
#: convert) that stays under the pixel limit and compresses to a few kB.
DEFAULT_MAX_DECODED_BYTES = 2**30

# Bytes per pixel in Pillow's own storage: one-band 8-bit modes 1, 16-bit modes 2, every other mode
# (RGB included: Pillow pads it to 4) 4.
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}

#: File suffixes styleblend reads as images - everywhere: targets, image folders, data sets, and the check
#: that an image was not passed where a latent file belongs. The one list; others import it.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm")

FITS = ("crop", "pad", "stretch")

# What Pillow and its codecs raise on a file that is truncated or corrupt. Kept explicit (no bare
# `except`) so a bug in our own code still surfaces.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes "image file is truncated" and decoder errors
    ValueError,
    SyntaxError,  # some Pillow plugins raise it for malformed headers
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
)

# Re-entrant: a caller may hold the limit around a loop that decodes with decode_image.
_PIL_LIMIT_LOCK = threading.RLock()


@contextlib.contextmanager
def max_image_pixels(limit: int | None) -> Iterator[None]:
    """Cap the image size Pillow will open at ``limit`` pixels for the block, then restore its global.

    Pillow's cap is a module global (``Image.MAX_IMAGE_PIXELS``) that it checks when a file is opened
    (before any pixel data is decoded), warning above it and refusing above twice it. Inside this
    block the cap is exactly ``limit`` and the warning is raised as an error, so every image above
    ``limit`` fails to open (:func:`decode_image` turns that into an :class:`ImageError`). The previous
    value is always put back; a lock keeps concurrent blocks from restoring each other's value.

    Args:
        limit: largest accepted width * height, > 0; None disables the check.

    Raises:
        InvalidArgumentError: ``limit`` is not positive.
    """
    if limit is not None and limit <= 0:
        raise InvalidArgumentError(f"max_pixels must be a positive pixel count (or None for no limit), got {limit}")
    with _PIL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None if limit is None else int(limit)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def decoded_bytes(mode: str, width: int, height: int) -> int:
    """Estimated peak bytes to decode a ``mode`` image of ``width`` x ``height`` and convert it to RGB.

    Pillow's storage of the decoded image (1, 2 or 4 bytes per pixel by mode) plus the 4 bytes per pixel
    of the converted copy; known from the header alone, so a bomb is refused before it is decoded.
    """
    return int(width) * int(height) * (_STORAGE_BYTES.get(mode, 4) + 4)


def check_decoded_size(im: Image.Image, name: str, max_bytes: int | None = DEFAULT_MAX_DECODED_BYTES) -> None:
    """Raise ImageError when decoding and converting ``im`` (opened, not yet loaded) would exceed ``max_bytes``."""
    if max_bytes is None:
        return
    w, h = im.size
    need = decoded_bytes(im.mode, w, h)
    if need > max_bytes:
        raise ImageError(f"image '{name}' is {w}x{h} pixels of mode {im.mode}; decoding and converting it takes "
                         f"about {need / 2**20:.0f} MB, more than the limit of {max_bytes / 2**20:.0f} MB (a guard "
                         "against image bombs); downscale it first")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Integer/float modes with more than 8 bits -> 'L' by scaling (PIL's convert would clip instead).

    Converted in bands of rows, so the float copy never holds more than a few megapixels at once.
    """
    a = np.asarray(im)
    if im.mode.startswith("I;16") or im.mode == "I":
        top = 65535.0 if (im.mode.startswith("I;16") or a.max(initial=0) > 255) else 255.0
    else:  # 'F': floats, usually in [0, 1]; otherwise assume 8- or 16-bit ranges
        peak = float(np.nan_to_num(a.max(initial=0)))
        top = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    out = np.empty(a.shape, dtype=np.uint8)
    rows = max(1, (1 << 22) // max(1, a.shape[1]))
    for start in range(0, a.shape[0], rows):
        band = np.nan_to_num(a[start:start + rows].astype(np.float64))
        out[start:start + rows] = np.clip(np.rint(band / top * 255.0), 0, 255)
    return Image.fromarray(out, "L")


def _composite(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Images with alpha -> RGB over ``background`` (transparent pixels have no colour of their own)."""
    rgba = im.convert("RGBA")
    base = Image.new("RGBA", rgba.size, tuple(background) + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK -> sRGB through the embedded ICC profile when there is one, else PIL's plain formula."""
    profile = im.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:  # None only for inPlace=True
                return converted
        except (ImportError, OSError, ValueError, ImageCms.PyCMSError) as exc:
            log.warning("CMYK image: its ICC profile could not be applied (%s); using a plain CMYK->RGB "
                        "conversion, colours may be off", exc)
    return im.convert("RGB")


def to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255), *, channels: int = 3) -> Image.Image:
    """Convert any PIL mode to 8-bit 'RGB' (channels=3) or 'L' (channels=1).

    Handles 1-bit, L, LA, P (with or without transparency), PA, RGBA, CMYK (ICC-aware), YCbCr, LAB, HSV,
    16-bit integer (I;16*, I) and float (F) images. Alpha - an alpha band, or a transparency entry
    (palette index or tRNS colour key, in any mode) - is composited over ``background`` (straight alpha:
    ``a * fg + (1 - a) * bg``). 16-bit and float images are scaled to 8 bits, not clipped.

    Args:
        im: a loaded PIL image.
        background: (R, G, B), each 0..255, shown where the image is transparent.
        channels: 3 for RGB, 1 for grayscale.

    Returns:
        A new image of mode 'RGB' or 'L' and the same size (``im`` itself when it already is one).

    Raises:
        InvalidArgumentError: ``channels`` is not 1 or 3.
        ValueError: PIL cannot convert the mode.
    """
    if channels not in (1, 3):
        raise InvalidArgumentError(f"channels={channels} must be 1 (grayscale) or 3 (RGB)")
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        im = _to_8bit(im)
    elif "transparency" in im.info or mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = _composite(im, background)
    elif mode == "CMYK":
        im = _cmyk_to_rgb(im)
    target = "RGB" if channels == 3 else "L"
    return im if im.mode == target else im.convert(target)


def fit_square(im: Image.Image, fit: str = "crop", background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Make an image square: 'crop' (centre crop to the shorter side), 'pad' (centre on ``background``)
    or 'stretch' (leave it; the resize will distort)."""
    if fit not in FITS:
        raise InvalidArgumentError(f"fit={fit!r} must be one of {FITS}")
    w, h = im.size
    if w == h or fit == "stretch":
        return im
    if fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return im.crop((left, top, left + side, top + side))
    side = max(w, h)
    fill = background if im.mode == "RGB" else round(sum(background) / 3)
    out = Image.new(im.mode, (side, side), fill)
    out.paste(im, ((side - w) // 2, (side - h) // 2))
    return out


def open_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               draft_size: int | None = None, max_bytes: int | None = DEFAULT_MAX_DECODED_BYTES) -> Image.Image:
    """Open and decode an image file with EXIF orientation applied; the first frame of animations.

    Args:
        path: an image file PIL can read.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard); None disables.
        draft_size: if given, let JPEG decoders decode at a reduced scale that still has at least this
            many pixels on the shorter side (much faster and smaller for huge photos).
        max_bytes: refuse images whose decoding and conversion would take more memory than this
            (:func:`decoded_bytes`, from the header: pixels x bit depth x channels); None disables.

    Raises:
        ImageError: missing file, a directory, not an image, truncated/corrupt data, too many pixels or bytes.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image '{path}' does not exist; check the path")
    if path.is_dir():
        raise ImageError(f"'{path}' is a folder, not an image file; pass an image (or use batch mode for folders)")
    return _decode(path, str(path), max_pixels, draft_size, max_bytes)


def decode_image(data: bytes, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 draft_size: int | None = None, max_bytes: int | None = DEFAULT_MAX_DECODED_BYTES) -> Image.Image:
    """Like :func:`open_image` for an image held in memory (e.g. a zip member).

    Args:
        data: the encoded file.
        name: what to call it in error messages (a file or member name).
        max_pixels, draft_size, max_bytes: see :func:`open_image`.

    Raises:
        ImageError: not an image, truncated/corrupt data, too many pixels.
    """
    return _decode(io.BytesIO(data), name, max_pixels, draft_size, max_bytes)


def _decode(source: Path | BinaryIO, name: str, max_pixels: int | None, draft_size: int | None,
            max_bytes: int | None) -> Image.Image:
    """Open, bound-check, load and EXIF-rotate one image (see :func:`open_image`)."""
    with max_image_pixels(max_pixels):  # outside the try: a bad max_pixels is the caller's error
        try:
            im = Image.open(source)
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageError(f"image '{name}' has size {w}x{h}; it must have at least one pixel")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            if draft_size is not None and im.format == "JPEG":
                im.draft("RGB", (draft_size, draft_size))
            check_decoded_size(im, name, max_bytes)  # after draft: a JPEG decoded at 1/8 scale is small
            im.load()
            return ImageOps.exif_transpose(im)
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"'{name}' is not an image PIL can read; give a PNG, JPEG, WebP, BMP, TIFF or GIF "
                             "file") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image '{name}' has more pixels than the limit of {max_pixels} (a guard against "
                             f"decompression bombs: {type(exc).__name__}: {exc}); downscale it first or raise "
                             "max_pixels") from None
        except _DECODE_ERRORS as exc:
            raise ImageError(f"image '{name}' could not be decoded ({type(exc).__name__}: {exc}); the file is "
                             "probably truncated or corrupt - re-export it") from None


def prepare_image(im: Image.Image, resolution: int, background: tuple[int, int, int] = (255, 255, 255), *,
                  channels: int = 3, fit: str = "crop", name: str = "image") -> Image.Image:
    """Turn a decoded image into a square ``resolution`` x ``resolution`` RGB (or L) image.

    Steps: :func:`to_rgb` (alpha over ``background``), :func:`fit_square` and a Lanczos resize when the
    size differs.

    Args:
        im: a decoded image (:func:`open_image` / :func:`decode_image`: loaded, EXIF orientation applied).
        resolution: output side in pixels, > 0.
        background: (R, G, B) behind transparent pixels and 'pad' borders.
        channels: 3 for RGB, 1 for grayscale.
        fit: 'crop' (centre square), 'pad' or 'stretch', see :func:`fit_square`.
        name: what to call the image in the warning about strong upscaling.

    Raises:
        InvalidArgumentError: bad ``resolution``, ``channels`` or ``fit``.
        ValueError: PIL cannot convert the image's mode.
    """
    if resolution < 1:
        raise InvalidArgumentError(f"resolution={resolution} must be a positive number of pixels")
    im = fit_square(to_rgb(im, background, channels=channels), fit, background)
    if max(im.size) * 4 < resolution:
        log.warning("image '%s' is only %dx%d; upscaling it to %d px will look blurry", name, im.size[0],
                    im.size[1], resolution)
    if im.size != (resolution, resolution):
        # reducing_gap makes huge downscales fast (a box reduction first) at no visible cost.
        im = im.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return im


def load_image(path: str | Path, resolution: int | None = None, channels: int = 3, fit: str = "crop",
               background: tuple[int, int, int] = (255, 255, 255),
               max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_bytes: int | None = DEFAULT_MAX_DECODED_BYTES) -> np.ndarray:
    """Load any image as uint8 [H, W, C] (C = ``channels``), optionally square and resized.

    Args:
        path: image file.
        resolution: if given, the output is ``resolution`` x ``resolution``: made square by ``fit``
            ('crop' = centre crop, 'pad', 'stretch') and resized with a Lanczos filter.
        channels: 3 for RGB, 1 for grayscale.
        background: colour transparent pixels (and 'pad' borders) are composited over.
        max_pixels, max_bytes: decompression-bomb guards, see :func:`open_image`.

    Returns:
        uint8 array [H, W, channels].

    Raises:
        ImageError: the file cannot be read (see :func:`open_image`).
        InvalidArgumentError: bad ``resolution``, ``channels`` or ``fit``.
    """
    if resolution is not None and resolution < 1:
        raise InvalidArgumentError(f"resolution={resolution} must be a positive number of pixels")
    im = open_image(path, max_pixels=max_pixels, draft_size=resolution, max_bytes=max_bytes)
    if resolution is None:
        im = to_rgb(im, background, channels=channels)
    else:
        im = prepare_image(im, resolution, background, channels=channels, fit=fit, name=str(path))
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a.copy()


def load_target(path: str | Path, resolution: int, channels: int = 3, fit: str = "crop",
                device: str | torch.device = "cpu") -> torch.Tensor:
    """Load an image as a generator-range target: float32 [1, channels, resolution, resolution] in [-1, 1].

    The mapping is ``x / 127.5 - 1``, the inverse of the projector output conversion up to rounding.
    """
    a = load_image(path, resolution=resolution, channels=channels, fit=fit)
    t = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    return t.to(device)


def list_images(folder: str | Path) -> list[Path]:
    """Image files (by suffix, case-insensitive) directly inside ``folder``, sorted by name; hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"'{folder}' is not a folder")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
