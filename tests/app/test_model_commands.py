"""reconstruct / evaluate with trained bundles, as a user runs them: real scans, outputs on disk, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from conftest import REPO, shared_file
from test_cli import run

from nir_core.models.point_udf import PointUDFConfig
from nir_core.train import TrainConfig, train

BUNDLE = REPO / "assets" / "models" / "pt-geometry"
SAMPLE = REPO / "assets" / "samples" / "room_00001_scan.ply"


@pytest.fixture(scope="module")
def labelled_bundle(tmp_path_factory):
    """A tiny jointly trained bundle (predicts ScanNet-20) — two steps, enough to exercise the label paths."""
    tmp = tmp_path_factory.mktemp("joint")
    model = {"encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4,
                         "out_features": 8},
             "udf": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
             "semantic": {"hidden": [16], "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
             "num_classes": 20}
    cfg = TrainConfig(task="joint", model=PointUDFConfig.from_json(model), steps=2, batch_size=1, out=str(tmp / "run"),
                      val_every=0)
    cfg.data.count, cfg.data.val_count = 2, 1
    cfg.data.sampling.num_input, cfg.data.sampling.num_queries = 256, 512
    return train(cfg, progress=False)


@pytest.mark.slow
def test_batch_reconstruct_skips_a_corrupt_file_and_resumes(capsys, tmp_path):
    room = shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")
    corrupt = tmp_path / "corrupt.ply"
    corrupt.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\nproperty float x\nend_header\n\x00")
    out = tmp_path / "out"
    args = ["reconstruct", str(SAMPLE.with_name("room_00001_mesh.ply")), str(room), str(corrupt), "--out", str(out),
            "--model", str(BUNDLE), "--resolution", "32", "--format", "glb,ply,npz"]
    code, stdout, err = run(capsys, *args)
    assert code == 1, err  # one input failed, the others finished
    assert "corrupt.ply" in err and "failed" in stdout and stdout.count("done") == 2
    for name in ("room_00001_mesh", "scene0003_00_vert"):
        report = json.loads((out / f"{name}.json").read_text())
        assert set(report["timings_s"]) >= {"load", "encode", "extract", "export"}
        assert report["mesh_unit_cube"]["faces"] > 100 and report["model_bytes"] > 1_000_000
        assert all(Path(p).exists() for p in report["outputs"]) and len(report["outputs"]) == 3
        mesh = trimesh.load(out / f"{name}.ply", process=False)
        assert len(mesh.faces) == report["mesh_unit_cube"]["faces"]
    metrics = json.loads((out / "room_00001_mesh.json").read_text())["metrics_vs_input_mesh"]  # it has faces
    assert 0.0 < metrics["f1_2delta"] <= 1.0
    assert not (out / "corrupt.json").exists() and not list(out.glob("*.tmp*"))
    # The same command again: the done inputs are skipped, the bad one fails again.
    code, stdout, err = run(capsys, *args)
    assert code == 1 and stdout.count("skipped") == 2


@pytest.mark.slow
def test_batch_reconstruct_shards_split_the_inputs(capsys, tmp_path):
    from app.batch import expand_inputs, output_names

    samples = sorted((REPO / "assets" / "samples").glob("*_scan.ply"))
    assert output_names(expand_inputs([REPO / "assets" / "samples" / "*_scan.ply"])) == [p.stem for p in samples]
    out = tmp_path / "out"
    for i in (0, 1):
        code, _, err = run(capsys, "reconstruct", str(REPO / "assets" / "samples" / "*_scan.ply"), "--out", str(out),
                           "--model", str(BUNDLE), "--resolution", "32", "--format", "ply", "--shard", f"{i}/2")
        assert code == 0, err
        assert len(list(out.glob("*.json"))) == i + 1


@pytest.mark.slow
def test_evaluate_writes_protocol_metrics_for_a_real_scannet_room(capsys, tmp_path):
    room = shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")
    out = tmp_path / "metrics.json"
    code, _, err = run(capsys, "evaluate", str(BUNDLE), str(room), "--rooms", "1", "--resolution", "64",
                       "--out", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    scannet, generated = result["scenes"]
    assert scannet["scene"] == str(room) and generated["scene"] == "room_100000"
    for row in (scannet, generated):
        assert 0.2 < row["f1_delta"] <= 1.0 and 0 < row["cd_l1"] < 0.05 and row["faces"] > 1000
        assert "miou" not in row  # a geometry-only bundle: its semantic head was never trained
        # The trained field is near zero on the true surface (unit cube; a 256³ cell is 0.0039).
        assert 0 <= row["udf_at_gt"]["median"] <= row["udf_at_gt"]["p90"] < 0.01 and row["surface_level"] < 0.005
        bands = row["recall_by_input_distance"]
        assert [b["band"] for b in bands] == ["0-1 δ", "1-2 δ", "2-4 δ", ">4 δ"]
        assert sum(b["share"] for b in bands) == pytest.approx(1.0)
    assert result["mean"]["f1_delta"] == pytest.approx((scannet["f1_delta"] + generated["f1_delta"]) / 2)
    assert result["protocol"]["resolution"] == 64 and "room_100000" in err


@pytest.mark.slow
def test_evaluate_scores_the_semantic_head_on_labelled_scenes():
    from nir_core.data.io import load
    from nir_core.metrics import mean_iou
    from nir_core.models.registry import from_bundle
    from nir_core.protocol import EvalConfig, evaluate, prepare

    model = from_bundle(BUNDLE)  # its semantic head is untrained: only the plumbing is checked here
    cfg = EvalConfig(resolution=64)
    scene = prepare(load(shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")), "scene0003_00", cfg)
    assert scene.gt_labels is not None and len(scene.gt_labels) == len(scene.gt_points) == 50_000
    (row,) = evaluate(model, [scene], cfg)["scenes"]
    assert 0.0 <= row["miou"] <= 1.0 and 0.0 <= row["mf1_delta"] <= 1.0 and len(row["iou_per_class"]) == 20
    # The labelling apart from the mesh: the head queried at the ground-truth points themselves.
    with torch.no_grad():
        field = model.field(torch.from_numpy(scene.input_points))
        at_gt = field.semantics(torch.from_numpy(scene.gt_points.astype(np.float32))).argmax(-1).numpy()
    assert row["miou_at_gt"] == pytest.approx(mean_iou(at_gt, scene.gt_labels, 20)["miou"])


def test_bad_model_inputs_give_one_clear_line(capsys, tmp_path, labelled_bundle):
    three = tmp_path / "three.xyz"
    three.write_text("0 0 0\n1 0 0\n0 1 0\n")
    cases = [
        (["reconstruct", str(SAMPLE), "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "a")],
         "no such bundle"),
        (["reconstruct", str(tmp_path / "nothing-*.ply"), "--out", str(tmp_path / "b")], "matches no file"),
        (["evaluate", str(BUNDLE), str(three)], "3 point"),
        (["evaluate", str(labelled_bundle), str(shared_file("shapenetpart_pointtree_7cls", "Car.txt"))],
         "the model predicts scannet20"),
        (["train", "--preset", "pt-frozen", f"init_from={labelled_bundle}", "architecture=ndf",
          f"--out={tmp_path / 'x'}"], "holds a 'point_udf' model"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_reconstruct_asked_for_labels_by_a_geometry_bundle_fails_clearly(capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = run(capsys, "reconstruct", str(SAMPLE), "--model", str(BUNDLE), "--out", str(out), "--labels")
    assert code == 2 and "no trained semantic head" in err and not out.exists()


@pytest.mark.slow
def test_labelled_reconstruction_writes_a_ply_with_labels_and_a_coloured_glb(tmp_path):
    from nir_core.data.io import load, save_scan
    from nir_core.data.labels import SCANNET20
    from nir_core.data.scan import Scan
    from nir_core.pipeline import LoadedModel, Pipeline, PipelineConfig, load_model

    # The geometry bundle's semantic head is untrained: labels are arbitrary, the plumbing is real.
    model = LoadedModel(**{**vars(load_model(BUNDLE)), "label_set": SCANNET20})
    result = Pipeline(PipelineConfig(resolution=32, labels=True), model).run(load(SAMPLE))
    mesh, rep, labels = result.mesh, result.report, result.vertex_labels
    assert (mesh.vertex_attributes["label"] == labels).all()
    assert labels.shape == (len(mesh.vertices),) and labels.min() >= 0 and labels.max() < 20
    assert set(rep["legend"]) <= set(SCANNET20.names) and all(c.startswith("#") for c in rep["legend"].values())
    assert sum(rep["label_histogram"]["mesh_vertices"].values()) == len(labels)
    scan = Scan(points=mesh.vertices.astype("float32"), mesh=mesh, labels=labels, label_set=SCANNET20,
                colors=SCANNET20.colorize(labels))
    ply, glb = save_scan(scan, tmp_path / "room.ply"), save_scan(scan, tmp_path / "room.glb")
    back = load(ply)
    assert (back.labels == labels).all() and back.label_set.name == "scannet20"
    coloured = load(glb)  # the GLB's COLOR_0, which the project's loader reads beside the material
    assert len(coloured.points) == len(np.unique(mesh.vertices, axis=0))  # the loader welds coincident vertices
    colour_at = {tuple(p): tuple(c) for p, c in zip(mesh.vertices.astype("float32"), SCANNET20.colorize(labels))}
    assert all(colour_at[tuple(p)] == tuple(c) for p, c in zip(coloured.points, coloured.colors))


@pytest.mark.slow
def test_finetune_context_on_labelled_scannet_rooms(capsys, tmp_path):
    room = shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")
    run_dir = tmp_path / "ctx"
    code, out, err = run(capsys, "finetune-context", str(BUNDLE), str(room), "--out", str(run_dir), "--steps", "2",
                         "--val", str(room), "data.sampling.num_input=2048", "data.sampling.num_queries=1024",
                         "val_every=0", "checkpoint_every=1")
    assert code == 0, err
    from nir_core.bundle import ModelBundle

    bundle = ModelBundle.load(run_dir / "bundle")
    assert bundle.training["config"]["task"] == "context" and bundle.label_set["name"] == "scannet20"
    assert bundle.model_config["context"]["context_features"] == 4
    assert "val_miou_near" in bundle.training["final"]


def test_finetune_context_refuses_unlabelled_data_and_other_architectures(capsys, tmp_path):
    bunny = shared_file("classic_meshes", "bunny_watertight_3485v.off")
    code, _, err = run(capsys, "finetune-context", str(BUNDLE), str(bunny), "--out", str(tmp_path / "a"))
    assert code == 2 and "has no labels" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_batch_of_ten_with_one_corrupt_killed_halfway_resumes_without_redoing(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    rooms = [shared_file("scannet_votenet_50k", f"scene000{i}_00_vert.npy") for i in range(1, 8)]
    corrupt = tmp_path / "broken_scan.ply"
    corrupt.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nend_header\n1\n")
    inputs = [SAMPLE, SAMPLE.with_name("room_00004_scan.ply"), *rooms, corrupt]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "app.cli", "reconstruct", *map(str, inputs), "--out", str(out), "--model",
               str(BUNDLE), "--resolution", "32", "--format", "ply"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and len(list(out.glob("*.json"))) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 0 < len(first) < 9, "the batch was not killed halfway"
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1  # the corrupt file
    assert "broken_scan.ply" in done.stderr and "failed" in done.stdout
    reports = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert len(reports) == 9 and len(list(out.glob("*.ply"))) == 9
    assert all(reports[name] == mtime for name, mtime in first.items())  # finished inputs were not redone
    assert done.stdout.count("skipped") == len(first)


@pytest.mark.slow
def test_reconstruct_labels_every_input_point_and_scores_them_against_the_inputs_labels(capsys, tmp_path):
    from nir_core.data.io import load

    labelled = REPO / "assets" / "models" / "pt-context"
    code, _, err = run(capsys, "reconstruct", str(SAMPLE), "--model", str(labelled), "--out", str(tmp_path),
                       "--resolution", "32")
    assert code == 0, err
    report = json.loads((tmp_path / "room_00001_scan.json").read_text())
    points = load(tmp_path / "room_00001_scan.points.ply")
    source = load(SAMPLE)
    assert np.allclose(points.points, source.points, atol=1e-5) and points.labels.shape == (len(source),)
    assert sum(report["label_histogram"]["input_points"].values()) == len(source)
    scores = report["labels_vs_input"]
    known = source.labels >= 0  # unlabelled points are not scored
    assert scores["accuracy"] == pytest.approx(float((points.labels[known] == source.labels[known]).mean()), abs=1e-6)
    assert 0 <= scores["miou"] <= 1


def test_reconstruct_refines_when_asked_and_reports_it(capsys, tmp_path):
    code, _, err = run(capsys, "reconstruct", str(SAMPLE), "--model", str(BUNDLE), "--out", str(tmp_path),
                       "--resolution", "32", "--refine", "4", "--format", "ply")
    assert code == 0, err
    report = json.loads((tmp_path / "room_00001_scan.json").read_text())
    assert report["refine"]["steps"] == 4 and report["refine"]["stopped"] == "steps"
    assert report["timings_s"]["refine"] > 0 and report["encoded_points"] == 10_000
    code, _, err = run(capsys, "reconstruct", str(SAMPLE), "--model", str(BUNDLE), "--out", str(tmp_path / "x"),
                       "--refine-seconds", "-1")
    assert code == 2 and "refine_seconds" in err
