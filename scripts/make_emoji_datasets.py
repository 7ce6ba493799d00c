#!/usr/bin/env python3
"""Build the emoji training zips from the images fetched by ``fetch_emoji_data.py``.

Writes ``<cache>/<style>-64.zip`` (64 px, alpha composited on white, NVIDIA dataset_tool
layout) from ``<cache>/<style>/`` for each training style: ``google``, ``twitter`` and
``fluent3d`` (OpenMoji is held out only and gets no zip).

Usage::

    python3 scripts/fetch_emoji_data.py
    python3 scripts/make_emoji_datasets.py [--cache-dir data/emoji] [--styles google,twitter,fluent3d]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))  # run from a checkout without installing

from styleblend.errors import StyleblendError  # noqa: E402
from styleblend.train.dataset_tool import make_dataset  # noqa: E402

STYLES = ("google", "twitter", "fluent3d")
RESOLUTION = 64
WHITE = (255, 255, 255)


def main(argv: list[str] | None = None) -> int:
    """Build the zips; return the process exit code."""
    parser = argparse.ArgumentParser(description="Build the emoji training zips.")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / "data" / "emoji",
                        help="folder of fetch_emoji_data.py")
    parser.add_argument(
        "--styles", default=",".join(STYLES), help="comma-separated styles to build (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    styles = [name.strip() for name in args.styles.split(",") if name.strip()]
    unknown = [name for name in styles if name not in STYLES]
    if unknown:
        parser.error(f"--styles: unknown style(s) {unknown}; known: {','.join(STYLES)}")
    for style in styles:
        source = args.cache_dir / style
        out = args.cache_dir / f"{style}-{RESOLUTION}.zip"
        try:
            report = make_dataset(source, out, RESOLUTION, background=WHITE)
        except StyleblendError as exc:
            print(f"error: {exc} (run scripts/fetch_emoji_data.py first)", file=sys.stderr)
            return 1
        print(f"{style}: wrote {report.written} images to {report.out}, skipped {len(report.skipped)}")
        for name in report.skipped:
            print(f"  skipped {name}: {report.reasons.get(name, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
