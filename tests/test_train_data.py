"""Training examples from generated rooms and from real ScanNet files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file

from nir_core.errors import NIRStudioError
from nir_core.train.data import FileSource, SceneSamplingConfig, SyntheticRoomSource, UDFSceneDataset

SMALL = SceneSamplingConfig(num_input=1024, num_queries=4000)


def test_synthetic_room_examples_are_labelled_unit_cube_and_fresh_each_epoch():
    data = UDFSceneDataset(SyntheticRoomSource(count=3, seed=5), SMALL, seed=1)
    ex = data[1]
    assert ex["points"].shape == (1024, 3) and ex["queries"].shape == (4000, 3)
    assert ex["points"].abs().max() <= 0.5 + 1e-4
    assert (ex["udf"] >= 0).all() and ex["labels"].dtype == torch.int64
    near = ex["udf"] < 0.005
    assert (ex["labels"][near] >= 0).float().mean() > 0.8  # most near-surface queries carry a class
    again = data[1]
    assert torch.equal(again["queries"], ex["queries"])  # same epoch: same draw
    data.set_epoch(1)
    assert not torch.equal(data[1]["queries"], ex["queries"])


def test_scannet_file_source_uses_the_dense_points_as_ground_truth():
    source = FileSource([shared_file("scannet_votenet_50k", "scene0002_00_vert.npy")])
    ex = UDFSceneDataset(source, SMALL)[0]
    assert ex["name"] == "scene0002_00_vert"
    d = ex["udf"].numpy()
    assert np.median(d[-2000:]) < 0.01  # the smallest-sigma queries hug the points
    assert set(np.unique(ex["labels"].numpy())) - {-1} <= set(range(20))


def test_scanned_input_comes_from_a_simulated_capture_and_keeps_the_exact_targets():
    import trimesh
    from scipy.spatial import cKDTree

    from nir_core.data.synthetic import generate_room

    source = SyntheticRoomSource(count=2, seed=5)
    surface = UDFSceneDataset(source, SMALL, seed=1)[0]
    scanned = UDFSceneDataset(source, SceneSamplingConfig(num_input=1024, num_queries=4000, scanned_input=1.0), seed=1)[0]
    assert scanned["points"].shape == (1024, 3) and not torch.equal(scanned["points"], surface["points"])
    assert torch.equal(scanned["queries"], surface["queries"]) and torch.equal(scanned["udf"], surface["udf"])
    # The capture lies on the room's surface (up to the sensor's millimetres of noise), in the same unit cube.
    scan = source.scene(0)[0].normalised()
    mesh = generate_room(5).mesh.copy().apply_transform(scan.normalisation.matrix())
    dense = trimesh.sample.sample_surface(mesh, 200_000, seed=0)[0]
    assert np.median(cKDTree(dense).query(scanned["points"].numpy())[0]) < 0.004


def test_scanned_input_needs_generated_rooms_and_a_share():
    with pytest.raises(NIRStudioError, match="scanned_input needs scenes that can be scanned"):
        UDFSceneDataset(FileSource([shared_file("scannet_votenet_50k", "scene0002_00_vert.npy")]),
                        SceneSamplingConfig(scanned_input=0.5))
    with pytest.raises(NIRStudioError, match=r"share in \[0, 1\], got 1.5"):
        UDFSceneDataset(SyntheticRoomSource(count=1), SceneSamplingConfig(scanned_input=1.5))
