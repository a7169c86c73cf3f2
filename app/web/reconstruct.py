"""The Reconstruct tab: a scan or mesh in, the (labelled) reconstruction out, side by side, with downloads.

No ``from __future__ import annotations`` here: Gradio finds the ``gr.Request`` parameter by its annotation object.
"""
import time
from pathlib import Path

from app.batch import reconstruct_file
from app.demo import default_inputs

from . import MB, WebConfig, session_folder, user_message
from .previews import display_glb, legend_html, points_glb

UPLOAD_TYPES = [".ply", ".obj", ".off", ".stl", ".glb", ".npy", ".npz", ".txt", ".xyz", ".pts"]
JOBS = "jobs"
"""Concurrency group of every tab's heavy job: one job at a time in the whole UI, whichever tab started it."""
STAGE_PROGRESS = {"load": 0.05, "normalise": 0.1, "encode": 0.15, "field": 0.15, "refine": 0.2, "extract": 0.3,
                  "cleanup": 0.8, "label": 0.85, "score": 0.9, "export": 0.93, "display": 0.96}
"""Share of the bar done when each stage of :data:`app.batch.STAGES` (and the browser's display copy) starts."""


class Models:
    """Models loaded once and kept, by display name or by path (jobs run one at a time, so no lock is needed)."""

    def __init__(self, paths: dict[str, Path]):
        self.paths, self.loaded = paths, {}

    def get(self, name: str):
        """The :class:`~nir_core.pipeline.LoadedModel` of the choosable model called ``name``."""
        if name not in self.paths:
            raise ValueError(f"unknown model {name!r}")
        return self.at(self.paths[name])

    def at(self, path: Path):
        """The :class:`~nir_core.pipeline.LoadedModel` of the bundle folder or ``.nirz`` file at ``path``."""
        from nir_core.pipeline import load_model

        key = str(Path(path).resolve())
        if key not in self.loaded:
            self.loaded[key] = load_model(Path(path))
        return self.loaded[key]


def load_checked(cfg: WebConfig, source: Path):
    """The scan at ``source`` within the upload limits, and the seconds loading took; ``ValueError`` otherwise."""
    from nir_core.data.io import load

    size = source.stat().st_size
    if size > cfg.max_upload_mb * MB:
        raise ValueError(f"{source.name}: {size / MB:.0f} MiB is over the {cfg.max_upload_mb} MiB upload limit")
    started = time.perf_counter()
    scan = load(source)
    if len(scan) > cfg.max_points:
        raise ValueError(f"{source.name}: {len(scan):,} points is over the {cfg.max_points:,}-point limit")
    return scan, time.perf_counter() - started


def run_reconstruction(cfg: WebConfig, models: Models, source: Path, model_name: str, resolution: int,
                       want_labels: bool, work: Path, progress=None) -> dict:
    """The job behind the Run button, without Gradio: checks the input, writes previews, mesh files and report
    into ``work``; returns their paths and the report. Raises ``ValueError`` / ``NIRStudioError`` with a message
    for the user."""
    from nir_core.pipeline import PipelineConfig

    step = progress or (lambda fraction, desc="": None)
    step(0.02, desc="load")
    scan, load_seconds = load_checked(cfg, source)
    model = models.get(model_name)
    colors = scan.label_set.colorize(scan.labels) if scan.labels is not None and scan.label_set else scan.colors
    preview = points_glb(scan.points, colors, work / "input_preview.glb", max_points=cfg.preview_points)
    name = source.stem
    outputs, report, result = reconstruct_file(
        source, work, name, model, PipelineConfig(resolution=resolution, labels=want_labels and model.can_label),
        formats=("glb", "ply"), on_stage=lambda stage: step(STAGE_PROGRESS[stage], desc=stage), scan=scan,
        load_seconds=load_seconds)
    step(STAGE_PROGRESS["display"], desc="display")
    started = time.perf_counter()
    shown, report["display_faces"] = display_glb(result.mesh, work / f"{name}.display.glb", cfg.display_faces)
    if result.point_labels is not None:  # the input's points with the classes predicted for them
        preview = points_glb(scan.points, model.label_set.colorize(result.point_labels), work / "labelled_points.glb",
                             max_points=cfg.preview_points)
    report["display_s"] = round(time.perf_counter() - started, 3)
    report_path = work / f"{name}.json"
    if want_labels and not model.can_label:
        report.setdefault("notes", []).append("labels off: this model has no trained semantic head")
    return {"preview": preview, "shown": shown, "glb": Path(outputs[0]), "ply": Path(outputs[1]),
            "report": report_path, "data": report}


