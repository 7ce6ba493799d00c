"""The page's export of an α sweep (issue 13, item 5): what the request asks for, checked, then
:mod:`styleblend.blend.sweep` renders and writes it.

A request names the sweep ('swap': the swap resolution through the model's resolutions up to the transfer's;
'slider': one resolution's α from 0 to 1 in N frames, the other sliders as they are), the seeds and ψ of the
preview, and the file: 'gif', 'mp4' (only with imageio-ffmpeg; :func:`export_options` tells the page) or
'zip' (one PNG per seed and frame, named by seed and α, and ``sweep.json``). Every size is checked and MP4's
dependency is looked for before the first frame is rendered. The file is written atomically in the session's
folder, read back and removed.

The work runs outside the session's lock with its own renderer (previews keep answering meanwhile) on the
models of the moment the request came in; one export runs at a time. While it runs, :meth:`SweepExports.status`
says how many frames are done (the page polls it) and :meth:`SweepExports.cancel` stops it after the current
frame; :meth:`SweepExports.close` (the server's ``server_close``) stops it and waits, so that no export writes
into the session's folder after the session removed it.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from ..blend.sweep import (
    MAX_SWEEP_FRAMES,
    MAX_SWEEP_SEEDS,
    check_sweep_path,
    check_sweep_size,
    iter_sweep,
    save_sweep,
    slider_frames,
    swap_frames,
    sweep_config,
)
from ..errors import InvalidArgumentError
from ..media.video import check_video_path
from .inputs import choice, parse_alphas, parse_int, parse_psi, parse_seeds, safe_name
from .service import MAPPINGS, BlendSession

KINDS = ("swap", "slider")
FORMATS = ("gif", "mp4", "zip")
CONTENT_TYPES = {"gif": "image/gif", "mp4": "video/mp4", "zip": "application/zip"}
DEFAULT_FRAMES = 9
DEFAULT_FPS = 4.0


def export_options() -> dict[str, Any]:
    """What the page's export control offers: the formats available here (MP4 needs imageio-ffmpeg) and limits."""
    formats, note = ["gif", "zip"], None
    try:
        check_video_path("sweep.mp4")
        formats.insert(1, "mp4")
    except Exception as exc:  # noqa: BLE001 - any reason MP4 cannot be written is shown, not raised
        note = str(exc)
    return {"formats": formats, "mp4_note": note, "max_frames": MAX_SWEEP_FRAMES, "max_seeds": MAX_SWEEP_SEEDS,
            "default_frames": DEFAULT_FRAMES, "default_fps": DEFAULT_FPS}


class ExportStopped(InvalidArgumentError):
    """The export was cancelled (the page's Cancel) or the server is stopping."""


class SweepExports:
    """Exports of α sweeps for one :class:`BlendSession` (one at a time), with progress and cancellation."""

    def __init__(self, session: BlendSession) -> None:
        self.session = session
        self._busy = threading.Lock()
        self._lock = threading.Lock()  # guards the progress below
        self._stop = threading.Event()
        self._closed = False
        self._ids = 0
        self._done = self._total = 0
        self._running = False

    def status(self) -> dict[str, Any]:
        """{'running', 'done', 'total', 'stopping'}: frames rendered of the running (or last) export."""
        with self._lock:
            return {"running": self._running, "done": self._done, "total": self._total,
                    "stopping": self._running and self._stop.is_set()}

    def cancel(self) -> dict[str, Any]:
        """Stop the running export after its current frame (nothing is written); returns :meth:`status`."""
        with self._lock:
            if self._running:
                self._stop.set()
        return self.status()

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new exports, stop a running one and wait up to ``timeout`` seconds for it to end."""
        with self._lock:
            self._closed = True
            self._stop.set()
        if self._busy.acquire(timeout=timeout):
            self._busy.release()

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self._done, self._total = done, total
        if self._stop.is_set():
            raise ExportStopped("the export was cancelled; nothing was written" if not self._closed
                                else "the server is stopping; the export was not finished")

    def export(self, request: dict[str, Any]) -> tuple[bytes, str, str]:
        """Render and write the sweep a request describes; returns (file bytes, file name, content type).

        Request keys: 'kind' ('swap' | 'slider'), 'format' ('gif' | 'mp4' | 'zip'), 'seeds', 'psi', 'mapping',
        'alphas' (the sliders; a slider sweep keeps the others), 'res' (slider: which one), 'frames' (slider:
        N >= 2), 'flip' (swap), 'fps'.

        Raises:
            InvalidArgumentError: a bad field, too many frames/seeds/pixels, an export already running.
            MissingDependencyError: 'mp4' without imageio-ffmpeg. ArchitectureMismatchError: no blendable pair.
        """
        session = self.session
        kind = choice(str(request.get("kind", "swap")), KINDS, "sweep kind")
        fmt = choice(str(request.get("format", "gif")), FORMATS, "export format")
        fps = _fps(request.get("fps", DEFAULT_FPS))
        check_sweep_path(f"sweep.{fmt}", fps)  # MP4 without imageio-ffmpeg fails here, before any work
        seeds = parse_seeds(request.get("seeds", "1"), limit=MAX_SWEEP_SEEDS)
        psi = parse_psi(request.get("psi", 0.7))
        mapping = choice(str(request.get("mapping", "base")), MAPPINGS, "mapping")
        base, transfer = session.blend_pair()
        resolutions = list(sweep_config(base.g_config).block_resolutions)
        if kind == "swap":
            frames = swap_frames(resolutions, flip=request.get("flip") in (True, 1, "1", "true"),
                                 up_to=transfer.g_config.img_resolution)
            what = "swap"
        else:
            alphas = parse_alphas(_list(request.get("alphas")), resolutions)
            res = parse_int(request.get("res"), "sweep resolution")
            count = parse_int(request.get("frames", DEFAULT_FRAMES), "frames")
            check_sweep_size(count, len(seeds), base.g_config.img_resolution)
            frames = slider_frames(resolutions, alphas, res, count)
            what = f"alpha{res}px"
        check_sweep_size(len(frames), len(seeds), base.g_config.img_resolution)
        if not self._busy.acquire(blocking=False):
            raise InvalidArgumentError("an export is already running; wait for it to finish (or cancel it), then "
                                       "export again")
        with self._lock:
            if self._closed:
                self._busy.release()
                raise ExportStopped("the server is stopping; the export was not started")
            self._stop.clear()
            self._running, self._done, self._total = True, 0, len(frames)
        try:
            self._ids += 1
            stem = Path(base.source).stem if base.source is not None else "styleblend"
            name = safe_name(f"{stem}-sweep-{what}.{fmt}", f"styleblend-sweep.{fmt}")
            folder = session.workdir / f"export-{self._ids}"
            try:
                images = iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, seeds, psi, mapping,
                                    device=session.device, progress=self._progress)
                out = save_sweep(images, frames, seeds, folder / name, fps=fps,
                                 manifest={"truncation_psi": psi, "mapping": mapping, "kind": kind,
                                           "base": base.describe(), "transfer": transfer.describe()})
                data = out.path.read_bytes()
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return data, name, CONTENT_TYPES[fmt]
        finally:
            with self._lock:
                self._running = False
            self._busy.release()


def _fps(value: Any) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"fps {value!r} is not a number; give frames per second in (0, 60]") from None
    if not 0 < fps <= 60:
        raise InvalidArgumentError(f"fps {fps:g} must be in (0, 60]")
    return fps


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgumentError("a slider sweep needs 'alphas', the sliders' values (one per resolution)")
    return value
