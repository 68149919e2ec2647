#!/usr/bin/env bash
# Decathlon Task04 hippocampus recipe: a 3D U-Net (8 base filters, softmax over
# background / anterior / posterior) on random 40x56x40 crops of 160 training cases,
# checkpoint chosen on 20 validation cases, Dice and HD95 (mm) per label reported on
# 20 held-out cases (split by case, seed 0). Two stages: 30 epochs at 2e-3 (a
# 55-minute safety stop), then 12 epochs at 5e-4 from the best stage-1 weights.
# About 40 minutes on 2 quiet CPU cores (70 on a shared machine).
#
# Usage (from anywhere):
#   bash train_scripts/recipes/hippocampus.sh
# Options are passed on to both stages, e.g. a smoke test:
#   OUT=/tmp/hippo bash train_scripts/recipes/hippocampus.sh --limit 8 --n-val 2 \
#       --n-holdout 2 --filters 2 --epochs 1 --steps 1
# See `python -m train_scripts.recipes.hippocampus --help` for all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_ROOT=${DATA_ROOT:-../shared/data/msd_hippocampus}
OUT=${OUT:-runs/hippocampus}

python -m train_scripts.recipes.hippocampus --data-root "$DATA_ROOT" --out "$OUT" "$@"
python -m train_scripts.recipes.hippocampus --data-root "$DATA_ROOT" --out "${OUT}_ft" \
    --init-from "$OUT/best.h5" --lr 5e-4 --epochs 12 --minutes 24 "$@"
