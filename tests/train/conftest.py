from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy 2-core machine two OpenMP
    threads per process made these tests ~20x slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blob_images(folder: Path, count: int, seed: int, res: int = 8) -> Path:
    """``count`` white res x res PNGs, each with one 3x3 square of a random colour at a random place."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        img = np.full([res, res, 3], 255, np.uint8)
        y, x = rng.integers(0, res - 3, 2)
        img[y:y + 3, x:x + 3] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder
