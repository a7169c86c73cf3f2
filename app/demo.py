"""``make demo`` / ``nir-studio demo``: the main job on the bundled sample scans.

For each scan: load -> normalise into the unit cube -> sample encoder points and labelled UDF ground truth ->
write a JSON report, a labelled preview point cloud in the input's own coordinates, and the samples; then
reconstruct it with the bundled model (labelled when the bundled model labels) into ``reconstructions/``.
When the ground-truth mesh of a sample lies beside it (``<name>_mesh.ply`` for ``<name>_scan.ply``), the report
also says how much of the true surface the scan covers (Chamfer / F1 of scan against mesh).
"""
from __future__ import annotations

import io
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from app.batch import BatchJob, default_model, run_batch
from nir_core.atomic import atomic_write_bytes, atomic_write_json
from nir_core.data.io import load, write_ply
from nir_core.data.labels import palette
from nir_core.data.sampling import SamplingConfig, make_udf_samples
from nir_core.data.summary import scan_summary
from nir_core.metrics import reconstruction_metrics, sample_points_for_eval
from nir_core.pipeline import PipelineConfig
from nir_core.protocol import EVAL_POINTS, RESOLUTION

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "samples"


def default_inputs() -> list[Path]:
    """The project-made sample scans shipped in ``assets/samples``."""
    return sorted(SAMPLES_DIR.glob("*_scan.ply"))


@contextmanager
def _timed(timings: dict, stage: str):
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 4)


def process_scan(path: Path, out_dir: Path, cfg: SamplingConfig) -> dict:
    """Runs the job on one scan and writes its outputs; returns the report."""
    timings: dict[str, float] = {}
    with _timed(timings, "load"):
        scan = load(path)
    with _timed(timings, "normalise"):
        unit = scan.normalised()
    with _timed(timings, "sample"):
        samples = make_udf_samples(unit, cfg)

    stem = path.stem
    report = {
        "input": scan_summary(scan),
        "normalisation": unit.normalisation.to_json(),
        "sampling": {
            "config": cfg.to_json(),
            "surface_points": int(len(samples.surface)),
            "queries": int(len(samples.queries)),
            "median_distance_per_sigma": {
                str(s): round(float(np.median(samples.distances[samples.block(i)])), 6)
                for i, s in enumerate(samples.sigmas)
            },
        },
    }
    if samples.labels is not None and unit.label_set is not None:
        report["sampling"]["query_label_histogram"] = unit.label_set.histogram(samples.labels)

    gt_mesh_path = path.with_name(stem.removesuffix("_scan") + "_mesh.ply")
    if gt_mesh_path != path and gt_mesh_path.exists():
        with _timed(timings, "coverage"):
            gt = load(gt_mesh_path, require_faces=True)
            gt_unit_mesh = gt.mesh.copy()
            gt_unit_mesh.apply_transform(unit.normalisation.matrix())
            gt_points, _ = sample_points_for_eval(gt_unit_mesh, n=EVAL_POINTS, seed=cfg.seed)
            cov = reconstruction_metrics(unit.points, gt_points)
        report["scan_vs_ground_truth"] = {
            "ground_truth": str(gt_mesh_path),
            "note": "the scan itself scored as a reconstruction of the true surface (unit-cube units)",
            **{k: round(float(v), 6) for k, v in cov.items() if isinstance(v, (int, float))},
        }

    with _timed(timings, "write"):
        out_dir.mkdir(parents=True, exist_ok=True)
        preview = out_dir / f"{stem}_preview.ply"
        # Written in the input's own frame: the kept transform maps the normalised points back.
        back = unit.normalisation.invert(unit.points)
        if unit.labels is not None and unit.label_set is not None:
            colors = unit.label_set.colorize(unit.labels)
        else:
            colors = unit.colors if unit.colors is not None else np.tile(palette(1), (len(unit), 1))
        write_ply(preview, back, colors=colors, labels=unit.labels)
        samples_path = out_dir / f"{stem}_samples.npz"
        buf = io.BytesIO()
        arrays = {"surface": samples.surface, "queries": samples.queries, "distances": samples.distances,
                  "center": np.asarray(unit.normalisation.center), "scale": np.asarray(unit.normalisation.scale)}
        if samples.labels is not None:
            arrays["labels"] = samples.labels
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(samples_path, buf.getvalue())
    report["timings_s"] = timings
    report["outputs"] = {"preview": str(preview), "samples": str(samples_path)}
    atomic_write_json(out_dir / f"{stem}_report.json", report)
    return report


def run_demo(inputs: list[Path] | None, out_dir: Path, console: Console | None = None,
             cfg: SamplingConfig | None = None, resolution: int = RESOLUTION) -> list[dict]:
    """Processes ``inputs`` (default: the bundled samples) into ``out_dir``, reconstructs them at ``resolution``³
    (0: skip) with the bundled model; prints a summary table."""
    console = console or Console()
    cfg = cfg or SamplingConfig()
    inputs = inputs or default_inputs()
    if not inputs:
        raise FileNotFoundError(f"no sample scans in {SAMPLES_DIR}")
    reports = []
    table = Table(title=f"NIR Studio demo -> {out_dir}", title_justify="left")
    for col in ("input", "points", "classes", "queries", "scan F1-δ", "time (s)", "reconstruction"):
        table.add_column(col, justify="left" if col == "input" else "right", no_wrap=True)
    recon = out_dir / "reconstructions"
    for path in inputs:
        with console.status(f"processing {path.name}"):
            report = process_scan(Path(path), out_dir, cfg)
            if resolution:
                (result,) = run_batch(BatchJob([Path(path)], recon, default_model(), PipelineConfig(resolution=resolution),
                                               force=True))
                report["reconstruction"] = {"status": result.status, "reason": result.reason,
                                            "outputs": result.outputs, "report": str(recon / f"{result.name}.json")}
        reports.append(report)
        cov = report.get("scan_vs_ground_truth", {})
        table.add_row(Path(path).name, f"{report['input']['points']:,}",
                      str(len(report["input"].get("label_histogram", {}))), f"{report['sampling']['queries']:,}",
                      f"{cov['f1_delta']:.3f}" if "f1_delta" in cov else "-", f"{sum(report['timings_s'].values()):.2f}",
                      report.get("reconstruction", {}).get("status", "-"))
    console.print(table)
    atomic_write_json(out_dir / "summary.json", {"reports": reports})
    console.print(f"reports, previews, samples and reconstructions written to {out_dir}")
    return reports
