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
from styleblend.media.load import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, check_decoded_size, max_image_pixels

logger = logging.getLogger(__name__)



#: Largest single file a data set may hold, in bytes (uncompressed). A training image made by
#: make_dataset is an 8-bit PNG of at most a few MB; a bigger member is refused before it is inflated.
MAX_MEMBER_BYTES = 64 * 2**20

#: Default budget, in bytes, for a data set: the uncompressed size of its image files and, separately,
#: the decoded images held in memory (N x 3 x R x R). Both are checked before anything is inflated or
#: decoded, so a zip bomb (a few MB that inflate to gigabytes) is refused at once.
DEFAULT_MAX_DATASET_BYTES = 8 * 2**30


class _Entries:
    """The image files of a zip or folder data set, read one at a time (sizes known up front)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta: bytes | None = None
        self._zip: zipfile.ZipFile | None = None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        if path.is_dir():
            files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
            self.names = [n for n in files if _wanted(n)]
            self.sizes = {n: (path / n).stat().st_size for n in self.names}
            meta_path = path / "dataset.json"
            if meta_path.is_file():
                if meta_path.stat().st_size > MAX_MEMBER_BYTES:
                    raise ImageError(f"'{path}': dataset.json is larger than {MAX_MEMBER_BYTES >> 20} MB; "
                                     "rebuild the data set")
                self.meta = meta_path.read_bytes()
        elif path.is_file() and zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
                self._infos = {i.filename: i for i in self._zip.infolist() if not i.is_dir()}
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise ImageError(f"data set '{path}' is not a readable zip ({exc}); rebuild it") from None
            self.names = sorted(n for n in self._infos if _wanted(n))
            self.sizes = {n: self._infos[n].file_size for n in self.names}
            if "dataset.json" in self._infos:
                if self._infos["dataset.json"].file_size > MAX_MEMBER_BYTES:
                    raise ImageError(f"'{path}': dataset.json inflates to more than {MAX_MEMBER_BYTES >> 20} MB; "
                                     "rebuild the data set")
                self.meta = self.read("dataset.json")
        elif not path.exists():
            raise ImageError(
                f"data set '{path}' does not exist; build one with styleblend.train.dataset_tool.make_dataset "
                "or pass a folder of PNGs"
            )
        else:
            raise ImageError(f"data set '{path}' is neither a zip file nor a folder; pass a .zip made by make_dataset "
                             "or a folder of PNGs")

    def check_sizes(self, max_bytes: int) -> None:
        """Refuse a member above :data:`MAX_MEMBER_BYTES` or a total above ``max_bytes``, before inflating any."""
        big = [n for n in self.names if self.sizes[n] > MAX_MEMBER_BYTES]
        if big:
            raise ImageError(f"'{self.path}': {big[0]} is {self.sizes[big[0]] / 2**20:.0f} MB uncompressed, more than "
                             f"the {MAX_MEMBER_BYTES >> 20} MB a training image may have ({len(big)} such file(s)); "
                             "a zip bomb or not a data set - rebuild it with make_dataset")
        total = sum(self.sizes.values())
        if total > max_bytes:
            raise ImageError(f"'{self.path}': its images are {total / 2**30:.1f} GB uncompressed, more than the "
                             f"limit of {max_bytes / 2**30:.1f} GB; use fewer or smaller images (or raise max_bytes)")

    def read(self, name: str) -> bytes:
        if self._zip is None:
            return (self.path / name).read_bytes()
        try:
            with self._zip.open(self._infos[name]) as f:
                # Never more than the size checked, whatever the compressed stream holds.
                data = f.read(min(self._infos[name].file_size, MAX_MEMBER_BYTES) + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ImageError(f"'{self.path}': member {name} cannot be read ({exc}); rebuild the data set") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise ImageError(f"'{self.path}': member {name} inflates to more than {MAX_MEMBER_BYTES >> 20} MB; "
                             "rebuild the data set")
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in parts)


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
        raise ImageError(f"'{path}': dataset.json is not a JSON object with a 'labels' entry ({exc}); rebuild the "
                         "data set") from exc
    if rows is None:
        return None
    try:
        table = {str(name): label for name, label in rows}
    except (TypeError, ValueError) as exc:
        raise ImageError(f"'{path}': dataset.json 'labels' must be a list of [name, label] pairs ({exc})") from exc
    missing = [n for n in names if n not in table]
    if missing:
        raise ImageError(f"'{path}': dataset.json has no label for {len(missing)} image(s), e.g. {missing[:3]}; "
                         "rebuild the data set")
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
        max_bytes: int = DEFAULT_MAX_DATASET_BYTES,
    ) -> None:
        """Load the data set.

        Args:
            path: a ``.zip`` data set or a folder of PNGs (with an optional ``dataset.json``).
            xflip: add a mirrored copy of every image (doubles ``len``).
            use_labels: read class labels from ``dataset.json`` if it has any.
            max_pixels: largest accepted image, a guard against decompression bombs.
            max_bytes: budget for the images' uncompressed file sizes and, separately, for the decoded
                images in memory (:data:`DEFAULT_MAX_DATASET_BYTES`); checked before inflating/decoding.

        Raises:
            ImageError: the path is missing or holds no image, an image is unreadable,
                not square, of another size than the first, or of an unsupported mode,
                a member or the whole set is over its size budget, or the labels are malformed.
        """
        path = Path(path)
        entries = _Entries(path)
        try:
            names, meta = entries.names, entries.meta
            if not names:
                raise ImageError(
                    f"data set '{path}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                    "build it with styleblend.train.dataset_tool.make_dataset"
                )
            entries.check_sizes(max_bytes)
            images: np.ndarray | None = None
            with max_image_pixels(max_pixels):
                for i, name in enumerate(names):
                    array = self._decode(path, name, entries.read(name))
                    if images is None:
                        # All images share the first one's size: the whole set's memory is known now.
                        need = len(names) * array.nbytes
                        if need > max_bytes:
                            raise ImageError(
                                f"'{path}': {len(names)} images of {array.shape[1]}x{array.shape[0]} px take "
                                f"{need / 2**30:.1f} GB in memory, more than the limit of {max_bytes / 2**30:.1f} GB; "
                                "use fewer images or a lower resolution (or raise max_bytes)")
                        # Stored channels-first at once: no second copy for the permute.
                        images = np.empty((len(names), array.shape[2], *array.shape[:2]), dtype=np.uint8)
                    elif array.shape[:2] != images.shape[2:]:
                        raise ImageError(
                            f"'{path}': image {name} is {array.shape[1]}x{array.shape[0]}, but {names[0]} is "
                            f"{images.shape[3]}x{images.shape[2]}; all images must share one size (use make_dataset)"
                        )
                    images[i] = array.transpose(2, 0, 1)
        finally:
            entries.close()
        assert images is not None
        self.images: torch.Tensor = torch.from_numpy(images)
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
                check_decoded_size(img, f"{path}: {name}")  # from the header, before decoding
                img.load()
                if img.mode not in ("L", "RGB"):
                    raise ImageError(
                        f"'{path}': image {name} has mode {img.mode}, expected RGB; "
                        "convert the source with make_dataset (it composites alpha on a background)"
                    )
                # L -> RGB is lossless; NVIDIA allows grayscale data sets
                arr = np.asarray(img.convert("RGB") if img.mode == "L" else img, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise ImageError(f"'{path}': image {name} cannot be read ({type(exc).__name__}: {exc}); rebuild the data "
                             "set") from exc
        if arr.shape[0] != arr.shape[1]:
            raise ImageError(f"'{path}': image {name} is {arr.shape[1]}x{arr.shape[0]}, not square; rebuild it with "
                             "make_dataset")
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
