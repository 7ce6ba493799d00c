"""PSNR/SSIM of the W+ encoder alone vs the W+ encoder + a feature head (W+ + block-r features), per image set.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_feature_encoder.py --head HEAD.safetensors \
        [--encoder ENC] [--sets noto,openmoji] [--passes N] [--refine 50,100] [--feature-lr 0.1] [--json out.json]

``--passes N`` runs the iterative W+ encoder N times (default: the head's ``encoder_iterations``, else the
encoder's own count). ``--refine`` adds rows of encoder + head + N steps refining W+ and the features together
(``project(..., init_features=...)``, the ``fast`` settings and the pixel loss, as ``project --method encoder
--feature-head H --steps N`` runs them), in batches of 5 targets like bench_projection.py's rows; ``--feature-lr
0`` keeps the head's features fixed and refines W+ only.

Targets: data/emoji/heldout-google (20 held-out Noto emoji) and data/emoji/heldout-openmoji (OpenMoji, CC BY-SA
4.0, test targets only); the bundled base. Renders are quantised to uint8 before the metrics, as in
bench_projection.py. Times: process CPU and wall seconds per image, each set encoded in one batch (the
refinement rows: batches of 5; ``--time-batches 20,5,1`` times encoding alone per batch size).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from styleblend.media.images import from_uint8, to_uint8  # noqa: E402
from styleblend.media.load import list_images, load_image  # noqa: E402
from styleblend.metrics.quality import psnr, ssim  # noqa: E402
from styleblend.models import bundled_checkpoint, bundled_encoder_path  # noqa: E402
from styleblend.nn.feature_space import synthesize_from_features  # noqa: E402
from styleblend.project import pixel_fallback_loss, project, settings_for  # noqa: E402
from styleblend.project.encoder import encode, load_encoder  # noqa: E402
from styleblend.project.feature_encoder import encode_features, head_iterations, load_feature_head  # noqa: E402

SETS = {"noto": ROOT / "data/emoji/heldout-google", "openmoji": ROOT / "data/emoji/heldout-openmoji"}


def load_targets(folder: Path, G) -> tuple[list[str], torch.Tensor]:
    files = sorted(list_images(folder), key=lambda p: p.name)
    return [f.name for f in files], torch.cat([from_uint8(load_image(f, resolution=G.img_resolution,
                                                                     channels=G.img_channels)) for f in files])


def quality(rec: torch.Tensor, target: torch.Tensor) -> dict:
    rec = from_uint8(to_uint8(rec))
    return {"psnr": psnr(rec, target).tolist(), "ssim": ssim(rec, target).tolist()}


def measure(G, E, head, target: torch.Tensor) -> dict:
    out = {}
    for label in ("wplus", "features"):
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            if label == "wplus":
                rec = G.synthesis(encode(E, G, target, iterations=head_iterations(head, E)))
            else:
                ws, feats = encode_features(E, head, G, target)
                rec = synthesize_from_features(G, ws, feats, head.cfg.block_res)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[label] = {**quality(rec, target), "wall_s": wall / len(target), "cpu_s": cpu / len(target)}
    return out


def time_encoding(G, E, head, target: torch.Tensor, batch: int, repeats: int) -> list[float]:
    """CPU s per image of encode_features (W+ pass(es) + head) over ``target`` in batches of ``batch``, each
    batch timed alone, ``repeats`` rounds after one warm-up batch."""
    times = []
    with torch.no_grad():
        encode_features(E, head, G, target[:batch])
        for _ in range(repeats):
            for start in range(0, len(target) - batch + 1, batch):
                c = time.process_time()
                encode_features(E, head, G, target[start:start + batch])
                times.append((time.process_time() - c) / batch)
    return sorted(times)


def measure_refined(G, E, head, target: torch.Tensor, steps: int, feature_lr: float, batch: int = 5) -> dict:
    """encoder + head + ``steps`` joint steps, ``batch`` targets per project() call; the time includes encoding."""
    settings = settings_for("fast", steps=steps, num_w_samples=0, feature_lr=feature_lr)
    loss = pixel_fallback_loss()
    recs, cpu, wall = [], 0.0, 0.0
    for start in range(0, len(target), batch):
        part = target[start:start + batch]
        w0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            ws, feats = encode_features(E, head, G, part)
        result = project(G, part, settings, loss, init_ws=ws, init_features=feats, feature_block=head.cfg.block_res)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        assert result.features is not None
        with torch.no_grad():
            recs.append(synthesize_from_features(G, result.ws, result.features, head.cfg.block_res))
    return {**quality(torch.cat(recs), target), "cpu_s": cpu / len(target), "wall_s": wall / len(target)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--head", required=True)
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--sets", default="noto,openmoji")
    ap.add_argument("--passes", type=int, default=None, help="W+ encoder passes (default: the head's)")
    ap.add_argument("--refine", default="", help="comma-separated refinement step counts, e.g. 50,100")
    ap.add_argument("--feature-lr", type=float, default=None, help="the features' learning rate (default: fast's)")
    ap.add_argument("--limit", type=int, default=None, help="the first N images of each set")
    ap.add_argument("--time-batches", default="", help="also time encoding alone in these batch sizes, e.g. 20,5,1 "
                    "(median and best CPU s per image over --repeats rounds)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    G = bundled_checkpoint("base").generator("cpu")
    E = load_encoder(args.encoder or bundled_encoder_path())
    head = load_feature_head(args.head)
    if args.passes is not None:
        head.cfg = dataclasses.replace(head.cfg, encoder_iterations=args.passes)
    feature_lr = settings_for("fast").feature_lr if args.feature_lr is None else args.feature_lr
    result = {"head": args.head, "load": os.getloadavg()[0], "meta_kimg": head.meta.get("kimg"),
              "passes": head_iterations(head, E) or E.cfg.iterations, "feature_lr": feature_lr}
    print(f"head {args.head} ({head.meta.get('kimg')} kimg), W+ encoder passes {result['passes']}, "
          f"load {os.getloadavg()[0]:.1f}")

    def show(name: str, label: str, m: dict) -> None:
        p5 = sum(m["psnr"][:5]) / min(5, len(m["psnr"]))
        print(f"{name:8s} {label:22s} PSNR {sum(m['psnr']) / len(m['psnr']):.2f} dB (first 5: {p5:.2f}) "
              f"SSIM {sum(m['ssim']) / len(m['ssim']):.3f} cpu {m['cpu_s']:.4f} s/img wall {m['wall_s']:.4f} "
              f"load {os.getloadavg()[0]:.1f}", flush=True)

    for name in args.sets.split(","):
        names, target = load_targets(SETS[name], G)
        if args.limit:
            names, target = names[:args.limit], target[:args.limit]
        r = result[name] = {"names": names, **measure(G, E, head, target)}
        for label in ("wplus", "features"):
            show(name, label, r[label])
        for batch in [int(x) for x in args.time_batches.split(",") if x]:
            times = time_encoding(G, E, head, target, batch, args.repeats)
            r[f"time_batch{batch}"] = times
            print(f"{name:8s} encoding, batches of {batch:2d}: median {1000 * times[len(times) // 2]:.1f} ms/img, best "
                  f"{1000 * times[0]:.1f} (CPU, {len(times)} batches) load {os.getloadavg()[0]:.1f}", flush=True)
        for steps in [int(x) for x in args.refine.split(",") if x]:
            r[f"refine{steps}"] = m = measure_refined(G, E, head, target, steps, feature_lr)
            show(name, f"features + {steps} steps", m)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
