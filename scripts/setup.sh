#!/usr/bin/env bash
# Creates .venv with everything NIR Studio needs. Idempotent: `make` only calls this when
# pyproject.toml or constraints.txt changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# open3d needs libusb; its offscreen renderer and GUI need Vulkan/Mesa, EGL and GL;
# xvfb and chromium drive the desktop viewer and the web UI in tests.
APT_PACKAGES=(libusb-1.0-0 libgomp1 libvulkan1 mesa-vulkan-drivers libegl1 libgl1 libglib2.0-0 xvfb chromium)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] not root: please run"
    echo "    sudo apt-get install -y ${missing[*]}"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip setuptools wheel
# torch first, pinned: anything looser lets pip pull a multi-GB CUDA build.
"${PIP[@]}" install "torch==2.13.0"
"${PIP[@]}" install -c constraints.txt -e ".[dev]"
# torchvision breaks torch 2.13 here; some dependency must never bring it in.
if "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
  echo "[setup] removing torchvision from $VENV (it breaks torch 2.13)"
  "${PIP[@]}" uninstall -y torchvision
fi
touch "$VENV/.nir-studio-installed"
echo "[setup] environment ready: $VENV"
