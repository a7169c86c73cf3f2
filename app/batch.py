"""Batch reconstruction: many scans -> labelled meshes and reports, robust to bad files, resumable, shardable.

Per input ``NAME``, the output folder gets ``NAME.glb`` (vertex colours), ``NAME.ply`` (``label`` property),
optionally ``NAME.npz``, and ``NAME.json`` (the report) — every file written atomically, the report last, so an
input whose report exists is done and a re-run skips it (``force`` redoes it). A file that fails is reported and
skipped; the others go on.
"""
from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nir_core.atomic import atomic_write_json
from nir_core.errors import NIRStudioError, ScanLoadError
from nir_core.pipeline import STAGES as PIPELINE_STAGES
from nir_core.pipeline import PipelineConfig

MODELS_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"
FORMATS = ("glb", "ply", "npz")
STAGES = ("load", *PIPELINE_STAGES, "export")
"""Stages of one input as ``on_stage`` announces them: loading, the pipeline's, then writing the files."""


@dataclass
class BatchJob:
    """What ``nir-studio reconstruct`` was asked to do."""

    inputs: list[Path]
    """Files, folders (every scan under them) and glob patterns."""
    out_dir: Path
    """Where outputs and reports go."""
    model: Path
    """The bundle folder or compressed model file."""
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    """What each input goes through (resolution, labels, ...)."""
    formats: tuple[str, ...] = ("glb", "ply")
    """Mesh files written per input (of :data:`FORMATS`)."""
    force: bool = False
    """Redo inputs whose report already exists."""
    shard: tuple[int, int] = (0, 1)
    """``(i, n)``: this process handles every n-th input starting at i."""

    def __post_init__(self):
        unknown = set(self.formats) - set(FORMATS)
        if unknown or not self.formats:
            raise ValueError(f"formats must be some of {', '.join(FORMATS)}; got {', '.join(self.formats) or 'none'}")
        i, n = self.shard
        if not 0 <= i < n:
            raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")


