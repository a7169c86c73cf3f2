"""Metrics against hand-computed answers on small constructed point sets."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from nir_core import metrics
from nir_core.data.labels import IGNORE_LABEL
from nir_core.metrics import (
    chamfer,
    confusion_matrix,
    f_score,
    mean_f1_delta,
    mean_iou,
    nearest_distances,
    normal_consistency,
    reconstruction_metrics,
    sample_points_for_eval,
    semantic_metrics,
)

DELTA = 0.005
SPACING = 0.02
"""Grid spacing, larger than every offset used, so each point's nearest neighbour is its own shifted copy."""


def plane_grid(n: int = 21, z: float = 0.0) -> np.ndarray:
    """(n*n, 3) grid on the plane z = ``z`` with ``SPACING`` between neighbours."""
    xs = np.arange(n) * SPACING
    x, y = np.meshgrid(xs, xs, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], axis=1)


def clusters(offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two plane grids far apart, class 0 at z=0 and class 1 at z=0.5, both shifted by ``offset`` in z."""
    a, b = plane_grid(10, 0.0 + offset), plane_grid(10, 0.5 + offset)
    return np.concatenate([a, b]), np.repeat([0, 1], [len(a), len(b)])


# ------------------------------------------------------------------------------------ nearest distances


def test_nearest_distances_matches_brute_force_across_batches(monkeypatch):
    rng = np.random.default_rng(0)
    src, dst = rng.random((500, 3)), rng.random((300, 3))
    monkeypatch.setattr(metrics, "_QUERY_BATCH", 64)  # 500 queries -> 8 batches, the last one partial
    dist, index = nearest_distances(src, dst)
    brute = np.linalg.norm(src[:, None] - dst[None], axis=2)
    np.testing.assert_array_equal(index, brute.argmin(axis=1))
    np.testing.assert_allclose(dist, brute.min(axis=1), rtol=1e-12)
    assert dist.dtype == np.float64 and index.dtype == np.int64 and dist.shape == (500,)


def test_torch_tensors_are_accepted():
    pts = torch.rand(50, 3, requires_grad=True)
    dist, _ = nearest_distances(pts, pts.detach().double())
    np.testing.assert_allclose(dist, 0.0, atol=1e-7)
    assert chamfer(pts, pts)["cd_l1"] == pytest.approx(0.0, abs=1e-7)


# ------------------------------------------------------------------------------------------- geometry


def test_identical_sets_score_perfectly():
    pts = np.random.default_rng(1).random((1000, 3))
    out = reconstruction_metrics(pts, pts)
    assert out["cd_l1"] == 0.0 and out["cd_l2"] == 0.0
    assert out["accuracy"] == 0.0 and out["completeness"] == 0.0
    assert out["f1_delta"] == 1.0 and out["f1_2delta"] == 1.0


@pytest.mark.parametrize(("d", "f1_delta", "f1_2delta"), [(0.003, 1.0, 1.0), (DELTA, 1.0, 1.0), (0.007, 0.0, 1.0), (0.012, 0.0, 0.0)])
def test_parallel_planes_offset_by_d(d, f1_delta, f1_2delta):
    """Each point's nearest neighbour is its copy at distance d; the F1 threshold is inclusive."""
    gt, pred = plane_grid(z=0.0), plane_grid(z=d)
    out = reconstruction_metrics(pred, gt, delta=DELTA)
    assert out["accuracy"] == pytest.approx(d, rel=1e-9)
    assert out["completeness"] == pytest.approx(d, rel=1e-9)
    assert out["cd_l1"] == pytest.approx(d, rel=1e-9)
    assert out["cd_l2"] == pytest.approx(d * d, rel=1e-9)
    assert out["f1_delta"] == f1_delta
    assert out["f1_2delta"] == f1_2delta
    # The standalone functions agree with the combined one.
    assert chamfer(pred, gt)["cd_l1"] == pytest.approx(out["cd_l1"])
    assert f_score(pred, gt, delta=DELTA)["f1"] == f1_delta


def test_chamfer_directions_and_f_score_precision_recall():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.0, 0.0]])  # accurate but incomplete
    cd = chamfer(pred, gt)
    assert cd["accuracy"] == 0.0
    assert cd["completeness"] == pytest.approx(0.5)
    assert cd["cd_l1"] == pytest.approx(0.25)
    assert cd["cd_l2"] == pytest.approx(0.25)  # 0.5 * (0 + (0^2 + 1^2) / 2)
    fs = f_score(pred, gt, delta=DELTA)
    assert (fs["precision"], fs["recall"]) == (1.0, 0.5)
    assert fs["f1"] == pytest.approx(2 / 3)


