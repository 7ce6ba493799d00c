"""Training images held in memory: a zip or folder made by ``make_dataset`` (or NVIDIA's tool)."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.media.load import DEFAULT_MAX_PIXELS, max_image_pixels

logger = logging.getLogger(__name__)

#: File suffixes read as images (what NVIDIA's tools write is PNG).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


def _read_entries(path: Path) -> tuple[list[str], dict[str, bytes], bytes | None]:
    """Read image entries and ``dataset.json`` from a zip or a folder.

    Returns:
        Sorted image names (zip member names or ``/``-separated relative paths), their
        bytes by name, and the bytes of ``dataset.json`` at the root (or ``None``).

    Raises:
        ImageError: ``path`` is missing or is neither a folder nor a zip.
    """
    def wanted(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in parts)

    if path.is_dir():
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        names = [n for n in names if wanted(n)]
        meta_path = path / "dataset.json"
        meta = meta_path.read_bytes() if meta_path.is_file() else None
        return names, {n: (path / n).read_bytes() for n in names}, meta
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = {i.filename for i in zf.infolist() if not i.is_dir()}
            names = sorted(n for n in members if wanted(n))
            meta = zf.read("dataset.json") if "dataset.json" in members else None
            return names, {n: zf.read(n) for n in names}, meta
    if not path.exists():
        raise ImageError(
            f"data set '{path}' does not exist; build one with styleblend.train.dataset_tool.make_dataset "
            "or pass a folder of PNGs"
        )
    raise ImageError(f"data set '{path}' is neither a zip file nor a folder; pass a .zip made by make_dataset or a folder of PNGs")


def _parse_labels(meta: bytes | None, names: list[str], path: Path) -> np.ndarray | None:
    """Return int64 class labels in ``names`` order from ``dataset.json``, or ``None``.

    Raises:
        ImageError: the JSON is malformed, a label is not an int >= 0, or an image has none.
    """
    if meta is None:
        return None
    try:
        rows = json.loads(meta).get("labels")
    except (ValueError, AttributeError) as exc:
        raise ImageError(f"'{path}': dataset.json is not a JSON object with a 'labels' entry ({exc}); rebuild the data set") from exc
    if rows is None:
        return None
    try:
        table = {str(name): label for name, label in rows}
    except (TypeError, ValueError) as exc:
        raise ImageError(f"'{path}': dataset.json 'labels' must be a list of [name, label] pairs ({exc})") from exc
    missing = [n for n in names if n not in table]
    if missing:
        raise ImageError(f"'{path}': dataset.json has no label for {len(missing)} image(s), e.g. {missing[:3]}; rebuild the data set")
    values = [table[n] for n in names]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ImageError(
            f"'{path}': only integer class labels >= 0 are supported, got e.g. {values[:3]}; "
            "load with use_labels=False to ignore them"
        )
    return np.asarray(values, dtype=np.int64)


class ImageZipDataset(torch.utils.data.Dataset):
    """All images of a small data set, decoded once into one uint8 tensor.

    Reads a zip written by :func:`styleblend.train.dataset_tool.make_dataset` (or by
    NVIDIA's ``dataset_tool.py``) or a folder of PNGs: every image must be square, of
    the same size, and RGB or grayscale (grayscale is repeated to three channels).
    Meant for small sets, e.g. 1000 images at 64 px are 12 MB.

    Item ``i`` is ``(img, c)``: ``img`` uint8 [3, R, R] in 0..255 and ``c`` float32
    [c_dim], the one-hot class (``c_dim`` is 0 without labels, as NVIDIA's code
    expects). With ``xflip`` the set has ``2 * N`` items: item ``N + i`` is image ``i``
    mirrored left-right (NVIDIA's ``--mirror``).

    Attributes:
        images: uint8 [N, 3, R, R], the stored images without mirrored copies.
        labels: int64 [N] class indices, or ``None``.
        names: source name of each stored image, in order.
        xflip: whether mirrored copies are included.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        xflip: bool = False,
        use_labels: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        """Load the data set.

        Args:
            path: a ``.zip`` data set or a folder of PNGs (with an optional ``dataset.json``).
            xflip: add a mirrored copy of every image (doubles ``len``).
            use_labels: read class labels from ``dataset.json`` if it has any.
            max_pixels: largest accepted image, a guard against decompression bombs.

        Raises:
            ImageError: the path is missing or holds no image, an image is unreadable,
                not square, of another size than the first, or of an unsupported mode,
                or the labels are malformed.
        """
        path = Path(path)
        names, blobs, meta = _read_entries(path)
        if not names:
            raise ImageError(
                f"data set '{path}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "build it with styleblend.train.dataset_tool.make_dataset"
            )
        arrays: list[np.ndarray] = []
        with max_image_pixels(max_pixels):
            for name in names:
                arrays.append(self._decode(path, name, blobs.pop(name)))
                if arrays[-1].shape != arrays[0].shape:
                    raise ImageError(
                        f"'{path}': image {name} is {arrays[-1].shape[1]}x{arrays[-1].shape[0]}, but {names[0]} is "
                        f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; all images must share one size (use make_dataset)"
                    )
        self.images: torch.Tensor = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        labels = _parse_labels(meta, names, path) if use_labels else None
        self.labels: torch.Tensor | None = None if labels is None else torch.from_numpy(labels)
        self.names: list[str] = names
        self.xflip: bool = bool(xflip)
        logger.info("loaded %d images of %d px from %s", len(names), self.resolution, path)

    @staticmethod
    def _decode(path: Path, name: str, data: bytes) -> np.ndarray:
        """Decode one image to uint8 [R, R, 3]; raise :class:`ImageError` if unusable."""
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                if img.mode == "L":
                    img = img.convert("RGB")  # lossless; NVIDIA allows grayscale data sets
                elif img.mode != "RGB":
                    raise ImageError(
                        f"'{path}': image {name} has mode {img.mode}, expected RGB; "
                        "convert the source with make_dataset (it composites alpha on a background)"
                    )
                arr = np.asarray(img, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"'{path}': image {name} cannot be read ({type(exc).__name__}: {exc}); rebuild the data set") from exc
        if arr.shape[0] != arr.shape[1]:
            raise ImageError(f"'{path}': image {name} is {arr.shape[1]}x{arr.shape[0]}, not square; rebuild it with make_dataset")
        return arr

    @property
    def resolution(self) -> int:
        """Side of the square images in pixels."""
        return int(self.images.shape[-1])

    @property
    def num_channels(self) -> int:
        """Colour channels per image (always 3)."""
        return int(self.images.shape[1])

    @property
    def has_labels(self) -> bool:
        """Whether class labels were loaded."""
        return self.labels is not None

    @property
    def c_dim(self) -> int:
        """Length of the one-hot class vector ``c``: largest label + 1, or 0 without labels."""
        return 0 if self.labels is None else int(self.labels.max()) + 1

    def __len__(self) -> int:
        """Number of items: stored images, doubled when ``xflip`` is on."""
        return len(self.names) * (2 if self.xflip else 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(img uint8 [3, R, R], c float32 [c_dim])`` for item ``index``.

        Raises:
            IndexError: ``index`` is outside ``[-len, len)``.
        """
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a data set of {n} items")
        imgs, c = self.get_batch(torch.tensor([index % n]))
        return imgs[0], c[0]

    def get_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the items at ``indices`` at once (faster than a DataLoader for in-memory data).

        Args:
            indices: int64 [B], each in ``[0, len)``.

        Returns:
            ``img`` uint8 [B, 3, R, R] and ``c`` float32 [B, c_dim].

        Raises:
            InvalidArgumentError: an index is out of range.
        """
        indices = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= len(self)):
            raise InvalidArgumentError(
                f"batch indices must lie in [0, {len(self)}), got min {int(indices.min())}, max {int(indices.max())}"
            )
        count = len(self.names)
        base = indices % count
        imgs = self.images[base]  # advanced indexing copies, so flipping below is safe
        flip = indices >= count
        if bool(flip.any()):
            imgs[flip] = imgs[flip].flip(-1)
        if self.labels is None:
            c = torch.zeros(len(indices), 0, dtype=torch.float32)
        else:
            c = torch.nn.functional.one_hot(self.labels[base], self.c_dim).to(torch.float32)
        return imgs, c
