"""Benchmark: perceptual path length of interpolation schemes, and smoothness of looping videos.

Writes ``docs/ppl.md`` (the whole file is regenerated) and prints the same tables. Two tables:

1. PPL (Karras et al. 2019, eps = 1e-4, 1%-99% filtered mean) of each interpolation scheme, for
   'full' (t ~ U[0, 1]) and 'end' (t in {0, 1}) sampling: slerp in Z (StyleGAN's PPL_z), lerp in W
   (PPL_w), lerp in W+ with a per-layer schedule (coarse-first and fine-first), lerp in W projected
   on a PCA subspace (GANSpace basis), and lerp in W with a mid-path truncation dip.
2. Smoothness of a closed keyframe loop (the ``interp-video`` path) through K seeds, from the
   distances between frames 1 and 2 apart: mean speed, largest speed jump, and how straight the
   path runs (the sharpest turn is usually at a keyframe) - for lerp W, with easing, with the
   Gaussian post-filter, and slerp Z.

The distance is LPIPS-style VGG-16 when VGG weights are found (see ``styleblend.weights``), else
the labelled pixel proxy; every table says which. Usage::

    python benchmarks/bench_ppl.py --network model.safetensors [--samples 2000] [--crop]
    python benchmarks/bench_ppl.py --tiny            # a random 32 px model: checks that everything runs
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def tiny_generator():
    import torch

    from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
    from styleblend.nn import Generator

    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=32, w_dim=32, img_resolution=32, mapping=MappingConfig(num_layers=2),
                          synthesis=SynthesisConfig(channel_base=256, channel_max=32))
    G = Generator(cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", "bias")):
                p.add_(torch.randn_like(p) * 0.1)
        G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg) * 0.1)
    return G.eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--network", help="checkpoint to measure (any format styleblend reads)")
    src.add_argument("--tiny", action="store_true", help="a random 32 px model (smoke test)")
    parser.add_argument("--samples", type=int, default=1000, help="PPL pairs per scheme and sampling")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", action="store_true", help="StyleGAN's face crop (face models only)")
    parser.add_argument("--distance", choices=["auto", "pixel"], default="auto")
    parser.add_argument("--vgg", default=None, help="VGG-16 weights file (else the usual caches)")
    parser.add_argument("--pca-samples", type=int, default=20000)
    parser.add_argument("--pca-components", type=int, default=8, help="subspace size of the PCA scheme")
    parser.add_argument("--loop-keys", type=int, default=6, help="keyframes (seeds 0..K-1) of the loop")
    parser.add_argument("--loop-frames", type=int, default=24, help="frames per keyframe transition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "ppl.md")
    args = parser.parse_args(argv)

    import torch

    from styleblend.io import load_checkpoint
    from styleblend.io.atomic import write_bytes_atomic
    from styleblend.latents.files import latent_source, latent_source_z
    from styleblend.latents.paths import build_path
    from styleblend.latents.pca import fit_pca, project_to_subspace, sample_w
    from styleblend.metrics import ppl

    if args.tiny:
        G, name = tiny_generator(), "random tiny model (z = w = 32, 2 mapping layers)"
    else:
        G, name = load_checkpoint(args.network).generator(), Path(args.network).name
    distance = ppl.PixelProxyDistance() if args.distance == "pixel" else ppl.default_distance(args.vgg)
    print(f"model: {name}; distance: {distance.name}", flush=True)

    t0 = time.perf_counter()
    w = sample_w(lambda z: G.mapping(z, None), G.z_dim, args.pca_samples, seed=args.seed)
    pca = fit_pca(w, min(64, G.w_dim, args.pca_samples))
    k = min(args.pca_components, pca.num_components)
    pca_time = time.perf_counter() - t0
    # How far the PCA scheme moves the endpoints: distance between G(w) and G(projected w).
    with torch.no_grad():
        wt = G.mapping(torch.randn([64, G.z_dim], generator=torch.Generator().manual_seed(args.seed + 1)), None)
        a = G.synthesis(wt, noise_mode="const")
        b = G.synthesis(project_to_subspace(wt, pca, k), noise_mode="const")
        endpoint_shift = float(distance(a, b).mean())
        self_shift = float(distance(a, G.synthesis(G.mapping(torch.randn([64, G.z_dim], generator=torch.Generator()
                                                                           .manual_seed(args.seed + 2)), None),
                                                  noise_mode="const")).mean())

    schemes = [ppl.slerp_z_scheme(), ppl.lerp_w_scheme(), ppl.layer_schedule_scheme("coarse-first", 0.5),
               ppl.layer_schedule_scheme("fine-first", 0.5), ppl.pca_subspace_scheme(pca, k),
               ppl.psi_schedule_scheme(0.7)]
    rows = []
    for scheme in schemes:
        cells = [scheme.name]
        for sampling in ("full", "end"):
            start = time.perf_counter()
            r = ppl.perceptual_path_length(G, num_samples=args.samples, scheme=scheme, sampling=sampling,
                                           crop=args.crop, batch_size=args.batch, distance=distance, seed=args.seed)
            cells += [f"{r.filtered_mean:.4g}", f"{r.mean:.4g}"]
            print(f"  {r.summary()} [{time.perf_counter() - start:.1f} s]", flush=True)
        rows.append(cells)

    loop_rows = []
    seeds = ",".join(str(s) for s in range(args.loop_keys))
    w_keys = latent_source(f"seeds:{seeds}", G)
    z_keys = latent_source_z(f"seeds:{seeds}", G)
    wide = args.loop_frames / 4
    variants = [("lerp W", dict(space="w")), ("lerp W, smoothstep easing", dict(space="w", easing="smoothstep")),
                ("lerp W, Gaussian sigma 2", dict(space="w", smooth_sigma=2.0)),
                (f"lerp W, Gaussian sigma {wide:g}", dict(space="w", smooth_sigma=wide)),
                ("slerp Z", dict(space="z")),
                (f"slerp Z, Gaussian sigma {wide:g}", dict(space="z", smooth_sigma=wide))]
    for label, opts in variants:
        keys = z_keys if opts["space"] == "z" else w_keys
        ws = build_path(G, keys, frames_per_segment=args.loop_frames, closed=True, **opts)
        d = ppl.frame_distances(G, ws, distance, (1, 2), batch_size=args.batch, crop=args.crop, closed=True)
        m = ppl.path_smoothness(d[1], d[2], closed=True)
        loop_rows.append([label, f"{m['mean_speed']:.4g}", f"{m['max_speed_jump']:.3f}",
                          f"{m['mean_straightness']:.3f}", f"{m['min_straightness']:.3f}"])
        print(f"  loop {label}: {m}", flush=True)

    total = time.perf_counter() - t0
    md = render_markdown(args, name, distance.name, rows, loop_rows, k, pca, endpoint_shift, self_shift, pca_time,
                         total, G)
    write_bytes_atomic(args.out, md.encode())
    print(md)
    print(f"wrote {args.out}")
    return 0


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(args, name, distance_name, rows, loop_rows, k, pca, endpoint_shift, self_shift, pca_time,
                    total, G) -> str:
    import torch

    proxy = "pixel proxy" in distance_name
    cmd = "python benchmarks/bench_ppl.py " + (" ".join(sys.argv[1:]) if sys.argv[1:] else "")
    explained = float(pca.explained_ratio[:k].sum())
    warn = ("\n> **Distance: pixel proxy.** No VGG-16 weights were available, so these numbers use the mean squared "
            "difference of 64 px images instead of LPIPS. They rank the schemes on this model but are **not "
            "comparable** with published PPL values. Put VGG-16 weights in the torch hub cache (or pass `--vgg`) "
            "and rerun for LPIPS-style numbers.\n" if proxy else "")
    tiny = ("\n> **Model: random tiny network.** This run only checks that the benchmark works; rerun it on the "
            "bundled model for meaningful numbers.\n" if args.tiny else "")
    return f"""# Perceptual path length of interpolation schemes