def test_f_score_is_zero_when_nothing_matches():
    fs = f_score(np.zeros((3, 3)), np.ones((2, 3)), delta=DELTA)
    assert fs == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_normal_consistency_flipped_and_perpendicular():
    pts = plane_grid(5)
    up = np.tile([0.0, 0.0, 1.0], (len(pts), 1))
    assert normal_consistency(pts, up, pts, -3.0 * up) == pytest.approx(1.0)  # orientation and length ignored
    sideways = np.tile([1.0, 0.0, 0.0], (len(pts), 1))
    assert normal_consistency(pts, up, pts, sideways) == pytest.approx(0.0, abs=1e-12)
    tilted = np.tile([0.0, 1.0, 1.0], (len(pts), 1))
    assert normal_consistency(pts, up, pts, tilted) == pytest.approx(math.sqrt(0.5))
    out = reconstruction_metrics(pts, pts, pred_normals=up, gt_normals=sideways)
    assert out["normal_consistency"] == pytest.approx(0.0, abs=1e-12)
    assert "normal_consistency" not in reconstruction_metrics(pts, pts)


def test_normal_consistency_uses_nearest_neighbour_in_each_direction():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    gt_n = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    pred, pred_n = gt[:1], gt_n[:1]
    # pred -> gt: 1 point, cos 1. gt -> pred: cos 1 and cos 0. Mean of directions: 0.5 * (1 + 0.5).
    assert normal_consistency(pred, pred_n, gt, gt_n) == pytest.approx(0.75)


# ------------------------------------------------------------------------------------------ semantics


def test_confusion_and_iou_for_half_of_a_class_mislabelled():
    gt = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 0, 0, 0, 2, 2, 1, 1, 2, 2, 2, 2])  # half of class 1 predicted as class 2
    cm = confusion_matrix(pred, gt, 3)
    np.testing.assert_array_equal(cm, [[4, 0, 0], [0, 2, 2], [0, 0, 4]])
    assert cm.dtype == np.int64
    out = mean_iou(pred, gt, 3)
    np.testing.assert_allclose(out["per_class"], [1.0, 2 / 4, 4 / 6])
    assert out["miou"] == pytest.approx((1.0 + 0.5 + 4 / 6) / 3)
    assert out["present"] == [0, 1, 2]


def test_iou_ignore_label_and_absent_classes():
    gt = np.array([0, 0, 1, 1, IGNORE_LABEL, IGNORE_LABEL])
    pred = np.array([0, IGNORE_LABEL, 1, 3, 2, 3])
    out = mean_iou(pred, gt, 5)
    # Ignored gt points vanish (their predictions 2 and 3 are no false positives); the pred -1 on a class-0
    # point is a miss; class 3 is predicted once but absent from gt: IoU 0, not averaged; class 4 is nowhere.
    np.testing.assert_array_equal(confusion_matrix(pred, gt, 5)[:2, :], [[1, 0, 0, 0, 0], [0, 1, 0, 1, 0]])
    np.testing.assert_allclose(out["per_class"], [0.5, 0.5, np.nan, 0.0, np.nan])
    assert out["present"] == [0, 1]
    assert out["miou"] == pytest.approx(0.5)


def test_iou_without_any_labelled_ground_truth_is_nan():
    assert math.isnan(mean_iou([0, 1], [IGNORE_LABEL, IGNORE_LABEL], 2)["miou"])


def test_mean_f1_delta_perfect_swapped_and_partial():
    gt, gt_labels = clusters()
    pred, pred_labels = clusters(offset=0.003)
    perfect = mean_f1_delta(pred, pred_labels, gt, gt_labels, 2, delta=DELTA)
    assert perfect["mf1"] == 1.0 and perfect["per_class"] == [1.0, 1.0]
    swapped = mean_f1_delta(pred, 1 - pred_labels, gt, gt_labels, 2, delta=DELTA)
    assert swapped["mf1"] == 0.0
    # Class 0 predicted on both clusters: precision 1/2, recall 1 -> F1 2/3; class 1 never predicted -> 0.
    partial = mean_f1_delta(pred, np.zeros_like(pred_labels), gt, gt_labels, 2, delta=DELTA)
    assert partial["per_class"] == [pytest.approx(2 / 3), 0.0]
    assert partial["mf1"] == pytest.approx(1 / 3)
    # Half of cluster 1 predicted as class 0: class 0 precision 100/150, recall 1 -> F1 0.8; class 1
    # precision 1, recall 50/100 -> F1 2/3. Matches are only counted within a class.
    half = pred_labels.copy()
    half[np.flatnonzero(pred_labels == 1)[:50]] = 0
    mixed = mean_f1_delta(pred, half, gt, gt_labels, 2, delta=DELTA)
    np.testing.assert_allclose(mixed["per_class"], [0.8, 2 / 3])


