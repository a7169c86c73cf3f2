"""The three-rule labelling baseline on a real ScanNet room: it finds the floor and the walls, and nothing else."""
from __future__ import annotations

import numpy as np
from conftest import shared_file

from nir_core.data.io import load
from nir_core.data.labels import SCANNET20
from nir_core.semantic_baseline import commonest_other_class, three_rule_labels


def test_three_rules_find_the_floor_and_the_walls_of_a_real_room(shared_data):
    room = load(shared_file("scannet_votenet_50k/scene0001_00_vert.npy"))
    fallback = commonest_other_class(room.labels, SCANNET20)
    assert fallback not in (SCANNET20.index("wall"), SCANNET20.index("floor"))
    keep = np.random.default_rng(0).choice(len(room.points), 10_000, replace=False)  # the encoder's input size
    points, truth = room.points[keep], room.labels[keep]
    labels = three_rule_labels(points, SCANNET20, fallback)
    assert set(np.unique(labels)) <= {SCANNET20.index("wall"), SCANNET20.index("floor"), fallback}
    for name, precision, recall in (("floor", 0.9, 0.5), ("wall", 0.25, 0.5)):
        found, true = labels == SCANNET20.index(name), truth == SCANNET20.index(name)
        assert (true[found]).mean() > precision and found[true].mean() > recall, name


def test_the_fallback_skips_wall_floor_and_unlabelled():
    labels = np.array([0, 0, 0, 1, 1, -1, -1, -1, -1, 5, 5, 7])
    assert commonest_other_class(labels, SCANNET20) == 5
    assert commonest_other_class(np.array([0, 1, -1]), SCANNET20) == SCANNET20.index("wall")
