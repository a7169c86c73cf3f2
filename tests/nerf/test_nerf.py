"""The radiance field: rays, compositing, sampling, training with exact resume, the quantised file and the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_file

from nir_core.data.views import load_views
from nir_core.inr.layers import positional_encoding
from nir_core.nerf.model import NeRF, NeRFConfig
from nir_core.nerf.rays import camera_rays, distort, to_ndc, undistort
from nir_core.nerf.render import composite, importance, stratified
from nir_core.nerf.train import NerfTrainConfig, train_nerf

TINY = {"model": {"depth": 2, "width": 16, "position_frequencies": 4, "direction_frequencies": 2},
        "render": {"samples": 8}, "downscale": 4, "batch_rays": 128, "val_views": 1}


def tiny_config(tmp_path, **over) -> NerfTrainConfig:
    data = shared_file("tiny_nerf_lego_100", "tiny_nerf_data.npz")
    return NerfTrainConfig.from_json({**TINY, "data": str(data), "out": str(tmp_path / "run"), **over})


def test_undistort_inverts_the_opencv_model():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.6, 0.6, 100), rng.uniform(-0.6, 0.6, 100)
    k = np.array([0.05, -0.01, 0.001, -0.002])
    ux, uy = undistort(*distort(x, y, k), k)
    assert np.allclose(ux, x, atol=1e-6) and np.allclose(uy, y, atol=1e-6)


def test_the_centre_ray_looks_down_the_cameras_minus_z_and_ndc_maps_the_near_plane_to_minus_one():
    pose = np.eye(4, dtype=np.float32)
    pose[:3, 3] = [1, 2, 3]
    rays = camera_rays(pose, np.array([50.0, 50.0, 5.0, 5.0]), 10, 10)
    centre = rays.directions.reshape(10, 10, 3)[4:6, 4:6].mean((0, 1))
    assert torch.allclose(centre, torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    assert torch.allclose(rays.origins[0], torch.tensor([1.0, 2.0, 3.0]))
    o, d = to_ndc(torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, -1.0]]), 10, 10, 50.0)
    assert torch.allclose(o, torch.tensor([[0.0, 0.0, -1.0]])) and d[0, 2] > 0


def test_compositing_an_opaque_sample_and_an_empty_ray():
    t = torch.tensor([[2.0, 3.0, 4.0]])
    colours = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]])
    opaque, _ = composite(colours, torch.tensor([[0.0, 1e4, 0.0]]), t, torch.ones(1), white_background=True)
    assert torch.allclose(opaque.rgb, torch.tensor([[0.0, 1.0, 0.0]]), atol=1e-4) and opaque.depth.item() == pytest.approx(3)
    empty, _ = composite(colours, torch.zeros(1, 3), t, torch.ones(1), white_background=True)
    assert torch.allclose(empty.rgb, torch.ones(1, 3)) and empty.opacity.item() == 0


def test_samples_stay_in_bounds_and_importance_samples_go_where_the_weight_is():
    g = torch.Generator().manual_seed(0)
    t = stratified(2.0, 6.0, 5, 16, True, g)
    assert (t >= 2).all() and (t <= 6).all() and (t.diff(dim=-1) > 0).all()
    weights = torch.zeros(5, 16)
    weights[:, 8] = 1.0
    extra = importance(t, weights, 32, False, None)
    assert ((extra - t[:, 8:9]).abs() < 0.4).float().mean() > 0.9


def test_positional_encoding_and_the_network_shapes():
    x = torch.rand(7, 3)
    assert positional_encoding(x, 10).shape == (7, 63) and torch.equal(positional_encoding(x, 0), x)
    points, directions = torch.rand(7, 5, 3), torch.nn.functional.normalize(torch.rand(7, 3), dim=-1)
    for cfg in (NeRFConfig(activation="sine"), NeRFConfig(feature_layer=False), NeRFConfig(view_dependent=False)):
        rgb, sigma = NeRF(cfg)(points, directions)
        assert rgb.shape == (7, 5, 3) and sigma.shape == (7, 5)
        assert (sigma >= 0).all() and ((rgb >= 0) & (rgb <= 1)).all()
    with pytest.raises(ValueError, match="unknown activation"):
        NeRFConfig(activation="tanh")


def test_the_head_without_a_feature_layer_is_one_layer_over_position_and_direction():
    """Its direction part runs once per ray: the result must be the single layer over every sample's concatenated
    (trunk output, encoded direction), as in nerfstudio's NeRFField."""
    model = NeRF(NeRFConfig(feature_layer=False))
    points, directions = torch.rand(4, 6, 3), torch.nn.functional.normalize(torch.rand(4, 3) - 0.5, dim=-1)
    rgb, _ = model(points, directions)
    h = model.trunk(positional_encoding(points.reshape(-1, 3), 10))
    d = positional_encoding(directions, 4).repeat_interleave(6, 0)
    weight = torch.cat([model.view_position.weight, model.view_direction.weight], 1)
    head = torch.relu(torch.nn.functional.linear(torch.cat([h, d], -1), weight, model.view_position.bias))
    assert torch.allclose(rgb.reshape(-1, 3), torch.sigmoid(model.colour(head)), atol=1e-6)


