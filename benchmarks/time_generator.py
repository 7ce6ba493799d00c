"""Time ``G(z)`` of a config-f-shaped generator from a given source tree: before/after comparisons of the code.

Prints one line: median process CPU seconds and wall seconds per image (batch 1, under ``torch.no_grad``),
after one warm-up pass. Run it once per source tree, alternating, on the same machine and load, e.g.::

    git archive <commit> src | tar -x -C /tmp/base
    for tree in /tmp/base/src src; do OMP_NUM_THREADS=1 python benchmarks/time_generator.py $tree 256 3; done

Usage: python benchmarks/time_generator.py SRC RESOLUTION REPEATS
"""

from __future__ import annotations

import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])

import torch  # noqa: E402

from styleblend.config import GeneratorConfig  # noqa: E402
from styleblend.nn import Generator  # noqa: E402


def main() -> None:
    resolution, repeats = int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=resolution)).eval().requires_grad_(False)
    z = torch.randn(1, G.z_dim)
    cpu, wall = [], []
    with torch.no_grad():
        G(z)  # warm-up
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            G(z)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    print(f"{statistics.median(cpu):.2f} {statistics.median(wall):.2f}")


if __name__ == "__main__":
    main()
