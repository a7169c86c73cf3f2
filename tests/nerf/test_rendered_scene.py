"""The project's own posed-image scene (pyrender, Blender layout) and the shipped radiance fields the web UI offers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from nir_core.data.rendered_scene import SceneRenderConfig, camera_pose, scene_poses, toy_meshes
from nir_core.data.views import load_views


def test_cameras_look_at_the_origin_from_the_radius_in_opengl_axes():
    for pose in scene_poses(SceneRenderConfig(train_views=5, val_views=2, test_views=3))["train"]:
        eye, forward = pose[:3, 3], -pose[:3, 2]  # an OpenGL camera looks down its -z
        assert np.linalg.norm(eye) == pytest.approx(4.0)
        assert np.allclose(forward, -eye / np.linalg.norm(eye), atol=1e-9)
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9) and eye[2] > 0  # rigid, above
    side = camera_pose(0.0, 0.0, 3.0)
    assert np.allclose(side[:3, 3], (3, 0, 0)) and np.allclose(side[:3, 1], (0, 0, 1))  # level camera: y is up


def test_the_toy_fits_between_the_near_and_far_depths():
    corners = np.concatenate([m.bounds for m in toy_meshes(3)])
    assert np.linalg.norm(corners, axis=1).max() < 2.0  # every camera at 4: depths within [2, 6]
    assert len(toy_meshes(0)) == len(toy_meshes(1)) and not np.allclose(toy_meshes(0)[-1].vertices,
                                                                        toy_meshes(1)[-1].vertices)


@pytest.mark.slow
def test_make_scene_writes_a_blender_dataset_the_loader_reads(tmp_path):
    out = tmp_path / "toy"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "PYOPENGL_PLATFORM")}
    cmd = [sys.executable, "-m", "app.cli", "nerf", "make-scene", str(out), "--size", "24", "--train-views", "3",
           "--test-views", "2"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    views = load_views(out, "train")
    assert views.images.shape == (3, 24, 24, 3) and views.white_background and (views.near, views.far) == (2.0, 6.0)
    assert len(load_views(out, "test")) == 2 and len(load_views(out, "val")) == 4
    # The toy is in the middle of every view (not white there) and the corners are background (white).
    assert (views.images[:, 12, 12] < 0.95).any(axis=-1).all() and (views.images[:, 0, 0] > 0.99).all()
    assert json.loads((out / "scene.json").read_text())["config"]["size"] == 24
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "not empty" in again.stderr  # never written over


def test_a_relative_dataset_path_is_found_from_the_folders_above_the_model(tmp_path, monkeypatch):
    from compress.nerf import scored_views
    from nir_core.bundle import ModelBundle
    from nir_core.errors import NIRStudioError

    blender = REPO.parent / "shared" / "data" / "nerf_synthetic_lego_200"
    if not blender.exists():
        pytest.skip("../shared/data/nerf_synthetic_lego_200 is absent")
    project = tmp_path / "project"
    (project / "scenes").mkdir(parents=True)
    (project / "scenes" / "lego").symlink_to(blender)
    bundle = ModelBundle(architecture="nerf", model_config={}, state={},
                         training={"config": {"data": "scenes/lego", "downscale": 4}})
    model = project / "models" / "lego.nirz"
    monkeypatch.chdir(tmp_path)  # not the project: found from the model's folders
    views = scored_views(model, bundle, "test")
    assert views.width == 50 and Path(views.source).resolve() == blender.resolve()
    with pytest.raises(NIRStudioError, match="is not here"):
        scored_views(tmp_path / "elsewhere.nirz", bundle, "test")


def test_every_shipped_nerf_is_offered_and_scored_on_its_scene():
    from app.web import bundled_nerfs
    from app.web.nerf_compare import score_variants

    shipped = bundled_nerfs()
    if not shipped:
        pytest.skip("assets/nerfs is empty (make nerf-assets)")
    names = list(shipped)
    assert names[0].endswith("float32") and any("kmeans 3 bits" in n for n in names)
    rows = score_variants(shipped, 0, None, "test")
    by_name = {r["variant"]: r for r in rows}
    assert len(rows) == len(shipped) and [r["KB"] for r in rows] == sorted(r["KB"] for r in rows)
    quantised = [r for n, r in by_name.items() if "3 bits" in n]
    assert all(r["KB"] <= 16 for r in quantised)  # the bound for a 3-bit 4 x 64 file
    assert all(r["PSNR"] > 15 for r in rows)  # every shipped model renders the toy, not noise


def test_an_uploaded_dataset_zip_is_unpacked_within_limits(tmp_path):
    import zipfile

    from app.web.nerf_compare import extract_dataset

    good = tmp_path / "scene.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("toy/transforms_train.json", "{}")
        z.writestr("toy/train/r_0.png", b"\x89PNG")
    assert extract_dataset(good, tmp_path / "a", 2**20) == (tmp_path / "a" / "toy").resolve()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("transforms.json", "{}")
        z.writestr("../outside.txt", "x")
    with pytest.raises(ValueError, match="outside the dataset"):
        extract_dataset(evil, tmp_path / "b", 2**20)
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(ValueError, match="over 0 MiB"):
        extract_dataset(good, tmp_path / "c", 2)
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as z:
        z.writestr("readme.txt", "no cameras")
    with pytest.raises(ValueError, match="no transforms_train.json"):
        extract_dataset(bare, tmp_path / "d", 2**20)
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="fake.zip: not a zip file"):
        extract_dataset(tmp_path / "fake.zip", tmp_path / "e", 2**20)
