#!/usr/bin/env bash
# Decathlon Task04 hippocampus recipe: a 3D U-Net (8 base filters, softmax over
# background / anterior / posterior) on random 40x56x40 crops of 160 training cases,
# checkpoint chosen on 20 validation cases, Dice and HD95 (mm) per label reported on
# 20 held-out cases (split by case, seed 0). About 50 minutes on 2 CPU cores.
#
# Usage (from anywhere):
#   bash train_scripts/recipes/hippocampus.sh
# Options are passed on to the recipe, e.g. a smoke test:
#   OUT=/tmp/hippo bash train_scripts/recipes/hippocampus.sh --limit 8 --n-val 2 \
#       --n-holdout 2 --filters 2 --epochs 1 --steps 1
# See `python -m train_scripts.recipes.hippocampus --help` for all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_ROOT=${DATA_ROOT:-../shared/data/msd_hippocampus}
OUT=${OUT:-runs/hippocampus}

python -m train_scripts.recipes.hippocampus --data-root "$DATA_ROOT" --out "$OUT" "$@"
