"""CLI commands over the foundation API, run in-process."""

import numpy as np
import pytest
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint

from ..conftest import tiny_checkpoint


@pytest.fixture
def tiny_path(tmp_path):
    return save_checkpoint(tiny_checkpoint(), tmp_path / "tiny.safetensors")


def test_generate_matches_nvidia_pngs(tmp_path, nvidia_g64):
    out = tmp_path / "out"
    assert main(["-q", "generate", "--network", str(nvidia_g64 / "network-snapshot.pkl"), "--seeds", "0-5",
                 "--trunc", "0.7", "--outdir", str(out), "--grid"]) == 0
    for seed in range(6):
        ours = np.asarray(Image.open(out / f"seed{seed:04d}.png")).astype(int)
        ref = np.asarray(Image.open(nvidia_g64 / "expected" / "psi0.7" / f"seed{seed:04d}.png")).astype(int)
        assert np.abs(ours - ref).max() <= 1
    grid = Image.open(out / "grid.png")
    assert grid.size == (3 * 64, 2 * 64)


def test_generate_w_file_equals_seeds(tmp_path, tiny_path):
    G = load_checkpoint(tiny_path).generator()
    from styleblend.latents.mapping import seeds_to_ws

    ws = seeds_to_ws(G, [3, 4], truncation_psi=0.5).numpy()
    np.save(tmp_path / "ws.npy", ws)
    assert main(["-q", "generate", "--network", str(tiny_path), "--seeds", "3,4", "--trunc", "0.5",
                 "--outdir", str(tmp_path / "a")]) == 0
    assert main(["-q", "generate", "--network", str(tiny_path), "--w-file", str(tmp_path / "ws.npy"),
                 "--outdir", str(tmp_path / "b")]) == 0
    for i, seed in enumerate([3, 4]):
        a = np.asarray(Image.open(tmp_path / "a" / f"seed{seed:04d}.png"))
        b = np.asarray(Image.open(tmp_path / "b" / f"w{i:04d}.png"))
        assert np.array_equal(a, b)


def test_mix_writes_grid_and_cells(tmp_path, tiny_path):
    out = tmp_path / "mix"
    assert main(["-q", "mix", "--network", str(tiny_path), "--rows", "0,1", "--cols", "2,3,4", "--styles", "0-3",
                 "--outdir", str(out)]) == 0
    assert Image.open(out / "grid.png").size == (4 * 32, 3 * 32)
    assert (out / "1-4.png").exists() and (out / "4-4.png").exists()
    # A cell with no styles from the column equals the row image.
    assert main(["-q", "mix", "--network", str(tiny_path), "--rows", "0", "--cols", "2", "--styles", "0-7",
                 "--outdir", str(tmp_path / "all")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "all" / "0-2.png")),
                          np.asarray(Image.open(tmp_path / "all" / "2-2.png")))


def test_info_prints_layers(capsys, nvidia_g64):
    assert main(["info", "--network", str(nvidia_g64 / "network-snapshot.pkl")]) == 0
    out = capsys.readouterr().out
    assert "nvidia-pkl" in out and "num_ws=10" in out and "64x64" in out and "472,744" in out


def test_convert_native_round_trip_same_images(tmp_path, nvidia_g64):
    out = tmp_path / "m.safetensors"
    assert main(["-q", "convert", "--network", str(nvidia_g64 / "network-snapshot.pkl"), "--to", "native",
                 "--out", str(out)]) == 0
    a = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    b = load_checkpoint(out)
    assert all(np.array_equal(a.g_ema[k].numpy(), b.g_ema[k].numpy()) for k in a.g_ema)


@pytest.mark.parametrize("argv,message", [
    (["generate", "--network", "{net}", "--seeds", "0", "--outdir", "{tmp}", "--class", "2"], "unconditional"),
    (["generate", "--network", "{net}", "--outdir", "{tmp}"], "nothing to render"),
    (["generate", "--network", "{tmp}/missing.pkl", "--seeds", "0", "--outdir", "{tmp}"], "no such file"),
    (["generate", "--network", "{net}", "--seeds", "0", "--outdir", "{tmp}", "--device", "cuda:0"], "cuda"),
    (["mix", "--network", "{net}", "--rows", "0", "--cols", "1", "--styles", "0-99", "--outdir", "{tmp}"],
     "out of range"),
])
def test_bad_input_gives_one_line_and_exit_1(tmp_path, tiny_path, capsys, argv, message):
    argv = [a.format(net=tiny_path, tmp=tmp_path) for a in argv]
    if "cuda" in message:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_bad_seed_syntax_is_an_argparse_error(tiny_path, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["generate", "--network", str(tiny_path), "--seeds", "5-2", "--outdir", str(tmp_path)])
    assert info.value.code == 2
