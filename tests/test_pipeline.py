"""The pipeline (exact fields and trained models, the model registry) and ``nir-studio extract`` on real files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_file

from app.cli import main
from nir_core.data.io import load
from nir_core.pipeline import Pipeline, PipelineConfig


def test_pipeline_meshes_a_garment_in_its_own_coordinates():
    scan = load(shared_file("open_surfaces_mgn_garments", "Pants1.obj"))
    stages = []
    result = Pipeline(PipelineConfig(resolution=64, score=False), on_stage=stages.append).run(scan)
    mesh, report = result.mesh, result.report
    assert stages == ["normalise", "field", "extract", "cleanup"] and result.vertex_labels is None
    lo, hi = scan.bounds()
    cell = (hi - lo).max() / 64
    assert (mesh.vertices.min(axis=0) >= lo - cell).all() and (mesh.vertices.max(axis=0) <= hi + cell).all()
    stats = report["mesh_unit_cube"]
    assert stats["components"] == 1 and stats["boundary_loops"] >= 3  # waist and two legs stay open
    assert abs(mesh.area / scan.mesh.area - 1) < 0.05
    assert report["extraction"]["dense_fraction"] < 0.5 and not report["notes"]


def test_bad_job_settings_are_refused():
    with pytest.raises(ValueError, match="unknown extraction method"):
        PipelineConfig(method="poisson")
    with pytest.raises(ValueError, match="resolution"):
        PipelineConfig(resolution=2)


def test_cli_extract_writes_mesh_and_report(tmp_path, capsys):
    out, report = tmp_path / "pants.ply", tmp_path / "pants.json"
    with pytest.raises(SystemExit) as code:
        main(["extract", str(shared_file("open_surfaces_mgn_garments", "Pants1.obj")), "-o", str(out),
              "--resolution", "64", "--report", str(report)])
    assert code.value.code == 0
    mesh = load(out, require_faces=True)
    assert len(mesh.mesh.faces) > 1000 and np.isfinite(mesh.points).all()
    assert json.loads(report.read_text())["mesh_unit_cube"]["faces"] == len(mesh.mesh.faces)
    assert "wrote" in capsys.readouterr().out


def test_cli_extract_refuses_an_unknown_output_type(tmp_path, capsys):
    with pytest.raises(SystemExit) as code:
        main(["extract", str(shared_file("classic_meshes", "spot.obj")), "-o", str(tmp_path / "x.xyz")])
    assert code.value.code == 2 and "x.xyz" in capsys.readouterr().err
    assert not (tmp_path / "x.xyz").exists()


@pytest.mark.slow
def test_cli_extract_meshes_a_trained_models_field(tmp_path, capsys):
    from conftest import REPO

    out = tmp_path / "room.ply"
    with pytest.raises(SystemExit) as code:
        main(["extract", str(REPO / "assets" / "samples" / "room_00001_scan.ply"), "-o", str(out), "--resolution", "64",
              "--model", str(REPO / "assets" / "models" / "pt-geometry")])
    assert code.value.code == 0, capsys.readouterr().err
    assert len(load(out, require_faces=True).mesh.faces) > 1000


def test_load_model_picks_the_loader_by_format(tmp_path):
    from conftest import REPO

    from nir_core.errors import NIRStudioError
    from nir_core.pipeline import load_model, loaders

    assert [lo.name for lo in loaders()][-1] == "bundle" and "nirz" in [lo.name for lo in loaders()]
    loaded = load_model(REPO / "assets" / "models" / "pt-context")
    assert loaded.format == "bundle" and loaded.can_label and loaded.predicts == ("distance", "labels")
    assert loaded.size_bytes == sum(f.stat().st_size for f in (REPO / "assets" / "models" / "pt-context").iterdir())
    geometry = load_model(REPO / "assets" / "models" / "pt-geometry")
    assert not geometry.can_label and geometry.predicts == ("distance",)
    with pytest.raises(NIRStudioError, match="cannot label"):
        Pipeline(PipelineConfig(labels=True), geometry)
    broken = tmp_path / "broken.nirz"
    broken.write_bytes(b"not a model")
    with pytest.raises(NIRStudioError, match="broken.nirz"):
        load_model(broken)


@pytest.mark.slow
def test_a_labelled_model_labels_every_vertex_and_scores_against_the_input():
    from conftest import REPO

    from nir_core.pipeline import load_model

    scan = load(REPO / "assets" / "samples" / "room_00001_mesh.ply")
    stages = []
    result = Pipeline(PipelineConfig(resolution=32), load_model(REPO / "assets" / "models" / "pt-context"),
                      on_stage=stages.append).run(scan)
    assert stages == ["normalise", "encode", "extract", "cleanup", "label", "score"]
    assert result.vertex_labels.shape == (len(result.mesh.vertices),)
    assert (result.mesh.vertex_attributes["label"] == result.vertex_labels).all()
    assert sum(result.report["label_histogram"]["mesh_vertices"].values()) == len(result.mesh.vertices)
    assert 0 < result.report["metrics_vs_input_mesh"]["f1_delta"] <= 1
    assert set(result.report["timings_s"]) == set(stages)


@pytest.mark.slow
@pytest.mark.parametrize("sample", ["room_00001_scan.ply", "room_00004_scan.ply"])
def test_reconstructions_of_the_bundled_samples_are_manifold_with_one_winding_per_piece(sample):
    from conftest import REPO

    from nir_core.pipeline import load_model

    scan = load(REPO / "assets" / "samples" / sample)
    report = Pipeline(PipelineConfig(resolution=128), load_model(REPO / "assets" / "models" / "pt-geometry")
                      ).run(scan).report
    stats = report["mesh_unit_cube"]
    assert stats["faces"] > 10_000
    assert stats["non_manifold_edges"] == 0 and stats["inconsistent_edges"] == 0
    assert report["cleanup"]["after"] == {k: stats[k] for k in report["cleanup"]["after"]}
    assert "two closest to parallel" in report["cleanup"]["rule"]


def test_a_dense_scan_is_encoded_in_several_draws_and_answered_from_all():
    import torch

    from nir_core.models.point_udf import PointUDFConfig, PointUDFModel

    torch.manual_seed(0)
    model = PointUDFModel(PointUDFConfig.from_json({
        "encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
        "udf": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}}, "num_classes": 0})).eval()
    scan = load(shared_file("scannet_votenet_50k", "scene0004_00_vert.npy"))
    cfg = dict(resolution=32, num_input=2000, labels=False, score=False)
    report = Pipeline(PipelineConfig(**cfg, draws=3), model).run(scan).report
    assert report["encoded_points"] == 6000
    assert Pipeline(PipelineConfig(**cfg, draws=1), model).run(scan).report["encoded_points"] == 2000
    # Draws are encoded one by one and joined; a single draw is the plain encoding.
    draws = [torch.rand(500, 3) - 0.5, torch.rand(700, 3) - 0.5]
    joined = model.field(draws).encoding
    assert joined.points.shape == (1, 1200, 3) and joined.features.shape[1] == 1200
    assert torch.equal(joined.features[:, :500], model.field(draws[0]).encoding.features)
