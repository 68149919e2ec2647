#!/usr/bin/env bash
# ISBI 2012 EM membrane recipe: unet_padding trained on slices 0-21 (random
# 128x128 patches, flips/rotations/shifts), validated on 22-24 for the best
# checkpoint, and evaluated whole (tiled, 256x256 tiles) on the held-out slices
# 25-29: pixel error (1 - accuracy), Dice of the cell interiors, IoU, AUC, HD95
# and cell counts. About 20-30 minutes on 2 CPU cores with the defaults.
#
# Usage (from anywhere):
#   bash train_scripts/recipes/isbi.sh
# Settings are environment variables, e.g. a smoke test:
#   EPOCHS=1 STEPS=2 PATCH=32 MODEL_KWARGS='{"depth": 2, "filters": 4}' \
#   OUT=/tmp/isbi bash train_scripts/recipes/isbi.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_ROOT=${DATA_ROOT:-../shared/data/isbi2012_membrane}
OUT=${OUT:-runs/isbi}
EPOCHS=${EPOCHS:-20}
STEPS=${STEPS:-60}
BATCH=${BATCH:-8}
PATCH=${PATCH:-128}
LR=${LR:-2e-3}
MODEL_KWARGS=${MODEL_KWARGS:-'{"depth": 4, "filters": 16}'}
EVAL_TILE=${EVAL_TILE:-256}
HOLDOUT=${HOLDOUT:-25-29}
VAL=${VAL:-22-24}
EXTRA=${EXTRA:-}

# shellcheck disable=SC2086  # EXTRA holds several options
python -m train_scripts.train_unet --model unet_padding \
    --model-kwargs "$MODEL_KWARGS" \
    --dataset isbi --data-root "$DATA_ROOT" \
    --holdout-images "$HOLDOUT" --val-images "$VAL" \
    --patch-size "$PATCH" --batch-size "$BATCH" \
    --epochs "$EPOCHS" --steps-per-epoch "$STEPS" \
    --loss bce_dice --optimizer adam --lr "$LR" --schedule cosine \
    --eval-tile-size "$EVAL_TILE" --seed 0 --out "$OUT" $EXTRA

python -m train_scripts.evaluate --checkpoint "$OUT/best.h5" \
    --dataset isbi --data-root "$DATA_ROOT" --images "$HOLDOUT" \
    --tile-size "$EVAL_TILE" --out "$OUT/test_eval"

python - "$OUT/test_eval/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(
    f"ISBI held-out slices ({m['n_images']}): pixel error {m['pixel_error']:.4f}, "
    f"Dice {m['dice']:.4f}, IoU {m['iou']:.4f}, AUC {m['auc']:.4f}"
)
PY
