"""Benchmark: a photo toonified through the bundled blend at once - the web UI's encoder path and
``toonify --steps 0`` (issue 17, item 7 and its Done-when line).

1. The UI: a real ``styleblend ui`` server (the bundled pair, its bundled encoder) on a free port; each
   held-out emoji is uploaded (``POST /api/embed``) and its toonify fetched (``POST /api/toonify``), as the
   page does. Reported per image: the server's time for each request (the embed reply's ``elapsed_ms``, the
   toonify's ``X-Elapsed-Ms``), the encoder's forward pass, and the client's wall time for both requests.
   The refinement job is cancelled before the next photo (``--refine N``: the first N run to the end, and
   their refinement time and stage are reported). The PSNR of the base's reconstruction (photo vs the
   middle cell, rendered again after the timed requests) is reported for what was shown at once and after
   the refinements.
2. The library: :func:`styleblend.project.toonify.toonify` with ``steps=0`` (the encoder's prediction, no
   optimisation) through the swap-16 blend, in one process, every image into its own folder.

``--feature-head`` (alone: the bundled head; or a file): the answer is W+ + the base's 16 px features
(``POST /api/embed?features=1``, ``toonify(feature_head=...)``); without it the page's W+ path
(``features=0``), so both are measured on one installation.

Usage::

    python benchmarks/bench_encoder_ui.py [--images data/emoji/heldout-google] [--refine 2] [--threads 1]
                                          [--feature-head [FILE]] [--head-iterations N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def _post(url: str, body: bytes, ctype: str) -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    with urllib.request.urlopen(req, timeout=120) as res:
        return res.read(), dict(res.headers)


def _summary(name: str, values: list[float]) -> str:
    return (f"{name}: median {statistics.median(values):.1f} ms, mean {statistics.mean(values):.1f}, "
            f"max {max(values):.1f} (n={len(values)})")


def _psnr(session, job: str) -> float:
    """PSNR (dB) of the base's reconstruction against the photo as the model saw it (the toonify's cells)."""
    import numpy as np

    photo, recon, _ = session.toonify_images(job).astype(np.float64)
    mse = float(np.mean((photo - recon) ** 2))
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))


def bench_ui(images: list[Path], refine: int, feature_head: str | None, head_iterations: int | None = None) -> None:
    from styleblend.ui.server import UIServer
    from styleblend.ui.service import open_session

    # 'bundled': the session's own choice (the bundled head with the bundled encoder).
    session = open_session(feature_head=None if feature_head in (None, "bundled") else feature_head)
    info = session.info()
    print(f"UI: base {info['base']}; {info['encoder_note']}; {info['feature_head_note']}")
    features = "1" if feature_head is not None else "0"
    if features == "1" and info["feature_head"] is None:
        sys.exit("--feature-head: the session has no feature head for its encoder")
    if head_iterations is not None and features == "1":
        import dataclasses

        head = session.photo.feature_head.head
        head.cfg = dataclasses.replace(head.cfg, encoder_iterations=head_iterations)
        print(f"  the head's config set to encoder_iterations={head_iterations} in memory (the file is unchanged)")
    server = UIServer(session, "127.0.0.1", 0)
    thread = server.start_thread()
    embed_ms, toon_ms, enc_ms, wall_ms, psnr, refined_psnr = [], [], [], [], [], []
    try:
        for i, path in enumerate(images):
            t0 = time.perf_counter()
            body, _ = _post(f"{server.url}api/embed?filename={path.name}&features={features}", path.read_bytes(),
                            "application/octet-stream")
            reply = json.loads(body)
            _, headers = _post(f"{server.url}api/toonify", json.dumps({"job": reply["job"]}).encode(),
                               "application/json")
            wall_ms.append(1000 * (time.perf_counter() - t0))
            assert reply["status"]["has_result"] and headers["X-Embedding-Stage"] == "encoder", (reply, headers)
            if i == 0:
                print(f"  shown: {headers['X-Embedding-Latent']}")
            embed_ms.append(reply["elapsed_ms"])
            enc_ms.append(reply["status"]["info"]["encoder_ms"])
            toon_ms.append(float(headers["X-Elapsed-Ms"]))
            psnr.append(_psnr(session, reply["job"]))
            if i < refine:
                status = session.jobs.wait(reply["job"], 600)
                shown = session.toonify_result(reply["job"])[1]
                refined_psnr.append(_psnr(session, reply["job"]))
                print(f"  {path.name}: refinement {status['state']} after {status['seconds']:.1f} s "
                      f"({status['done']} steps), now showing {shown['stage']} ({shown['latent']}): PSNR "
                      f"{psnr[-1]:.2f} -> {refined_psnr[-1]:.2f} dB")
            else:
                session.cancel(reply["job"])
                session.jobs.wait(reply["job"], 60)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        session.close()
    print(_summary("  POST /api/embed, server time", embed_ms))
    print(_summary("    of which the encoder's forward pass", enc_ms))
    print(_summary("  POST /api/toonify (encoder result), server time", toon_ms))
    print(_summary("  both requests, client wall time", wall_ms))
    both = [a + b for a, b in zip(embed_ms, toon_ms)]
    print(_summary("  both requests, server time", both))
    print(f"  reconstruction shown at once: PSNR mean {statistics.mean(psnr):.2f} dB")
    if refined_psnr:
        print(f"  after the refinement ({len(refined_psnr)} images): PSNR mean {statistics.mean(refined_psnr):.2f} dB "
              f"(the same images at once: {statistics.mean(psnr[:len(refined_psnr)]):.2f} dB)")


def bench_toonify(images: list[Path], feature_head: str | None) -> None:
    from styleblend.blend.model import blend_checkpoints
    from styleblend.blend.schedules import Swap
    from styleblend.io import save_checkpoint
    from styleblend.models import bundled_checkpoint, bundled_path
    from styleblend.project.toonify import toonify

    folder = Path(tempfile.mkdtemp(prefix="bench-toonify-"))
    blend, _ = blend_checkpoints(bundled_checkpoint("base"), [bundled_checkpoint("transfer")], Swap(16))
    blend_path = save_checkpoint(blend, folder / "blend16.safetensors")
    totals, psnr = [], []
    for i, path in enumerate(images):
        t0 = time.perf_counter()
        result = toonify(bundled_path("base"), [blend_path], path, folder / f"t{i}", align=False, steps=0,
                         feature_head=feature_head)
        totals.append(1000 * (time.perf_counter() - t0))
        psnr.append(result.metrics["reconstruction"]["psnr"])
    print(f"toonify(steps=0, feature_head={feature_head}) through swap:16, one process: first image "
          f"{totals[0]:.0f} ms")
    print(_summary("  later images", totals[1:]) if len(totals) > 1 else "")
    print(f"  reconstruction PSNR mean {statistics.mean(psnr):.2f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=HERE.parent / "data" / "emoji" / "heldout-google")
    parser.add_argument("--refine", type=int, default=0, help="let the first N refinements run to the end")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (styleblend ui's default: 1)")
    parser.add_argument("--feature-head", nargs="?", const="bundled", default=None, metavar="FILE",
                        help="W+ + features: the bundled feature head (no value) or this file; default W+ only")
    parser.add_argument("--head-iterations", type=int, default=None, metavar="N",
                        help="with --feature-head, UI only: run the W+ encoder's N passes under the head, as a head "
                             "file whose config says encoder_iterations=N would (set in memory)")
    parser.add_argument("--skip-ui", action="store_true")
    parser.add_argument("--skip-toonify", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    images = sorted(args.images.glob("*.png"))
    if not images:
        sys.exit(f"no PNG images in {args.images}")
    print(f"{len(images)} images from {args.images}; {args.threads} torch thread(s); "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    if not args.skip_ui:
        bench_ui(images, args.refine, args.feature_head, args.head_iterations)
    if not args.skip_toonify:
        bench_toonify(images, args.feature_head)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
