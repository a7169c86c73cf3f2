"""The demo job on the bundled samples: outputs exist, parse, and map back to the input's coordinates."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from app.demo import default_inputs, run_demo
from nir_core.data.io import load
from nir_core.data.sampling import SamplingConfig


def test_bundled_samples_exist_and_load():
    inputs = default_inputs()
    assert len(inputs) == 2
    for path in inputs:
        scan = load(path)
        assert len(scan) == 10_000 and scan.label_set.name == "scannet20"
        assert load(path.with_name(path.name.replace("_scan", "_mesh")), require_faces=True).has_faces


@pytest.mark.slow
def test_demo_writes_reports_previews_and_samples(tmp_path):
    cfg = SamplingConfig(num_surface=2_000, num_queries=5_000)
    reports = run_demo(None, tmp_path, console=Console(file=open(tmp_path / "log.txt", "w")), cfg=cfg, resolution=32)
    assert len(reports) == 2
    for path in default_inputs():
        report = json.loads((tmp_path / f"{path.stem}_report.json").read_text())
        assert report["sampling"]["queries"] == 5_000
        assert set(report["timings_s"]) >= {"load", "normalise", "sample", "write"}
        # The scan is partial: it covers some but not all of the true surface.
        assert 0.05 < report["scan_vs_ground_truth"]["recall"] < 0.95
        preview = load(tmp_path / f"{path.stem}_preview.ply")
        original = load(path)
        np.testing.assert_allclose(preview.points, original.points, atol=1e-4)  # back in input coordinates
        np.testing.assert_array_equal(preview.labels, original.labels)
        with np.load(tmp_path / f"{path.stem}_samples.npz") as z:
            assert z["queries"].shape == (5_000, 3) and (z["distances"] >= 0).all()
            assert np.abs(z["surface"]).max() <= 0.5 + 1e-5
    assert json.loads((tmp_path / "summary.json").read_text())["reports"]
    for report in reports:  # each sample reconstructed with the bundled model, in its own frame
        assert report["reconstruction"]["status"] == "done", report["reconstruction"]
        assert all(Path(p).exists() for p in report["reconstruction"]["outputs"])
