"""One call from a scan to a mesh: normalise, build the field, extract, clean up, map back to the input's frame.

``nir-studio extract`` and the benchmarks go through :func:`extract_scan`; a trained model will plug in here
as another field.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from ..data.ground_truth import field_from_scan
from ..data.scan import Scan
from ..errors import NIRStudioError
from .analysis import mesh_stats
from .baselines import epsilon_level_set
from .cleanup import orient_components, remove_small_components
from .dense_points import DensePointsConfig, ball_pivoting_mesh, dense_points
from .udf_mc import UDFExtractConfig, udf_marching_cubes

METHODS = ("udf-mc", "dense-points", "epsilon")
"""``udf-mc``: :func:`udf_marching_cubes`; ``dense-points``: NDF's dense points + ball pivoting;
``epsilon``: marching cubes on ``udf - ε`` (the baseline that inflates and doubles surfaces)."""


@dataclass
class ExtractJob:
    """Settings of :func:`extract_scan`."""

    method: str = "udf-mc"
    """One of :data:`METHODS`."""
    resolution: int = 256
    """Cells per axis over the unit cube."""
    min_component_area: float = 0.0005
    """Drop connected pieces with less than this fraction of the total area (0 keeps everything)."""
    orient: bool = True
    """Give every connected piece a consistent face winding."""
    prefer_mesh: bool = True
    """Use the input's faces for exact distances when it has them; otherwise distances to its points."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown extraction method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.resolution < 8:
            raise ValueError(f"resolution must be at least 8, got {self.resolution}")


def reconstruct_with_model(scan: Scan, model, job: ExtractJob | None = None, num_input: int = 10_240,
                           seed: int = 0, labels: bool = False, label_set=None,
                           on_stage: Callable[[str], None] | None = None) -> tuple[trimesh.Trimesh, dict]:
    """Scan -> trained encoder -> UDF -> mesh, in the scan's own coordinates (optionally labelled).

    ``num_input`` points are drawn from the scan (area-uniform on a mesh, a random subset of a point scan) and
    encoded once; the extractor then queries the model's field. A network's UDF rarely reaches 0 on the
    surface, so the surface level is taken as the median predicted distance at the input points themselves.

    With ``labels`` the semantic head labels every mesh vertex: the mesh then carries
    ``vertex_attributes["label"]`` (V,) int64 and vertex colours from ``label_set``'s palette, and the report a
    legend and label histograms of the vertices and of the encoded input points.

    ``on_stage``: called with ``"encode"``, ``"extract"`` and ``"label"`` as each stage starts (progress bars).
    """
    import torch

    from ..data.sampling import sample_surface

    if labels and not getattr(model, "num_classes", 0):
        raise NIRStudioError("this model has no semantic head: it cannot label (train a joint or context bundle)")
    job = job or ExtractJob()
    stage = on_stage or (lambda name: None)
    timings: dict[str, float] = {}
    stage("encode")
    start = time.perf_counter()
    unit = scan.normalised()
    points, _, _ = sample_surface(unit, num_input, seed)
    model.eval()
    field = model.field(torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)))
    timings["encode"] = time.perf_counter() - start
    stage("extract")
    start = time.perf_counter()
    with torch.no_grad():
        level = float(torch.median(field.udf(torch.from_numpy(points[:2048].astype(np.float32)))))
    # Networks are only roughly 1-Lipschitz: a wider band keeps the coarse-to-fine search from losing surface.
    mesh, stats = udf_marching_cubes(field, cfg=UDFExtractConfig(resolution=job.resolution, offset=level, band=1.5))
    timings["extract"] = time.perf_counter() - start
    mesh, report = _finish(mesh, unit, job, timings, {"surface_level": level, "extraction": stats.to_json(),
                                                     "notes": []})
    if labels:
        stage("label")
        start = time.perf_counter()
        unit_vertices = unit.normalisation.apply(np.asarray(mesh.vertices, np.float64))
        vertex_labels = _labels(field, unit_vertices)
        point_labels = _labels(field, points)
        mesh.vertex_attributes["label"] = vertex_labels
        if label_set is not None:
            mesh.visual.vertex_colors = label_set.colorize(vertex_labels)  # trimesh adds the alpha
            present = sorted(set(vertex_labels.tolist()) | set(point_labels.tolist()))
            report["legend"] = {label_set.names[i]: "#" + bytes(label_set.colors[i].astype(np.uint8)).hex()
                                for i in present}
            report["label_histogram"] = {"mesh_vertices": label_set.histogram(vertex_labels),
                                         "input_points": label_set.histogram(point_labels)}
        report["timings_s"]["label"] = round(time.perf_counter() - start, 4)
    return mesh, report


def _labels(field, points: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(N, 3) unit-cube points -> (N,) int64 argmax of the field's semantic scores."""
    import torch

    out = [field.semantics(torch.from_numpy(np.ascontiguousarray(points[i:i + chunk], np.float32))).argmax(-1)
           for i in range(0, len(points), chunk)]
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, np.int64)


def _finish(mesh: trimesh.Trimesh, unit: Scan, job: ExtractJob, timings: dict, report: dict
            ) -> tuple[trimesh.Trimesh, dict]:
    """Clean-up, statistics and the way back to the input's coordinates, shared by both pipelines."""
    start = time.perf_counter()
    if job.min_component_area > 0 and len(mesh.faces):
        mesh = remove_small_components(mesh, min_area_fraction=job.min_component_area)
    if job.orient and len(mesh.faces):
        mesh = orient_components(mesh)
    timings["cleanup"] = time.perf_counter() - start
    report = {"job": asdict(job), **report, "mesh_unit_cube": mesh_stats(mesh),
              "normalisation": unit.normalisation.to_json(),
              "timings_s": {k: round(v, 4) for k, v in timings.items()}}
    back = mesh.copy()
    back.vertices = unit.normalisation.invert(np.asarray(mesh.vertices, dtype=np.float64))
    return back, report


def extract_scan(scan: Scan, job: ExtractJob | None = None) -> tuple[trimesh.Trimesh, dict]:
    """Meshes the distance field of ``scan`` (its surface if it has faces, else its points).

    Returns
    -------
    mesh: in the scan's own coordinates.
    report: settings, timings, extraction statistics and :func:`~nir_core.extract.analysis.mesh_stats`
        (the latter in unit-cube units, as the metrics).
    """
    job = job or ExtractJob()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    unit = scan.normalised()
    field = field_from_scan(unit, prefer_mesh=job.prefer_mesh)
    timings["field"] = time.perf_counter() - start

    start = time.perf_counter()
    extra: dict = {}
    if job.method == "udf-mc":
        mesh, stats = udf_marching_cubes(field, cfg=UDFExtractConfig(resolution=job.resolution))
        extra = stats.to_json()
    elif job.method == "dense-points":
        points, normals = dense_points(field, DensePointsConfig())
        mesh = ball_pivoting_mesh(points, normals)
        extra = {"points": int(len(points))}
    else:
        mesh = epsilon_level_set(field, job.resolution)
    timings["extract"] = time.perf_counter() - start

    notes = []
    if not unit.has_faces:
        notes.append("the input has no faces: its distance field is that of a small disk at every point, in the "
                     "plane of its neighbours (SurfelsField); the disks overhang open borders by about the "
                     "point spacing")
    return _finish(mesh, unit, job, timings, {"field": type(field).__name__, "extraction": extra, "notes": notes})
