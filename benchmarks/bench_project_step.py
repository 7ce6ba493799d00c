"""One projection step's generator work: forward + backward of ``G.synthesis(ws)`` w.r.t. W+ (issue 18, item 6).

What ``project()`` spends on the generator every step (the loss, Adam and the noise maps' upkeep are excluded:
they are not the generator's): render ``ws`` [N, num_ws, w_dim] with the stored noise (``noise_mode='const'``,
eval mode: the fused modulated convolution), take a scalar of the image, back-propagate to ``ws``. With
``--noise`` the noise maps are inputs that need gradients too (the ``nvidia`` and ``image2stylegan`` methods
optimise them), as ``project()`` passes them through ``torch.func.functional_call``.

Modes:

- ``time SRC``: median process CPU seconds (and wall seconds, and the process's peak RSS in MiB) per step of
  the code in the source tree ``SRC`` (``src``, or a ``git archive <commit> src`` unpacked elsewhere):
  before/after comparisons, run alternately::

      git archive <commit> src | tar -x -C /tmp/base
      for tree in /tmp/base/src src; do
          OMP_NUM_THREADS=1 python benchmarks/bench_project_step.py time $tree --resolution 256 --batch 1
      done

- ``compare BEFORE AFTER``: runs ``time`` in subprocesses for both trees, alternating ``--rounds`` times, and
  prints a Markdown table with the load average beside each pair.
- ``profile SRC``: per-operator self CPU time of the forward and of the backward (``torch.profiler``).

Models: ``--resolution R`` builds a config-f-shaped generator (random weights: time does not depend on their
values); ``--bundled base`` loads the bundled 64 px model (``styleblend.models.bundled_checkpoint``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any


def _build(args: argparse.Namespace) -> Any:
    import torch

    from styleblend.config import GeneratorConfig
    from styleblend.nn import Generator

    torch.manual_seed(0)
    if args.bundled:
        from styleblend.models import bundled_checkpoint

        G = bundled_checkpoint(args.bundled).generator("cpu")
    else:
        G = Generator(GeneratorConfig(img_resolution=args.resolution))
    return G.eval().requires_grad_(False)


def _step_fn(G: Any, batch: int, noise: bool) -> Any:
    import torch

    gen = torch.Generator().manual_seed(1)
    ws0 = G.mapping(torch.randn([batch, G.z_dim], generator=gen), None).detach()
    ws = ws0.clone().requires_grad_(True)
    maps = None
    if noise:
        maps = {name: torch.randn([batch, 1, *buf.shape], generator=gen).requires_grad_(True)
                for name, buf in G.synthesis.named_buffers() if name.endswith("noise_const")}
    target = torch.randn([batch, G.img_channels, G.img_resolution, G.img_resolution], generator=gen)

    def forward() -> Any:
        if maps:
            img = torch.func.functional_call(G.synthesis, maps, (ws,), {"noise_mode": "const"}, strict=False)
        else:
            img = G.synthesis(ws, noise_mode="const")
        return (img - target).square().mean()

    def step() -> Any:
        ws.grad = None
        if maps:
            for m in maps.values():
                m.grad = None
        loss = forward()
        loss.backward()
        return ws.grad

    return forward, step


def time_mode(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    G = _build(args)
    _, step = _step_fn(G, args.batch, args.noise)
    step()  # warm-up
    cpu, wall = [], []
    for _ in range(args.repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        step()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"{statistics.median(cpu):.3f} {statistics.median(wall):.3f} {peak_mib:.0f}")


def profile_mode(args: argparse.Namespace) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    torch.set_num_threads(args.threads)
    G = _build(args)
    forward, step = _step_fn(G, args.batch, args.noise)
    step()  # warm-up
    load0 = os.getloadavg()[0]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.repeats):
            with record_function("## forward"):
                loss = forward()
            with record_function("## backward"):
                loss.backward()
    events = prof.key_averages()
    fwd = next(e for e in events if e.key == "## forward").cpu_time_total
    bwd = next(e for e in events if e.key == "## backward").cpu_time_total
    n = args.repeats
    print(f"{'bundled ' + args.bundled if args.bundled else f'config-f {args.resolution} px'}, batch {args.batch}, "
          f"noise inputs {args.noise}, {n} steps, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"load average {load0:.1f}-{os.getloadavg()[0]:.1f}")
    print(f"\nforward {fwd / 1000 / n:.0f} ms, backward {bwd / 1000 / n:.0f} ms per step (profiler wall time)\n")
    # The backward runs in autograd's thread: its operators are the ones under a '...Backward0' node.
    rows = [e for e in events if e.self_cpu_time_total > 0 and not e.key.startswith("## ")]
    total = sum(e.self_cpu_time_total for e in rows)
    rows.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    print("| operator | self CPU ms / step | share | calls / step |")
    print("|---|---|---|---|")
    for e in rows[: args.top]:
        print(f"| `{e.key}` | {e.self_cpu_time_total / 1000 / n:.1f} | {100 * e.self_cpu_time_total / total:.1f} % "
              f"| {e.count / n:.0f} |")
    rest = total - sum(e.self_cpu_time_total for e in rows[: args.top])
    print(f"| (all other operators) | {rest / 1000 / n:.1f} | {100 * rest / total:.1f} % | |")
    print(f"| **total** | {total / 1000 / n:.1f} | 100 % | |")


def compare_mode(args: argparse.Namespace) -> None:
    common = ["--batch", str(args.batch), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    common += ["--bundled", args.bundled] if args.bundled else ["--resolution", str(args.resolution)]
    common += ["--noise"] if args.noise else []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env.pop("PYTHONPATH", None)
    results: dict[str, list[float]] = {args.src: [], args.after: []}
    model = f"bundled {args.bundled}" if args.bundled else f"config-f {args.resolution} px"
    print(f"{model}, batch {args.batch}, noise inputs {args.noise}: CPU s per step (wall s; the process's peak "
          f"resident memory), median of {args.repeats} after a warm-up\n")
    print("| round | before | after | after / before | load average |")
    print("|---|---:|---:|---:|---|")
    for r in range(args.rounds):
        load0 = os.getloadavg()[0]
        cells = []
        for tree in (args.src, args.after):
            out = subprocess.run([sys.executable, __file__, "time", tree, *common], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            results[tree].append(float(out[0]))
            cells.append(f"{float(out[0]):.3f} ({float(out[1]):.2f}; {out[2]} MiB)")
        ratio = results[args.after][-1] / results[args.src][-1]
        print(f"| {r + 1} | {cells[0]} | {cells[1]} | {ratio:.2f} | {load0:.1f}-{os.getloadavg()[0]:.1f} |")
        sys.stdout.flush()
    b, a = statistics.median(results[args.src]), statistics.median(results[args.after])
    print(f"| median | {b:.3f} | {a:.3f} | {a / b:.2f} | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["time", "profile", "compare"])
    ap.add_argument("src", help="source tree to import styleblend from (compare: the 'before' tree)")
    ap.add_argument("after", nargs="?", default="src", help="compare: the 'after' tree (default src)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--bundled", default=None, help="a bundled model's name instead of a random config-f one")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="compare: alternating rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noise", action="store_true", help="the noise maps need gradients too")
    ap.add_argument("--top", type=int, default=20, help="profile: operators listed")
    args = ap.parse_args()
    if args.mode != "compare":
        sys.path.insert(0, os.path.abspath(args.src))
    {"time": time_mode, "profile": profile_mode, "compare": compare_mode}[args.mode](args)


if __name__ == "__main__":
    main()