@pytest.mark.slow
def test_training_learns_and_resumes_exactly(tmp_path):
    settings = dict(checkpoint_every=20, val_every=0, lr=2e-3, lr_final=2e-3)
    straight = train_nerf(tiny_config(tmp_path / "a", steps=60, **settings), progress=False)
    log = [json.loads(line)["loss"] for line in (tmp_path / "a" / "run" / "log.jsonl").read_text().splitlines()]
    assert np.mean(log[-10:]) < 0.8 * np.mean(log[:10])
    train_nerf(tiny_config(tmp_path / "b", steps=40, **settings), progress=False)
    resumed = train_nerf(tiny_config(tmp_path / "b", steps=60, **settings), progress=False)
    from nir_core.bundle import ModelBundle

    a, b = ModelBundle.load(straight).state, ModelBundle.load(resumed).state
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "run" / "val").is_dir()  # the final validation render


@pytest.mark.slow
def test_a_quantised_run_writes_a_small_nirz_that_renders(tmp_path):
    from compress.config import CompressConfig
    from compress.nerf import load_nerf, train_quantised

    cfg = tiny_config(tmp_path, steps=20, checkpoint_every=10, val_every=0)
    report = train_quantised(cfg, CompressConfig(quantiser="kmeans", bits=3), repartition_every=5, progress=False)
    assert report["file_bytes"] < report["float32_bytes"] / 2  # a tiny network: the header is most of the file
    assert set(report["coded_sizes"]) >= {"bzip2"}
    model, bundle = load_nerf(report["file"])
    # Every weight of the file takes one of 2^3 values.
    assert all(len(torch.unique(w)) <= 8 for k, w in bundle.state.items() if k.endswith("weight"))
    views = load_views(cfg.data, "test", cfg.downscale)
    from nir_core.nerf.train import render_view

    image, metrics = render_view(model, views, 0, cfg.render)
    assert image.shape == (25, 25, 3) and metrics["psnr"] > 5
    # The scan commands refuse it with a hint instead of failing to build it.
    from nir_core.errors import NIRStudioError
    from nir_core.pipeline import load_model

    with pytest.raises(NIRStudioError, match="holds a radiance field"):
        load_model(report["file"])


