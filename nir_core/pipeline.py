"""The main job in one place: a scan -> a field -> a mesh (-> labels) -> a report, and the models it runs.

Every caller goes through here: ``nir-studio extract`` / ``reconstruct`` / ``evaluate``, batch reconstruction, the
viewer, the web UI, the demo and the benchmarks::

    scan ─ normalise ─┬─ encode (a model: its field from ``num_input`` points) ─┬─ extract ─ cleanup ─ label ─ score
                      └─ field (no model: the scan's exact distance field)    ─┘

Models come from :func:`load_model`, which picks a loader by the path's format from a registry: the bundle folder
loader lives here, other formats (``.nirz`` files, registered by ``compress``) register themselves through the
``nir_studio.model_loaders`` entry point group or :func:`register_loader`, so imports keep pointing one way.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Config, bounded, check_ranges
from .errors import NIRStudioError
from .protocol import INPUT_POINTS, RESOLUTION

if TYPE_CHECKING:  # torch, trimesh and the models load with the first run, not with the settings (fast CLI start)
    import trimesh

    from .bundle import ModelBundle
    from .data.labels import LabelSet
    from .data.scan import Scan

ENTRY_POINT_GROUP = "nir_studio.model_loaders"
"""Entry point group whose objects are :class:`ModelLoader` instances (see ``pyproject.toml``)."""
METHODS = ("udf-mc", "dense-points", "epsilon")
"""Extractors of an exact field: ``udf-mc`` (:func:`~nir_core.extract.udf_mc.udf_marching_cubes`),
``dense-points`` (NDF's dense points + ball pivoting), ``epsilon`` (marching cubes on ``udf - ε``, the baseline
that inflates and doubles surfaces). A model's field is always meshed with ``udf-mc``."""
COLOUR_MODES = ("auto", "on", "off")
"""Values of :attr:`PipelineConfig.colour`."""
STAGES = ("normalise", "encode", "refine", "field", "extract", "cleanup", "label", "score")
"""Stage names, in order, as :class:`Pipeline` announces them; ``encode`` runs with a model, ``refine`` when asked
(``refine_steps`` or ``refine_seconds``), ``field`` without a model, ``label`` when labelling and ``score`` when the
input has faces to score against."""


# ----------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelLoader:
    """One model format: which paths it reads, and how."""

    name: str
    """Format name shown in reports (``bundle``, ``nirz``)."""
    accepts: Callable[[Path], bool]
    """Whether a path is in this format (by its suffix or layout; must not read the whole file)."""
    load: Callable[[Path], tuple[object, ModelBundle]]
    """Path -> (the model in eval mode, its bundle: config, label set, provenance)."""


def _is_bundle_folder(path: Path) -> bool:
    return path.is_dir()


def _load_bundle(path: Path):
    from .bundle import ModelBundle
    from .models.registry import from_bundle

    bundle = ModelBundle.load(path)
    return from_bundle(bundle, source=path), bundle


BUNDLE_LOADER = ModelLoader("bundle", _is_bundle_folder, _load_bundle)
_LOADERS: dict[str, ModelLoader] = {}
_DISCOVERED = False


def register_loader(loader: ModelLoader) -> None:
    """Adds (or replaces, by name) a model format; later registrations are asked first."""
    _LOADERS[loader.name] = loader


def loaders() -> list[ModelLoader]:
    """The registered formats, most recently registered first, the bundle folder last."""
    global _DISCOVERED
    if not _DISCOVERED:
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name not in _LOADERS:
                register_loader(entry.load())
        _DISCOVERED = True
    return [*reversed(_LOADERS.values()), BUNDLE_LOADER]


@dataclass
class LoadedModel:
    """A model ready to run, with what the applications need to know about it."""

    model: object
    """The :class:`~nir_core.models.base.ImplicitModel`, in eval mode."""
    bundle: ModelBundle | None
    """Its config, label set and training provenance (None for a model built in this process)."""
    path: Path
    """Where it was loaded from."""
    format: str
    """The loader's name (``bundle``, ``nirz``, ...)."""
    size_bytes: int
    """Size on disk: the file, or the bundle folder's files."""
    label_set: LabelSet | None = None
    """The classes its semantic head was trained on; None when it has no trained semantic head."""

    @property
    def can_label(self) -> bool:
        return self.label_set is not None

    @property
    def predicts(self) -> tuple[str, ...]:
        """What it can be asked: ``distance`` always, ``labels`` with a trained semantic head."""
        return ("distance", "labels") if self.can_label else ("distance",)


