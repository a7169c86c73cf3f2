"""Posed images: every NeRF layout read from the real scenes in ../shared/data, and one clear error per bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import shared_file
from PIL import Image

from nir_core.data.views import ViewsError, load_views


def test_blender_splits_focal_and_white_background():
    lego = shared_file("nerf_synthetic_lego_200")
    train = load_views(lego, "train", downscale=4)
    assert train.images.shape == (100, 50, 50, 3) and train.white_background and (train.near, train.far) == (2, 6)
    # camera_angle_x 0.6911 rad: focal 277.78 px at 200 px, a quarter at 50 px.
    assert train.intrinsics[0] == pytest.approx([69.444, 69.444, 25, 25], abs=1e-3)
    assert len(load_views(lego, "test", 4)) == 200 and len(load_views(lego, "val", 4)) == 100
    # Transparent corners composite on white.
    assert train.images[0, 0, 0] == pytest.approx([1, 1, 1])


def test_tiny_nerf_file_and_llff_forward_facing():
    tiny = shared_file("tiny_nerf_lego_100", "tiny_nerf_data.npz")
    assert len(load_views(tiny, "train")) == 100 and len(load_views(tiny, "test")) == 6
    fern = load_views(shared_file("nerf_llff_fern_8x"), "all")
    assert len(fern) == 20 and fern.ndc and fern.images.shape[1:] == (378, 504, 3)
    assert len(load_views(shared_file("nerf_llff_fern_8x"), "train")) == 17  # every 8th view held out
    # The focal stored for the full-size images is scaled to these; poses are rigid and recentred.
    assert 300 < fern.intrinsics[0, 0] < 500
    assert np.abs(fern.poses[:, :3, 3].mean(0)).max() < 1e-3


def _transforms_dataset(tmp_path, frames=3, **camera):
    lego = shared_file("nerf_synthetic_lego_200")
    meta = json.loads((lego / "transforms_train.json").read_text())
    (tmp_path / "images").mkdir()
    out_frames = []
    for i, frame in enumerate(meta["frames"][:frames]):
        shutil.copy(lego / (frame["file_path"] + ".png"), tmp_path / "images" / f"f{i}.png")
        out_frames.append({"file_path": f"images/f{i}", "transform_matrix": frame["transform_matrix"]})
    (tmp_path / "transforms.json").write_text(json.dumps({**camera, "frames": out_frames}))
    return tmp_path


def test_transforms_json_with_intrinsics_distortion_and_downscale(tmp_path):
    folder = _transforms_dataset(tmp_path, frames=9, fl_x=300.0, fl_y=290.0, cx=101.0, cy=99.0, w=200, h=200,
                                 k1=0.01, k2=-0.002, p1=0.0, p2=0.0, aabb_scale=2)
    views = load_views(folder, "train", downscale=2)
    assert views.images.shape == (7, 100, 100, 3)  # frames 0 and 8 of 9 are held out
    assert views.intrinsics[0] == pytest.approx([150, 145, 50.5, 49.5])
    assert views.distortion == pytest.approx([0.01, -0.002, 0, 0])
    assert len(load_views(folder, "test")) == 2


@pytest.mark.parametrize("breakage, message", [
    ("missing", "no such image exists"),
    ("size", "is 100x100, the first is 200x200"),
    ("pose", "not a rigid camera"),
    ("empty", "has no frames"),
    ("focal", "has no focal length"),
])
def test_bad_datasets_give_one_clear_error(tmp_path, breakage, message):
    folder = _transforms_dataset(tmp_path, fl_x=300.0)
    meta = json.loads((folder / "transforms.json").read_text())
    if breakage == "missing":
        (folder / "images" / "f1.png").unlink()
    elif breakage == "size":
        Image.open(folder / "images" / "f2.png").resize((100, 100)).save(folder / "images" / "f2.png")
    elif breakage == "pose":
        meta["frames"][1]["transform_matrix"][0][0] = 3.0
    elif breakage == "empty":
        meta["frames"] = []
    elif breakage == "focal":
        del meta["fl_x"]
    (folder / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(ViewsError, match=message) as info:
        load_views(folder, "all")
    assert str(folder) in str(info.value)


def test_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(ViewsError, match="is not a NeRF dataset"):
        load_views(tmp_path)
    with pytest.raises(ViewsError, match="does not exist"):
        load_views(tmp_path / "nothing")
