#!/usr/bin/env bash
# The passes that filled runs/bench17/results.json for docs/projection.md, most needed first, so that a run
# stopped at any point leaves balanced rows (each pass covers the first N images, by name, of its rows; a later
# pass with a larger N only adds the missing images; cached images are skipped). From the repository root:
#   nohup setsid bash benchmarks/bench_projection_passes.sh > runs/bench17/run.log 2>&1 &
set -euo pipefail
export OMP_NUM_THREADS=1 PYTHONPATH=src
B="python benchmarks/bench_projection.py --threads 1 --batch 5"
CORE=fast,encoder
$B --sets noto,openmoji,known --only encoder:0 --limit 20
$B --sets noto,known --only $CORE --losses pixel --limit 5
$B --sets noto,known --only $CORE --losses dfeat --limit 5
$B --sets noto --only image2stylegan:300,nvidia --losses pixel,dfeat --limit 3
$B --sets openmoji --only $CORE --losses pixel --limit 5
$B --sets noto --only image2stylegan:1000 --losses pixel,dfeat --limit 2
# what the 2-hour budget of 2026-12-01 (2 busy cores, load 9-11) did not reach: every row on every set, then more images
$B --sets known --only image2stylegan:300,nvidia --losses pixel,dfeat --limit 3
$B --sets openmoji --only $CORE --losses dfeat --limit 5
$B --sets openmoji --only image2stylegan:300,nvidia --losses pixel,dfeat --limit 3
$B --sets known,openmoji --only image2stylegan:1000 --losses pixel,dfeat --limit 2
$B --sets noto,known,openmoji --only $CORE --losses pixel,dfeat --limit 10
$B --sets noto,known,openmoji --only $CORE,image2stylegan:300,nvidia --losses pixel,dfeat --limit 20
$B --sets noto,known,openmoji --losses pixel,dfeat --limit 20
