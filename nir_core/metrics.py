"""Surface-reconstruction and semantic-labelling metrics on point sets.

Conventions follow the evaluation of Costain (2023, ch. 6 §4.1.2): Chamfer L1 and L2 distance, F1-delta and
F1-2delta for reconstruction; mean IoU and mean per-class F1-delta for segmentation, with delta = 0.005 on
unit-cube-normalised scenes and 100k points sampled on each side (:func:`sample_points_for_eval`).

Every function takes numpy arrays (torch tensors are converted) and returns python floats or dicts of them.
Raw values are returned; reports multiply CD-L1 by 1e2 and CD-L2 by 1e4.

Ground-truth points labelled ``IGNORE_LABEL`` (-1) never count. Predicted points labelled -1 are handled per
metric (see :func:`mean_iou` and :func:`mean_f1_delta`).
"""
from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from nir_core.data.labels import IGNORE_LABEL
from nir_core.protocol import DELTA as DEFAULT_DELTA  # the protocol's δ, the default of every F1 metric

_QUERY_BATCH = 1 << 16
"""Query points per KD-tree call: bounds the temporary (distance, index) buffers of one call."""


# ----------------------------------------------------------------------------------------------- inputs


def _as_numpy(x) -> np.ndarray:
    """numpy view of ``x``; torch tensors (anything with ``.detach``) are detached and moved to the CPU first."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _points(x, name: str) -> np.ndarray:
    """(N, 3) float64 finite, non-empty points, else ValueError naming ``name``."""
    arr = _as_numpy(x)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name}: expected shape (N, 3), got {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{name}: no points")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return arr


def _normals(x, name: str, n: int) -> np.ndarray:
    """(n, 3) float64 unit normals; zero-length normals stay zero (they then match nothing)."""
    arr = _points(x, name)
    if len(arr) != n:
        raise ValueError(f"{name}: {len(arr)} normals for {n} points")
    norm = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.divide(arr, norm, out=np.zeros_like(arr), where=norm > 0)


def _labels(x, name: str, n: int | None, num_classes: int) -> np.ndarray:
    """(n,) int64 labels in ``[0, num_classes)`` or ``IGNORE_LABEL``, else ValueError (``n=None``: any length)."""
    arr = _as_numpy(x)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise ValueError(f"{name}: expected shape ({'N' if n is None else n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer labels, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    bad = (arr != IGNORE_LABEL) & ((arr < 0) | (arr >= num_classes))
    if bad.any():
        raise ValueError(f"{name}: label {int(arr[bad][0])} outside [0, {num_classes}) and not "
                         f"IGNORE_LABEL ({IGNORE_LABEL})")
    return arr


def _num_classes(num_classes) -> int:
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {num_classes!r}")
    return int(num_classes)


def _delta(delta) -> float:
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta: expected a positive distance, got {delta!r}")
    return float(delta)


# ---------------------------------------------------------------------------------------------- KD-tree


def nearest_distances(src, dst, *, workers: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every ``src`` point to its nearest ``dst`` point.

    One KD-tree is built on ``dst`` and queried in batches of ``2**16`` points, so memory stays at a few MB
    beyond the tree whatever ``len(src)`` is.

    Parameters
    ----------
    src: (N, 3) query points.
    dst: (M, 3) reference points.
    workers: threads per query (``-1``: all cores), as in :meth:`scipy.spatial.cKDTree.query`.

    Returns
    -------
    dist: (N,) float64 Euclidean distances.
    index: (N,) int64 index into ``dst`` of each nearest point.
    """
    src = _points(src, "src")
    dst = _points(dst, "dst")
    tree = cKDTree(dst)
    return _query(tree, src, workers)


