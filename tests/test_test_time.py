"""Test-time refinement: the fit lowers the loss on the scan, leaves the loaded model alone, honours its limits,
and is refused where there is nothing to fit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file

from app.batch import default_model
from nir_core.data.ground_truth import SurfelsField
from nir_core.data.io import load
from nir_core.data.sampling import SamplingConfig, sample_queries
from nir_core.data.scan import Scan
from nir_core.errors import NIRStudioError
from nir_core.models.point_udf import PointUDFConfig, PointUDFModel
from nir_core.pipeline import Pipeline, PipelineConfig, load_model
from nir_core.test_time import RefineConfig, refine_to_scan

TINY = {"encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
        "udf": {"hidden": [16], "chunk_size": 4096, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
        "num_classes": 0}


@pytest.fixture(scope="module")
def room():
    """A real ScanNet room, 4,000 of its points, normalised."""
    scan = load(shared_file("scannet_votenet_50k", "scene0001_00_vert.npy"))
    return scan.subset(np.random.default_rng(0).permutation(len(scan))[:4000]).normalised()


def _model():
    torch.manual_seed(0)
    return PointUDFModel(PointUDFConfig.from_json(TINY)).eval()


def _error_near_the_scan(model, encoded, room) -> float:
    """Mean |predicted - scan's own distance| at queries 0.003 from the scan's points."""
    queries = sample_queries(room.points, SamplingConfig(num_queries=5000, sigmas=(0.003,), ratios=(1.0,)), 7)
    truth = SurfelsField(room.points).udf_np(queries)
    with torch.no_grad():
        predicted = model.field(encoded).udf(torch.from_numpy(queries)).numpy()
    return float(np.abs(np.minimum(predicted, 0.1) - np.minimum(truth, 0.1)).mean())


def test_refinement_fits_the_scan_and_leaves_the_model_alone(room):
    model = load_model(default_model()).model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    encoded = torch.from_numpy(room.points[:1000].astype(np.float32))
    cfg = RefineConfig(steps=30, lr=1e-3, queries_per_step=4096, pool=20_000)
    fitted, report = refine_to_scan(model, encoded, room, cfg)
    assert report.steps == 30 and report.scan_points == 4000 and report.parts == ("udf",)
    assert report.check_best <= report.check_first and 0 <= report.best_step <= 30
    assert _error_near_the_scan(fitted, encoded, room) < 0.8 * _error_near_the_scan(model, encoded, room)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the loaded model is untouched
    changed = {k for k, v in fitted.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith("parts.udf.") for k in changed)  # only the UDF head moved
    assert not any(p.requires_grad for p in fitted.parameters()) and not fitted.training


def test_refinement_stops_at_its_time_limit_or_when_the_check_stops_improving(room):
    encoded = torch.from_numpy(room.points[:1000].astype(np.float32))
    _, report = refine_to_scan(_model(), encoded, room, RefineConfig(seconds=0.5, pool=5_000, holdout=0))
    assert report.steps > 0 and report.seconds < 5 and report.stopped == "seconds"
    assert report.check_first is None and report.best_step is None
    # A head that does not move (learning rate 0) never improves its check: the fit stops after `patience` checks.
    _, report = refine_to_scan(_model(), encoded, room, RefineConfig(steps=10**6, lr=0.0, pool=5_000, check_every=2,
                                                                     patience=2))
    assert report.stopped == "patience" and report.steps == 4 and report.best_step == 0


def test_pipeline_refines_when_asked_and_reports_it(room):
    stages, progress = [], []
    cfg = PipelineConfig(resolution=32, num_input=1000, labels=False, score=False, refine_steps=5)
    result = Pipeline(cfg, _model(), on_stage=stages.append,
                      on_progress=lambda *a: progress.append(a)).run(Scan(points=room.points))
    assert stages[:4] == ["normalise", "encode", "refine", "extract"]
    assert result.report["refine"]["steps"] == 5 and progress[-1][:3] == ("refine", 5, 5)


def test_refinement_without_a_model_is_refused():
    with pytest.raises(NIRStudioError, match="without a model .* nothing to fit"):
        Pipeline(PipelineConfig(refine_seconds=10))


def test_refinement_settings_are_checked():
    with pytest.raises(ValueError, match="a step limit, a time limit"):
        refine_to_scan(None, torch.zeros(10, 3), None, RefineConfig())
    with pytest.raises(ValueError, match="refine parts"):
        RefineConfig(parts=("semantic",))
    with pytest.raises(ValueError, match="refine_steps"):
        PipelineConfig(refine_steps=-1)
