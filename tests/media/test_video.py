"""Video writing: the asked frame count and size, read back with imageio; atomic; checks."""

import numpy as np
import pytest

from styleblend.errors import InvalidArgumentError
from styleblend.media.video import read_video, write_video


def _frames(n, h=32, w=48):
    """Distinct smooth frames (GIF palettes represent them well)."""
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([x * 5, y * 7, np.full_like(x, 20 * i)], axis=2).astype(np.uint8) for i in range(n)]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_frame_count_and_size_read_back(tmp_path, suffix):
    frames = _frames(9)
    info = write_video(iter(frames), tmp_path / f"v{suffix}", fps=12)
    assert (info.num_frames, info.width, info.height) == (9, 48, 32)
    back = read_video(tmp_path / f"v{suffix}")
    assert back.shape == (9, 32, 48, 3)
    if suffix == ".gif":
        assert np.abs(back[3].astype(int) - frames[3].astype(int)).mean() < 4  # palette quantisation
    assert [p.name for p in tmp_path.iterdir()] == [f"v{suffix}"]  # no temporary file left behind


def test_grayscale_frames(tmp_path):
    frames = [f[:, :, :1] for f in _frames(3)]
    assert read_video(write_video(frames, tmp_path / "g.mp4").path).shape == (3, 32, 48, 3)


@pytest.mark.parametrize("frames,name,message", [
    ([], "a.gif", "no frames"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], "a.mp4", "same size"),
    ([np.zeros((8, 8, 3), np.float32)], "a.gif", "uint8"),
    ([np.zeros((7, 8, 3), np.uint8)], "a.mp4", "even"),
    ([np.zeros((8, 8, 3), np.uint8)], "a.avi", "must end in"),
])
def test_bad_input_writes_nothing(tmp_path, frames, name, message):
    with pytest.raises(InvalidArgumentError, match=message):
        write_video(frames, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_expected_count_mismatch_leaves_old_file(tmp_path):
    path = tmp_path / "v.gif"
    write_video(_frames(2), path)
    before = path.read_bytes()
    with pytest.raises(InvalidArgumentError, match="expected"):
        write_video(_frames(3), path, expected_frames=4)
    assert path.read_bytes() == before