def _query(tree: cKDTree, src: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    dist = np.empty(len(src), dtype=np.float64)
    index = np.empty(len(src), dtype=np.int64)
    for start in range(0, len(src), _QUERY_BATCH):
        stop = start + _QUERY_BATCH
        dist[start:stop], index[start:stop] = tree.query(src[start:stop], k=1, workers=workers)
    return dist, index


class _Pairing:
    """Nearest neighbours both ways between two validated point sets, computed once and shared by metrics."""

    def __init__(self, pred: np.ndarray, gt: np.ndarray, workers: int = -1):
        self.d_pred, self.i_pred = _query(cKDTree(gt), pred, workers)  # pred -> gt
        self.d_gt, self.i_gt = _query(cKDTree(pred), gt, workers)  # gt -> pred


# ------------------------------------------------------------------------------------------ geometry


def _chamfer_from(d_pred: np.ndarray, d_gt: np.ndarray) -> dict[str, float]:
    accuracy, completeness = float(d_pred.mean()), float(d_gt.mean())
    return {
        "cd_l1": 0.5 * (accuracy + completeness),
        "cd_l2": 0.5 * (float(np.mean(d_pred**2)) + float(np.mean(d_gt**2))),
        "accuracy": accuracy,
        "completeness": completeness,
    }


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


def _f_score_from(d_pred: np.ndarray, d_gt: np.ndarray, delta: float) -> dict[str, float]:
    precision = float(np.mean(d_pred <= delta))
    recall = float(np.mean(d_gt <= delta))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def chamfer(pred, gt) -> dict[str, float]:
    """Chamfer distances between a predicted and a ground-truth point set.

    Occupancy Networks / NDF / IF-Net convention, with ``d(x, S)`` the Euclidean distance from ``x`` to its
    nearest point of ``S``::

        accuracy     = mean_{p in P} d(p, G)
        completeness = mean_{g in G} d(g, P)
        cd_l1 = 0.5 * (accuracy + completeness)
        cd_l2 = 0.5 * (mean_{p in P} d(p, G)^2 + mean_{g in G} d(g, P)^2)

    Values are raw; the thesis reports ``cd_l1 * 1e2`` and ``cd_l2 * 1e4``.

    Parameters
    ----------
    pred: (N, 3) predicted surface points (unit cube).
    gt: (M, 3) ground-truth surface points (unit cube).

    Returns
    -------
    dict with float ``cd_l1``, ``cd_l2``, ``accuracy``, ``completeness``.
    """
    pairing = _Pairing(_points(pred, "pred"), _points(gt, "gt"))
    return _chamfer_from(pairing.d_pred, pairing.d_gt)


def f_score(pred, gt, delta: float = DEFAULT_DELTA) -> dict[str, float]:
    """F-score at distance ``delta`` (Tatarchenko et al. 2019).

    ``precision`` is the fraction of ``pred`` points within ``delta`` (inclusive) of ``gt``, ``recall`` the
    fraction of ``gt`` points within ``delta`` of ``pred``, ``f1`` their harmonic mean (0 when both are 0).

    Parameters
    ----------
    pred: (N, 3) predicted points; gt: (M, 3) ground-truth points; delta: threshold, same units.

    Returns
    -------
    dict with float ``precision``, ``recall``, ``f1``.
    """
    delta = _delta(delta)
    pairing = _Pairing(_points(pred, "pred"), _points(gt, "gt"))
    return _f_score_from(pairing.d_pred, pairing.d_gt, delta)


def _normal_consistency_from(pairing: _Pairing, pred_normals: np.ndarray, gt_normals: np.ndarray) -> float:
    cos_pred = np.abs(np.sum(pred_normals * gt_normals[pairing.i_pred], axis=1))
    cos_gt = np.abs(np.sum(gt_normals * pred_normals[pairing.i_gt], axis=1))
    return 0.5 * (float(cos_pred.mean()) + float(cos_gt.mean()))


def normal_consistency(pred_points, pred_normals, gt_points, gt_normals) -> float:
    """Mean absolute cosine between each point's normal and its nearest neighbour's normal in the other set.

    Averaged over both directions (Occupancy Networks convention). The absolute value makes the metric
    blind to orientation, because surfaces extracted from unsigned distance fields have no consistent inside.
    Normals are normalised here; a zero-length normal scores 0.

    Parameters
    ----------
    pred_points: (N, 3); pred_normals: (N, 3); gt_points: (M, 3); gt_normals: (M, 3).

    Returns
    -------
    Consistency in ``[0, 1]``, 1 when every matched pair is parallel or anti-parallel.
    """
    pred = _points(pred_points, "pred_points")
    gt = _points(gt_points, "gt_points")
    pn = _normals(pred_normals, "pred_normals", len(pred))
    gn = _normals(gt_normals, "gt_normals", len(gt))
    return _normal_consistency_from(_Pairing(pred, gt), pn, gn)


def reconstruction_metrics(pred, gt, delta: float = DEFAULT_DELTA, pred_normals=None,
                           gt_normals=None) -> dict[str, float]:
    """Chamfer, F1-delta, F1-2delta and (given both normal sets) normal consistency from one pair of queries.

    Parameters
    ----------
    pred: (N, 3) predicted points; gt: (M, 3) ground-truth points; delta: F1 threshold.
    pred_normals: optional (N, 3); gt_normals: optional (M, 3). Consistency needs both.

    Returns
    -------
    dict with ``cd_l1``, ``cd_l2``, ``accuracy``, ``completeness`` (see :func:`chamfer`), ``precision``,
    ``recall``, ``f1_delta`` (at ``delta``), ``precision_2delta``, ``recall_2delta``, ``f1_2delta`` and,
    when normals are given, ``normal_consistency``.
    """
    delta = _delta(delta)
    pred = _points(pred, "pred")
    gt = _points(gt, "gt")
    if (pred_normals is None) != (gt_normals is None):
        raise ValueError("normal consistency needs both pred_normals and gt_normals (or neither)")
    pn = gn = None
    if pred_normals is not None:
        pn = _normals(pred_normals, "pred_normals", len(pred))
        gn = _normals(gt_normals, "gt_normals", len(gt))
    pairing = _Pairing(pred, gt)
    out = _chamfer_from(pairing.d_pred, pairing.d_gt)
    at_delta = _f_score_from(pairing.d_pred, pairing.d_gt, delta)
    at_2delta = _f_score_from(pairing.d_pred, pairing.d_gt, 2 * delta)
    out.update(precision=at_delta["precision"], recall=at_delta["recall"], f1_delta=at_delta["f1"],
               precision_2delta=at_2delta["precision"], recall_2delta=at_2delta["recall"],
               f1_2delta=at_2delta["f1"])
    if pn is not None:
        out["normal_consistency"] = _normal_consistency_from(pairing, pn, gn)
    return out


# ------------------------------------------------------------------------------------------ semantics


def confusion_matrix(pred_labels, gt_labels, num_classes: int) -> np.ndarray:
    """Counts of (ground truth, prediction) label pairs over the same points.

    Points whose ground truth is ``IGNORE_LABEL`` are dropped, and so are points predicted ``IGNORE_LABEL``
    (they have no column); :func:`mean_iou` still counts the latter as misses.

    Parameters
    ----------
    pred_labels: (N,) int in ``[0, C)`` or -1; gt_labels: (N,) int in ``[0, C)`` or -1; num_classes: C.

    Returns
    -------
    (C, C) int64 matrix, ``cm[g, p]`` = points of true class ``g`` predicted as ``p``.
    """
    num_classes = _num_classes(num_classes)
    gt = _labels(gt_labels, "gt_labels", None, num_classes)
    pred = _labels(pred_labels, "pred_labels", len(gt), num_classes)
    return _confusion(pred, gt, num_classes)


def _confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    both = (gt != IGNORE_LABEL) & (pred != IGNORE_LABEL)
    flat = gt[both] * num_classes + pred[both]
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _iou_per_class(cm: np.ndarray, gt_counts: np.ndarray) -> np.ndarray:
    """IoU per class; ``gt_counts`` includes points predicted -1, so those count as false negatives."""
    tp = np.diag(cm).astype(np.float64)
    union = gt_counts + cm.sum(axis=0) - tp
    return np.divide(tp, union, out=np.full(len(tp), np.nan), where=union > 0)


def mean_iou(pred_labels, gt_labels, num_classes: int) -> dict:
    """Mean intersection-over-union of labels on the same points.

    Points with ground truth ``IGNORE_LABEL`` are ignored. A point with a valid ground truth predicted
    ``IGNORE_LABEL`` is a false negative of its true class (as in the ScanNet benchmark, where predictions
    outside the evaluated classes are misses).

    The mean runs over the classes present in the ground truth: a class the scene does not contain has no
    meaningful IoU (it is 0 as soon as one point is predicted as it, and undefined otherwise), and averaging
    over all C classes would make a scene's score depend on the label set's size. False positives of absent
    classes still lower the IoU of the true classes of those points.

    Parameters
    ----------
    pred_labels: (N,) int; gt_labels: (N,) int; num_classes: C.

    Returns
    -------
    dict with ``miou`` (float, nan when no point has a valid ground truth), ``per_class`` (list of C floats,
    nan for classes absent from both prediction and ground truth among the valid points) and ``present``
    (sorted list of class ids present in the ground truth, the ones averaged).
    """
    num_classes = _num_classes(num_classes)
    gt = _labels(gt_labels, "gt_labels", None, num_classes)
    pred = _labels(pred_labels, "pred_labels", len(gt), num_classes)
    cm = _confusion(pred, gt, num_classes)
    gt_counts = np.bincount(gt[gt != IGNORE_LABEL], minlength=num_classes).astype(np.float64)
    iou = _iou_per_class(cm, gt_counts)
    present = np.flatnonzero(gt_counts > 0)
    miou = float(iou[present].mean()) if len(present) else float("nan")
    return {"miou": miou, "per_class": [float(v) for v in iou], "present": [int(c) for c in present]}


def _class_distances(pred: np.ndarray, pred_labels: np.ndarray, gt: np.ndarray, gt_labels: np.ndarray,
                     num_classes: int, workers: int = -1) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per class c: distances pred(c) -> gt(c) and gt(c) -> pred(c), one KD-tree per non-empty side.

    A side that has points of class c while the other has none gets infinite distances (nothing to match).
    Classes absent from both sides are left out.
    """
    out = {}
    for c in range(num_classes):
        p, g = pred[pred_labels == c], gt[gt_labels == c]
        if len(p) == 0 and len(g) == 0:
            continue
        if len(p) == 0 or len(g) == 0:
            out[c] = (np.full(len(p), np.inf), np.full(len(g), np.inf))
            continue
        d_pred, _ = _query(cKDTree(g), p, workers)
        d_gt, _ = _query(cKDTree(p), g, workers)
        out[c] = (d_pred, d_gt)
    return out


def _mf1_from(class_distances: dict[int, tuple[np.ndarray, np.ndarray]], num_classes: int,
              delta: float) -> dict:
    per_class = np.full(num_classes, np.nan)
    present = []
    for c, (d_pred, d_gt) in class_distances.items():
        # An empty side has no precision (or recall) of its own; the class then scores 0, as its F1 would.
        precision = float(np.mean(d_pred <= delta)) if len(d_pred) else 0.0
        recall = float(np.mean(d_gt <= delta)) if len(d_gt) else 0.0
        per_class[c] = _f1(precision, recall)
        if len(d_gt):
            present.append(c)
    mf1 = float(per_class[present].mean()) if present else float("nan")
    return {"mf1": mf1, "per_class": [float(v) for v in per_class], "present": present}


def _semantic_inputs(pred_points, pred_labels, gt_points, gt_labels, num_classes):
    num_classes = _num_classes(num_classes)
    pred = _points(pred_points, "pred_points")
    gt = _points(gt_points, "gt_points")
    pl = _labels(pred_labels, "pred_labels", len(pred), num_classes)
    gl = _labels(gt_labels, "gt_labels", len(gt), num_classes)
    return pred, pl, gt, gl, num_classes


def mean_f1_delta(pred_points, pred_labels, gt_points, gt_labels, num_classes: int,
                  delta: float = DEFAULT_DELTA) -> dict:
    """Mean over classes of the per-class F1-delta between labelled point sets.

    For class c, precision is the fraction of predicted points labelled c within ``delta`` of a ground-truth
    point labelled c; recall is the fraction of ground-truth points labelled c within ``delta`` of a
    predicted point labelled c; the class's F1 is their harmonic mean. Points labelled ``IGNORE_LABEL`` on
    either side take no part: they are neither matched nor matches. The mean runs over the classes present
    in the (valid) ground truth, as in :func:`mean_iou`; a class only predicted scores 0 in ``per_class``.

    Parameters
    ----------
    pred_points: (N, 3); pred_labels: (N,) int; gt_points: (M, 3); gt_labels: (M,) int;
    num_classes: C; delta: distance threshold.

    Returns
    -------
    dict with ``mf1`` (float, nan when no ground-truth point is labelled), ``per_class`` (list of C floats,
    nan for classes absent from both sides) and ``present`` (class ids averaged).
    """
    delta = _delta(delta)
    pred, pl, gt, gl, num_classes = _semantic_inputs(pred_points, pred_labels, gt_points, gt_labels,
                                                     num_classes)
    return _mf1_from(_class_distances(pred, pl, gt, gl, num_classes), num_classes, delta)


def semantic_metrics(pred_points, pred_labels, gt_points, gt_labels, num_classes: int,
                     delta: float = DEFAULT_DELTA) -> dict:
    """mIoU, mF1-delta and mF1-2delta of a labelled prediction against labelled ground-truth points.

    The two point sets need not coincide: for mIoU each ground-truth point takes the label of its nearest
    predicted point (a predicted ``IGNORE_LABEL`` then counts as a miss, see :func:`mean_iou`). The
    per-class distances of :func:`mean_f1_delta` are computed once and thresholded at both deltas.

    Parameters
    ----------
    pred_points: (N, 3); pred_labels: (N,) int; gt_points: (M, 3); gt_labels: (M,) int;
    num_classes: C; delta: distance threshold.

    Returns
    -------
    dict with floats ``miou``, ``mf1_delta``, ``mf1_2delta`` and lists ``iou_per_class``,
    ``f1_delta_per_class``, ``f1_2delta_per_class`` (C values each, nan for classes absent from both sides),
    and ``present`` (ground-truth class ids averaged).
    """
    delta = _delta(delta)
    pred, pl, gt, gl, num_classes = _semantic_inputs(pred_points, pred_labels, gt_points, gt_labels,
                                                     num_classes)
    _, nearest_pred = _query(cKDTree(pred), gt, -1)
    iou = mean_iou(pl[nearest_pred], gl, num_classes)
    distances = _class_distances(pred, pl, gt, gl, num_classes)
    f1 = _mf1_from(distances, num_classes, delta)
    f1_2 = _mf1_from(distances, num_classes, 2 * delta)
    return {
        "miou": iou["miou"], "mf1_delta": f1["mf1"], "mf1_2delta": f1_2["mf1"],
        "iou_per_class": iou["per_class"], "f1_delta_per_class": f1["per_class"],
        "f1_2delta_per_class": f1_2["per_class"], "present": iou["present"],
    }


# ------------------------------------------------------------------------------------------- sampling


def sample_points_for_eval(mesh: trimesh.Trimesh, n: int, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform surface samples of ``mesh`` with the normal of the face each one lies on.

    Parameters
    ----------
    mesh: triangle mesh with positive surface area (unit cube for the thesis' deltas).
    n: number of samples (the protocol's :data:`~nir_core.protocol.EVAL_POINTS`).
    seed: makes the samples reproducible.

    Returns
    -------
    points: (n, 3) float64 surface points.
    normals: (n, 3) float64 unit face normals (orientation as stored in the mesh).
    """
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError("sample_points_for_eval: expected a trimesh.Trimesh with faces")
    if int(n) != n or n < 1:
        raise ValueError(f"sample_points_for_eval: n must be a positive integer, got {n!r}")
    if not mesh.area > 0:
        raise ValueError("sample_points_for_eval: mesh has zero surface area")
    points, face_index = trimesh.sample.sample_surface(mesh, int(n), seed=seed)
    normals = np.asarray(mesh.face_normals, dtype=np.float64)[face_index]
    return np.asarray(points, dtype=np.float64), normals
