"""The nir-kmeans-nerf method in nerfstudio's own environment (.venv-nerfstudio, `make nerfstudio-env`): trains for a
few iterations on the shared lego, exports a .nirz there, and the main environment renders it. Skipped where that
environment was not built (CI does not build its 8 GB)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, shared_file

NS_VENV = REPO / ".venv-nerfstudio" / "bin"

pytestmark = [pytest.mark.nerfstudio, pytest.mark.slow,
              pytest.mark.skipif(not (NS_VENV / "ns-train").exists(), reason="no .venv-nerfstudio (make nerfstudio-env)")]


def test_ns_train_exports_a_nirz_that_nir_studio_renders(tmp_path):
    lego = shared_file("nerf_synthetic_lego_200", "transforms_train.json").parent
    train = [str(NS_VENV / "ns-train"), "nir-kmeans-nerf", "--data", str(lego), "--machine.device-type", "cpu",
             "--max-num-iterations", "3", "--steps-per-save", "3", "--output-dir", str(tmp_path / "ns"),
             "--timestamp", "run", "--pipeline.model.bits", "4"]
    done = subprocess.run(train, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "ns" / lego.name / "nir-kmeans-nerf" / "run"
    assert (run / "config.yml").exists()
    nirz = tmp_path / "lego.nirz"
    export = [str(NS_VENV / "nir-ns-export"), str(run), "--data", str(lego), "--downscale", "4", "-o", str(nirz)]
    done = subprocess.run(export, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 0 < nirz.stat().st_size < 16 * 1024
    render = [sys.executable, "-m", "app.cli", "nerf", "eval", str(nirz), "--views", "1", "--json"]
    done = subprocess.run(render, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert len(result["views"]) == 1 and result["views"][0]["psnr"] > 5  # renders the scene (3 steps: not yet well)
    from compress.codec import read

    bundle = read(nirz)
    assert bundle.training["method"] == "nir-kmeans-nerf" and bundle.extra["nirz"]["coded_sizes"]
    assert bundle.extra["nirz"]["config"]["quantiser"] == "kmeans" and bundle.extra["nirz"]["config"]["bits"] == 4


def test_export_refuses_a_folder_without_checkpoints(tmp_path):
    done = subprocess.run([str(NS_VENV / "nir-ns-export"), str(tmp_path), "--data", str(tmp_path), "-o",
                           str(tmp_path / "x.nirz")], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no nerfstudio_models/step-*.ckpt" in done.stderr
    assert not (tmp_path / "x.nirz").exists() and Path(tmp_path).exists()
