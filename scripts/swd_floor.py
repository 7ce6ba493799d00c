#!/usr/bin/env python3
"""Real-vs-real SWD per pyramid level: two random halves of a training set, for scale in docs/bundled-models.md.

Usage: python scripts/swd_floor.py data/emoji/google-64.zip [--splits 2]

Prints, per split seed, the SWD (x 1e3, styleblend.metrics.swd with its defaults) between two disjoint random
halves of the set (N // 2 images each); a model cannot be expected to get below these values with 933 images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from styleblend.metrics.swd import swd  # noqa: E402
from styleblend.train.data import ImageZipDataset  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--splits", type=int, default=2, help="random splits to measure (seeds 0..N-1; default 2)")
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = ImageZipDataset(args.data)
    images = np.stack([np.asarray(ds[i][0]) for i in range(len(ds))])
    half = len(images) // 2
    for seed in range(args.splits):
        perm = np.random.default_rng(seed).permutation(len(images))
        r = swd(images[perm[:half]], images[perm[half:2 * half]])
        levels = ", ".join(f"{k} px {v:.2f}" for k, v in r.items() if k)
        print(f"split {seed}: {half} vs {half} images: mean {r[0]:.2f}; {levels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