Generated by `benchmarks/bench_ppl.py` - do not edit by hand; rerun it instead:

    {cmd.strip()}

- Model: {name} ({G.img_resolution} px, num_ws = {G.num_ws}, w_dim = {G.w_dim})
- Distance: **{distance_name}**
- PPL: eps = 1e-4, {args.samples} pairs per cell, 1%-99% filtered mean (StyleGAN's definition) and plain mean,
  crop {'on' if args.crop else 'off'}, noise inputs re-drawn per batch, seed {args.seed}
- Machine: {platform.machine()}, {torch.get_num_threads()} torch threads; total time {total:.0f} s
  (PCA fit {pca_time:.1f} s); {datetime.date.today().isoformat()}
{warn}{tiny}
## What PPL measures

PPL (Karras et al. 2019, Sec. 3.3) is the expected image distance for a step of eps along an interpolation
path, divided by eps^2: low values mean images change evenly and without sudden jumps. StyleGAN measures
slerp in Z (PPL_z) and lerp in W (PPL_w); 'full' samples t ~ U[0, 1] along the path, 'end' only its end points
t in {{0, 1}}. Here the same measurement compares the ways `styleblend morph` / `interp-video` can move
between two random latents:

- **slerp Z** / **lerp W**: StyleGAN's two paths.
- **lerp W+ per-layer**: every W+ layer gets its own window of the path (`--layer-order`, spread 0.5), so coarse
  (or fine) styles change first. A layer moves twice as fast inside its window, so its local PPL is higher even
  though the images stay on the same manifold - compare it by what it is for (staged morphs), not only by PPL.
- **lerp W in PCA subspace (k={k})**: the path is projected on the top-{k} principal directions of W (GANSpace
  basis from {pca.num_samples} samples, {100 * explained:.1f}% of W's variance). It removes low-variance
  directions, but also moves the endpoints: the mean distance between G(w) and G(projected w) is
  {endpoint_shift:.4g} (for scale: between two unrelated images it is {self_shift:.4g}).
- **lerp W, psi dip**: truncation psi goes 1 -> 0.7 -> 1 along the path, so the middle passes nearer the
  average image. This shortens the path by construction; the ends are unchanged.

## PPL per scheme

{_table(["scheme", "full: PPL", "full: mean", "end: PPL", "end: mean"], rows)}

## Smoothness of a looping video

A closed loop through seeds 0-{args.loop_keys - 1}, {args.loop_frames} frames per transition (as
`styleblend interp-video`), measured on the rendered frames with the same distance d. Speed of step i:
v_i = sqrt(d(frame i, frame i+1)). **Speed jump**: max |v_(i+1) - v_i| / mean v (0 = even motion).
**Straightness**: sqrt(d(frame i, frame i+2)) / (v_i + v_(i+1)), 1 when three consecutive frames lie on a
straight line in image space, lower at a turn; the minimum is the sharpest turn, usually at a keyframe.
The Gaussian post-filter (`--smooth SIGMA`, in frames) rounds the keyframe corners; easing
(`--easing smoothstep`) instead slows down to a stop at every keyframe.

{_table(["path", "mean speed", "max speed jump", "mean straightness", "sharpest turn (min straightness)"],
        loop_rows)}
"""


if __name__ == "__main__":
    sys.exit(main())
