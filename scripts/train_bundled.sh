#!/usr/bin/env bash
# Reproduce the bundled emoji model pair (GitHub issue 4): a 64x64 base model on Google/Noto emoji,
# then its transfer to Twemoji. CPU only; on a 2-core machine the base run makes roughly
# 35-60 kimg per hour, so this is meant to run in the background for hours.
#
# Data (scripts/fetch_emoji_data.py, scripts/make_emoji_datasets.py): data/emoji/google-64.zip and
# data/emoji/twitter-64.zip, 933 training images each (20 held out).
#
# Choices:
#  * emoji64 preset: z = w = 128, 2 mapping layers, G channel_base 2048 / channel_max 64 (~0.43 M
#    parameters), D channel_base 1024 / channel_max 64 (~0.30 M).
#  * batch 32, R1 gamma 0.1 (small images), EMA half-life 10 kimg with the 0.05 ramp-up.
#  * --threads 1: on a 2-core machine shared with other jobs, two OpenMP threads per process
#    oversubscribe the cores and one step became ~5x slower than with one thread (measured).
#  * --mirror: emoji are left-right symmetric enough, and it doubles the data.
#  * --aug ada (target 0.6): p starts at 0 and only rises when D starts to overfit, so it costs
#    nothing early on, while 933 images over hundreds of kimg is exactly the regime where ADA's
#    paper shows D overfitting; the augment pipeline adds little compute next to G and D.
#
#  * NPROC=2 runs the same training as two processes (torchrun, gloo DDP, one thread each): every
#    random number is drawn for the whole batch and the passes' gradients are added in a fixed order,
#    so with the same --batch-gpu 1 and 2 processes give bit-identical runs (tests/train/
#    test_distributed.py). Every command below therefore passes --batch-gpu 16 (two passes of 16 in
#    one process, one pass per process with two), so NPROC=1 and NPROC=2 give the same run bit for
#    bit. A different --batch-gpu draws the same numbers but rounds differently, which training
#    amplifies into a slightly different run of the same kind. On this 2-core
#    machine 2 processes made ~87 kimg/h against ~62 for one (when nothing else ran). The base ran
#    single-process up to 132 kimg, then with NPROC=2; those kimg (and everything before the first
#    resume with the current code) used an older draw order that depended on the process count.
#
# Usage: [NPROC=2] scripts/train_bundled.sh base | transfer [BASE_SNAPSHOT] | transfer-fluent3d [BASE_SNAPSHOT]
#        | resume-base | resume-transfer | resume-fluent3d | widen-base | resume-control | resume-wide
#        | branch-lr0005 | resume-lr0005 | branch-recipes | resume-adafast | resume-smallrecipe
#        | transfers-b380 | resume-transfer-b380 | resume-fluent3d-b380
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src
export OMP_NUM_THREADS=1
NPROC=${NPROC:-1}

styleblend_train() {
  if [ "$NPROC" -gt 1 ]; then
    torchrun --standalone --nproc_per_node "$NPROC" -m styleblend.cli.main train "$@"
  else
    python3 -m styleblend.cli.main train "$@"
  fi
}

