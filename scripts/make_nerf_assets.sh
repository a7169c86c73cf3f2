#!/usr/bin/env bash
# Rebuilds assets/nerfs/toy: the project's toy scene (rendered with pyrender) and radiance fields trained on it, float
# and quantisation-aware at 3 bits with every quantiser, which the web UI's Compare NeRFs tab offers by default.
# Resumable: re-run after an interruption and each training continues where it stopped. `make nerf-assets` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
STEPS=${STEPS:-1500}
DEST=assets/nerfs/toy
WORK=${WORK:-out/nerf-assets}

[ -f "$DEST/scene/transforms_train.json" ] || "$BIN/nir-studio" nerf make-scene "$DEST/scene" --size 64
mkdir -p "$WORK"
"$BIN/nir-studio" nerf train "$DEST/scene" --out "$WORK/float32" --steps "$STEPS" val_views=0 batch_rays=512 lr=2e-3 lr_final=1e-4
rm -rf "$DEST/float32.tmp" && cp -r "$WORK/float32/bundle" "$DEST/float32.tmp"
rm -rf "$DEST/float32" && mv "$DEST/float32.tmp" "$DEST/float32"
for q in kmeans distributional minmax explicit; do
  "$BIN/nir-studio" nerf train "$DEST/scene" --out "$WORK/$q-3-bits" --steps "$STEPS" --quantiser "$q" --bits 3 val_views=0 batch_rays=512 lr=2e-3 lr_final=1e-4
  cp "$WORK/$q-3-bits/model.nirz" "$DEST/$q-3-bits.nirz"
done
"$BIN/nir-studio" nerf eval "$DEST/float32" --json > "$WORK/float32.json"
for q in kmeans distributional minmax explicit; do
  "$BIN/nir-studio" nerf eval "$DEST/$q-3-bits.nirz" --json > "$WORK/$q-3-bits.json"
done
echo "[nerf-assets] written to $DEST; scores in $WORK/*.json"