@dataclass
class FileResult:
    """How one input went."""

    input: Path
    name: str
    status: str = "pending"
    """``done``, ``skipped`` (already done), or ``failed``."""
    reason: str = ""
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What is unusual about a finished input (the report's ``warnings``)."""


DEFAULT_MODELS = ("pt-context-scans-colour", "pt-context-scans", "pt-context", "pt-geometry")
"""The bundles a command uses when none is named, the first one present: the labelled bundle trained on simulated
scans that also reads colour (the best on real rooms, docs/RESULTS.md "Labels on real rooms"), the same without
colour, the one trained on whole room surfaces, the geometry-only one."""


def default_model() -> Path:
    """The bundled model: the first of :data:`DEFAULT_MODELS` in assets/models."""
    present = [MODELS_DIR / name for name in DEFAULT_MODELS if (MODELS_DIR / name / "config.json").exists()]
    return present[0] if present else MODELS_DIR / DEFAULT_MODELS[-1]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` -> (i, n); None -> the ``RANK`` / ``WORLD_SIZE`` that ``torchrun`` sets, else (0, 1)."""
    if text is None:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
    return i, n


def expand_inputs(items: list[Path]) -> list[Path]:
    """Files, folders and glob patterns -> the scans they stand for, sorted and without repeats.

    A pattern that matches nothing or a missing file raises (a typo should not silently shrink the batch)."""
    from nir_core.data.io import find_scans

    found: list[Path] = []
    for item in items:
        text = str(item)
        if any(c in text for c in "*?[") and not item.exists():
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise NIRStudioError(f"{text}: the pattern matches no file")
            for m in matches:
                found.extend(find_scans(m))
        else:
            found.extend(find_scans(item))
    return sorted(dict.fromkeys(p.resolve() for p in found))


def output_names(paths: list[Path]) -> list[str]:
    """One output name per input: its stem, with ``-2``, ``-3``... when stems repeat (stable across shards because
    it is computed on the whole sorted list)."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        stem = p.stem if p.is_file() else p.name
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def run_batch(job: BatchJob, on_file: Callable[[FileResult], None] | None = None,
              on_stage: Callable[[str, str], None] | None = None,
              on_progress: Callable[[str, int, int], None] | None = None) -> list[FileResult]:
    """Reconstructs every input of this shard; returns one result per input of the shard.

    ``on_file(result)`` is called after each input; ``on_stage(name, stage)`` as each stage starts;
    ``on_progress(stage, done, total)`` within a long stage (the refinement's steps).
    """
    paths = expand_inputs(job.inputs)
    names = output_names(paths)
    i, n = job.shard
    mine = list(zip(paths, names))[i::n]
    from nir_core.pipeline import Pipeline, load_model

    model = load_model(job.model)
    Pipeline(job.pipeline, model)  # a model that cannot label as asked fails before any input
    job.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path, name in mine:
        result = FileResult(path, name)
        report_path = job.out_dir / f"{name}.json"
        if report_path.exists() and not job.force:
            result.status, result.reason = "skipped", "already done (--force to redo)"
        else:
            start = time.perf_counter()
            try:
                result.outputs, report, _ = reconstruct_file(
                    path, job.out_dir, name, model, job.pipeline, formats=job.formats,
                    on_stage=lambda stage, name=name: on_stage and on_stage(name, stage), on_progress=on_progress)
                result.status, result.warnings = "done", report["warnings"]
            except (NIRStudioError, ValueError, OSError) as exc:
                # A file's own error names the file, which the result names already.
                own = isinstance(exc, ScanLoadError) and exc.path is not None and exc.path.resolve() == path
                result.status, result.reason = "failed", exc.reason if own else str(exc)
            result.seconds = time.perf_counter() - start
        results.append(result)
        if on_file is not None:
            on_file(result)
    return results


def reconstruct_file(path: Path, out_dir: Path, name: str, model, cfg=None, formats: tuple[str, ...] = ("glb", "ply"),
                     on_stage: Callable[[str], None] | None = None, scan=None, load_seconds: float = 0.0,
                     on_progress: Callable[[str, int, int], None] | None = None):
    """One input -> ``out_dir/name.{formats}``, ``out_dir/name.points.ply`` (every input point with its predicted
    ``label``, when labelling) and ``out_dir/name.json`` (written last); returns the mesh files, the report and the
    pipeline's :class:`~nir_core.pipeline.Result` (the mesh and labels in memory, so callers need not read the
    files back).

    ``model``: a :class:`~nir_core.pipeline.LoadedModel`; ``cfg``: the :class:`~nir_core.pipeline.PipelineConfig`.
    ``on_stage`` is called with each of :data:`STAGES` as it starts, ``on_progress(stage, done, total)`` within a
    long stage; ``scan``: ``path`` already loaded (in
    ``load_seconds``). Raises :class:`NIRStudioError` (bad file) or ``ValueError`` without writing the report.
    """
    from nir_core.data.io import load, save_scan
    from nir_core.data.scan import Scan
    from nir_core.pipeline import Pipeline

    stage = on_stage or (lambda what: None)
    stage("load")
    start = time.perf_counter()
    scan = scan if scan is not None else load(path)
    loaded = time.perf_counter() - start + load_seconds
    result = Pipeline(cfg, model, on_stage=stage, on_progress=on_progress).run(scan)
    mesh, report, labels = result.mesh, result.report, result.vertex_labels
    stage("export")
    start = time.perf_counter()
    label_set = model.label_set if labels is not None else None
    written = Scan(points=np.asarray(mesh.vertices, np.float32), mesh=mesh, labels=labels, label_set=label_set,
                   colors=label_set.colorize(labels) if label_set is not None else None)
    outputs = [str(save_scan(written, out_dir / f"{name}.{fmt}")) for fmt in formats]
    if result.point_labels is not None:
        points = Scan(points=scan.points, labels=result.point_labels, label_set=label_set,
                      colors=label_set.colorize(result.point_labels))
        report["labelled_points"] = str(save_scan(points, out_dir / f"{name}.points.ply"))
        report.update(_labels_against_the_input(scan, result.point_labels, label_set))
    report["timings_s"] = {"load": round(loaded, 4), **report["timings_s"],
                           "export": round(time.perf_counter() - start, 4)}
    report.update(input=str(path), outputs=outputs, model=str(model.path), model_format=model.format,
                  input_stats=_input_stats(scan), model_bytes=model.size_bytes)
    if scan.labels is not None and scan.label_set is not None:
        report["input_label_histogram"] = scan.label_histogram()
    atomic_write_json(out_dir / f"{name}.json", report)  # last: its existence marks the input done
    return outputs, report, result


def _labels_against_the_input(scan, predicted: np.ndarray, label_set) -> dict:
    """Point accuracy and mIoU of the predicted labels of every input point against the input's own labels, when
    it has some in the model's label set (a labelled scan reconstructed as a check)."""
    from nir_core.metrics import mean_iou

    if scan.labels is None or scan.label_set is None or scan.label_set.name != label_set.name:
        return {}
    known = scan.labels >= 0
    if not known.any():
        return {}
    accuracy = float((predicted[known] == scan.labels[known]).mean())
    return {"labels_vs_input": {"accuracy": accuracy, "miou": mean_iou(predicted, scan.labels, len(label_set))["miou"]}}


def _input_stats(scan) -> dict:
    lo, hi = scan.bounds()
    return {"points": int(len(scan)), "faces": int(len(scan.mesh.faces)) if scan.has_faces else 0,
            "bounds_min": [float(v) for v in lo], "bounds_max": [float(v) for v in hi],
            "has_labels": scan.labels is not None, "has_colors": scan.colors is not None}
