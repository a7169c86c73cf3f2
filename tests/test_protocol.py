from __future__ import annotations

import pytest
from conftest import shared_file

from nir_core.data.io import load
from nir_core.metrics import nearest_distances
from nir_core.protocol import DELTA, EvalConfig, prepare, recall_by_coverage


@pytest.fixture(scope="module")
def scene():
    return prepare(load(shared_file("scannet_votenet_50k", "scene0003_00_vert.npy")), "scene0003_00", EvalConfig())


def test_recall_by_coverage_splits_the_ground_truth_by_its_distance_to_the_input(scene):
    bands = recall_by_coverage(scene.input_points, scene)
    assert [b["band"] for b in bands] == ["0-1 δ", "1-2 δ", "2-4 δ", ">4 δ"]
    assert sum(b["share"] for b in bands) == pytest.approx(1.0)
    # The input itself finds exactly the ground truth within δ of it: everything in the first band, nothing beyond.
    assert bands[0]["recall"] == 1.0
    assert all(b["recall"] in (0.0, None) for b in bands[1:])


def test_recall_by_coverage_tells_lost_detail_from_unfilled_holes(scene):
    filled = recall_by_coverage(scene.gt_points, scene)
    assert all(b["recall"] == 1.0 for b in filled if b["share"] > 0)
    # A reconstruction of only the ground truth within 2δ of the input: complete there, and nothing of the holes
    # (a ground-truth point beyond 4δ of the input is beyond 2δ of every kept point).
    near = nearest_distances(scene.gt_points, scene.input_points)[0] < 2 * DELTA
    bands = recall_by_coverage(scene.gt_points[near], scene)
    assert bands[0]["recall"] == bands[1]["recall"] == 1.0
    assert bands[3]["share"] > 0 and bands[3]["recall"] == 0.0
