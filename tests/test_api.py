"""The front door's verbs (styleblend.api) against the library functions they wrap, on tiny models."""

import numpy as np
import pytest
import torch

import styleblend as sb
from styleblend.blend import Constant, blend_checkpoints
from styleblend.errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError, MissingWeightsError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.seeds import z_from_seeds
from styleblend.media.images import to_uint8
from styleblend.project.encoder import Encoder, EncoderConfig, encode, make_iterative, save_encoder
from styleblend.render import render_ws

from .conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return tiny_checkpoint(seed=0)


@pytest.fixture(scope="module")
def G(ckpt):
    return ckpt.generator()


# -- models -------------------------------------------------------------------------------------------

def test_load_reads_any_file_as_load_checkpoint_does(tmp_path, ckpt):
    path = save_checkpoint(ckpt, tmp_path / "tiny.safetensors")
    loaded = sb.load(str(path))
    assert loaded.format == "native" and loaded.g_config == ckpt.g_config
    assert all(torch.equal(loaded.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    with pytest.raises(CheckpointError):
        sb.load(tmp_path / "missing.pkl")


def test_a_saved_model_folder_loads_back(tmp_path, ckpt):
    folder = sb.save_pretrained(ckpt, tmp_path / "tiny-model")
    back = sb.load(folder)
    assert back.g_config == ckpt.g_config
    assert all(torch.equal(back.g_ema[k], ckpt.g_ema[k].to(back.g_ema[k].dtype)) for k in ckpt.g_ema)
    assert np.array_equal(sb.generate(back, [1, 2]), sb.generate(ckpt, [1, 2]))


def test_save_picks_the_format_from_the_suffix(tmp_path, ckpt):
    native = sb.save(ckpt, tmp_path / "a.safetensors")
    rosinality = sb.save(ckpt, tmp_path / "a.pt")
    assert load_checkpoint(native).format == "native"
    back = load_checkpoint(rosinality)
    assert back.format == "rosinality"
    assert all(torch.equal(back.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    assert load_checkpoint(sb.save(ckpt, tmp_path / "b.pt", format="native")).format == "native"


def test_convert_writes_the_target_format(tmp_path, ckpt):
    done = sb.convert(ckpt, tmp_path / "c.pt", "rosinality")
    assert done.path == tmp_path / "c.pt" and load_checkpoint(done.path).format == "rosinality"
    assert done.networks == ("g_ema", "g")


def test_bundled_names():
    assert sb.bundled("base").suffix == ".safetensors"
    assert sb.bundled("encoder").is_file()
    assert sb.bundled("heldout-woman").suffix == ".png"
    with pytest.raises(MissingWeightsError, match="choose one of.*'fluent3d'.*'encoder'"):
        sb.bundled("ffhq")


# -- generating ---------------------------------------------------------------------------------------

def nvidia_ws(G, seeds, psi):
    """ws of seeds as NVIDIA's generate.py makes them: z = RandomState(seed).randn(z_dim), then mapping."""
    return G.mapping(z_from_seeds(seeds, G.z_dim), None, truncation_psi=psi)


def test_generate_from_seeds_is_the_library_render(ckpt, G):
    expected = to_uint8(render_ws(G, nvidia_ws(G, [3, 7], 0.6)))
    images = sb.generate(G, [3, 7], truncation_psi=0.6)
    assert images.dtype == np.uint8 and images.shape == (2, 32, 32, 3)
    assert np.array_equal(images, expected)
    assert np.array_equal(sb.generate(ckpt, [3, 7], 0.6, batch_size=1), expected)  # a checkpoint works too
    assert np.array_equal(sb.generate(G, 7, 0.6), expected[1:])  # one seed


def test_generate_from_ws_and_seeds_to_ws(G):
    ws = sb.seeds_to_ws(G, [3, 7], 0.6)
    assert torch.equal(ws, nvidia_ws(G, [3, 7], 0.6))
    assert np.array_equal(sb.generate(G, ws), sb.generate(G, [3, 7], 0.6))
    assert np.array_equal(sb.generate(G, ws[1]), sb.generate(G, [7], 0.6))  # one latent [num_ws, w_dim]


def test_generate_refuses_bad_values(G):
    with pytest.raises(InvalidArgumentError, match="truncation_psi 5 must be in"):
        sb.generate(G, [0], truncation_psi=5)
    with pytest.raises(InvalidArgumentError, match="noise_mode 'seed'"):
        sb.generate(G, [0], noise_mode="seed")
    with pytest.raises(InvalidArgumentError, match="ws has shape"):
        sb.generate(G, torch.zeros(1, 3, G.w_dim))
    with pytest.raises(InvalidArgumentError, match="apply to seeds"):
        sb.generate(G, sb.seeds_to_ws(G, [0]), truncation_psi=0.7)  # would be ignored otherwise


# -- latents ------------------------------------------------------------------------------------------

def test_interpolate_ends_are_exact_and_midpoint_is_the_mean(G):
    ws = sb.seeds_to_ws(G, [1, 2])
    path = sb.interpolate(ws[0], ws[1], steps=5)
    assert path.shape == (5, G.num_ws, G.w_dim)
    assert torch.equal(path[0], ws[0]) and torch.equal(path[-1], ws[1])
    torch.testing.assert_close(path[2], (ws[0] + ws[1]) / 2)
    assert torch.equal(sb.interpolate(ws[0:1], ws[1:2], steps=5), path)  # batched single latents


def test_interpolate_slerp_keeps_the_norm_of_equal_norm_ends():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 3.0])
    path = sb.interpolate(a, b, steps=7, method="slerp")
    torch.testing.assert_close(path.norm(dim=-1), torch.full([7], 3.0))
    with pytest.raises(InvalidArgumentError, match="same shape"):
        sb.interpolate(a, b[:2])
    with pytest.raises(InvalidArgumentError, match="'cubic'"):
        sb.interpolate(a, b, method="cubic")


def test_latent_files_round_trip(tmp_path, G):
    ws = sb.seeds_to_ws(G, [1, 2], 0.7)
    mixed = sb.crossover(ws[0], ws[1], layers=[0, 1])
    assert torch.equal(mixed[:2], ws[0, :2]) and torch.equal(mixed[2:], ws[1, 2:])
    sb.save_latents(tmp_path / "w.npz", mixed[None])
    assert torch.equal(sb.load_latents(tmp_path / "w.npz", G), mixed[None])


# -- blending -----------------------------------------------------------------------------------------

def test_blend_models_is_blend_checkpoints(ckpt):
    other = tiny_checkpoint(seed=1)
    blended = sb.blend_models(ckpt, other, sb.Swap(8))
    expected, _ = blend_checkpoints(ckpt, [other], sb.Swap(8), hash_inputs=False)
    assert all(torch.equal(blended.g_ema[k], expected.g_ema[k]) for k in expected.g_ema)
    from_text = sb.blend_models(ckpt, [other], "swap:8")
    assert all(torch.equal(blended.g_ema[k], from_text.g_ema[k]) for k in expected.g_ema)
    assert blended.meta["blend"]["schedule"] == "swap:8"
    base_again = sb.blend_models(ckpt, other, Constant(0))
    assert all(torch.equal(base_again.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)  # α = 0 is the base


def test_blend_models_with_several_transfers(ckpt):
    t1, t2 = tiny_checkpoint(seed=1), tiny_checkpoint(seed=2)
    blended = sb.blend_models(ckpt, [t1, t2], "bands:8,16")
    key = "synthesis.b4.conv1.weight"  # r <= 8: the first transfer's
    assert torch.equal(blended.g_ema[key], t1.g_ema[key])
    assert torch.equal(blended.g_ema["synthesis.b32.conv1.weight"], ckpt.g_ema["synthesis.b32.conv1.weight"])
    with pytest.raises(InvalidArgumentError, match="N-model schedule"):
        sb.blend_models(ckpt, [t1, t2], sb.Swap(8))


# -- embedding ----------------------------------------------------------------------------------------

def test_embed_fits_an_image_of_the_model(G):
    target = sb.generate(G, [5], 0.5)
    result = sb.embed(G, target, method="fast", steps=12, seed=0)
    assert result.ws.shape == (1, G.num_ws, G.w_dim) and result.steps_done == 12
    assert result.final_loss < result.history[0]["loss"]
    again = sb.embed(G, target, method="fast", steps=12, seed=0)
    assert torch.equal(result.ws, again.ws)  # seeded


def test_embed_reads_image_files_like_arrays(tmp_path, G):
    target = sb.generate(G, [5], 0.5)
    path = sb.save_image(target[0], tmp_path / "t.png")
    from_file = sb.embed(G, path, method="fast", steps=2)
    from_array = sb.embed(G, target, method="fast", steps=2)
    assert torch.equal(from_file.ws, from_array.ws)
    with pytest.raises(InvalidArgumentError, match="uint8"):
        sb.embed(G, target.astype(np.float32), steps=1)


@pytest.mark.parametrize("iterative", [False, True])
def test_embed_starts_from_the_encoders_prediction(tmp_path, G, iterative):
    torch.manual_seed(0)
    enc = Encoder(EncoderConfig.for_generator(G)).eval()
    if iterative:  # corrections that depend on the reconstruction, so the passes matter
        enc = make_iterative(enc, iterations=3)
        with torch.no_grad():
            enc.stem.weight[:, G.img_channels:] = torch.randn_like(enc.stem.weight[:, G.img_channels:])
    path = save_encoder(tmp_path / "enc.safetensors", enc)
    target = sb.generate(G, [5], 0.5)
    seen = []
    sb.embed(G, target, method="fast", steps=1, encoder=path, callback=lambda step, parts, ws: seen.append(ws))
    with torch.no_grad():
        predicted = encode(enc, G, sb.api._target(G, target))
        if iterative:
            assert (predicted - encode(enc, G, sb.api._target(G, target), iterations=1)).abs().max() > 0.11
    # one Adam step (lr 0.1 at most per coordinate) from the prediction, far nearer to it than to anything else
    assert (seen[0] - predicted).abs().max() <= 0.11


def test_embed_refuses_an_encoder_of_another_generator(tmp_path):
    G = tiny_checkpoint(seed=0).generator()
    path = save_encoder(tmp_path / "enc.safetensors", Encoder(EncoderConfig.for_generator(G)))
    other = tiny_checkpoint(seed=0, res=16).generator()
    with pytest.raises(ArchitectureMismatchError, match="trained for a generator"):
        sb.embed(other, torch.zeros(1, 3, 16, 16), steps=1, encoder=path)


# -- images -------------------------------------------------------------------------------------------

def test_image_grid_and_save_image(tmp_path):
    rows = [np.full((2, 4, 4, 3), v, np.uint8) for v in (10, 20)]
    grid = sb.image_grid(rows, cols=2)
    assert grid.shape == (8, 8, 3)
    assert (grid[:4] == 10).all() and (grid[4:] == 20).all()
    assert sb.image_grid(rows).shape == (4, 16, 3)  # one row by default
    from PIL import Image

    path = sb.save_image(rows, tmp_path / "g.png", cols=2)
    assert np.array_equal(np.asarray(Image.open(path)), grid)
    with pytest.raises(InvalidArgumentError, match="uint8"):
        sb.save_image(np.zeros((4, 4, 3)), tmp_path / "f.png")
    with pytest.raises(InvalidArgumentError, match="one size"):
        sb.image_grid([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5, 3), np.uint8)])
