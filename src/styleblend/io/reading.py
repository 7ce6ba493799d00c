"""One clear line for every way a file can fail to read: the error names the file, never a traceback.

Readers validate what they can and raise :class:`~styleblend.errors.CheckpointError` with the value,
the rule and the fix. A malformed file can still reach code that assumes well-formed data (a list
where a dict was expected, a number that is a string), so every reader runs under :func:`reader`,
which turns whatever escapes into a one-line ``CheckpointError`` naming the file - including
``MemoryError`` and ``RecursionError`` - and never passes on torch's multi-line advice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CheckpointError, InvalidArgumentError, StyleblendError
from .safe_unpickle import one_line

T = TypeVar("T")


MAX_MESSAGE = 1000  # characters: names and values quoted from a file can be as long as the file


def _named(exc: StyleblendError, path: Path) -> StyleblendError:
    original = str(exc)
    # A value quoted from the file (a repr) may span lines or be huge; the error is one readable line.
    message = " ".join(original.split()) if "\n" in original else original
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    if message == original and path.name in message:
        return exc
    # A reader's InvalidArgumentError is about a value in the file, not an argument of the caller.
    cls = CheckpointError if isinstance(exc, InvalidArgumentError) else type(exc)
    return cls(message if path.name in message else f"{path.name}: {message}")


def reader(kind: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate ``read(path, ...)`` so that every failure is one ``StyleblendError`` line naming the file.

    kind: what the file was read as, for the message (e.g. 'NVIDIA network pickle').
    """

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapped(path: Any, *args: Any, **kwargs: Any) -> T:
            p = Path(path)
            try:
                return func(path, *args, **kwargs)
            except StyleblendError as exc:
                named = _named(exc, p)
                if named is exc:
                    raise
                raise named from None
            except MemoryError:
                raise CheckpointError(
                    f"{p.name}: reading it as a {kind} needs more memory than is available (MemoryError); the "
                    "file is corrupt or describes a network too large for this machine") from None
            except RecursionError:
                raise CheckpointError(f"{p.name}: malformed {kind} (nested too deeply to read)") from None
            except OSError as exc:
                raise CheckpointError(f"cannot read {p}: {exc.strerror or one_line(exc)}") from None
            except Exception as exc:  # noqa: BLE001 - a malformed file reaches code in many ways; say it in one line
                raise CheckpointError(f"{p.name}: malformed {kind} ({one_line(exc)})") from exc

        return wrapped

    return decorate


#: A file may state an architecture with at most twice its weights plus this many: a lower bound
#: cheap enough to build before the precise per-tensor check names what is missing or misshaped.
SLACK_WEIGHTS = 1_000_000


def check_weights_cover(cfg: Any, weights_in_file: int, what: str) -> None:
    """Refuse a config that describes far more weights than the file holds, before any network is built.

    A file's architecture fields are claims: ``img_resolution=2**12`` with ``channel_max=16384`` in
    a 1 KB file would otherwise be built (and allocated) before the tensors are found not to fit.
    Small discrepancies pass (up to ``2 * weights_in_file + SLACK_WEIGHTS``), so that an ordinary
    mismatch is reported tensor by tensor by the strict shape check that follows.

    cfg: a GeneratorConfig or DiscriminatorConfig (anything with ``min_weight_count()``).
    weights_in_file: the number of tensor elements the file has for that network.

    Raises:
        CheckpointError: naming both counts.
    """
    need = cfg.min_weight_count()
    if need > 2 * weights_in_file + SLACK_WEIGHTS:
        raise CheckpointError(
            f"{what}: the architecture it states (img_resolution={cfg.img_resolution}, "
            f"channel_base={getattr(cfg, 'synthesis', cfg).channel_base}, "
            f"channel_max={getattr(cfg, 'synthesis', cfg).channel_max}) needs at least {need} weights but the file "
            f"holds {weights_in_file}; the file is corrupt or its architecture fields were tampered with")


def count_elements(tensors: Any) -> int:
    """Total number of elements of the tensors in a mapping (non-tensors count 0)."""
    import torch

    return sum(t.numel() for t in tensors.values() if isinstance(t, torch.Tensor))
