"""The demo on two tiny models standing in for the bundled pair (the bundled pair itself: tests/models)."""

import numpy as np
import torch
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import save_checkpoint

from .conftest import tiny_checkpoint


def test_demo_writes_every_product(tmp_path):
    base = tiny_checkpoint(seed=0)
    transfer = tiny_checkpoint(seed=0)
    transfer.g_ema = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                      for k, v in transfer.g_ema.items()}
    base_path = save_checkpoint(base, tmp_path / "base.safetensors")
    transfer_path = save_checkpoint(transfer, tmp_path / "transfer.safetensors")
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--outdir", str(out), "--base", str(base_path), "--transfer", str(transfer_path),
                 "--steps", "20"]) == 0
    grid = np.asarray(Image.open(out / "blend-grid.png"))
    # 6 seeds x (base, swaps at 4/8/16, transfer) plus a label strip.
    assert grid.shape[1] == 5 * 32 and grid.shape[0] == 6 * 32 + 14
    first_col, last_col = grid[14:, :32], grid[14:, -32:]
    assert not np.array_equal(first_col, last_col)
    assert Image.open(out / "style-mixing.png").size == (4 * 32, 4 * 32)
    assert Image.open(out / "morph.png").size == (8 * 32, 3 * 32)
    assert (out / "blend-swap8.safetensors").exists() and (out / "blend-swap8.safetensors.recipe.json").exists()
