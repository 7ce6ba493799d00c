import json
import zipfile

import numpy as np
import pytest

from styleblend.blend.schedules import parse_schedule
from styleblend.blend.sweep import (
    FRAME_PAD,
    MAX_SWEEP_FRAMES,
    MAX_SWEEP_PIXELS,
    check_sweep_path,
    check_sweep_size,
    iter_sweep,
    iter_sweep_plain,
    png_name,
    save_sweep,
    slider_frames,
    swap_frames,
)
from styleblend.errors import InvalidArgumentError, MissingDependencyError
from styleblend.media.video import read_video
from styleblend.nn.naming import param_info

from .conftest import finetuned, tiny_checkpoint


@pytest.fixture(scope="module")
def pair():
    base = tiny_checkpoint(0)
    return base, finetuned(base, scale=0.5)


def test_swap_frames_step_through_the_resolutions_like_the_swap_schedule() -> None:
    res = [4, 8, 16, 32]
    frames = swap_frames(res)
    assert [f.label for f in frames] == ["swap4", "swap8", "swap16", "swap32"]
    for frame, r in zip(frames, res):
        # Each frame is what Swap(r) gives for each block's layers, and its spec parses back to that table.
        assert list(frame.alphas) == [float(r2 <= r) for r2 in res]
        table = parse_schedule(frame.spec)
        assert [table.alpha(param_info(f"synthesis.b{r2}.conv1.weight")) for r2 in res] == list(frame.alphas)
    flipped = swap_frames(res, flip=True)
    assert [f.alphas for f in flipped] == [tuple(1 - a for a in f.alphas) for f in frames]
    assert [f.label for f in swap_frames(res, up_to=16)] == ["swap4", "swap8", "swap16"]
    with pytest.raises(InvalidArgumentError, match="at most 2 px"):
        swap_frames(res, up_to=2)


def test_slider_frames_move_one_alpha_from_0_to_1_and_keep_the_others() -> None:
    frames = slider_frames([4, 8, 16, 32], [0.1, 0.2, 0.3, 0.4], 16, 5)
    assert [f.alphas[2] for f in frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(f.alphas[:2] + f.alphas[3:] == (0.1, 0.2, 0.4) for f in frames)
    assert frames[1].label == "alpha16px-0.250"
    with pytest.raises(InvalidArgumentError, match="not one of"):
        slider_frames([4, 8], [0, 0], 16, 5)
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        slider_frames([4, 8], [0, 0], 8, 1)
    with pytest.raises(InvalidArgumentError, match=f"1 to {MAX_SWEEP_FRAMES}"):
        slider_frames([4, 8], [0, 0], 8, MAX_SWEEP_FRAMES + 1)
    with pytest.raises(InvalidArgumentError, match=r"\[0, 1\]"):
        slider_frames([4, 8], [0, 1.5], 8, 3)


def test_sizes_are_checked_before_any_work() -> None:
    check_sweep_size(MAX_SWEEP_FRAMES, 8, 256)  # 64 x 8 x 256^2 = 32 M pixels: allowed
    with pytest.raises(InvalidArgumentError, match="seeds"):
        check_sweep_size(4, 9, 64)
    with pytest.raises(InvalidArgumentError, match="at most 8 frames with 8 seed"):
        check_sweep_size(9, 8, 1024)  # 72 M pixels
    assert 8 * 8 * 1024**2 <= MAX_SWEEP_PIXELS < 9 * 8 * 1024**2
    with pytest.raises(InvalidArgumentError, match="must end in"):
        check_sweep_path("sweep.avi")


@pytest.mark.parametrize("kind", ["swap", "slider"])
def test_the_live_sweep_equals_the_plain_reference_bit_for_bit(pair, kind) -> None:
    base, transfer = pair
    res = base.g_config.block_resolutions
    frames = swap_frames(res) if kind == "swap" else slider_frames(res, [1.0, 0.5, 0.0, 0.25], 16, 4)
    seen = []
    live = list(iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, [3, 7], 0.7, mapping="blend",
                           progress=lambda done, total: seen.append((done, total))))
    plain = list(iter_sweep_plain(base.g_ema, transfer.g_ema, base.g_config, frames, [3, 7], 0.7, mapping="blend"))
    assert len(live) == len(frames) and seen[-1] == (len(frames), len(frames))
    for a, b in zip(live, plain):
        assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b)
    assert not np.array_equal(live[0], live[-1])  # the sweep moves


