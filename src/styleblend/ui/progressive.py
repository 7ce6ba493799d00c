"""Progressive and cancellable previews for the web UI (issue 13, items 3 and 8).

A slider move with a big model should show something at once and never queue behind work nobody wants:

- **Low-resolution first.** Skip generators carry an RGB image at every block, so the blend's image at a
  low block resolution (:func:`low_resolution`, 64 px from 256 px up) comes after a fraction of the work;
  the page shows it, then asks for the full-resolution rows one by one (``full_rows`` = 1, 2, ...), each
  continuing the cached block outputs of :class:`~styleblend.blend.live.LiveBlend` (no block runs twice).
- **Stale requests stop.** While a slider is dragged the page sends a preview request per throttle tick,
  numbered per tab (``stream``, ``seq``). A request registers its number with the :class:`PreviewGate`
  *before* it waits for the session's lock, so the render holding the lock sees between two blocks that it
  was superseded and stops (:class:`PreviewSuperseded`); the newer request then gets the lock at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from ..errors import InvalidArgumentError

#: models from this resolution up get a low-resolution stage by default (below it a full render is fast)
LOW_STAGE_FROM = 256
#: the default low stage: the blocks up to 64 px are about a tenth of a 1024 px config-f pass's FLOPs, and
#: 64 px still shows pose, shape and colours
LOW_STAGE = 64
#: streams (browser tabs) the gate remembers; the oldest is forgotten first
MAX_STREAMS = 64
MAX_STREAM_CHARS = 64


class PreviewSuperseded(Exception):
    """A preview request stopped because a newer one of the same stream arrived (not an error to show)."""


def low_resolution(block_resolutions: list[int], architecture: str, requested: int | None = None) -> int | None:
    """The block resolution of the low-resolution stage, or None when the model has none.

    ``requested`` None picks :data:`LOW_STAGE` px for models of :data:`LOW_STAGE_FROM` px and up, none below;
    0 turns the stage off. Only skip generators have an image before the last block.

    Raises:
        InvalidArgumentError: ``requested`` is not a block resolution below the output resolution.
    """
    top = block_resolutions[-1]
    if architecture != "skip" or requested == 0:
        return None
    if requested is None:
        return LOW_STAGE if top >= LOW_STAGE_FROM and LOW_STAGE in block_resolutions else None
    if requested not in block_resolutions[:-1]:
        raise InvalidArgumentError(f"low preview resolution {requested} must be one of the block resolutions "
                                   f"below the output, {block_resolutions[:-1]}, or 0 for none")
    return int(requested)


class PreviewGate:
    """The newest preview request number per stream (browser tab); thread-safe.

    A request without a stream is never superseded (API callers, tests, other panels).
    """

    def __init__(self) -> None:
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self.stopped = 0  # renders stopped because they were superseded (for tests and the benchmark)

    def enter(self, stream: str | None, seq: int | None) -> Callable[[], bool]:
        """Register request ``seq`` of ``stream``; returns its ``superseded()`` check.

        A request older than one already seen is superseded from the start.
        Raises:
            InvalidArgumentError: a stream name that is too long, or a stream without a number.
        """
        if stream is None:
            return _never
        if len(stream) > MAX_STREAM_CHARS:
            raise InvalidArgumentError(f"preview stream name of {len(stream)} characters; at most {MAX_STREAM_CHARS}")
        if seq is None:
            raise InvalidArgumentError("a preview request with a stream needs its number 'seq'")
        with self._lock:
            if seq > self._latest.get(stream, -1):
                self._latest[stream] = seq
            self._latest.move_to_end(stream)
            while len(self._latest) > MAX_STREAMS:
                self._latest.popitem(last=False)

        def superseded() -> bool:
            with self._lock:
                return self._latest.get(stream, seq) > seq

        return superseded

    def stop(self) -> PreviewSuperseded:
        """Count a superseded render and return the exception to raise."""
        with self._lock:
            self.stopped += 1
        return PreviewSuperseded("a newer preview request replaced this one")

    def check(self, superseded: Callable[[], bool] | None) -> None:
        """Raise :class:`PreviewSuperseded` (and count it) when ``superseded()`` says so."""
        if superseded is not None and superseded():
            raise self.stop()


def _never() -> bool:
    return False
