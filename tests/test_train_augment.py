"""Training augmentations keep every target exact, and class weights balance what they say."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from nir_core.data.ground_truth import SurfelsField
from nir_core.data.io import load
from nir_core.data.labels import IGNORE_LABEL
from nir_core.data.sampling import SamplingConfig, make_udf_samples
from nir_core.train.augment import AugmentConfig, augment, class_weights
from nir_core.train.data import FileSource, SceneSamplingConfig, UDFSceneDataset


@pytest.fixture(scope="module")
def room():
    """A real labelled ScanNet room, 6,000 of its points, normalised, with training samples."""
    scan = load(shared_file("scannet_votenet_50k", "scene0002_00_vert.npy"))
    unit = scan.subset(np.random.default_rng(0).permutation(len(scan))[:6000]).normalised()
    return unit, make_udf_samples(unit, SamplingConfig(num_surface=2000, num_queries=3000, seed=1))


def test_turns_and_scales_keep_distances_exact(room):
    unit, samples = room
    points, queries, udf, labels, _ = augment(unit.points, samples.queries, samples.distances, samples.labels,
                                           AugmentConfig(rotate=True, scale=(1.2, 1.2)), np.random.default_rng(5))
    assert points.shape == unit.points.shape and queries.shape == samples.queries.shape
    assert np.abs(points).max() <= 0.5 + 1e-6 and not np.allclose(points, unit.points, atol=0.01)
    # The moved queries' distances to the moved scan are the distances that came with them, shrunk to fit.
    assert np.allclose(SurfelsField(points).udf_np(queries), udf, atol=1e-4)
    assert (labels == samples.labels).all()


def test_a_crop_keeps_a_part_of_the_room(room):
    _, samples = room
    points, queries, udf, labels, _ = augment(samples.surface, samples.queries, samples.distances, samples.labels,
                                           AugmentConfig(crop=1.0, crop_min=0.5), np.random.default_rng(2))
    assert points.shape == samples.surface.shape and queries.shape == samples.queries.shape
    assert np.ptp(points[:, :2], axis=0).prod() < 0.9 * np.ptp(samples.surface[:, :2], axis=0).prod()
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    assert ((queries[:, :2] >= lo - 1e-6) & (queries[:, :2] <= hi + 1e-6)).all(axis=1).mean() > 0.9
    original = {tuple(q) for q in samples.queries.round(6)}
    assert all(tuple(q) in original for q in queries.round(6)[:200])  # the same queries, not new ones


def test_dropout_thins_the_input_but_keeps_its_size(room):
    _, samples = room
    points, *_ = augment(samples.surface, samples.queries, samples.distances, samples.labels,
                         AugmentConfig(dropout=0.9), np.random.default_rng(0))
    assert len(points) == len(samples.surface) and len(np.unique(points, axis=0)) < len(points)


def test_class_weights_balance_rare_classes():
    labels = np.array([0] * 90 + [1] * 10 + [IGNORE_LABEL] * 5)
    w = class_weights(labels, 1.0)
    assert np.allclose(w[:90].sum(), w[90:100].sum()) and (w[100:] == 0).all()
    assert np.isclose(w[:100].mean(), 1.0) and np.allclose(class_weights(labels, 0.0)[:100], 1.0)


def test_the_dataset_applies_them_and_adds_weights():
    path = shared_file("scannet_votenet_50k", "scene0002_00_vert.npy")
    cfg = SceneSamplingConfig(num_input=500, num_queries=800,
                              augment=AugmentConfig.from_json({"rotate": True, "class_balance": 0.5}))
    from nir_core.data.labels import SCANNET20

    example = UDFSceneDataset(FileSource([path], label_set=SCANNET20), cfg)[0]
    assert example["points"].shape == (500, 3) and example["label_weights"].shape == (800,)
    known = example["labels"] != IGNORE_LABEL
    assert (example["label_weights"][~known] == 0).all() and abs(float(example["label_weights"][known].mean()) - 1) < 1e-4


def test_bad_augment_settings_are_refused():
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="dropout"):
        AugmentConfig(dropout=1.5)