case "${1:-}" in
  base)
    mkdir -p runs/base-emoji64
    styleblend_train \
      --data data/emoji/google-64.zip --outdir runs/base-emoji64 \
      --cfg emoji64 --batch 32 --mirror --aug ada --target 0.6 --gamma 0.1 --ema-kimg 10 \
      --snap 4 --tick 1 --keep-every 10 --kimg 1000 --seed 0 --threads 1 --batch-gpu 16
    # The run was started detached so that it outlives the shell:
    #   nohup setsid scripts/train_bundled.sh base > runs/base-emoji64/stdout.log 2>&1 < /dev/null &
    ;;
  transfer)
    # Fine-tune one exact base snapshot on Twemoji (G, G_ema and D start from it); default: the newest
    # snapshot of the base run. The bundled pair records which one (runs/bundle/, docs/bundled-models.md).
    # lr 0.002 as StyleGAN2-ADA's transfer runs; --freeze-d 0 (try 4-6 if D overfits fast).
    base=${2:-$(ls runs/base-emoji64/network-snapshot-*.safetensors | sort | tail -n 1)}
    out=${OUT:-runs/twemoji64}  # OUT=DIR: another run directory (e.g. a transfer from another base snapshot)
    mkdir -p "$out"
    styleblend_train \
      --resume "$base" --data data/emoji/twitter-64.zip --outdir "$out" \
      --lr 0.002 --mirror --batch 32 --aug ada --target 0.6 --gamma 0.1 --ema-kimg 10 \
      --snap 4 --tick 1 --keep-every 10 --kimg 200 --seed 0 --threads 1 --batch-gpu 16
    ;;
  transfer-fluent3d)
    # The third style (Microsoft Fluent Emoji 3D, data/emoji/fluent3d-64.zip), fine-tuned exactly like the
    # Twemoji transfer from one exact base snapshot, so the three models blend (N-model schedules).
    base=${2:-$(ls runs/base-emoji64/network-snapshot-*.safetensors | sort | tail -n 1)}
    out=${OUT:-runs/fluent3d64}
    mkdir -p "$out"
    styleblend_train \
      --resume "$base" --data data/emoji/fluent3d-64.zip --outdir "$out" \
      --lr 0.002 --mirror --batch 32 --aug ada --target 0.6 --gamma 0.1 --ema-kimg 10 \
      --snap 4 --tick 1 --keep-every 10 --kimg 200 --seed 0 --threads 1 --batch-gpu 16
    ;;
  resume-base)
    # Continue the base run exactly where its last snapshot left it (options come from the run;
    # --kimg may extend it).
    styleblend_train --resume-run runs/base-emoji64 --threads 1 --batch-gpu 16
    ;;
  widen-base)
    # The capacity experiment of issue 15 (docs/bundled-models.md, "More generator capacity"): from the base
    # state, a control (an exact copy: channel values unchanged; only snapshots every 2 kimg, all kept) and a
    # candidate whose G is widened to 128 channels at 4-16 px (channel_max 128; 64 at 32 px and 32 at 64 px as
    # before), function-preserving (scripts/widen_run.py, styleblend.train.widen). D is not changed.
    python3 scripts/widen_run.py runs/base-emoji64 runs/base-control --channel-base 2048 --channel-max 64 \
      --snap 2 --keep-every 0
    python3 scripts/widen_run.py runs/base-emoji64 runs/wide-lowres128 --channel-base 2048 --channel-max 128 \
      --snap 2 --keep-every 0
    # Both then ran at the same time, detached, one thread each:
    #   nohup setsid scripts/train_bundled.sh resume-control > runs/base-control/stdout.log 2>&1 < /dev/null &
    #   nohup setsid scripts/train_bundled.sh resume-wide > runs/wide-lowres128/stdout.log 2>&1 < /dev/null &
    ;;
  resume-control)
    styleblend_train --resume-run runs/base-control --threads 1 --batch-gpu 16
    ;;
  resume-wide)
    styleblend_train --resume-run runs/wide-lowres128 --threads 1 --batch-gpu 16
    ;;
  branch-lr0005)
    # The control's state with G's and D's learning rate lowered from 0.0025 to 0.0005 (late-training decay;
    # issue 15: SWD rose at lr 0.0025 from 320 kimg on, in both capacity runs).
    python3 scripts/branch_run.py runs/base-control runs/base-lr0005 --lr 0.0005
    ;;
  resume-lr0005)
    styleblend_train --resume-run runs/base-lr0005 --threads 1 --batch-gpu 16
    ;;
  branch-recipes)
    # Two branches of the lr-0.0005 state at 364 kimg (issue 15, session 8): D overfits ahead of ADA there
    # (E[sign D(real)] 0.68 against the target 0.6, p still rising by 0.06 per 140 kimg), so
    #  * adafast: ADA adjusts p 5x faster (ada_kimg 500 -> 100);
    #  * smallrecipe: the same, and no path-length or style-mixing regularisation, as StyleGAN2-ADA's
    #    small-model CIFAR-10 configuration (Karras et al. 2020, App. D).
    # Every snapshot kept (keep_last 100). Both ran at the same time, one process and thread each:
    #   nohup setsid scripts/train_bundled.sh resume-adafast > runs/base-adafast/stdout.log 2>&1 < /dev/null &
    python3 scripts/branch_run.py runs/base-lr0005 runs/base-adafast --set ada_kimg=100 --set keep_last=100
    python3 scripts/branch_run.py runs/base-lr0005 runs/base-smallrecipe --set ada_kimg=100 --set pl_weight=0 \
      --set style_mixing_prob=0 --set keep_last=100
    ;;
  resume-adafast)
    styleblend_train --resume-run runs/base-adafast --threads 1 --batch-gpu 16
    ;;
  resume-smallrecipe)
    styleblend_train --resume-run runs/base-smallrecipe --threads 1 --batch-gpu 16
    ;;
  transfers-b380)
    # Session 8 (issue 15): both styles fine-tuned from exactly the small-recipe branch's 380-kimg snapshot (SWD
    # 30.3 against the shipped base's 35.7), as two detached one-process runs:
    #   OUT=runs/twemoji64-b380 nohup setsid scripts/train_bundled.sh transfer runs/base-smallrecipe/network-snapshot-000380.safetensors ...
    #   OUT=runs/fluent3d64-b380 nohup setsid scripts/train_bundled.sh transfer-fluent3d runs/base-smallrecipe/network-snapshot-000380.safetensors ...
    echo "see the comment above: two OUT=... commands" >&2
    ;;
  resume-transfer-b380)
    styleblend_train --resume-run runs/twemoji64-b380 --threads 1 --batch-gpu 16
    ;;
  resume-fluent3d-b380)
    styleblend_train --resume-run runs/fluent3d64-b380 --threads 1 --batch-gpu 16
    ;;
  resume-transfer)
    styleblend_train --resume-run runs/twemoji64 --threads 1 --batch-gpu 16
    ;;
  resume-fluent3d)
    styleblend_train --resume-run runs/fluent3d64 --threads 1 --batch-gpu 16
    # Session 9 ran it from 44 to 124 kimg as NPROC=2; the bundled third style is its 72-kimg snapshot, kept as
    # runs/bundle/fluent3d-072.safetensors and exported with
    #   python3 scripts/bundle_models.py --third runs/bundle/fluent3d-072.safetensors
    ;;
  *)
    echo "usage: $0 base | transfer [BASE_SNAPSHOT] | transfer-fluent3d [BASE_SNAPSHOT] | resume-base | resume-transfer | resume-fluent3d | widen-base | resume-control | resume-wide
#        | branch-lr0005 | resume-lr0005 | branch-recipes | resume-adafast | resume-smallrecipe | transfers-b380 | resume-transfer-b380 | resume-fluent3d-b380" >&2
    exit 2
    ;;
esac
