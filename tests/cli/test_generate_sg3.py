"""`styleblend generate` and `info` on StyleGAN3 models: NVIDIA's gen_images.py images, translate/rotate."""

import numpy as np
import pytest
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import save_checkpoint

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint


def _close(ours_path, ref_path) -> None:
    diff = np.abs(np.asarray(Image.open(ours_path)).astype(int) - np.asarray(Image.open(ref_path)).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.01


# The fixture's images are NVIDIA's gen_images.py run on the CPU, where its float16 layers compute in float32,
# as our default (--precision nvidia) does on the CPU. (The stock script runs on CUDA, in float16: --precision
# nvidia-cuda, tested below.)
def test_generate_matches_gen_images_with_truncation(tmp_path, nvidia_sg3t32):
    out = tmp_path / "out"
    assert main(["-q", "generate", "--network", str(nvidia_sg3t32 / "network-snapshot.pkl"), "--seeds", "0-5",
                 "--trunc", "0.7", "--outdir", str(out)]) == 0
    for seed in range(6):
        _close(out / f"seed{seed:04d}.png", nvidia_sg3t32 / "expected" / "psi0.7" / f"seed{seed:04d}.png")


def test_generate_translate_rotate_matches_gen_images(tmp_path, nvidia_sg3t32):
    out = tmp_path / "out"
    # Seeds 0-3 are compared in raw float by tests/nn/test_stylegan3.py; here the command line's path.
    assert main(["-q", "generate", "--network", str(nvidia_sg3t32 / "network-snapshot.pkl"), "--seeds", "2,3",
                 "--translate", "0.2,-0.1", "--rotate", "15", "--batch", "2", "--outdir", str(out)]) == 0
    for seed in (2, 3):
        _close(out / f"seed{seed:04d}.png", nvidia_sg3t32 / "expected" / "gen_tr" / f"seed{seed:04d}.png")


def test_seed_noise_mode_equals_const_for_stylegan3(tmp_path):
    path = save_checkpoint(tiny_sg3_checkpoint(), tmp_path / "sg3.safetensors")
    for mode in ("seed", "const"):
        assert main(["-q", "generate", "--network", str(path), "--seeds", "1,2", "--noise-mode", mode,
                     "--outdir", str(tmp_path / mode)]) == 0
    for seed in (1, 2):
        a = np.asarray(Image.open(tmp_path / "seed" / f"seed{seed:04d}.png"))
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / "const" / f"seed{seed:04d}.png")))


def test_translate_on_stylegan2_is_one_clear_error(tmp_path, capsys):
    path = save_checkpoint(tiny_checkpoint(), tmp_path / "sg2.safetensors")
    assert main(["generate", "--network", str(path), "--seeds", "0", "--rotate", "10",
                 "--outdir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "StyleGAN3" in err
    assert not (tmp_path / "o" / "seed0000.png").exists()


@pytest.mark.parametrize("value", ["1", "0.1,nan", "a,b", "1,2,3"])
def test_bad_translate_is_refused_by_the_parser(tmp_path, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "--network", "x.pkl", "--seeds", "0", "--translate", value, "--outdir", str(tmp_path)])
    assert info.value.code == 2 and "--translate" in capsys.readouterr().err


def test_info_lists_stylegan3_layers(capsys, nvidia_sg3t32):
    assert main(["info", "--network", str(nvidia_sg3t32 / "network-snapshot.pkl")]) == 0
    out = capsys.readouterr().out
    assert "StyleGAN3-T" in out and "num_ws=16" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("L", "input"))}
    assert list(rows) == ["input"] + [f"L{i}_{s}_{c}" for i, s, c in [
        (0, 36, 48), (1, 36, 48), (2, 36, 48), (3, 36, 48), (4, 36, 48), (5, 52, 48), (6, 52, 48), (7, 52, 48),
        (8, 52, 48), (9, 52, 48), (10, 52, 45), (11, 52, 38), (12, 52, 32), (13, 32, 32), (14, 32, 3)]]
    # layer, W+ row, sampling rate, size, channels, cut-off, kernel
    assert rows["L5_52_48"][1:7] == ["6", "32", "52", "48", "4.76", "3"]
    assert rows["L14_32_3"][1:7] == ["15", "32", "32", "3", "16", "1"]
    assert rows["input"][1:6] == ["0", "16", "36", "48", "2"]


def test_generate_renders_with_gen_images_transform_even_when_the_file_stores_another(tmp_path):
    """gen_images.py always writes its --translate/--rotate matrix (the identity by default) into the input's
    transform buffer before rendering, so a transform stored in the file never shows in its images."""
    import dataclasses

    import torch

    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8
    from styleblend.nn.stylegan3 import user_transform

    ckpt = tiny_sg3_checkpoint(kind="R")
    moved = dataclasses.replace(ckpt, g_ema={**ckpt.g_ema, "synthesis.input.transform": user_transform((0.3, 0), 40)})
    path = save_checkpoint(moved, tmp_path / "moved.safetensors")
    assert main(["-q", "generate", "--network", str(path), "--seeds", "4", "--outdir", str(tmp_path / "o")]) == 0
    G = ckpt.generator(mixed_precision=True)  # the stored identity, as gen_images.py sets it; --precision nvidia
    with torch.no_grad():
        expected = to_uint8(G.synthesis(seeds_to_ws(G, [4])))[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o" / "seed0004.png")), expected)


def test_precision_nvidia_cuda_writes_the_float16_render_gen_images_makes_on_cuda(tmp_path):
    """--precision nvidia-cuda renders the float16 layers as CUDA does, emulated in float32 on the CPU;
    --precision nvidia-native computes them in true float16; --precision nvidia (the default) is NVIDIA's own
    CPU render there: float32."""
    import torch

    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8

    ckpt = tiny_sg3_checkpoint(kind="T")
    path = save_checkpoint(ckpt, tmp_path / "t.safetensors")
    written = {}
    for precision in ("nvidia", "nvidia-cuda", "nvidia-native", "float32"):
        assert main(["-q", "generate", "--network", str(path), "--seeds", "1-4", "--precision", precision,
                     "--outdir", str(tmp_path / precision)]) == 0
        written[precision] = np.stack([np.asarray(Image.open(tmp_path / precision / f"seed{s:04d}.png"))
                                       for s in range(1, 5)])
    ws = seeds_to_ws(ckpt.generator(), [1, 2, 3, 4])
    with torch.no_grad():
        for precision, (mixed, fp16_path) in {"nvidia-cuda": (True, "emulated"), "nvidia-native": (True, "float16"),
                                              "float32": (False, "auto")}.items():
            expected = to_uint8(ckpt.generator(mixed_precision=mixed, fp16_path=fp16_path).synthesis(ws))
            assert np.array_equal(written[precision], expected), precision
    assert not np.array_equal(written["nvidia-cuda"], written["float32"])
    assert np.array_equal(written["nvidia"], written["float32"])  # NVIDIA's code: float16 only on CUDA