def test_a_zip_holds_one_named_png_per_seed_and_frame_and_a_manifest(pair, tmp_path) -> None:
    base, transfer = pair
    frames = swap_frames(base.g_config.block_resolutions)
    cells = list(iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, [3, 7]))
    out = save_sweep(iter(cells), frames, [3, 7], tmp_path / "s.zip", manifest={"psi": 1.0})
    assert out.names[:3] == ("seed3_00_swap4.png", "seed7_00_swap4.png", "seed3_01_swap8.png")
    with zipfile.ZipFile(out.path) as zf:
        assert sorted(zf.namelist()) == sorted([*out.names, "sweep.json"])
        from PIL import Image

        img = np.asarray(Image.open(zf.open(png_name(7, 2, frames[2]))))
        assert np.array_equal(img, cells[2][1])
        meta = json.loads(zf.read("sweep.json"))
    assert meta["seeds"] == [3, 7] and meta["psi"] == 1.0
    assert meta["frames"][2]["spec"] == frames[2].spec and meta["frames"][2]["files"][1] == "seed7_02_swap16.png"


def test_a_gif_has_one_frame_per_sweep_frame_with_the_seeds_side_by_side(pair, tmp_path) -> None:
    base, transfer = pair
    frames = slider_frames(base.g_config.block_resolutions, [0, 0, 0, 0], 8, 3)
    cells = list(iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, [1, 2]))
    out = save_sweep(cells, frames, [1, 2], tmp_path / "s.gif", fps=5)
    video = read_video(out.path)
    assert out.num_frames == 3 and video.shape == (3, 32, 64 + FRAME_PAD, 3)
    # GIF has 256 colours a frame: each frame is near its own sweep frame (seed 1 left, seed 2 right), not another.
    left, right = video[:, :, :32].astype(float), video[:, :, 32 + FRAME_PAD:].astype(float)
    for i in range(3):
        errors = [np.abs(left[i] - c[0]).mean() + np.abs(right[i] - c[1]).mean() for c in cells]
        assert np.argmin(errors) == i and errors[i] < 16
    assert (video[:, :, 32:32 + FRAME_PAD] > 240).all()  # the white gap between the seeds


def test_mp4_is_written_or_refused_before_any_frame_is_rendered(pair, tmp_path, monkeypatch) -> None:
    base, transfer = pair
    frames = swap_frames(base.g_config.block_resolutions)
    rendered = []

    def images():
        for cells in iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, [1]):
            rendered.append(1)
            yield cells

    pytest.importorskip("imageio_ffmpeg")
    out = save_sweep(images(), frames, [1], tmp_path / "s.mp4")
    assert read_video(out.path).shape == (4, 32, 32, 3)
    import sys

    rendered.clear()
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="imageio-ffmpeg"):
        save_sweep(images(), frames, [1], tmp_path / "t.mp4")
    assert rendered == [] and not (tmp_path / "t.mp4").exists()


def test_a_short_or_misshapen_frame_stream_writes_nothing(tmp_path) -> None:
    frames = swap_frames([4, 8])
    cells = [np.zeros([1, 8, 8, 3], np.uint8)]
    with pytest.raises(InvalidArgumentError, match="expected"):
        save_sweep(cells, frames, [1], tmp_path / "s.gif")
    with pytest.raises(InvalidArgumentError, match="seeds"):
        save_sweep([np.zeros([2, 8, 8, 3], np.uint8)] * 2, frames, [1], tmp_path / "s.zip")
    assert list(tmp_path.iterdir()) == []


def test_a_stylegan3_model_is_refused_with_the_reason() -> None:
    from ..conftest import tiny_sg3_config

    frames = swap_frames([4, 8])
    with pytest.raises(InvalidArgumentError, match="StyleGAN2"):
        next(iter_sweep({}, {}, tiny_sg3_config(), frames, [1]))


@pytest.mark.parametrize("kind, blocks", [("swap", [4, 3, 2, 1]), ("slider", [4, 2, 2, 2])])
def test_each_frame_reruns_only_the_blocks_from_its_first_changed_alpha_up(pair, monkeypatch, kind, blocks) -> None:
    from styleblend.blend.live import LiveBlend

    base, transfer = pair
    res = base.g_config.block_resolutions
    frames = swap_frames(res) if kind == "swap" else slider_frames(res, [0.0] * 4, 16, 4)
    runs = []
    real = LiveBlend.render

    def spy(self, *args, **kwargs):
        stage = real(self, *args, **kwargs)
        runs.append(stage.blocks_run)
        return stage

    monkeypatch.setattr(LiveBlend, "render", spy)
    list(iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, [1]))
    assert runs == blocks  # a 16 px slider sweep: blocks 16 and 32 per frame after the first
