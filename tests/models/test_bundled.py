"""The bundled pair: present, loadable, a base and its fine-tune (so blending them is meaningful)."""

import torch

from styleblend.blend import diff_state_dicts
from styleblend.models import BUNDLED, bundled_checkpoint, bundled_path


def test_bundled_pair_loads_and_renders():
    base, transfer = bundled_checkpoint("base"), bundled_checkpoint("transfer")
    assert base.g_config == transfer.g_config and base.g_config.img_resolution == 64
    total = sum(bundled_path(name).stat().st_size for name in BUNDLED)
    assert total <= 20 * 1024 * 1024
    G = base.generator()
    img = G(torch.randn(2, G.z_dim), truncation_psi=0.7)
    assert img.shape == (2, 3, 64, 64) and torch.isfinite(img).all()
    # A trained generator is not flat: its images vary across seeds.
    assert img[0].sub(img[1]).abs().mean() > 0.02


def test_transfer_is_a_fine_tune_of_the_base():
    base, transfer = bundled_checkpoint("base"), bundled_checkpoint("transfer")
    report = diff_state_dicts(base.g_ema, transfer.g_ema)
    assert report.related, report.warnings
    assert report.conv_median < 0.5
