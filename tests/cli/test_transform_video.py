"""``styleblend transform-video``: a StyleGAN3 translation/rotation sweep written as a video."""

import importlib.util

import numpy as np
import pytest

from styleblend.cli.main import main
from styleblend.io import save_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.media.video import read_video
from styleblend.render import render_ws, set_user_transform

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint


@pytest.fixture(scope="module")
def sg3_net(tmp_path_factory):
    return str(save_checkpoint(tiny_sg3_checkpoint(kind="T"), tmp_path_factory.mktemp("sg3") / "t.safetensors"))


def test_rotation_gif_frames_are_the_rotated_renders(tmp_path, sg3_net):
    out = tmp_path / "turn.gif"
    assert main(["-q", "transform-video", "--network", sg3_net, "--seeds", "4", "--rotate", "0:360", "--loop",
                 "--frames", "4", "--out", str(out)]) == 0
    video = read_video(out)
    assert video.shape == (4, 16, 16, 3)
    G = tiny_sg3_checkpoint(kind="T").generator()
    ws = seeds_to_ws(G, [4])
    for k, degrees in enumerate([0.0, 90.0, 180.0, 270.0]):
        set_user_transform(G, (0.0, 0.0), degrees)
        expected = to_uint8(render_ws(G, ws))[0]
        # GIF stores a palette of at most 256 colours: compare within a few levels.
        assert np.abs(video[k].astype(int) - expected.astype(int)).mean() < 3


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None, reason="imageio-ffmpeg not installed")
def test_translation_mp4_bounces_and_tiles_several_seeds(tmp_path, sg3_net, capsys):
    out = tmp_path / "move.mp4"
    assert main(["transform-video", "--network", sg3_net, "--seeds", "0-2", "--translate", "0,0:0.25,0",
                 "--bounce", "--frames", "3", "--cols", "3", "--out", str(out)]) == 0
    assert "4 frames, 48x16" in capsys.readouterr().out
    video = read_video(out)
    assert video.shape == (4, 16, 48, 3)
    # Bounce: frame 1 and frame 3 show the same step (up to the codec).
    assert np.abs(video[1].astype(int) - video[3].astype(int)).mean() < 2


def test_user_errors_write_nothing(tmp_path, sg3_net, capsys, monkeypatch):
    out = tmp_path / "x.gif"
    assert main(["transform-video", "--network", sg3_net, "--seeds", "0", "--out", str(out)]) == 1
    assert "nothing sweeps" in capsys.readouterr().err
    sg2 = str(save_checkpoint(tiny_checkpoint(), tmp_path / "sg2.safetensors"))
    assert main(["transform-video", "--network", sg2, "--seeds", "0", "--rotate", "0:10", "--out", str(out)]) == 1
    assert "needs a StyleGAN3 model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["transform-video", "--network", sg3_net, "--seeds", "0", "--rotate", "0:1:2", "--out", str(out)])
    assert exit_info.value.code == 2 and "START:END" in capsys.readouterr().err
    import styleblend.cli.common as common

    monkeypatch.setattr(common, "MAX_FRAME_BYTES", 10 * 16 * 16 * 3 * 2)  # room for 10 frames of 16 px
    assert main(["transform-video", "--network", sg3_net, "--seeds", "0-1", "--rotate", "0:10", "--frames", "6",
                 "--out", str(out)]) == 1  # a GIF gathers 6 frames x 2 images
    assert "12 frames of 16 px are more than fit in memory" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.gif*"))
    # MP4 without imageio-ffmpeg: refused before the network is read (this one does not even exist).
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    assert main(["transform-video", "--network", str(tmp_path / "missing.pkl"), "--seeds", "0", "--rotate", "0:10",
                 "--out", str(tmp_path / "x.mp4")]) == 1
    assert "imageio-ffmpeg" in capsys.readouterr().err
