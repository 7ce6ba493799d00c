#!/usr/bin/env python3
"""Build the two emoji training zips from the images fetched by ``fetch_emoji_data.py``.

Writes ``<cache>/google-64.zip`` and ``<cache>/twitter-64.zip`` (64 px, alpha composited
on white, NVIDIA dataset_tool layout) from ``<cache>/google`` and ``<cache>/twitter``.

Usage::

    python3 scripts/fetch_emoji_data.py
    python3 scripts/make_emoji_datasets.py [--cache-dir data/emoji]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))  # run from a checkout without installing

from styleblend.errors import StyleblendError  # noqa: E402
from styleblend.train.dataset_tool import make_dataset  # noqa: E402

STYLES = ("google", "twitter")
RESOLUTION = 64
WHITE = (255, 255, 255)


def main(argv: list[str] | None = None) -> int:
    """Build both zips; return the process exit code."""
    parser = argparse.ArgumentParser(description="Build the emoji training zips.")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / "data" / "emoji", help="folder of fetch_emoji_data.py")
    args = parser.parse_args(argv)
    for style in STYLES:
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
