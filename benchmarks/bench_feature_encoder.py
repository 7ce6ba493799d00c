"""PSNR/SSIM of the W+ encoder alone vs the W+ encoder + a feature head (W+ + block-r features), per image set.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_feature_encoder.py --head HEAD.safetensors \
        [--encoder ENC] [--sets noto,openmoji] [--json out.json]

Targets: data/emoji/heldout-google (20 held-out Noto emoji) and data/emoji/heldout-openmoji (OpenMoji, CC BY-SA
4.0, test targets only); the bundled base. Renders are quantised to uint8 before the metrics, as in
bench_projection.py. Times: process CPU and wall seconds per image, each set encoded in one batch.
"""

from __future__ import annotations

import argparse
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
from styleblend.project.encoder import encode, load_encoder  # noqa: E402
from styleblend.project.feature_encoder import encode_features, load_feature_head  # noqa: E402

SETS = {"noto": ROOT / "data/emoji/heldout-google", "openmoji": ROOT / "data/emoji/heldout-openmoji"}


def measure(G, E, head, folder: Path) -> dict:
    files = sorted(list_images(folder), key=lambda p: p.name)
    target = torch.cat([from_uint8(load_image(f, resolution=G.img_resolution, channels=G.img_channels))
                        for f in files])
    out = {"names": [f.name for f in files]}
    for label in ("wplus", "features"):
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            if label == "wplus":
                rec = G.synthesis(encode(E, G, target))
            else:
                ws, feats = encode_features(E, head, G, target)
                rec = synthesize_from_features(G, ws, feats, head.cfg.block_res)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rec = from_uint8(to_uint8(rec))
        out[label] = {"psnr": psnr(rec, target).tolist(), "ssim": ssim(rec, target).tolist(),
                      "wall_s": wall / len(files), "cpu_s": cpu / len(files)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--head", required=True)
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--sets", default="noto,openmoji")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    G = bundled_checkpoint("base").generator("cpu")
    E = load_encoder(args.encoder or bundled_encoder_path())
    head = load_feature_head(args.head)
    result = {"head": args.head, "load": os.getloadavg()[0], "meta_kimg": head.meta.get("kimg")}
    for name in args.sets.split(","):
        r = measure(G, E, head, SETS[name])
        result[name] = r
        for label in ("wplus", "features"):
            m = r[label]
            p5 = sum(m["psnr"][:5]) / 5
            print(f"{name:8s} {label:8s} PSNR {sum(m['psnr']) / len(m['psnr']):.2f} dB (first 5: {p5:.2f}) "
                  f"SSIM {sum(m['ssim']) / len(m['ssim']):.3f} cpu {m['cpu_s']:.4f} s/img wall {m['wall_s']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
