"""The one scoring protocol (Costain 2023, ch. 6 §4.1): its constants, and the functions every caller scores with.

``nir-studio evaluate``, ``reconstruct``'s metrics against the input's own surface, the web UI's comparison, the demo
and the benchmarks all take their sampling counts, δ and normalisation from here.

Each scene is normalised to the unit cube; ``num_input`` points are sampled on its surface (or drawn from its
points when it has no faces) and encoded; the predicted UDF is meshed at ``resolution``³; 100k points sampled on
that mesh are compared with 100k ground-truth surface points (all of them when the scene has no faces: ScanNet's
dense vertices) by CD-L1, CD-L2, F1-δ and F1-2δ. When the model labels and the scene carries labels, the sampled
mesh points take the semantic head's labels and mIoU, mF1-δ and mF1-2δ are added; so is ``miou_at_gt``, the mIoU
of the semantic head queried at the ground-truth points themselves, which scores the labelling apart from the mesh
(on a mesh that misses part of the surface, the mesh-based scores also count the missing part as mislabelled).
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import Config, bounded, check_ranges

if TYPE_CHECKING:  # the heavy modules load with the first function that needs them, not with the constants
    import trimesh

    from .data.scan import Scan

INPUT_POINTS = 10_000
"""Points of a scene fed to the encoder at inference (the thesis's data preparation: 10k surface points). Training
feeds 10,240 (the thesis's training setting, ``SceneSamplingConfig.num_input``)."""
EVAL_POINTS = 100_000
"""Surface samples on each side of a comparison: on the prediction and on the ground truth (the thesis: 100k)."""
RESOLUTION = 256
"""Extraction grid, cells per axis over the unit cube."""
HELD_OUT_SEED = 100_000
"""Seed of the first generated held-out room or object: far from the training seeds (0 onwards), so never trained
on."""
DELTA = 0.005
"""F1 distance threshold in unit-cube units; the default of every F1 metric in :mod:`nir_core.metrics`."""

RECONSTRUCTION_KEYS = ("cd_l1", "cd_l2", "f1_delta", "f1_2delta", "precision", "recall", "accuracy", "completeness")
"""Per scene: Chamfer L1 / L2, F1 at δ and 2δ, F1-δ's precision (prediction near the truth) and recall, and CD-L1's
two halves: accuracy (mean distance from the prediction to the truth) and completeness (from the truth to the
prediction)."""
SEMANTIC_KEYS = ("miou", "mf1_delta", "mf1_2delta", "miou_at_gt")
COVERAGE_EDGES = (1.0, 2.0, 4.0)
"""Band edges, in δ, of :func:`recall_by_coverage`: ground truth the input covers (within δ of an input point),
near it (δ-2δ, 2δ-4δ), and in the input's holes (beyond 4δ)."""


@dataclass
class EvalConfig(Config):
    """Settings of the protocol."""

    num_input: int = bounded(INPUT_POINTS, 4)
    """Points fed to the encoder."""
    num_gt: int = bounded(EVAL_POINTS, 1)
    """Ground-truth and prediction surface samples compared by the metrics."""
    resolution: int = bounded(RESOLUTION, 8, 2048)
    """Extraction grid, cells per axis over the unit cube."""
    seed: int = bounded(1, 1)
    """Seeds the input draw; the ground-truth draw uses ``seed - 1`` so the two never coincide."""

    def __post_init__(self):
        check_ranges(self)


@dataclass
class ProtocolScene:
    """One scene prepared for the protocol, in unit-cube coordinates."""

    name: str
    """Shown in reports."""
    unit: Scan
    """The normalised scene."""
    input_points: np.ndarray
    """(num_input, 3) float32 encoder input."""
    gt_points: np.ndarray
    """(G, 3) ground-truth surface points."""
    gt_labels: np.ndarray | None
    """(G,) int64 labels of ``gt_points`` (-1 unlabelled), or None."""


def prepare(scan: Scan, name: str, cfg: EvalConfig | None = None) -> ProtocolScene:
    """Normalises ``scan`` and draws the encoder input and the ground-truth samples."""
    from .data.sampling import sample_surface

    cfg = cfg or EvalConfig()
    unit = scan.normalised()
    points, _, _ = sample_surface(unit, cfg.num_input, cfg.seed)
    if unit.has_faces:
        gt, _, gt_labels = sample_surface(unit, cfg.num_gt, cfg.seed - 1)
    else:
        gt, gt_labels = unit.points, unit.labels
    return ProtocolScene(name, unit, points, np.asarray(gt, np.float64),
                         None if gt_labels is None else np.asarray(gt_labels, np.int64))


def score_mesh(mesh: trimesh.Trimesh, scene: ProtocolScene, cfg: EvalConfig) -> tuple[dict, np.ndarray | None]:
    """Reconstruction metrics of ``mesh`` (unit cube) against the scene; also returns the sampled mesh points."""
    from .metrics import reconstruction_metrics, sample_points_for_eval

    if len(mesh.faces) == 0:
        return {k: float("nan") for k in RECONSTRUCTION_KEYS} | {"empty_mesh": True}, None
    pred = sample_points_for_eval(mesh, cfg.num_gt, seed=cfg.seed + 2)[0]
    m = reconstruction_metrics(pred, scene.gt_points)
    return {k: m[k] for k in RECONSTRUCTION_KEYS}, pred


def mesh_metrics(scan: Scan, mesh: trimesh.Trimesh, reference: trimesh.Trimesh | None = None) -> dict:
    """Reconstruction metrics of ``mesh`` against ``reference`` (default: the scan's own surface), both given in
    the scan's frame and scored in the scan's unit cube, with :data:`EVAL_POINTS` samples on each side.

    What ``nir-studio reconstruct`` reports against an input that has faces, and the web UI's comparison of two
    reconstructions."""
    from .metrics import reconstruction_metrics, sample_points_for_eval

    unit = scan.normalised()

    def in_unit_cube(m: trimesh.Trimesh) -> trimesh.Trimesh:
        m = m.copy()
        m.vertices = unit.normalisation.apply(np.asarray(m.vertices, np.float64))
        return m

    gt = sample_points_for_eval(unit.mesh if reference is None else in_unit_cube(reference), EVAL_POINTS, seed=0)[0]
    pred = sample_points_for_eval(in_unit_cube(mesh), EVAL_POINTS, seed=1)[0]
    m = reconstruction_metrics(pred, gt)
    return {k: m[k] for k in RECONSTRUCTION_KEYS}


def recall_by_coverage(pred: np.ndarray, scene: ProtocolScene, delta: float = DELTA) -> list[dict]:
    """Recall at ``delta`` of the ground truth, grouped by each point's distance to the encoder input.

    Tells where a reconstruction misses the truth: where the input had points (the model lost detail it was
    given) or in the input's holes (it did not fill a gap).

    Parameters
    ----------
    pred: (P, 3) points sampled on the reconstruction (unit cube).
    scene: the prepared scene (its ``gt_points`` and ``input_points``).
    delta: the F1 threshold.

    Returns
    -------
    One dict per band of :data:`COVERAGE_EDGES`: ``band`` (e.g. ``"1-2 δ"``), ``share`` (fraction of the ground
    truth in it) and ``recall`` (fraction of those within ``delta`` of ``pred``; None for an empty band).
    """
    from .metrics import nearest_distances

    to_input = nearest_distances(scene.gt_points, scene.input_points)[0] / delta
    found = nearest_distances(scene.gt_points, pred)[0] <= delta
    edges = (0.0, *COVERAGE_EDGES, np.inf)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (to_input >= lo) & (to_input < hi)
        rows.append({"band": f"{lo:g}-{hi:g} δ" if np.isfinite(hi) else f">{lo:g} δ", "share": float(band.mean()),
                     "recall": float(found[band].mean()) if band.any() else None})
    return rows


def evaluate_scene(model, scene: ProtocolScene, cfg: EvalConfig | None = None, semantic: bool = True) -> dict:
    """Runs the model on one prepared scene: metrics, timings and extraction statistics.

    Besides the metrics, ``udf_at_gt`` (median and 90th percentile of the predicted distance at the ground-truth
    points) and ``surface_level`` (the level the extractor meshed) tell a field that misses the surface from an
    extraction that misses the field.

    ``model``: an :class:`~nir_core.models.base.ImplicitModel` or a :class:`~nir_core.pipeline.LoadedModel`.
    ``semantic``: also score the semantic head (when the model has one and the scene is labelled); off for
    models whose semantic head was never trained (geometry-only bundles)."""
    import torch

    from .data.scan import Scan
    from .metrics import mean_iou, semantic_metrics
    from .pipeline import LoadedModel, Pipeline, PipelineConfig

    cfg = cfg or EvalConfig()
    model = model.model if isinstance(model, LoadedModel) else model
    start = time.perf_counter()
    # The scene's encoder input is the scan here; the mesh comes back in its frame: this scene's unit cube.
    run = Pipeline(PipelineConfig(resolution=cfg.resolution, num_input=cfg.num_input, labels=False, score=False),
                   model).run(Scan(points=scene.input_points))
    mesh, report = run.mesh, run.report
    seconds = time.perf_counter() - start
    metrics, pred = score_mesh(mesh, scene, cfg)
    gt = torch.from_numpy(scene.gt_points.astype(np.float32))
    # A model that reads colour gets the input points' colours (the scan's own: they are drawn from it).
    colours = scene.unit.colours_at(scene.input_points) if model.reads_colour else None
    with torch.no_grad():
        field = model.field(torch.from_numpy(scene.input_points),
                            colours=None if colours is None else torch.from_numpy(colours))
        udf_at_gt = field.udf(gt).numpy()
    result = {"scene": scene.name, **metrics, "seconds": round(seconds, 3),
              "faces": int(len(mesh.faces)), "queries": report["extraction"]["queries"],
              "surface_level": report["surface_level"],
              "udf_at_gt": {"median": float(np.median(udf_at_gt)), "p90": float(np.quantile(udf_at_gt, 0.9))}}
    if pred is not None:
        result["recall_by_input_distance"] = recall_by_coverage(pred, scene)
    if semantic and model.num_classes and scene.gt_labels is not None and pred is not None and (scene.gt_labels >= 0).any():
        with torch.no_grad():
            labels = field.semantics(torch.from_numpy(pred.astype(np.float32))).argmax(-1).numpy()
            at_gt = field.semantics(gt).argmax(-1).numpy()
        sem = semantic_metrics(pred, labels, scene.gt_points, scene.gt_labels, model.num_classes)
        sem["miou_at_gt"] = mean_iou(at_gt, scene.gt_labels, model.num_classes)["miou"]
        result.update({k: sem[k] for k in SEMANTIC_KEYS})
        result["iou_per_class"] = sem["iou_per_class"]
    return result


def evaluate(model, scenes: Iterable[ProtocolScene], cfg: EvalConfig | None = None, semantic: bool = True,
             progress=None) -> dict:
    """Every scene (see :func:`evaluate_scene`), then the means of each metric over the scenes that have it.

    ``progress``: optional callable ``(scene_name, result)`` called after each scene.
    """
    cfg = cfg or EvalConfig()
    rows = []
    for scene in scenes:
        rows.append(evaluate_scene(model, scene, cfg, semantic))
        if progress is not None:
            progress(scene.name, rows[-1])
    mean = {}
    for key in RECONSTRUCTION_KEYS + SEMANTIC_KEYS:
        values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
        if values:
            mean[key] = float(np.mean(values))
    return {"protocol": cfg.to_json(), "scenes": rows, "mean": mean}
