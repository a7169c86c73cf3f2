"""The Compare encoders tab: one scan through a float bundle and a compressed variant of it, side by side.

The variant is made on the spot (post-training quantisation with the chosen quantiser and bits, written as a ``.nirz``
in the session folder), picked among the shipped ones (``WebConfig.variants``: the ``.nirz`` files in assets/models,
e.g. encoders whose per-layer bits a bit search found) or uploaded as a ``.nirz`` file. The tab shows the two labelled
meshes, the two models' sizes on disk, the Chamfer / F1 of the compressed model's mesh against the float model's, and
each against the input's own surface when the input is a mesh.

No ``from __future__ import annotations`` here: Gradio finds the ``gr.Request`` parameter by its annotation object.
"""
from pathlib import Path

from app.batch import reconstruct_file

from . import WebConfig, session_folder, user_message
from .previews import display_glb, legend_html
from .reconstruct import JOBS, InputPicker, Models, load_checked, settings

QUANTISER_CHOICES = ["kmeans", "minmax", "distributional", "explicit", "dsconv"]
MADE_NOW = "made now (quantiser and bits below)"
"""The variant choice that compresses the float model on the spot."""
METRIC_KEYS = ("cd_l1", "f1_delta")


def run_comparison(cfg: WebConfig, models: Models, source: Path, float_name: str, quantiser: str, bits: int,
                   uploaded_nirz: Path | None, resolution: int, want_labels: bool, work: Path, progress=None) -> dict:
    """The job behind the Compare button, without Gradio: returns both meshes (GLB paths), both reports and a
    summary. Raises ``ValueError`` / ``NIRStudioError`` with a message for the user."""

    from compress.config import CompressConfig
    from compress.workflow import compress_bundle
    from nir_core.pipeline import PipelineConfig
    from nir_core.protocol import mesh_metrics

    step = progress or (lambda fraction, desc="": None)
    step(0.02, desc="load")
    scan, load_seconds = load_checked(cfg, source)
    float_path = models.paths.get(float_name)
    if float_path is None:
        raise ValueError(f"unknown model {float_name!r}")
    if uploaded_nirz is not None:
        if uploaded_nirz.suffix.lower() != ".nirz":
            raise ValueError(f"{uploaded_nirz.name}: upload a compressed model (.nirz), made by nir-studio compress")
        compressed_path = uploaded_nirz
    else:
        step(0.05, desc=f"compress ({quantiser}, {bits} bits)")
        compressed_path = work / f"{float_path.name}-{quantiser}{bits}.nirz"
        compress_bundle(float_path, compressed_path, CompressConfig(quantiser=quantiser, bits=int(bits)), progress=False)
    sides = {}
    for i, (side, path) in enumerate((("float", float_path), ("compressed", compressed_path))):
        model = models.at(path)
        folder = work / side
        folder.mkdir(exist_ok=True)
        step(0.1 + 0.4 * i, desc=f"reconstruct with the {side} model")
        outputs, report, result = reconstruct_file(source, folder, source.stem, model,
                                                   PipelineConfig(resolution=resolution,
                                                                  labels=want_labels and model.can_label),
                                                   formats=("glb", "ply"), scan=scan, load_seconds=load_seconds)
        mesh = result.mesh
        shown, report["display_faces"] = display_glb(mesh, folder / f"{source.stem}.display.glb", cfg.display_faces)
        sides[side] = {"glb": Path(outputs[0]), "shown": shown, "mesh": mesh, "report": report,
                       "bytes": model.size_bytes, "path": path}
    step(0.95, desc="compare")
    float_side, comp_side = sides["float"], sides["compressed"]
    summary = {"model size on disk (bytes)": {"float": float_side["bytes"], "compressed": comp_side["bytes"]},
               "size ratio (float / compressed)": round(float_side["bytes"] / comp_side["bytes"], 2),
               "compressed model": compressed_path.name}
    if len(float_side["mesh"].faces) and len(comp_side["mesh"].faces):
        between = mesh_metrics(scan, comp_side["mesh"], reference=float_side["mesh"])
        summary["compressed mesh vs float mesh"] = {k: round(between[k], 5) for k in METRIC_KEYS}
    for side in ("float", "compressed"):
        truth = sides[side]["report"].get("metrics_vs_input_mesh")
        if truth:
            summary[f"{side} mesh vs the input's surface"] = {k: round(truth[k], 5) for k in METRIC_KEYS}
        summary[f"{side}: total seconds"] = round(sum(sides[side]["report"]["timings_s"].values()), 2)
    return {"sides": sides, "summary": summary}


def build_compare(cfg: WebConfig) -> None:
    """The tab's components and events (called inside ``gr.Tab``)."""
    import gradio as gr

    from nir_core.errors import NIRStudioError

    models = Models(cfg.models)
    with gr.Row():
        with gr.Column(scale=1):
            picker = InputPicker()
            float_name = gr.Dropdown(choices=list(cfg.models), value=next(iter(cfg.models)), label="Float model")
            with gr.Accordion("Compressed variant", open=True):
                variant = gr.Dropdown(choices=[MADE_NOW, *cfg.variants], value=MADE_NOW, label="Variant")
                quantiser = gr.Dropdown(choices=QUANTISER_CHOICES, value="kmeans", label="Quantiser")
                bits = gr.Slider(1, 8, value=3, step=1, label="Bits per weight")
                nirz = gr.File(label="…or upload a .nirz (overrides the choices above)", file_types=[".nirz"],
                               type="filepath")
            resolution, want_labels = settings(cfg, "meshes")
            run = gr.Button("Compare", variant="primary")
        with gr.Column(scale=3):
            with gr.Row():
                shown_float = gr.Model3D(label="Float model", height=420)
                shown_compressed = gr.Model3D(label="Compressed model", height=420)
            legend = gr.HTML()
            stats = gr.JSON(label="Sizes and distances")

    def on_compare(upload_path, example_name, chosen_float, chosen_variant, chosen_quantiser, chosen_bits, nirz_path,
                   res, labels_on, request: gr.Request, progress=gr.Progress()):
        source = picker.source(upload_path, example_name)
        work = session_folder(cfg, getattr(request, "session_hash", None))
        compressed = Path(nirz_path) if nirz_path else cfg.variants.get(chosen_variant)  # None: made now
        try:
            result = run_comparison(cfg, models, source, chosen_float, chosen_quantiser, int(chosen_bits), compressed,
                                    int(res), bool(labels_on), work, progress)
        except (NIRStudioError, ValueError, OSError) as exc:
            raise gr.Error(user_message(exc)) from None
        report = result["sides"]["compressed"]["report"]
        return (str(result["sides"]["float"]["shown"]), str(result["sides"]["compressed"]["shown"]),
                legend_html(report.get("legend", {}), report.get("label_histogram", {}).get("mesh_vertices")),
                result["summary"])

    run.click(on_compare, inputs=[picker.upload, picker.example, float_name, variant, quantiser, bits, nirz, resolution,
                                  want_labels],
              outputs=[shown_float, shown_compressed, legend, stats], concurrency_limit=1, concurrency_id=JOBS)
