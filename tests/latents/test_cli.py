"""The latent-editing commands, run in-process on a tiny saved native model."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.files import load_pca, read_latent_file
from styleblend.latents.mapping import seeds_to_ws
from styleblend.latents.pca import project_to_subspace
from styleblend.media.video import read_video

from ..conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return str(save_checkpoint(tiny_checkpoint(), tmp_path_factory.mktemp("net") / "m.safetensors"))


def run(*argv):
    return main(["-q", *map(str, argv)])


def test_morph_strip_gif_mp4_and_latents(tmp_path, net):
    out = tmp_path / "m"
    assert run("morph", "--network", net, "--from", "1", "--to", "seed:2", "--steps", 6, "--strip", 4,
               "--gif", "--mp4", "--frames", "--save-latents", "--outdir", out) == 0
    assert Image.open(out / "strip.png").size == (4 * 32, 32)
    assert read_video(out / "morph.gif").shape == (6, 32, 32, 3)
    assert read_video(out / "morph.mp4").shape == (6, 32, 32, 3)
    assert len(list((out / "frames").glob("frame*.png"))) == 6
    G = load_checkpoint(net).generator()
    path = read_latent_file(out / "path.npz", G.cfg).data
    ends = np.concatenate([seeds_to_ws(G, [1]).numpy(), seeds_to_ws(G, [2]).numpy()])  # one at a time, as morph
    assert path.shape == (6, 8, 32) and np.array_equal(path[0], ends[0]) and np.array_equal(path[-1], ends[1])


def test_morph_in_z_with_schedules(tmp_path, net):
    assert run("morph", "--network", net, "--from", "1", "--to", "2", "--via", "3", "--steps", 3, "--space", "z",
               "--easing", "smoothstep", "--trunc", 0.8, "--trunc-mid", 0.5, "--smooth", 1,
               "--outdir", tmp_path, "--strip", 5) == 0
    assert Image.open(tmp_path / "strip.png").size == (5 * 32, 32)
    np.save(tmp_path / "w.npy", np.zeros((1, 32), np.float32))
    assert run("morph", "--network", net, "--from", tmp_path / "w.npy", "--to", "2", "--space", "z",
               "--outdir", tmp_path) == 1


def test_interp_video_loop(tmp_path, net):
    assert run("interp-video", "--network", net, "--seeds", "0-2", "--frames-per-key", 3, "--out",
               tmp_path / "loop.mp4", "--smooth", 1, "--batch", 4) == 0
    assert read_video(tmp_path / "loop.mp4").shape == (9, 32, 32, 3)
    assert run("interp-video", "--network", net, "--seeds", "0-2", "--frames-per-key", 2, "--open",
               "--layer-order", "coarse-first", "--out", tmp_path / "open.gif") == 0
    assert read_video(tmp_path / "open.gif").shape == (5, 32, 32, 3)


def test_crossover_keeps_rows_and_style_fusion_sweep(tmp_path, net):
    assert run("crossover", "--network", net, "--a", "1", "--b", "2", "--layers", "0-3", "--layers", "5",
               "--outdir", tmp_path / "x") == 0
    assert Image.open(tmp_path / "x" / "crossover.png").size == (4 * 32, 32)
    G = load_checkpoint(net).generator()
    a, b = seeds_to_ws(G, [1])[0].numpy(), seeds_to_ws(G, [2])[0].numpy()
    res = read_latent_file(tmp_path / "x" / "crossover.npz", G.cfg).data
    assert np.array_equal(res[0, :4], a[:4]) and np.array_equal(res[0, 4:], b[4:])
    assert np.array_equal(res[1, 5], a[5]) and np.array_equal(res[1, :5], b[:5])
    # style-fusion of two "projections" (.npz with key w and metadata).
    np.savez(tmp_path / "p1.npz", w=a, method="test")
    np.savez(tmp_path / "p2.npz", w=b, method="test")
    assert run("style-fusion", "--network", net, "--content", tmp_path / "p1.npz", "--style", tmp_path / "p2.npz",
               "--sweep", "--outdir", tmp_path / "f") == 0
    assert Image.open(tmp_path / "f" / "fusion.png").size == ((2 + 4) * 32, 32)
    assert (tmp_path / "f" / "fused_0-2.png").exists() and (tmp_path / "f" / "fused_5-7.png").exists()
    fused = read_latent_file(tmp_path / "f" / "fusion.npz", G.cfg).data
    assert np.array_equal(fused[0, :3], b[:3]) and np.array_equal(fused[0, 3:], a[3:])


def test_style_fusion_embeds_photos_once_and_fuses_their_latents(tmp_path, net, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-vgg"))  # pixel-loss fallback, no download
    G = load_checkpoint(net).generator()
    photos = []
    for seed in (1, 2):
        with torch.no_grad():
            img = G.synthesis(seeds_to_ws(G, [seed]), noise_mode="const")
        photos.append(tmp_path / f"photo{seed}.png")
        pixels = (img[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(photos[-1])
    argv = ["style-fusion", "--network", net, "--content", photos[0], "--style", photos[1], "--layers", "2-4",
            "--steps", 3, "--outdir", tmp_path / "f"]
    assert main(list(map(str, argv))) == 0
    assert capsys.readouterr().out.count("embedded ") == 2
    cached = sorted((tmp_path / "f" / "embeddings").glob("*.npz"))
    assert len(cached) == 2
    by_photo = {json.loads(str(np.load(p)["meta_json"]))["photo"]: np.load(p)["w"][0] for p in cached}
    content, style = by_photo[str(photos[0])], by_photo[str(photos[1])]
    fused = read_latent_file(tmp_path / "f" / "fusion.npz", G.cfg).data[0]
    assert np.array_equal(fused[2:5], style[2:5])
    assert np.array_equal(fused[:2], content[:2]) and np.array_equal(fused[5:], content[5:])
    # A second run with another range reuses both embeddings; a photo and a seed mix too.
    argv[argv.index("2-4")] = "0-1"
    assert main(list(map(str, argv))) == 0
    assert capsys.readouterr().out.count("reused ") == 2
    assert run("style-fusion", "--network", net, "--content", photos[0], "--style", "7", "--steps", 3,
               "--outdir", tmp_path / "f") == 0
    assert run("style-fusion", "--network", net, "--content", tmp_path / "missing.png", "--style", "7",
               "--outdir", tmp_path / "g") == 1


def test_expression_strip(tmp_path, net, capsys):
    assert main(["expression", "--network", net, "--target", "1", "--neutral", "2", "--expressive", "3",
                 "--lambdas", "0,1,2", "--threshold", "1", "--outdir", str(tmp_path)]) == 0
    assert "channels" in capsys.readouterr().out
    assert Image.open(tmp_path / "strip.png").size == (3 * 32, 32)
    assert read_latent_file(tmp_path / "expression.npz", load_checkpoint(net).g_config).data.shape == (3, 8, 32)


def test_pca_fit_list_edit_and_reload(tmp_path, net, capsys):
    assert main(["pca", "--network", net, "--samples", "300", "--components", "8", "--edit", "1", "--edit", "2",
                 "--component", "0", "--component", "3", "--strengths=-1,0,1", "--layers", "0-3",
                 "--outdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "explained" in out and (tmp_path / "pca.npz").exists()
    assert Image.open(tmp_path / "component3.png").size == (3 * 32, 2 * 32)
    assert run("pca", "--network", net, "--pca", tmp_path / "pca.npz", "--edit", "4", "--outdir",
               tmp_path / "again") == 0
    assert (tmp_path / "again" / "component0.png").exists()
    # A morph inside the 3-component subspace: every frame lies in it.
    assert run("morph", "--network", net, "--from", "1", "--to", "2", "--steps", 4, "--pca", tmp_path / "pca.npz",
               "--pca-components", 3, "--save-latents", "--outdir", tmp_path / "sub") == 0
    path = torch.from_numpy(read_latent_file(tmp_path / "sub" / "path.npz", load_checkpoint(net).g_config).data)
    assert torch.allclose(project_to_subspace(path, load_pca(tmp_path / "pca.npz"), 3), path, atol=1e-5)


def test_ppl_prints_labelled_result(tmp_path, net, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # hide any VGG weights: the proxy is expected
    monkeypatch.setenv("DNNLIB_CACHE_DIR", str(tmp_path / "dnnlib"))
    monkeypatch.delenv("STYLEBLEND_ALLOW_DOWNLOAD", raising=False)
    assert main(["-q", "ppl", "--network", net, "--samples", "4", "--batch", "4", "--space", "w",
                 "--sampling", "full", "--json", str(tmp_path / "ppl.json")]) == 0
    out = capsys.readouterr().out
    assert "PPL" in out and "pixel proxy" in out and "lerp W" in out
    data = json.loads((tmp_path / "ppl.json").read_text())
    assert data["num_samples"] == 4 and "pixel proxy" in data["distance"]
    assert run("ppl", "--network", net, "--samples", "2", "--scheme", "pca") == 1


@pytest.mark.parametrize("argv,message", [
    (["crossover", "--a", "1", "--b", "2", "--layers", "0-99"], "outside"),
    (["morph", "--from", "1", "--to", "nope.npz"], "neither a seed list"),
    (["morph", "--from", "0-2", "--to", "3"], "one latent"),
    (["interp-video", "--seeds", "1", "--out", "{tmp}/v.gif"], "at least 2 keyframes"),
    (["interp-video", "--seeds", "1,2", "--out", "{tmp}/v.avi"], "must end in"),
])
def test_user_errors_are_one_line(tmp_path, net, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--outdir", str(tmp_path)]
    assert main([argv[0], "--network", net, *argv[1:]]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