@pytest.mark.slow
def test_cli_trains_renders_and_scores(tmp_path, capsys):
    from app.cli import main

    data = shared_file("tiny_nerf_lego_100", "tiny_nerf_data.npz")
    run = tmp_path / "run"
    args = ["nerf", "train", str(data), "-o", str(run), "--steps", "10", "--downscale", "4", "--quantiser", "kmeans",
            "--bits", "4", "model.width=16", "model.depth=2", "render.samples=8", "batch_rays=128", "val_every=0"]
    with pytest.raises(SystemExit) as code:
        main(args)
    assert code.value.code == 0 and "model.nirz" in capsys.readouterr().out
    with pytest.raises(SystemExit) as code:
        main(["nerf", "render", str(run / "model.nirz"), "-o", str(tmp_path / "r"), "--views", "2", "--turntable", "3"])
    assert code.value.code == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert len(metrics["views"]) == 2 and metrics["file_bytes"] > 0
    assert (tmp_path / "r" / "turntable.gif").stat().st_size > 0 and (tmp_path / "r" / "test_000.png").exists()
    with pytest.raises(SystemExit) as code:
        main(["nerf", "train", str(tmp_path), "-o", str(tmp_path / "bad")])
    assert code.value.code == 2 and "is not a NeRF dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_the_compare_nerfs_job_renders_both_sides_beside_the_ground_truth(tmp_path):
    from app.web.nerf_compare import run_nerf_comparison
    from compress.config import CompressConfig
    from compress.nerf import train_quantised
    from nir_core.errors import NIRStudioError

    float_run = train_quantised(tiny_config(tmp_path / "f", steps=10, val_every=0), None, progress=False)
    quantised = train_quantised(tiny_config(tmp_path / "q", steps=10, val_every=0),
                                CompressConfig(quantiser="kmeans", bits=2), progress=False)
    work = tmp_path / "work"
    work.mkdir()
    result = run_nerf_comparison(Path(float_run["bundle"]), Path(quantised["file"]), 2, None, "test", work)
    assert all(p.exists() for p in result["images"].values()) and len(result["images"]) == 4
    from PIL import Image

    difference = np.asarray(Image.open(result["images"]["difference"]))
    assert difference.shape == (25, 25, 3) and difference.max() > 0  # two different networks differ somewhere
    summary = result["summary"]
    assert summary["right: model.nirz"]["size_bytes"] < summary["left: bundle"]["size_bytes"]
    assert "psnr" in summary["left: bundle"] and summary["PSNR between the two renderings"] > 0
    with pytest.raises(ValueError, match="not in the test split"):
        run_nerf_comparison(Path(float_run["bundle"]), Path(quantised["file"]), 99, None, "test", work)
    with pytest.raises(NIRStudioError, match="not a NeRF dataset"):
        run_nerf_comparison(Path(float_run["bundle"]), Path(quantised["file"]), 0, tmp_path, "test", work)


def test_web_refuses_a_nerf_that_is_not_there(tmp_path, capsys):
    from app.cli import main

    with pytest.raises(SystemExit) as code:
        main(["web", "--nerf", f"lego={tmp_path / 'missing.nirz'}"])
    assert code.value.code == 2 and "write NAME=PATH with an existing .nirz" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_training_resumes_to_the_same_weights(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    from nir_core.bundle import ModelBundle

    data = shared_file("tiny_nerf_lego_100", "tiny_nerf_data.npz")
    settings = ["--steps", "150", "--downscale", "4", "model.depth=2", "model.width=16", "render.samples=8",
                "batch_rays=128", "val_views=0", "checkpoint_every=20", "lr=2e-3", "lr_final=2e-3"]

    def command(run):
        return [sys.executable, "-m", "app.cli", "nerf", "train", str(data), "-o", str(run), *settings]

    proc = subprocess.Popen(command(tmp_path / "killed"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    log = tmp_path / "killed" / "log.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 50):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run, after a few checkpoints, maybe while writing one
    proc.wait()
    assert not (tmp_path / "killed" / "bundle").exists()
    for run in (tmp_path / "killed", tmp_path / "straight"):
        done = subprocess.run(command(run), cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    a = ModelBundle.load(tmp_path / "straight" / "bundle").state
    b = ModelBundle.load(tmp_path / "killed" / "bundle").state
    assert all(torch.equal(a[k], b[k]) for k in a)
