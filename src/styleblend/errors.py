"""Exception hierarchy for user errors.

Every message says the value that was wrong, what was expected and how to fix it;
the CLI prints ``str(error)`` as one line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence


class StyleblendError(Exception):
    """Base class of every error a user can cause.

    ``param`` names the library parameter(s) the error is about (``"truncation_psi"``), when there is
    one. The message names them in backticks (```truncation_psi``` 3 must be ...), so a front end can
    show them its own way (the CLI shows the flag that sets the parameter, see ``styleblend.cli.common``).
    """

    def __init__(self, *args: object, param: str | Sequence[str] | None = None) -> None:
        super().__init__(*args)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())


class CheckpointError(StyleblendError):
    """A checkpoint file is unreadable, corrupt, of an unknown format or unsupported."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asks to run code or to use a global outside the allow-list."""


class UnsupportedArchitectureError(CheckpointError):
    """The file is readable but describes a network this version cannot build (e.g. StyleGAN3)."""


class ArchitectureMismatchError(StyleblendError):
    """Two networks that must share an architecture do not."""


class InvalidArgumentError(StyleblendError, ValueError):
    """A parameter value is out of range or malformed."""


class ImageError(StyleblendError):
    """An input image cannot be read or converted."""


class MissingWeightsError(StyleblendError):
    """Auxiliary weights (VGG-16, Inception, landmarks) are not available locally."""


class MissingDependencyError(StyleblendError):
    """An optional dependency is needed for this feature and is not installed."""
