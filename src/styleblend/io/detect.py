"""Detect a checkpoint's format from its content: every registered format is asked, exactly one must claim it.

No format's rule is tried before another's, so adding a format cannot change how existing files are
read; a file two formats claim is refused rather than read by whichever came first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import CheckpointError
from .format import FileHead, Format
from .reading import reader
from .registry import FORMATS, supported_text


def recognise(head: FileHead, formats: Sequence[Format] = FORMATS) -> Format:
    """The one format of ``formats`` that claims the file ``head`` was read from.

    Raises:
        CheckpointError: no format claims it, or more than one does (one line naming the file).
    """
    claims = [f for f in formats if f.recognise(head)]
    name = head.path.name
    if len(claims) > 1:
        raise CheckpointError(
            f"{name} looks like a {' and like a '.join(f.label for f in claims)}, so styleblend cannot tell how to "
            "read it; the file is damaged or was made by hand - re-save it with the tool that made it")
    if not claims:
        if head.is_pickle:
            raise CheckpointError(f"{name} is a pickle but not a known network checkpoint (it names "
                                  f"{sorted(head.pickle_modules)[:5]}); supported: {supported_text()}")
        raise CheckpointError(f"{name} is not a checkpoint styleblend knows ({head.describe()}); supported: "
                              f"{supported_text()}")
    return claims[0]


@reader("checkpoint")
def detect_file_format(path: str | Path, formats: Sequence[Format] = FORMATS) -> Format:
    """The :class:`~styleblend.io.format.Format` of the file ``path`` (see :func:`recognise`).

    Raises:
        CheckpointError: missing, a directory, empty, unreadable, or not claimed by exactly one format.
    """
    return recognise(FileHead.read(Path(path)), formats)


def detect_format(path: str | Path, formats: Sequence[Format] = FORMATS) -> str:
    """The name of the format of ``path`` (e.g. as :attr:`Checkpoint.format` would say it).

    Raises:
        CheckpointError: as :func:`detect_file_format`.
    """
    return detect_file_format(path, formats).name
