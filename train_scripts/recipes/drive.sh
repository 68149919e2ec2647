#!/usr/bin/env bash
# DRIVE retinal-vessel recipe: SA-UNet on 64x64 patches of training images 21-36,
# threshold chosen on training images 33-36, whole-image F1/AUC inside the FOV on
# the held-out images 37-40. 100 epochs in mixed bfloat16: 54 minutes on 2 CPU cores
# with AVX-512 BF16/AMX (no GPU needed) while tests shared them. PRECISION=auto picks
# mixed_bfloat16 on such a CPU, mixed_float16 on a GPU and float32 on a CPU without
# bfloat16 instructions, where bfloat16 is emulated (about 10x slower than float32).
#
# Usage (from anywhere):
#   bash train_scripts/recipes/drive.sh
# Options are passed on to the recipe, e.g. a smoke test:
#   OUT=/tmp/drive bash train_scripts/recipes/drive.sh --epochs 1 --steps 2 --filters 4
# See `python -m train_scripts.recipes.drive --help` for all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_ROOT=${DATA_ROOT:-../shared/data/drive}
OUT=${OUT:-runs/drive}
PRECISION=${PRECISION:-auto}

python -m train_scripts.recipes.drive --data-root "$DATA_ROOT" --out "$OUT" \
    --precision "$PRECISION" "$@"
