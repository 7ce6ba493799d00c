"""Embedding benchmark: every projection method x loss on three target sets; PSNR, SSIM, latent distances, CPU time.

Sets (64 px; each image is projected once per row, seed 0):

* ``noto``      - the 20 held-out Noto emoji (``data/emoji/heldout-google``) with the bundled base
                  (``src/styleblend/models/emoji64-noto.safetensors``); never seen in training.
* ``openmoji``  - the same 20 emoji drawn by OpenMoji (``data/emoji/heldout-openmoji``, CC BY-SA 4.0), a style no
                  model was trained on, with the bundled base.
* ``known``     - 20 images rendered from known W+ latents (z -> w for two z, style-mixed at a random row) by the
                  bundled base's weights written as an NVIDIA-structure pickle (``nvidia_structure.py``; its D from
                  ``runs/bundle/base-224.safetensors``) and read back through styleblend's NVIDIA reader. Only
                  here the latent's distance from the truth is known.

Rows (``--only`` picks by prefix): image2stylegan 300 / 1000, fast 100 / 300, nvidia 300 and the encoder with
0 / 50 / 100 refinement steps ('fast' settings, all rows free from step 1; ``--encoder``, default the bundled
one), each with the pixel loss (MSE + 0.1 MS-SSIM) and the discriminator-feature loss (``dfeat``: D features +
MSE; D of ``--discriminator``). Targets are projected in batches of ``--batch`` (``project()`` takes N targets,
each with its own latent); seconds per image are the batch's wall and process-CPU time over its size, at one
thread. Every image's result is cached in ``--cache`` (JSON, written after each batch) under
(set, method, steps, loss, image), so a run resumes, and rows can be recomputed alone, e.g. for a new encoder:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_projection.py --only encoder --encoder enc.safetensors

Measures (per image, then averaged): PSNR / SSIM of the rendering (model noise, quantised to uint8) against
the target; ``row spread`` and ``mean distance`` from W (``project.wspace``, units of the spread of W, with
w_avg and std of 10,000 mapped z, seed 0); for ``known`` the distance from the true latent,
mean_i ||w_i - w*_i|| / (sqrt(w_dim) std) over the W+ rows (two independent true latents: printed below the table).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from styleblend.io import load_checkpoint  # noqa: E402
from styleblend.media.images import from_uint8, to_uint8  # noqa: E402
from styleblend.media.load import list_images, load_image  # noqa: E402
from styleblend.metrics.quality import psnr, ssim  # noqa: E402
from styleblend.project import dfeat_loss, pixel_fallback_loss, project, settings_for, synthesize, wspace  # noqa: E402
from styleblend.project.encoder import encode, load_encoder  # noqa: E402

BASE = ROOT / "src/styleblend/models/emoji64-noto.safetensors"
BASE_D = ROOT / "runs/bundle/base-224.safetensors"
SETS = {"noto": ROOT / "data/emoji/heldout-google", "openmoji": ROOT / "data/emoji/heldout-openmoji", "known": None}
ROWS = ("image2stylegan:300", "image2stylegan:1000", "fast:100", "fast:300", "nvidia:300",
        "encoder:0", "encoder:50", "encoder:100")
LOSSES = ("pixel", "dfeat")
KNOWN_COUNT = 20


@dataclasses.dataclass
class Target:
    """One set: the generator, its D, the targets [N, C, R, R], their names, and (known set) the true ws."""

    G: torch.nn.Module
    D: torch.nn.Module
    images: torch.Tensor
    names: list[str]
    true_ws: torch.Tensor | None
    w_avg: torch.Tensor
    w_std: float


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def known_model(workdir: Path) -> Path:
    """The bundled base (G = G_ema) with base-224's D, as an NVIDIA-structure pickle (written once)."""
    from nvidia_structure import write_snapshot

    path = workdir / "emoji64-noto-nvidia.pkl"
    if not path.exists():
        g_ckpt, d_ckpt = load_checkpoint(BASE), load_checkpoint(BASE_D)
        G, D = g_ckpt.generator("cpu"), d_ckpt.discriminator("cpu").eval()
        workdir.mkdir(parents=True, exist_ok=True)
        write_snapshot(path.with_suffix(".tmp"), G, G, D, g_ckpt.g_config, d_ckpt.d_config).replace(path)
    return path


