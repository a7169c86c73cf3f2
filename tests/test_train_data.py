"""Training examples from generated rooms and from real ScanNet files."""
from __future__ import annotations

import numpy as np
import torch
from conftest import shared_file

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
