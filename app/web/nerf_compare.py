"""The Compare NeRFs tab: two radiance fields (e.g. a float one and its K-means-quantised variant) render the same
view of their dataset side by side, beside the ground truth, with each one's PSNR / SSIM, the PSNR between them and
their sizes on disk.

Models are ``.nirz`` files (``nir-studio nerf train --quantiser ...`` writes one) or run / bundle folders, uploaded
or chosen from :attr:`WebConfig.nerfs`; the dataset is the one the first model was trained on unless a folder on
the server is named.

No ``from __future__ import annotations`` here: Gradio finds the ``gr.Request`` parameter by its annotation object.
"""
from pathlib import Path

from . import WebConfig, session_folder, user_message
from .reconstruct import JOBS


def run_nerf_comparison(left: Path, right: Path, view: int, data: Path | None, split: str, work: Path) -> dict:
    """The job behind the Compare button, without Gradio: renders view ``view`` of ``split`` with both models and
    returns the three PNGs (ground truth, left, right) and a summary. Raises ``NIRStudioError`` / ``ValueError``
    with a message for the user."""
    import numpy as np

    from app.image_cli import save_png
    from compress.nerf import load_nerf
    from nir_core.data.views import load_views
    from nir_core.errors import NIRStudioError
    from nir_core.image_metrics import psnr
    from nir_core.nerf.render import RenderConfig
    from nir_core.nerf.train import render_view

    loaded = {side: load_nerf(path) for side, path in (("left", left), ("right", right))}
    _, first = loaded["left"]
    recorded = (first.training.get("config") or {})
    source = data or Path(recorded.get("data", ""))
    if not str(source) or not source.exists():
        raise NIRStudioError(f"{left.name}: the dataset it was trained on ({source or 'unknown'}) is not on this "
                             "server; name a dataset folder")
    views = load_views(source, split, int(recorded.get("downscale", 1)))
    if not 0 <= view < len(views):
        raise ValueError(f"view {view} is not in the {split} split ({len(views)} views)")
    views = views.subset([view])
    images, summary = {"ground truth": views.images[0]}, {"dataset": source.name, "view": views.names[0]}
    for side, (model, bundle) in loaded.items():
        render = RenderConfig.from_json(bundle.extra.get("render") or {})
        image, metrics = render_view(model, views, 0, render)
        images[side] = image.numpy()
        path = {"left": left, "right": right}[side]
        size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        summary[f"{side}: {path.name}"] = {**{k: round(v, 3) for k, v in metrics.items()}, "size_bytes": size}
    summary["PSNR between the two renderings"] = round(psnr(images["left"], images["right"]), 3)
    pngs = {}
    for name, image in images.items():
        pngs[name] = work / f"{name.replace(' ', '_')}.png"
        save_png(pngs[name], np.asarray(image))
    return {"images": pngs, "summary": summary}


def build_nerf_compare(cfg: WebConfig) -> None:
    """The tab's components and events (called inside ``gr.Tab``)."""
    import gradio as gr

    from nir_core.errors import NIRStudioError

    known = {name: str(path) for name, path in cfg.nerfs.items()}
    with gr.Row():
        with gr.Column(scale=1):
            pickers = []
            for side in ("Left", "Right"):
                with gr.Group():
                    chosen = gr.Dropdown(choices=list(known), value=None, label=f"{side} NeRF (on the server)")
                    upload = gr.File(label=f"…or upload the {side.lower()} .nirz", file_types=[".nirz"],
                                     type="filepath")
                pickers += [chosen, upload]
            data = gr.Textbox(label="Dataset folder on the server (empty: the one the left model was trained on)")
            split = gr.Dropdown(choices=["test", "val", "train"], value="test", label="Views")
            view = gr.Number(value=0, precision=0, minimum=0, label="View index")
            run = gr.Button("Compare", variant="primary")
        with gr.Column(scale=3):
            with gr.Row():
                truth, shown_left, shown_right = (gr.Image(label=label, type="filepath", height=320)
                                                  for label in ("Ground truth", "Left", "Right"))
            stats = gr.JSON(label="PSNR, SSIM and sizes")

    def pick(chosen, upload, side: str) -> Path:
        if upload:
            return Path(upload)
        if chosen:
            return Path(known[chosen])
        raise ValueError(f"choose or upload the {side} NeRF")

    def on_compare(left_chosen, left_upload, right_chosen, right_upload, folder, which, index,
                   request: gr.Request, progress=gr.Progress()):
        work = session_folder(cfg, getattr(request, "session_hash", None))
        try:
            progress(0.1, desc="render")
            result = run_nerf_comparison(pick(left_chosen, left_upload, "left"), pick(right_chosen, right_upload, "right"),
                                         int(index or 0), Path(folder) if folder else None, which, work)
        except (NIRStudioError, ValueError, OSError) as exc:
            raise gr.Error(user_message(exc)) from None
        images = result["images"]
        return str(images["ground truth"]), str(images["left"]), str(images["right"]), result["summary"]

    run.click(on_compare, inputs=[*pickers, data, split, view], outputs=[truth, shown_left, shown_right, stats],
              concurrency_limit=1, concurrency_id=JOBS)
