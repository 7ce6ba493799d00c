"""The bundled models: present, loadable, a base and two fine-tunes of it (so blending them is meaningful)."""

import pytest
import torch

from styleblend.blend import diff_state_dicts
from styleblend.models import BUNDLED, bundled_checkpoint, bundled_path


def test_bundled_pair_loads_and_renders():
    base, transfer = bundled_checkpoint("base"), bundled_checkpoint("transfer")
    assert base.g_config == transfer.g_config and base.g_config.img_resolution == 64
    total = sum(bundled_path(name).stat().st_size for name in BUNDLED)
    assert set(BUNDLED) == {"base", "transfer", "fluent3d"}
    assert total <= 30 * 1024 * 1024
    G = base.generator()
    img = G(torch.randn(2, G.z_dim), truncation_psi=0.7)
    assert img.shape == (2, 3, 64, 64) and torch.isfinite(img).all()
    # A trained generator is not flat: its images vary across seeds.
    assert img[0].sub(img[1]).abs().mean() > 0.02


@pytest.mark.parametrize("name", ["transfer", "fluent3d"])
def test_styles_are_fine_tunes_of_the_base(name):
    base, transfer = bundled_checkpoint("base"), bundled_checkpoint(name)
    assert transfer.g_config == base.g_config
    report = diff_state_dicts(base.g_ema, transfer.g_ema)
    assert report.related, report.warnings
    assert report.conv_median < 0.5


def test_third_style_differs_from_the_other_two():
    base, transfer, third = (bundled_checkpoint(n) for n in ("base", "transfer", "fluent3d"))
    assert third.meta["bundled"] == "fluent3d" and "Fluent Emoji 3D" in third.meta["credit"]
    z = torch.randn(4, base.g_config.z_dim, generator=torch.Generator().manual_seed(0))
    imgs = [ckpt.generator()(z, truncation_psi=0.7) for ckpt in (base, transfer, third)]
    assert imgs[2].sub(imgs[0]).abs().mean() > 0.02 and imgs[2].sub(imgs[1]).abs().mean() > 0.02


def test_unknown_bundled_name_is_a_clear_error():
    from styleblend.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="fluent3d"):
        bundled_path("fluent")


def test_bundled_encoder_fits_the_bundled_base_and_beats_the_mean_w():
    from importlib import resources

    from styleblend.media.load import load_target
    from styleblend.models import bundled_encoder_path
    from styleblend.project.encoder import encode, load_encoder

    path = bundled_encoder_path()
    assert path is not None and path.stat().st_size <= 5 * 1024 * 1024
    G = bundled_checkpoint("base").generator()
    encoder = load_encoder(path).eval()
    encoder.check_generator(G)
    # On the package's two held-out emoji the prediction reconstructs better than the mean w does, and the
    # iterative encoder's passes improve on its first.
    for name in ("heldout-woman.png", "heldout-persevering.png"):
        with resources.as_file(resources.files("styleblend.data") / name) as image:
            target = load_target(image, G.img_resolution)
        with torch.no_grad():
            predicted = G.synthesis(encode(encoder, G, target), noise_mode="const")
            first = G.synthesis(encode(encoder, G, target, iterations=1), noise_mode="const")
            mean = G.synthesis(G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1), noise_mode="const")
        error = (predicted - target).square().mean()
        assert error < (first - target).square().mean() < (mean - target).square().mean()


def test_toonify_picks_the_bundled_encoder_only_for_the_bundled_base():
    from styleblend.io.digest import file_sha256
    from styleblend.models import bundled_encoder_path
    from styleblend.project.toonify import bundled_encoder

    assert bundled_encoder(file_sha256(bundled_path("base"))) == bundled_encoder_path()
    assert bundled_encoder(file_sha256(bundled_path("transfer"))) is None