def summary(report: dict) -> dict:
    """What the stats panel shows: time per stage, sizes, the mesh, the label histogram."""
    mesh = report["mesh_unit_cube"]
    stages = {**report["timings_s"], **({"display": report["display_s"]} if "display_s" in report else {})}
    out = {"time per stage (s)": stages, "total (s)": round(sum(stages.values()), 2),
           "input points": report["input_stats"]["points"], "mesh faces": mesh["faces"],
           "mesh faces shown": report.get("display_faces", mesh["faces"]),
           "mesh pieces": mesh["components"], "model size (MB)": round(report["model_bytes"] / 1e6, 2)}
    if "label_histogram" in report:
        out["mesh vertices per class"] = report["label_histogram"]["mesh_vertices"]
    if "metrics_vs_input_mesh" in report:
        out["against the input's own surface"] = report["metrics_vs_input_mesh"]
    if report.get("notes"):
        out["notes"] = report["notes"]
    if report.get("warnings"):
        out["warnings"] = report["warnings"]
    return out


class InputPicker:
    """The scan input every tab starts with: an upload or a bundled example (build inside a ``gr.Column``)."""

    def __init__(self):
        import gradio as gr

        self.examples = {p.name: p for p in default_inputs()}
        self.upload = gr.File(label="Scan or mesh", file_types=UPLOAD_TYPES, type="filepath")
        self.example = gr.Dropdown(choices=[""] + list(self.examples), value="", label="…or a bundled example")

    def source(self, upload_path, example_name) -> Path:
        """The chosen file; a ``gr.Error`` asking for one when there is none."""
        import gradio as gr

        source = Path(upload_path) if upload_path else self.examples.get(example_name)
        if source is None:
            raise gr.Error("Upload a scan or mesh, or pick a bundled example.")
        return source


def settings(cfg: WebConfig, what: str = "mesh"):
    """The Settings accordion: (resolution slider, labels checkbox)."""
    import gradio as gr

    with gr.Accordion("Settings", open=False):
        resolution = gr.Slider(32, 512, value=cfg.default_resolution, step=32, label="Resolution (cells per axis)")
        want_labels = gr.Checkbox(value=True, label=f"Label the {what} (when the model can)")
    return resolution, want_labels


def build_reconstruct(cfg: WebConfig) -> None:
    """The tab's components and events (called inside ``gr.Tab``)."""
    import gradio as gr

    from nir_core.errors import NIRStudioError

    models = Models(cfg.models)
    with gr.Row():
        with gr.Column(scale=1):
            picker = InputPicker()
            model_name = gr.Dropdown(choices=list(cfg.models), value=next(iter(cfg.models)), label="Model")
            resolution, want_labels = settings(cfg)
            run = gr.Button("Reconstruct", variant="primary")
            gr.Markdown(f"Uploads up to {cfg.max_upload_mb} MiB and {cfg.max_points:,} points.")
        with gr.Column(scale=3):
            with gr.Row():
                shown_input = gr.Model3D(label="Input points (after a labelled run: their predicted classes)",
                                         height=420)
                shown_result = gr.Model3D(label=f"Reconstruction (shown with up to {cfg.display_faces:,} faces; "
                                                "the downloads have them all)", height=420)
            legend = gr.HTML()
            stats = gr.JSON(label="Stats")
            with gr.Row():
                get_glb = gr.DownloadButton("GLB", interactive=False)
                get_ply = gr.DownloadButton("PLY (labels)", interactive=False)
                get_report = gr.DownloadButton("Report (JSON)", interactive=False)

    def on_run(upload_path, example_name, chosen_model, res, labels_on, request: gr.Request,
               progress=gr.Progress()):
        source = picker.source(upload_path, example_name)
        work = session_folder(cfg, getattr(request, "session_hash", None))
        try:
            result = run_reconstruction(cfg, models, source, chosen_model, int(res), bool(labels_on), work, progress)
        except (NIRStudioError, ValueError, OSError) as exc:
            raise gr.Error(user_message(exc)) from None
        data = result["data"]
        for warning in data.get("warnings", []):
            gr.Warning(warning)
        return (str(result["preview"]), str(result["shown"]),
                legend_html(data.get("legend", {}), data.get("label_histogram", {}).get("mesh_vertices")),
                summary(data), gr.DownloadButton(value=str(result["glb"]), interactive=True),
                gr.DownloadButton(value=str(result["ply"]), interactive=True),
                gr.DownloadButton(value=str(result["report"]), interactive=True))

    def reset():
        off = gr.DownloadButton(value=None, interactive=False)
        return off, off, off

    run.click(reset, outputs=[get_glb, get_ply, get_report], queue=False).then(
        on_run, inputs=[picker.upload, picker.example, model_name, resolution, want_labels],
        outputs=[shown_input, shown_result, legend, stats, get_glb, get_ply, get_report], concurrency_limit=1,
        concurrency_id=JOBS)
