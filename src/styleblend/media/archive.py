"""A zip of named PNG images, written atomically (a sweep's frames, one file per seed and frame)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ..io.atomic import atomic_path
from .images import pil_image

# Names stay plain in every unzip tool: no folders, no leading dot, nothing a shell or Windows would mangle.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,150}$")


def write_png_zip(images: Iterable[tuple[str, np.ndarray]], path: str | Path,
                  extra: Mapping[str, bytes] | None = None) -> tuple[str, ...]:
    """Write ``(name, uint8 [H, W, C])`` pairs as PNG files in a zip at ``path``, plus ``extra`` files (name ->
    bytes, e.g. a JSON manifest); the zip appears only when complete. Returns the PNG names in order.

    PNGs are stored, not deflated again (they are compressed already). Images stream in: one is encoded at a
    time.

    Raises:
        InvalidArgumentError: an unsafe or repeated name, a name without '.png', an image that is not uint8
            [H, W, 1 or 3], or no images at all (nothing is written then).
    """
    path = Path(path)
    seen: set[str] = set()

    def check(name: str) -> str:
        if not _NAME.match(name) or name in seen:
            raise InvalidArgumentError(f"zip member name {name!r} is {'repeated' if name in seen else 'not plain'}; "
                                       "use letters, digits and . _ + - only, each name once")
        seen.add(name)
        return name

    names = []
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, image in images:
            image = np.asarray(image)
            if not check(name).lower().endswith(".png"):
                raise InvalidArgumentError(f"zip member {name!r} holds a PNG; its name must end in .png")
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
                raise InvalidArgumentError(f"image {name!r} has dtype {image.dtype} and shape {list(image.shape)}; "
                                           "expected uint8 [H, W, C] with C = 1 or 3")
            buf = io.BytesIO()
            pil_image(image).save(buf, format="PNG")
            zf.writestr(name, buf.getvalue())
            names.append(name)
        if not names:
            raise InvalidArgumentError(f"no images to write to '{path.name}'; give at least one")
        for name, data in (extra or {}).items():
            zf.writestr(check(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return tuple(names)