def test_mean_f1_delta_ignores_unlabelled_points_on_both_sides():
    gt, gt_labels = clusters()
    pred, pred_labels = clusters(offset=0.003)
    far = np.full((40, 3), 5.0)
    unlabelled = np.full(40, IGNORE_LABEL)
    out = mean_f1_delta(np.concatenate([pred, far]), np.concatenate([pred_labels, unlabelled]),
                        np.concatenate([gt, far + 1.0]), np.concatenate([gt_labels, unlabelled]), 2, delta=DELTA)
    assert out["mf1"] == 1.0
    # A class absent from gt is reported but not averaged.
    extra = mean_f1_delta(pred, pred_labels, gt[gt_labels == 0], gt_labels[gt_labels == 0], 3, delta=DELTA)
    assert extra["present"] == [0]
    assert extra["per_class"][:2] == [1.0, 0.0] and math.isnan(extra["per_class"][2])
    assert extra["mf1"] == 1.0


def test_semantic_metrics_combines_iou_and_both_deltas():
    gt, gt_labels = clusters()
    pred, pred_labels = clusters(offset=0.007)  # between delta and 2 delta
    order = np.random.default_rng(2).permutation(len(pred))  # pairs of points no longer share an index
    pred, pred_labels = pred[order], pred_labels[order]
    out = semantic_metrics(pred, pred_labels, gt, gt_labels, 2, delta=DELTA)
    assert out["miou"] == 1.0  # labels transferred from the nearest predicted point are all right
    assert out["mf1_delta"] == 0.0 and out["mf1_2delta"] == 1.0
    flipped = semantic_metrics(pred, 1 - pred_labels, gt, gt_labels, 2, delta=DELTA)
    assert flipped["miou"] == 0.0 and flipped["mf1_2delta"] == 0.0


# ------------------------------------------------------------------------------------------- sampling


def test_sample_points_for_eval_is_seeded_and_on_the_surface():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    points, normals = sample_points_for_eval(box, n=2000, seed=3)
    again, _ = sample_points_for_eval(box, n=2000, seed=3)
    other, _ = sample_points_for_eval(box, n=2000, seed=4)
    assert points.shape == normals.shape == (2000, 3)
    np.testing.assert_array_equal(points, again)
    assert not np.array_equal(points, other)
    # On a unit box every sample lies on a face, i.e. at |coordinate| = 0.5 along its face normal's axis.
    axis = np.abs(normals).argmax(axis=1)
    np.testing.assert_allclose(np.abs(points[np.arange(len(points)), axis]), 0.5, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)


# ----------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros((0, 3)), np.zeros(3), np.array([[0.0, np.nan, 0.0]])])
def test_bad_points_raise(bad):
    good = np.zeros((4, 3))
    with pytest.raises(ValueError):
        chamfer(bad, good)
    with pytest.raises(ValueError):
        nearest_distances(good, bad)


def test_bad_arguments_raise():
    pts = np.zeros((4, 3))
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="delta"):
        f_score(pts, pts, delta=0.0)
    with pytest.raises(ValueError, match="pred_normals"):
        normal_consistency(pts, np.zeros((3, 3)), pts, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="both"):
        reconstruction_metrics(pts, pts, pred_normals=np.ones((4, 3)))
    with pytest.raises(ValueError, match="pred_labels"):
        mean_iou(labels[:3], labels, 2)
    with pytest.raises(ValueError, match="outside"):
        mean_iou(np.array([0, 1, 2, 0]), labels, 2)
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix(labels.astype(float), labels, 2)
    with pytest.raises(ValueError, match="num_classes"):
        mean_iou(labels, labels, 0)
    with pytest.raises(ValueError, match="gt_labels"):
        mean_f1_delta(pts, labels, pts, labels[:2], 2)
    with pytest.raises(ValueError, match="faces"):
        sample_points_for_eval(trimesh.Trimesh(vertices=pts), n=10)
