"""Writing frame sequences as GIF (Pillow through imageio) or MP4 (H.264 through imageio-ffmpeg).

Frames stream in (an iterator of uint8 [H, W, C] arrays), so a long video never needs all frames in
memory for MP4. Every frame is checked against the first one's size; the file is written to a
temporary name and renamed only when complete, so an interrupted render leaves no broken video.

Format notes: GIF stores frame durations in 1/100 s, so fps is rounded to 100 / round(100 / fps);
Pillow merges *identical consecutive* GIF frames into one longer frame (the playback is the same,
the stored frame count is lower). MP4 uses libx264 with yuv420p (playable everywhere), which needs
even width and height.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, MissingDependencyError
from ..io.atomic import atomic_path

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".gif", ".mp4")


@dataclass(frozen=True)
class VideoInfo:
    """What was written: path, frame count, frame size (width, height) and frames per second."""

    path: Path
    num_frames: int
    width: int
    height: int
    fps: float


class _FrameChecker:
    """Validates frames one by one against the first."""

    def __init__(self, channels_ok: tuple[int, ...]) -> None:
        self.shape: tuple[int, ...] | None = None
        self.count = 0
        self.channels_ok = channels_ok

    def check(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = frame[:, :, None]
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in self.channels_ok:
            raise InvalidArgumentError(
                f"video frame {self.count} has dtype {frame.dtype} and shape {list(frame.shape)}; expected "
                f"uint8 [H, W, C] with C in {self.channels_ok} (convert with media.images.to_uint8)")
        if self.shape is None:
            self.shape = frame.shape
        elif frame.shape != self.shape:
            raise InvalidArgumentError(
                f"video frame {self.count} has shape {list(frame.shape)} but frame 0 has {list(self.shape)}; "
                "all frames of a video must have the same size")
        self.count += 1
        return frame


def check_video_path(path: str | Path, fps: float = 30.0) -> str:
    """Validate an output video name and fps before any rendering; returns the suffix ('.gif' or '.mp4')."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InvalidArgumentError(f"video '{path}' must end in one of {VIDEO_SUFFIXES}")
    if not 0 < fps <= 240:
        raise InvalidArgumentError(f"fps={fps} must be in (0, 240]")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "writing MP4 needs imageio-ffmpeg; install it with `pip install imageio-ffmpeg` "
                "(or `pip install styleblend[video]`), or write a .gif instead") from None
    return suffix


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30.0, quality: int = 8,
                loop: bool = True, expected_frames: int | None = None) -> VideoInfo:
    """Write uint8 frames [H, W, C] to ``path`` (.gif or .mp4, chosen by the suffix) atomically.

    Args:
        frames: iterable of uint8 [H, W, C] (C = 1 or 3; 4 allowed for GIF) frames of one size.
        path: output file.
        fps: frames per second.
        quality: MP4 quality 0-10 (imageio-ffmpeg's scale; 8 is visually lossless for generator output).
        loop: GIF loops forever (MP4 players decide looping themselves).
        expected_frames: if given, the count must match or nothing is written.
    Returns:
        :class:`VideoInfo` of the written file.
    Raises:
        InvalidArgumentError: no frames, mixed sizes, wrong dtype, odd MP4 size, count mismatch.
        MissingDependencyError: MP4 asked for without imageio-ffmpeg installed.
    """
    path = Path(path)
    suffix = check_video_path(path, fps)
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            checker = _write_gif(frames, tmp, fps, loop)
        else:
            checker = _write_mp4(frames, tmp, fps, quality)
        if checker.count == 0 or checker.shape is None:
            raise InvalidArgumentError(f"no frames to write to '{path}'; render at least one frame")
        if expected_frames is not None and checker.count != expected_frames:
            raise InvalidArgumentError(
                f"got {checker.count} frames for '{path}' but {expected_frames} were expected; nothing written")
    height, width = checker.shape[:2]
    log.info("wrote %s (%d frames, %dx%d, %.3g fps)", path, checker.count, width, height, fps)
    return VideoInfo(path=path, num_frames=checker.count, width=width, height=height, fps=fps)


def _write_gif(frames: Iterable[np.ndarray], tmp: Path, fps: float, loop: bool) -> _FrameChecker:
    import imageio.v3 as iio

    checker = _FrameChecker((1, 3, 4))
    batch = [checker.check(f) for f in frames]
    if not batch:
        return checker
    stack = np.stack(batch)
    if stack.shape[3] == 1:
        stack = stack[..., 0]
    duration_ms = 10 * max(2, round(100 / fps))  # GIF has 1/100 s ticks; browsers slow down < 2 ticks
    options: dict[str, Any] = {"duration": duration_ms}
    if loop:
        options["loop"] = 0
    iio.imwrite(tmp, stack, extension=".gif", plugin="pillow", **options)
    return checker


def _write_mp4(frames: Iterable[np.ndarray], tmp: Path, fps: float, quality: int) -> _FrameChecker:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependencyError(
            "writing MP4 needs imageio-ffmpeg; install it with `pip install imageio-ffmpeg` "
            "(or `pip install styleblend[video]`), or write a .gif instead") from None
    if not 0 <= quality <= 10:
        raise InvalidArgumentError(f"MP4 quality={quality} must be in 0-10")
    checker = _FrameChecker((1, 3))
    writer = None
    try:
        for frame in frames:
            frame = checker.check(frame)
            if frame.shape[2] == 1:
                frame = np.repeat(frame, 3, axis=2)
            if writer is None:
                h, w = frame.shape[:2]
                if h % 2 or w % 2:
                    raise InvalidArgumentError(
                        f"MP4 (H.264, yuv420p) needs even frame sizes, got {w}x{h}; crop or pad the frames, "
                        "or write a .gif")
                # The temporary file has no .mp4 suffix, so the container is named explicitly; macro_block_size=1
                # stops imageio-ffmpeg from silently resizing frames that are not multiples of 16.
                writer = imageio_ffmpeg.write_frames(
                    str(tmp), (w, h), fps=fps, codec="libx264", quality=quality, macro_block_size=1,
                    pix_fmt_out="yuv420p", output_params=["-f", "mp4"], ffmpeg_log_level="error")
                writer.send(None)
            writer.send(np.ascontiguousarray(frame))
    finally:
        if writer is not None:
            writer.close()
    return checker


def read_video(path: str | Path) -> np.ndarray:
    """Read a GIF or MP4 back as uint8 [T, H, W, 3] (for tests and checks)."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() == ".gif":
        frames = iio.imread(path, index=None, plugin="pillow", mode="RGB")
        return np.asarray(frames) if frames.ndim == 4 else np.asarray(frames)[None]
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependencyError("reading MP4 needs imageio-ffmpeg; `pip install imageio-ffmpeg`") from None
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = reader.__next__()
    w, h = meta["size"]
    images = [np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3) for buf in reader]
    return np.stack(images)
