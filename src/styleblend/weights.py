"""Auxiliary network weights: where VGG-16 and Inception-v3 files are found, verified and (if asked) fetched.

Projection losses and PPL use VGG-16 (torchvision's ImageNet weights, or NVIDIA's LPIPS ``vgg16.pt``);
FID and KID use pytorch-fid's port of the 2015 Inception-v3 graph. Both are looked up the same way
(:func:`find_weights`), in this order:

1. an explicit file (the ``path`` argument; the ``vgg_path`` / ``inception_path`` parameters of
   the library's functions). Used as given, not hash-checked: it may be another build of the network.
2. torch.hub's cache, ``$TORCH_HOME/hub/checkpoints/<file>`` (``TORCH_HOME`` defaults to
   ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``, as torch.hub does), under the published file name.
3. other caches that hold the same network (NVIDIA's dnnlib cache for ``vgg16.pt``).
4. a download into the torch hub cache - only when the caller allows it (``download=True``, the
   CLI's ``--download``, or ``STYLEBLEND_ALLOW_DOWNLOAD=1``). Nothing is ever downloaded otherwise.

Verification: both files carry the first 8 hex digits of their SHA-256 in their name (torch.hub's
convention, which torchvision and pytorch-fid follow). A download is hashed while it is written and
lands in the cache only if the digest matches; a file found in the cache is hashed once per process
(size and modification time are remembered), so a truncated or foreign file there is reported with
what to do instead of failing later with a confusing shape error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import MissingWeightsError
from .io.atomic import atomic_path

log = logging.getLogger(__name__)

#: Environment variable that allows downloads without passing ``download=True``.
DOWNLOAD_ENV = "STYLEBLEND_ALLOW_DOWNLOAD"


def torch_hub_dir() -> Path:
    """torch.hub's directory, following TORCH_HOME and XDG_CACHE_HOME like torch itself."""
    home = os.environ.get("TORCH_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "torch" / "hub"


def _dnnlib_vgg16() -> list[Path]:
    root = os.environ.get("DNNLIB_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "dnnlib"
    folder = base / "downloads"
    return sorted(folder.glob("*vgg16.pt")) if folder.is_dir() else []


@dataclass(frozen=True)
class WeightsFile:
    """One published weights file and how to get it.

    Attributes:
        name: what the network is, for messages ("VGG-16").
        filename: the published file name, also its name in the torch hub cache.
        url: where it is published.
        sha256_prefix: the first hex digits of its SHA-256 (from the file name).
        size: its size, for messages.
        param: the library parameter that names an explicit file (front ends show it their own way).
        accepts: what an explicit file may be, for messages.
        elsewhere: other caches to look in, and how to describe them.
    """

    name: str
    filename: str
    url: str
    sha256_prefix: str
    size: str
    param: str
    accepts: str
    elsewhere: Callable[[], list[Path]] = field(default=lambda: [])
    elsewhere_text: str = ""

    def cache_path(self) -> Path:
        """Where torch.hub (and a download) keeps this file."""
        return torch_hub_dir() / "checkpoints" / self.filename


VGG16 = WeightsFile(
    name="VGG-16", filename="vgg16-397923af.pth", url="https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256_prefix="397923af", size="528 MB", param="vgg_path",
    accepts="a torchvision vgg16 .pth or NVIDIA's vgg16.pt", elsewhere=_dnnlib_vgg16,
    elsewhere_text="NVIDIA's ~/.cache/dnnlib/downloads/*vgg16.pt")

INCEPTION = WeightsFile(
    name="Inception-v3 (FID)", filename="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    sha256_prefix="6726825d", size="92 MB", param="inception_path",
    accepts="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a plain state dict)")


def download_allowed(download: bool = False) -> bool:
    """Downloads happen only when asked: the argument, or STYLEBLEND_ALLOW_DOWNLOAD=1 in the environment."""
    return download or os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def how_to_get(spec: WeightsFile) -> str:
    """The fix, for messages: allow the download, or put the file in the cache or anywhere."""
    target = spec.cache_path()
    return (f"allow `download` (or set {DOWNLOAD_ENV}=1) to fetch {spec.name} ({spec.size}) once into "
            f"{target.parent}, or download {spec.url} yourself into that folder or anywhere and pass `{spec.param}`")


def missing_message(spec: WeightsFile) -> str:
    places = [f"`{spec.param}`", str(spec.cache_path())] + ([spec.elsewhere_text] if spec.elsewhere_text else [])
    where = ", ".join(places)
    return f"no {spec.name} weights found (looked for {where}); {how_to_get(spec)}"


_verified: dict[Path, tuple[int, int]] = {}


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(spec: WeightsFile, path: Path) -> Path:
    """Check that ``path`` has the SHA-256 that ``spec``'s file name announces (once per process and file).

    Raises:
        MissingWeightsError: another digest; the file is truncated or not the published one.
    """
    stat = path.stat()
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return path
    digest = sha256_of(path)
    if not digest.startswith(spec.sha256_prefix):
        raise MissingWeightsError(
            f"'{path}' has SHA-256 {digest[:16]}..., but {spec.filename} must start with {spec.sha256_prefix}: "
            f"the file is truncated or another one; delete it, then {how_to_get(spec)}", param=spec.param)
    _verified[path] = (stat.st_size, stat.st_mtime_ns)
    return path


def _open_url(url: str) -> BinaryIO:
    """The only network access in styleblend (tests replace it, so nothing is fetched while they run)."""
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310 - fixed https URLs of published weights


def download(spec: WeightsFile, dest: Path | None = None) -> Path:
    """Fetch ``spec`` into ``dest`` (default: the torch hub cache), atomically and SHA-256-checked.

    Raises:
        MissingWeightsError: offline, an HTTP error, or a digest that does not match (nothing is left behind).
    """
    dest = spec.cache_path() if dest is None else dest
    log.warning("downloading %s weights (%s) from %s to %s", spec.name, spec.size, spec.url, dest)
    try:
        with atomic_path(dest) as tmp:
            digest = hashlib.sha256()
            with _open_url(spec.url) as resp, open(tmp, "wb") as fh:
                while block := resp.read(1 << 20):
                    digest.update(block)
                    fh.write(block)
            if not digest.hexdigest().startswith(spec.sha256_prefix):
                raise MissingWeightsError(f"the {spec.name} download from {spec.url} has SHA-256 "
                                          f"{digest.hexdigest()[:16]}..., expected {spec.sha256_prefix}...; try again")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise MissingWeightsError(f"could not download {spec.name} weights ({exc}); you may be offline. "
                                  + missing_message(spec), param=(spec.param, "download")) from None
    stat = dest.stat()
    _verified[dest] = (stat.st_size, stat.st_mtime_ns)
    return dest


def find_weights(spec: WeightsFile, path: str | Path | None = None, download_ok: bool = False) -> Path:
    """Locate ``spec``'s weights in the documented order (see the module docstring).

    Args:
        spec: :data:`VGG16` or :data:`INCEPTION`.
        path: an explicit file, used as given.
        download_ok: allow a download when nothing is found (also ``STYLEBLEND_ALLOW_DOWNLOAD=1``).
    Raises:
        MissingWeightsError: ``path`` does not exist, the cached file fails its SHA-256 check, or
            nothing was found and downloading is not allowed or failed; the message says what to do.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"`{spec.param}` '{p}' does not exist; pass {spec.accepts}", param=spec.param)
        return p
    cached = spec.cache_path()
    if cached.is_file():
        return verify(spec, cached)
    others = spec.elsewhere()
    if others:
        return others[0]
    if download_allowed(download_ok):
        return download(spec, cached)
    raise MissingWeightsError(missing_message(spec), param=(spec.param, "download"))