def in_memory(model) -> LoadedModel:
    """A model built or trained in this process (no file, no label set) as a :class:`LoadedModel`."""
    return LoadedModel(model, None, Path("<in memory>"), "in-memory", 0)


def size_on_disk(path: Path) -> int:
    """A file's size, or the total of a folder's files."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def load_model(path: str | Path) -> LoadedModel:
    """The model at ``path``, by the first registered loader that accepts it (a bundle folder otherwise).

    Raises :class:`~nir_core.errors.NIRStudioError` subclasses naming the path and the reason."""
    from .data.labels import LabelSet

    path = Path(path)
    loader = next((lo for lo in loaders() if lo.accepts(path)), BUNDLE_LOADER)
    model, bundle = loader.load(path)
    label_set = LabelSet.from_json(bundle.label_set) if bundle.label_set else None
    return LoadedModel(model, bundle, path, loader.name, size_on_disk(path), label_set)


# ----------------------------------------------------------------------------------------------- pipeline


@dataclass
class PipelineConfig(Config):
    """Settings of :class:`Pipeline`."""

    resolution: int = bounded(RESOLUTION, 8, 2048)
    """Extraction grid, cells per axis over the unit cube; memory grows with its square (checked before each level of
    the search is allocated)."""
    method: str = "udf-mc"
    """Extractor of an exact field: udf-mc (ours), dense-points (NDF + ball pivoting) or epsilon (the baseline);
    a model's field is always meshed with udf-mc (:data:`METHODS`)."""
    min_component_area: float = bounded(0.0005, 0.0, 1.0)
    """Drop connected pieces with less than this fraction of the mesh's area (0 keeps everything)."""
    clean: bool = True
    """Make the mesh one a viewer shows cleanly: no non-manifold edges, one winding per piece
    (:func:`~nir_core.extract.hygiene.clean_mesh`; the rule and the counts before and after go in the report's
    ``cleanup``)."""
    prefer_mesh: bool = True
    """Without a model: the exact distance to the input's faces when it has them, else to its points."""
    num_input: int = bounded(INPUT_POINTS, 4)
    """Points drawn from the scan and encoded (area-uniform on a mesh, a random subset of a point scan)."""
    draws: int = bounded(8, 1)
    """A point scan with more than ``num_input`` points is encoded in up to this many disjoint draws of ``num_input``
    points, each as a whole scene at the density the encoder was trained on; the heads answer from the nearest
    encoded points of all draws, so a dense scan's detail reaches the mesh (1: ``num_input`` points only, the
    thesis's protocol)."""
    seed: int = bounded(0, 0)
    """Seeds the draw of the encoded points."""
    colour: str = "auto"
    """The scan's colours as model input: ``"auto"`` when the model reads colour and the scan has colours; ``"on"``
    the same, but a scan without colours or a model that reads none is an error; ``"off"`` never."""
    labels: bool | None = None
    """Label the mesh vertices with the model's semantic head (unset: when the model has a trained one)."""
    score: bool = True
    """Score the mesh against the input's own surface when the input has faces (``metrics_vs_input_mesh``)."""
    refine_steps: int = bounded(0, 0)
    """Test-time refinement: fit the model's UDF head to the whole scan's own distance field for at most this many
    steps before meshing (:mod:`~nir_core.test_time`). Needs a model. Off while both refinement limits are 0."""
    refine_seconds: float = bounded(0.0, 0.0)
    """Test-time refinement for at most this many seconds (0: no time limit)."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown extraction method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.colour not in COLOUR_MODES:
            raise ValueError(f"unknown colour mode {self.colour!r}; choose one of {', '.join(COLOUR_MODES)}")
        check_ranges(self)


@dataclass
class Result:
    """What :meth:`Pipeline.run` returns."""

    mesh: trimesh.Trimesh
    """The mesh in the input's own coordinates; labelled meshes carry ``vertex_attributes["label"]`` and vertex
    colours from the label set's palette."""
    vertex_labels: np.ndarray | None
    """(V,) int64 class per mesh vertex, or None when not labelled."""
    report: dict
    """Settings, timings per stage (s), extraction statistics, mesh statistics (unit cube), normalisation, notes,
    ``warnings`` (what is unusual about the input, e.g. a flat one: shown to the user by every front end);
    label legend and histograms when labelled; ``metrics_vs_input_mesh`` when scored."""
    field: object = dataclass_field(repr=False, default=None)
    """The :class:`~nir_core.field.Field` that was meshed, over the normalised input's unit cube."""
    unit: Scan | None = dataclass_field(repr=False, default=None)
    """The normalised input."""
    point_labels: np.ndarray | None = None
    """(N,) int64 class of every input point (its ``points``, in order), or None when not labelled."""