def known_targets(G: torch.nn.Module, workdir: Path, count: int, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """``count`` style-mixed W+ latents (row k onwards from a second w, k uniform in 1..num_ws-1), psi 1, and their
    PNGs (the targets are the uint8 renderings, like any image file); written once to ``workdir``."""
    from styleblend.media.images import save_png

    latents = workdir / "known_ws.npy"
    names = [f"known-{i:02d}.png" for i in range(count)]
    if latents.exists():
        return torch.from_numpy(np.load(latents)), names
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn([2, count, G.z_dim], generator=gen)
        w1, w2 = G.mapping(z[0], None), G.mapping(z[1], None)
        cut = torch.randint(1, G.num_ws, [count], generator=gen)
        mask = (torch.arange(G.num_ws)[None] >= cut[:, None]).float()[..., None]
        ws = w1 * (1 - mask) + w2 * mask
        imgs = to_uint8(synthesize(G, ws))
    for name, img in zip(names, imgs):
        save_png(img, workdir / name)
    np.save(latents, ws.numpy())
    return ws, names


def load_set(name: str, workdir: Path) -> Target:
    if name == "known":
        ckpt = load_checkpoint(known_model(workdir / "known"))
        assert ckpt.format == "nvidia-pkl", ckpt.format
        G, D = ckpt.generator("cpu"), ckpt.discriminator("cpu")
        true_ws, names = known_targets(G, workdir / "known", KNOWN_COUNT)
        files = [workdir / "known" / n for n in names]
    else:
        G, D = load_checkpoint(BASE).generator("cpu"), load_checkpoint(BASE_D).discriminator("cpu")
        files, true_ws = sorted(list_images(SETS[name]), key=lambda p: p.name), None
        names = [f.name for f in files]
    images = torch.cat([from_uint8(load_image(f, resolution=G.img_resolution, channels=G.img_channels))
                        for f in files])
    w_avg, w_std = wspace.w_stats(G, 10000, 0)
    return Target(G, D, images, names, true_ws, w_avg, w_std)


def true_distance(ws: torch.Tensor, true_ws: torch.Tensor, w_std: float) -> torch.Tensor:
    """mean_i ||w_i - w*_i|| / (sqrt(w_dim) w_std) per latent [N]."""
    return (ws - true_ws).norm(dim=2).mean(dim=1) / (math.sqrt(ws.shape[2]) * w_std)


def run_batch(t: Target, idx: list[int], method: str, steps: int, loss_name: str, encoder) -> list[dict]:
    """Project images ``idx`` of a set with one row's settings; one result dict per image."""
    G, target = t.G, t.images[idx]
    loss = dfeat_loss(t.D) if loss_name == "dfeat" else pixel_fallback_loss()  # 'none': encoder alone, unused
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    if method == "encoder":
        with torch.no_grad():
            ws = encode(encoder, G, target)  # iterative (ReStyle) encoders render with G between passes
        if steps > 0:  # what `project --method encoder` runs (batch.prepare_job): fast settings from the prediction
            settings = dataclasses.replace(settings_for("fast", steps=steps, num_w_samples=0), method="encoder")
            ws = project(G, target, settings, loss, seed=0, init_ws=ws).ws
    else:
        ws = project(G, target, settings_for(method, steps=steps), loss, seed=0).ws
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with torch.no_grad():
        rec = from_uint8(to_uint8(synthesize(G, ws)))
    p, s = psnr(rec, target).tolist(), ssim(rec, target).tolist()
    dist = wspace.distance_from_w(ws, t.w_avg, t.w_std)
    truth = true_distance(ws, t.true_ws[idx], t.w_std).tolist() if t.true_ws is not None else [None] * len(idx)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return [{"psnr": p[k], "ssim": s[k], "row_spread": dist["row_spread"][k],
             "mean_distance": dist["mean_distance"][k], "true_distance": truth[k], "wall_s": wall / len(idx),
             "cpu_s": cpu / len(idx), "batch": len(idx), "load": load, "utc": stamp,
             "threads": torch.get_num_threads()} for k in range(len(idx))]


def key(set_name: str, method: str, steps: int, loss: str, image: str) -> str:
    return f"{set_name}|{method}|{steps}|{loss}|{image}"


def load_cache(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_cache(path: Path, cache: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    tmp.replace(path)


def row_label(method: str, steps: int) -> str:
    return f"encoder + {steps}" if method == "encoder" else f"{method} {steps}"


def table(cache: dict, sets: list[str], rows: list[str], losses: list[str], counts: dict[str, int],
          enc_sha: str | None) -> str:
    out = []
    for set_name in sets:
        known = set_name == "known"
        head = "| method | loss | n | PSNR dB | SSIM |" + (" dist. to truth |" if known else "") + \
            " row spread | mean dist. | CPU s/img | wall s/img | load |"
        out += [f"\n**{set_name}** ({counts.get(set_name, '?')} images)\n", head,
                "|" + "---|" * (head.count("|") - 1)]
        for row in rows:
            method, steps = row.split(":")[0], int(row.split(":")[1])
            for loss in losses:
                recs = [v for k, v in cache.items() if k.startswith(key(set_name, method, steps, loss, ""))
                        and (method != "encoder" or v.get("encoder_sha256") == enc_sha)]
                if not recs:
                    continue
                mean = {f: float(np.mean([r[f] for r in recs])) for f in
                        ("psnr", "ssim", "row_spread", "mean_distance", "wall_s", "cpu_s")}
                loads = [x for r in recs for x in r["load"]]
                n = f"{len(recs)}" + (f" of {counts[set_name]}" if len(recs) < counts.get(set_name, 0) else "")
                cells = [row_label(method, steps), loss, n, f"{mean['psnr']:.2f}", f"{mean['ssim']:.3f}"]
                if known:
                    cells.append(f"{np.mean([r['true_distance'] for r in recs]):.3f}")
                cells += [f"{mean['row_spread']:.3f}", f"{mean['mean_distance']:.3f}", _secs(mean["cpu_s"]),
                          _secs(mean["wall_s"]), f"{min(loads):.1f}-{max(loads):.1f}"]
                out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _secs(x: float) -> str:
    return f"{x:.4f}" if x < 0.1 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {list(SETS)}")
    ap.add_argument("--only", default="", help="row prefixes, e.g. 'encoder' or 'fast:100,nvidia' (default: all)")
    ap.add_argument("--skip", default="", help="row prefixes to leave out")
    ap.add_argument("--losses", default=",".join(LOSSES))
    ap.add_argument("--encoder", default=None, help="encoder file (default: the bundled one)")
    ap.add_argument("--cache", default=str(ROOT / "runs/bench17/results.json"))
    ap.add_argument("--batch", type=int, default=10, help="targets per project() call (and per cache write)")
    ap.add_argument("--limit", default="", help="images per row (the first N by name): 'N' for every row, or "
                    "'ROW=N,...', e.g. 'image2stylegan:1000=5'")
    ap.add_argument("--recompute", action="store_true", help="recompute the selected rows even if cached")
    ap.add_argument("--table-only", action="store_true", help="print the table from the cache; compute nothing")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sets = [s for s in args.sets.split(",") if s]
    losses = [x for x in args.losses.split(",") if x]
    pick = [p for p in args.only.split(",") if p]
    skip = [p for p in args.skip.split(",") if p]
    rows = [r for r in ROWS if (not pick or any(r.startswith(p) for p in pick))
            and not any(r.startswith(p) for p in skip)]
    limits = {k: int(v) for k, v in (item.split("=") if "=" in item else ("*", item)
                                     for item in args.limit.split(",") if item)}
    cache_path = Path(args.cache)
    workdir = cache_path.parent
    cache = load_cache(cache_path)

    from styleblend.models import bundled_encoder_path

    enc_path = Path(args.encoder) if args.encoder else bundled_encoder_path()
    enc_sha = sha256(enc_path) if enc_path is not None else None
    counts, loaded = {}, {}
    for set_name in sets:
        if set_name not in SETS:
            raise SystemExit(f"unknown set {set_name!r}; choose from {list(SETS)}")
        t = loaded[set_name] = load_set(set_name, workdir)
        counts[set_name] = len(t.names)
        if args.table_only:
            continue
        encoder = None
        for row in rows:
            method, steps = row.split(":")[0], int(row.split(":")[1])
            if method == "encoder":
                if enc_path is None:
                    print("no encoder (pass --encoder FILE): encoder rows skipped")
                    continue
                encoder = encoder or load_encoder(enc_path, "cpu").eval()
                encoder.check_generator(t.G, f"encoder '{enc_path}'")
            n = min(limits.get(row, limits.get("*", len(t.names))), len(t.names))
            # The encoder alone does not use a loss: one entry, loss 'none'.
            for loss in (["none"] if (method, steps) == ("encoder", 0) else losses):
                todo = [i for i in range(n) if args.recompute or not _cached(
                    cache, key(set_name, method, steps, loss, t.names[i]), method, enc_sha)]
                for start in range(0, len(todo), args.batch):
                    idx = todo[start:start + args.batch]
                    recs = run_batch(t, idx, method, steps, loss, encoder)
                    fresh = {}
                    for i, rec in zip(idx, recs):
                        if method == "encoder":
                            rec["encoder"], rec["encoder_sha256"] = str(enc_path), enc_sha
                        fresh[key(set_name, method, steps, loss, t.names[i])] = rec
                    cache = {**load_cache(cache_path), **fresh}  # re-read: another run may have written rows
                    save_cache(cache_path, cache)
                    r0 = recs[0]
                    print(f"{set_name} {row_label(method, steps)} {loss}: images {idx[0]}-{idx[-1]} "
                          f"PSNR {np.mean([r['psnr'] for r in recs]):.2f} cpu {r0['cpu_s']:.2f} s/img "
                          f"wall {r0['wall_s']:.2f} s/img load {r0['load']}", flush=True)
    print(f"\nencoder: {enc_path} (sha256 {enc_sha[:12] if enc_sha else '-'}), cache {cache_path}")
    print(table(cache, sets, list(ROWS), list(LOSSES) + ["none"], counts, enc_sha))
    print(done_when(cache, enc_sha))
    if "known" in loaded:
        t = loaded["known"]
        a, b = t.true_ws[0::2], t.true_ws[1::2]
        at_mean = true_distance(t.w_avg.expand_as(t.true_ws), t.true_ws, t.w_std).mean()
        print(f"\nknown set: two independent true latents are {true_distance(a, b, t.w_std).mean():.3f} apart "
              f"(mean of {len(a)} pairs); the mean w is {at_mean:.3f} from the truth")
    return 0


def _records(cache: dict, set_name: str, row: str, loss: str, enc_sha: str | None) -> dict[str, dict]:
    method, steps = row.split(":")[0], int(row.split(":")[1])
    prefix = key(set_name, method, steps, loss, "")
    return {k[len(prefix):]: v for k, v in cache.items() if k.startswith(prefix)
            and (method != "encoder" or v.get("encoder_sha256") == enc_sha)}


def _label(row: str) -> str:
    method, steps = row.split(":")
    return row_label(method, int(steps))


def compare(cache: dict, set_name: str, a: tuple[str, str], b: tuple[str, str], enc_sha: str | None) -> str:
    """Row a against row b, each (row, loss), on the images both have: PSNR, CPU s/img, distance to the truth."""
    ra, rb = _records(cache, set_name, *a, enc_sha), _records(cache, set_name, *b, enc_sha)
    common = sorted(set(ra) & set(rb))
    name_a, name_b = f"{_label(a[0])} ({a[1]})", f"{_label(b[0])} ({b[1]})"
    if not common:
        return f"- {set_name}: {name_a} vs {name_b}: no common images yet"

    def m(recs: dict, f: str) -> float:
        return float(np.mean([recs[i][f] for i in common]))

    text = (f"- {set_name}, {len(common)} images: {name_a} {m(ra, 'psnr'):.2f} dB vs {name_b} {m(rb, 'psnr'):.2f} dB "
            f"({m(ra, 'psnr') - m(rb, 'psnr'):+.2f} dB); CPU s/img {_secs(m(ra, 'cpu_s'))} vs {_secs(m(rb, 'cpu_s'))} "
            f"({m(rb, 'cpu_s') / m(ra, 'cpu_s'):.1f}x)")
    if ra[common[0]].get("true_distance") is not None:
        text += f"; distance to the truth {m(ra, 'true_distance'):.3f} vs {m(rb, 'true_distance'):.3f}"
    return text


def done_when(cache: dict, enc_sha: str | None) -> str:
    """The issue's Done-when comparisons, each on the images both rows have."""
    lines = ["\nDone-when comparisons (each on the images both rows have):"]
    for loss in LOSSES:
        lines.append(compare(cache, "noto", ("encoder:0", "none"), ("fast:100", loss), enc_sha))
        lines.append(compare(cache, "noto", ("encoder:100", loss), ("fast:300", loss), enc_sha))
        lines.append(compare(cache, "known", ("encoder:100", loss), ("fast:100", loss), enc_sha))
        lines.append(compare(cache, "known", ("encoder:50", loss), ("fast:100", loss), enc_sha))
        lines.append(compare(cache, "known", ("encoder:100", loss), ("fast:300", loss), enc_sha))
    return "\n".join(lines)


def _cached(cache: dict, k: str, method: str, enc_sha: str | None) -> bool:
    rec = cache.get(k)
    return rec is not None and (method != "encoder" or rec.get("encoder_sha256") == enc_sha)


if __name__ == "__main__":
    sys.exit(main())
