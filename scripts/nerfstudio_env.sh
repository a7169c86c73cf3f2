#!/usr/bin/env bash
# Creates .venv-nerfstudio: nerfstudio 1.1.5 with the nir-kmeans-nerf method (integrations/nerfstudio).
# nerfstudio needs torch 2.14.1 + torchvision 0.29.1 (CUDA builds of several GB that run on the CPU), which
# cannot live beside the main environment's torch 2.13, hence a venv of its own. `make nerfstudio-env` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${NS_VENV:-.venv-nerfstudio}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[nerfstudio-env] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip setuptools wheel
# torch and torchvision first, pinned, so that nerfstudio's looser requirements install nothing newer.
"${PIP[@]}" install "torch==2.14.1" "torchvision==0.29.1"
"${PIP[@]}" install "nerfstudio==1.1.5" "torch==2.14.1" "torchvision==0.29.1"
# NIR Studio's quantisers and codec without its apps (no gradio, no open3d GUI): only what compress/ imports.
"${PIP[@]}" install --no-deps -e .
"${PIP[@]}" install "safetensors>=0.4" "kmeans1d>=0.3" "constriction>=0.4" "pytorch-msssim>=1.0" "imageio>=2.30" \
  "scipy>=1.10" "trimesh>=4.0" "typer>=0.12" "rich>=13" "tqdm>=4.60" "torch==2.14.1"
"${PIP[@]}" install --no-deps -e integrations/nerfstudio
touch "$VENV/.nir-nerfstudio-installed"
echo "[nerfstudio-env] ready: $VENV (ns-train nir-kmeans-nerf --help)"
