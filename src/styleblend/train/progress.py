"""Progress reporting of a training run: a tqdm bar on stderr and a JSONL log.

``log.jsonl`` gets one JSON object per tick: kimg, mean losses, R1 and path-length penalties,
the augmentation probability, kimg/s and wall time. Lines are appended and flushed, so the file
is readable while training runs and survives an interruption. A resumed run first cuts the log
back to the step it resumes from (:func:`truncate_log`), so no kimg is logged twice.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..io.atomic import write_bytes_atomic


def truncate_log(path: Path, step: int) -> int:
    """Keep only the records of ``path`` (JSONL) up to training step ``step``; returns how many were dropped.

    Records after the resumed state were written by the interrupted run and will be logged again;
    a torn last line (killed mid-write) is dropped too. ``step`` 0 empties the log. A missing
    file is left missing.
    """
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            keep = isinstance(record, dict) and int(record.get("step", step + 1)) <= step
        except (ValueError, TypeError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += int(bool(line.strip()))
    if dropped:
        write_bytes_atomic(path, "".join(x + "\n" for x in kept).encode("utf-8"))
    return dropped


class StatAverager:
    """Running sums of named scalars between two ticks."""

    def __init__(self) -> None:
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def add(self, stats: dict[str, float]) -> None:
        for key, value in stats.items():
            if math.isfinite(value):
                self._sum[key] += value
                self._count[key] += 1

    def means(self) -> dict[str, float]:
        return {k: self._sum[k] / self._count[k] for k in sorted(self._sum) if self._count[k]}

    def reset(self) -> None:
        self._sum.clear()
        self._count.clear()


class ProgressReporter:
    """A kimg progress bar and the JSONL log of one run (main process only).

    Args:
        log_path: JSONL file to append to (None: no log).
        total_kimg: length of the run, for the bar and the ETA.
        start_kimg: where this (possibly resumed) run starts.
        show_bar: draw the tqdm bar on stderr.
        elapsed: seconds the run had already trained before (a resumed run keeps counting).
    """

    def __init__(self, log_path: Path | None, total_kimg: float, start_kimg: float = 0.0,
                 show_bar: bool = True, elapsed: float = 0.0) -> None:
        self.log_path = log_path
        self.start_time = time.time() - elapsed
        self.start_kimg = start_kimg
        self._last_kimg = start_kimg
        self.bar = None
        if show_bar:
            digits = 1 if total_kimg >= 10 else 3  # short runs (tests, --kimg 0.5) need the decimals
            self.bar = tqdm(total=round(total_kimg, 3), initial=round(start_kimg, 3), unit="kimg", file=sys.stderr,
                            dynamic_ncols=True, mininterval=2.0, smoothing=0.05,
                            bar_format=f"{{l_bar}}{{bar}}| {{n:.{digits}f}}/{{total:.{digits}f}} kimg "
                                       "[{elapsed}<{remaining}, {rate_noinv_fmt}]{postfix}")

    def update(self, kimg: float, postfix: dict[str, Any] | None = None) -> None:
        """Advance the bar to ``kimg`` (and show a few current numbers)."""
        if self.bar is not None:
            self.bar.update(round(kimg - self._last_kimg, 3))
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
        self._last_kimg = kimg

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON record (adds 'time' = training seconds so far, across resumes)."""
        record = {**record, "time": round(time.time() - self.start_time, 2)}
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()

    @property
    def elapsed(self) -> float:
        """Training seconds so far, including those before a resume."""
        return time.time() - self.start_time

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