class Pipeline:
    """Scan -> normalise -> field (a model's, or the exact one) -> extract -> clean up -> label -> score.

    Parameters
    ----------
    cfg: the settings.
    model: a :class:`LoadedModel` (a bare model is taken as :func:`in_memory`); None meshes the scan's exact field.
    on_stage: called with each stage's name (:data:`STAGES`) as it starts: progress bars.
    """

    def __init__(self, cfg: PipelineConfig | None = None, model: LoadedModel | None = None,
                 on_stage: Callable[[str], None] | None = None,
                 on_progress: Callable[[str, int, int], None] | None = None):
        self.cfg = cfg or PipelineConfig()
        self.model = model if model is None or isinstance(model, LoadedModel) else in_memory(model)
        self.on_stage = on_stage or (lambda name: None)
        self.on_progress = on_progress or (lambda stage, done, total: None)
        self.labels = self._wants_labels()
        if self.cfg.colour == "on" and not (self.model is not None and self.model.model.reads_colour):
            where = f"{self.model.path}: " if self.model is not None else ""
            raise NIRStudioError(f"{where}colour was asked for (--colour on) but this model reads no colour (use a "
                                 "bundle trained with colour, or --colour auto)")
        self.refines = self.cfg.refine_steps > 0 or self.cfg.refine_seconds > 0
        if self.refines:
            from .test_time import check_refinable

            check_refinable(None if self.model is None else self.model.model,
                            str(self.model.path) if self.model is not None else "refine")

    def _wants_labels(self) -> bool:
        can = self.model is not None and self.model.can_label
        if self.cfg.labels and not can:
            where = f"{self.model.path}: " if self.model is not None else ""
            raise NIRStudioError(f"{where}this model has no trained semantic head, so it cannot label (use a joint "
                                 "or context bundle, or turn labels off)")
        return can if self.cfg.labels is None else bool(self.cfg.labels)

    def run(self, scan: Scan) -> Result:
        """Runs every stage on ``scan``; see :class:`Result`."""
        timings: dict[str, float] = {}
        stage = _Stages(self.on_stage, timings)
        if self.cfg.colour == "on" and scan.colors is None:
            raise NIRStudioError(f"{scan.source or 'the scan'}: has no colours (RGB), but colour was asked for "
                                 "(--colour on); use --colour auto to label it from its geometry alone")
        with stage("normalise"):
            warnings = check_spread(scan)
            unit = scan.normalised()
        if self.model is None:
            with stage("field"):
                field_ = self._exact_field(unit)
            with stage("extract"):
                mesh, extra = self._extract_exact(field_)
            report = {"field": type(field_).__name__, **extra, "notes": []}
            if not unit.has_faces:
                report["notes"].append("the input has no faces: its distance field is that of a small disk at every "
                                       "point, in the plane of its neighbours (SurfelsField); the disks overhang open "
                                       "borders by about the point spacing")
        else:
            with stage("encode"):
                field_, draws, colours = self._encode(unit)
                level = self._surface_level(field_, draws[0])
            refined = None
            if self.refines:
                # The refined field is meshed at the trained one's level: refinement changes the field, not what
                # counts as its surface.
                with stage("refine"):
                    field_, refined = self._refine(unit, draws, colours)
            with stage("extract"):
                mesh, extra = self._extract_model(field_, level)
            report = {**extra, "encoded_points": int(sum(len(d) for d in draws)), "colour": colours is not None}
            if refined is not None:
                report["refine"] = refined
        degenerate = report["extraction"].get("degenerate_queries", 0)
        if degenerate:
            warnings.append(f"{degenerate:,} field queries came back NaN or Inf (degenerate geometry, e.g. zero-area "
                            "triangles) and were taken as far from the surface")
        with stage("cleanup"):
            mesh, cleanup = self._cleanup(mesh)
        stats = cleanup.pop("stats", None) or _mesh_stats(mesh)  # the clean-up measured its mesh already
        report = {"job": self.cfg.to_json(), **report, "cleanup": cleanup, "mesh_unit_cube": stats,
                  "normalisation": unit.normalisation.to_json()}
        back = mesh.copy()
        back.vertices = unit.normalisation.invert(np.asarray(mesh.vertices, dtype=np.float64))
        vertex_labels = point_labels = None
        if self.labels:
            with stage("label"):
                vertex_labels, point_labels = self._label(back, unit, field_, report)
        if self.cfg.score and scan.has_faces and len(back.faces):
            from .protocol import mesh_metrics

            with stage("score"):
                report["metrics_vs_input_mesh"] = mesh_metrics(scan, back)
        report["warnings"] = warnings
        report["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
        return Result(back, vertex_labels, report, field_, unit, point_labels)

    # ---- stages ---------------------------------------------------------------------------------------

    def _exact_field(self, unit: Scan):
        from .data.ground_truth import field_from_scan

        return field_from_scan(unit, prefer_mesh=self.cfg.prefer_mesh)

    def _extract_exact(self, field_) -> tuple[trimesh.Trimesh, dict]:
        from .extract import (
            DensePointsConfig,
            QueryCounter,
            UDFExtractConfig,
            ball_pivoting_mesh,
            dense_points,
            epsilon_level_set,
            udf_marching_cubes,
        )

        if self.cfg.method == "udf-mc":
            mesh, stats = udf_marching_cubes(field_, cfg=UDFExtractConfig(resolution=self.cfg.resolution))
            return mesh, {"extraction": stats.to_json()}
        counter = QueryCounter()
        if self.cfg.method == "dense-points":
            points, normals = dense_points(field_, DensePointsConfig(), counter=counter)
            mesh, extra = ball_pivoting_mesh(points, normals), {"points": int(len(points))}
        else:
            mesh, extra = epsilon_level_set(field_, self.cfg.resolution, counter=counter), {}
        return mesh, {"extraction": {**extra, "queries": counter.queries, "degenerate_queries": counter.degenerate}}

    def _encode(self, unit: Scan) -> tuple[object, list[np.ndarray], list | None]:
        """The model's field of ``unit``, the draws of points it encoded (the first is ``num_input`` points; a
        point scan with more points gives more draws, up to ``draws``; a mesh gives one) and their colours (None
        when the model reads none or the scan has none, or colour is off)."""
        import torch

        from .data.sampling import sample_surface

        n = self.cfg.num_input
        count = 1 if unit.has_faces else min(self.cfg.draws, max(1, len(unit.points) // n))
        points, _, _ = sample_surface(unit, n * count, self.cfg.seed)
        draws = [np.ascontiguousarray(points[i * n:(i + 1) * n], dtype=np.float32) for i in range(count)]
        model = self.model.model
        model.eval()
        colours = None
        if self.cfg.colour != "off" and model.reads_colour and unit.colors is not None:
            colours = [torch.from_numpy(unit.colours_at(d)) for d in draws]
        return model.field([torch.from_numpy(d) for d in draws], colours=colours), draws, colours

    def _refine(self, unit: Scan, draws: list[np.ndarray], colours: list | None) -> tuple[object, dict]:
        """The field of a copy of the model fitted to ``unit`` (:func:`~nir_core.test_time.refine_to_scan`)."""
        import torch

        from .test_time import RefineConfig, refine_to_scan

        cfg = RefineConfig(steps=self.cfg.refine_steps, seconds=self.cfg.refine_seconds, seed=self.cfg.seed)
        encoded = [torch.from_numpy(d) for d in draws]
        fitted, report = refine_to_scan(self.model.model, encoded, unit, cfg,
                                        lambda done, total, loss: self.on_progress("refine", done, total))
        return fitted.field(encoded, colours=colours), report.to_json()

    @staticmethod
    def _surface_level(field_, points: np.ndarray) -> float:
        """The level a network's UDF is meshed at: it rarely reaches 0 on the surface, so the median predicted
        distance at (the first 2,048 of) the encoded points themselves."""
        import torch

        with torch.no_grad():
            return float(torch.median(field_.udf(torch.from_numpy(points[:2048].astype(np.float32)))))

    def _extract_model(self, field_, level: float) -> tuple[trimesh.Trimesh, dict]:
        from .extract import UDFExtractConfig, udf_marching_cubes

        # Networks are only roughly 1-Lipschitz: a wider band keeps the coarse-to-fine search from losing surface.
        mesh, stats = udf_marching_cubes(field_, cfg=UDFExtractConfig(resolution=self.cfg.resolution, offset=level,
                                                                      band=1.5))
        return mesh, {"surface_level": level, "extraction": stats.to_json(), "notes": []}

    def _cleanup(self, mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, dict]:
        from .extract import clean_mesh, remove_small_components

        if self.cfg.clean:
            return clean_mesh(mesh, self.cfg.min_component_area)
        if self.cfg.min_component_area > 0 and len(mesh.faces):
            mesh = remove_small_components(mesh, min_area_fraction=self.cfg.min_component_area)
        return mesh, {}

    def _label(self, mesh: trimesh.Trimesh, unit: Scan, field_, report: dict) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``mesh`` (input frame) in place and every point of the input (the encoded ones and the rest, each
        by the prediction at its position); adds the legend and histograms to ``report``. Returns the vertex and
        point labels."""
        label_set = self.model.label_set
        vertex_labels = field_labels(field_, unit.normalisation.apply(np.asarray(mesh.vertices, np.float64)))
        point_labels = field_labels(field_, unit.points)
        mesh.vertex_attributes["label"] = vertex_labels
        mesh.visual.vertex_colors = label_set.colorize(vertex_labels)  # trimesh adds the alpha
        present = sorted(set(vertex_labels.tolist()) | set(point_labels.tolist()))
        report["legend"] = {label_set.names[i]: "#" + bytes(label_set.colors[i].astype(np.uint8)).hex()
                            for i in present}
        report["label_histogram"] = {"mesh_vertices": label_set.histogram(vertex_labels),
                                     "input_points": label_set.histogram(point_labels)}
        return vertex_labels, point_labels


def check_spread(scan: Scan) -> list[str]:
    """Refuses an input with no surface to reconstruct (its points coincide or lie on one line) with
    :class:`~nir_core.errors.InvalidScanError`; returns warnings for one that is flat (on one plane)."""
    from .data.normalise import describe_spread
    from .errors import InvalidScanError

    points = scan.mesh.vertices if scan.has_faces else scan.points
    where = scan.source if scan.source is not None else "the input"
    shape = describe_spread(points)
    if shape == "coincide":
        raise InvalidScanError(where, f"all {len(points):,} points coincide: there is no surface to reconstruct")
    if shape == "collinear":
        raise InvalidScanError(where, f"the {len(points):,} points are collinear (they lie on one line): there is "
                                      "no surface to reconstruct")
    if shape == "coplanar":
        return ["the points are coplanar (they lie on one plane): the result can be at most a flat sheet"]
    return []


def field_labels(field_, points: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(N, 3) unit-cube points -> (N,) int64 argmax of the field's semantic scores."""
    import torch

    with torch.no_grad():
        out = [field_.semantics(torch.from_numpy(np.ascontiguousarray(points[i:i + chunk], np.float32))).argmax(-1)
               for i in range(0, len(points), chunk)]
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, np.int64)


class _Stages:
    """``with stages(name):`` announces a stage and records its wall time under its name."""

    def __init__(self, announce: Callable[[str], None], timings: dict[str, float]):
        self.announce, self.timings = announce, timings

    def __call__(self, name: str):
        self.name = name
        return self

    def __enter__(self):
        self.announce(self.name)
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.name] = time.perf_counter() - self.start
        return False


def _mesh_stats(mesh: trimesh.Trimesh) -> dict:
    from .extract import mesh_stats

    return mesh_stats(mesh)

