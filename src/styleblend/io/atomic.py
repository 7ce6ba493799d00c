"""Atomic file output: write to a temporary file beside the target, then rename over it.

Three guarantees for every file styleblend writes through here:

- an interrupted write never leaves a partial target (the temporary file is renamed only when complete);
- the hidden temporary files a killed process leaves behind (``.<name>.<pid>-<random>.tmp``) are removed
  by the next write to the same target - only those of processes that are gone, so a concurrent writer
  keeps its own;
- inside :func:`protected_inputs`, a write over one of the protected files (the same path, or the same
  file through a symlink or hard link) is refused with an :class:`~styleblend.errors.InvalidArgumentError`,
  so a command never replaces the model it was given as input.

:func:`atomic_paths` replaces several files as one step, in an order that a crash cannot turn into a
mismatched set (a blended model beside the recipe of an older blend).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import InvalidArgumentError

log = logging.getLogger(__name__)

# Temporary names: ".<target name>.<pid>-<random>.tmp". Files of the old form ".<name>.<random>.tmp"
# (no pid) are treated as stale when they are older than this process.
_TMP_SUFFIX = ".tmp"
_ANY_TAGGED = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+\.tmp$")
_LEGACY_TAG = re.compile(r"^[A-Za-z0-9_]+\.tmp$")
_STARTED = time.time()

_PROTECTED: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("styleblend_protected", default=())


@contextlib.contextmanager
def protected_inputs(paths: Iterable[str | Path]) -> Iterator[None]:
    """Refuse, inside the block, every atomic write whose target is one of ``paths`` (see module doc).

    Only existing files are protected; the set is restored on exit (a context variable, so other threads
    and later calls are not affected).
    """
    files = tuple(Path(p) for p in paths if Path(p).is_file())
    token = _PROTECTED.set(_PROTECTED.get() + files)
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file: equal resolved paths, or one inode (hard/symbolic links)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_not_protected(path: str | Path) -> None:
    """Raise InvalidArgumentError when ``path`` is a file protected by :func:`protected_inputs`."""
    for protected in _PROTECTED.get():
        if same_file(path, protected):
            raise InvalidArgumentError(
                f"refusing to overwrite '{path}': it is " + ("" if Path(path) == protected else "the same file as ")
                + f"the input '{protected}'; choose another output name (or allow replacing it: `overwrite`)",
                param="overwrite")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or cannot tell): leave its file alone
    return True


def clean_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files that interrupted writes left beside ``path``; return them.

    A file ``.<any name>.<pid>-<x>.tmp`` in the folder is stale when process ``pid`` no longer runs (on
    this machine); an old-style ``.<name>.<x>.tmp`` of this very target when it was last modified before
    this process started.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        tagged = _ANY_TAGGED.match(name)  # ours, of any target in the folder: judged by its writer's pid
        legacy = tagged is None and name.startswith(prefix) and _LEGACY_TAG.match(name[len(prefix):]) is not None
        if not (tagged or legacy):
            continue
        try:
            stale = not _pid_alive(int(tagged.group(1))) if tagged else entry.stat().st_mtime < _STARTED
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary file(s) of interrupted writes of %s", len(removed), path)
    return removed


def _new_temp(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _prepare(path: Path) -> None:
    check_not_protected(path)
    if path.is_dir():
        raise InvalidArgumentError(f"the output '{path}' is a folder; give a file name inside it "
                                   f"(e.g. '{path / ('out' + (path.suffix or '.png'))}')")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)


def _finish(tmp: Path, path: Path) -> None:
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched, so an
    interrupted write never leaves a partial file.

    Raises:
        InvalidArgumentError: ``path`` is a folder, or a file protected by :func:`protected_inputs`.
    """
    path = Path(path)
    _prepare(path)
    tmp_path = _new_temp(path)
    try:
        yield tmp_path
        _finish(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Like :func:`atomic_path` for files that belong together (a model and its recipe).

    Yields one temporary path per target. When the block succeeds, the existing targets after the first
    are removed, then the temporaries are renamed into place in the given order. A crash at any moment
    therefore leaves the old set, the new first file without the others, or the new set - never a new
    first file beside old companions (put the file the others describe first).
    """
    targets = [Path(p) for p in paths]
    for target in targets:
        _prepare(target)
    temps: list[Path] = []
    try:
        temps = [_new_temp(t) for t in targets]
        yield temps
        for target in targets[1:]:
            target.unlink(missing_ok=True)
        for tmp, target in zip(temps, targets):
            _finish(tmp, target)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
