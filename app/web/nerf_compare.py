"""The Compare NeRFs tab: radiance fields of one scene (e.g. a float one and its quantised variants) render the same
view side by side, beside the ground truth and the difference between the two, with PSNR / SSIM / gradient PSNR and
sizes on disk; "Score every variant" puts every offered model of the scene in one table and a PSNR-vs-KB plot.

Models are ``.nirz`` files (``nir-studio nerf train --quantiser ...`` writes one) or run / bundle folders, uploaded
or chosen from :attr:`WebConfig.nerfs` (by default the shipped variants of the project's toy scene, assets/nerfs);
the dataset is the one the first model was trained on unless a folder on the server is named.

No ``from __future__ import annotations`` here: Gradio finds the ``gr.Request`` parameter by its annotation object.
"""
from pathlib import Path

from . import WebConfig, session_folder, user_message
from .reconstruct import JOBS

DIFFERENCE_GAIN = 4.0
"""The difference image shows |left - right| times this, so small quantisation errors are visible."""


MAX_DATASET_FILES = 2000
"""Files an uploaded dataset zip may hold."""


def extract_dataset(archive: Path, dest: Path, max_bytes: int) -> Path:
    """Unpacks an uploaded dataset (a Blender or nerfstudio-layout folder, zipped) into ``dest`` and returns the
    folder holding its ``transforms*.json``. Refused with a ``ValueError`` naming the file: not a zip, more than
    :data:`MAX_DATASET_FILES` files or ``max_bytes`` unpacked, a member that would land outside ``dest``, no
    transforms file."""
    import zipfile

    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise ValueError(f"{archive.name}: not a zip file") from None
    with bundle:
        members = [m for m in bundle.infolist() if not m.is_dir()]
        if len(members) > MAX_DATASET_FILES:
            raise ValueError(f"{archive.name}: {len(members)} files, over the {MAX_DATASET_FILES}-file limit")
        if sum(m.file_size for m in members) > max_bytes:
            raise ValueError(f"{archive.name}: over {max_bytes // 2**20} MiB unpacked")
        root = dest.resolve()
        for m in members:
            target = (root / m.filename).resolve()
            if root not in target.parents:
                raise ValueError(f"{archive.name}: the member {m.filename!r} would be written outside the dataset")
        bundle.extractall(root)
    found = sorted(root.rglob("transforms*.json"), key=lambda p: len(p.parts))
    if not found:
        raise ValueError(f"{archive.name}: no transforms_train.json or transforms.json inside (Blender or nerfstudio "
                         "layout)")
    return found[0].parent


def _size_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _views_for(first: Path, bundle, data: Path | None, split: str, view: int):
    """View ``view`` of ``split`` of the dataset ``data`` (default: the one ``first`` was trained on)."""
    from compress.nerf import scored_views

    views = scored_views(first, bundle, split, data)
    if not 0 <= view < len(views):
        raise ValueError(f"view {view} is not in the {split} split ({len(views)} views)")
    return views.subset([view])


def _render(model, bundle, views):
    from nir_core.nerf.render import RenderConfig
    from nir_core.nerf.train import render_view

    return render_view(model, views, 0, RenderConfig.from_json(bundle.extra.get("render") or {}))


def run_nerf_comparison(left: Path, right: Path, view: int, data: Path | None, split: str, work: Path) -> dict:
    """The job behind the Compare button, without Gradio: renders view ``view`` of ``split`` with both models and
    returns four PNGs (ground truth, left, right, difference) and a summary. Raises ``NIRStudioError`` /
    ``ValueError`` with a message for the user."""
    import numpy as np

    from app.image_cli import save_png
    from compress.nerf import load_nerf
    from nir_core.image_metrics import psnr

    loaded = {side: load_nerf(path) for side, path in (("left", left), ("right", right))}
    views = _views_for(left, loaded["left"][1], data, split, view)
    images = {"ground truth": views.images[0]}
    summary = {"dataset": Path(views.source).name if views.source else "", "view": views.names[0]}
    for side, (model, bundle) in loaded.items():
        image, metrics = _render(model, bundle, views)
        images[side] = image.numpy()
        path = {"left": left, "right": right}[side]
        summary[f"{side}: {path.name}"] = {**{k: round(v, 3) for k, v in metrics.items()}, "size_bytes": _size_bytes(path)}
    summary["PSNR between the two renderings"] = round(psnr(images["left"], images["right"]), 3)
    images["difference"] = np.clip(np.abs(images["left"] - images["right"]) * DIFFERENCE_GAIN, 0, 1)
    pngs = {}
    for name, image in images.items():
        pngs[name] = work / f"{name.replace(' ', '_')}.png"
        save_png(pngs[name], np.asarray(image))
    return {"images": pngs, "summary": summary}


def score_variants(models: dict, view: int, data: Path | None, split: str) -> list[dict]:
    """One row per model of ``models`` (display name -> path): PSNR, SSIM, gradient PSNR of view ``view`` and the
    size in KB, all scored on the dataset of the first model (or ``data``), smallest file first."""
    from compress.nerf import load_nerf

    if not models:
        raise ValueError("no NeRFs to score: start the server with --nerf NAME=PATH or upload one")
    loaded = {name: (Path(path), *load_nerf(path)) for name, path in models.items()}
    first_path, _, first_bundle = next(iter(loaded.values()))
    views = _views_for(first_path, first_bundle, data, split, view)
    rows = []
    for name, (path, model, bundle) in loaded.items():
        _, metrics = _render(model, bundle, views)
        rows.append({"variant": name, "PSNR": round(metrics["psnr"], 2), "SSIM": round(metrics["ssim"], 3),
                     "gradient PSNR": round(metrics["gradient_psnr"], 2), "KB": round(_size_bytes(path) / 1024, 2)})
    return sorted(rows, key=lambda r: r["KB"])


def build_nerf_compare(cfg: WebConfig) -> None:
    """The tab's components and events (called inside ``gr.Tab``)."""
    import gradio as gr
    import pandas as pd

    from nir_core.errors import NIRStudioError

    known = {name: str(path) for name, path in cfg.nerfs.items()}
    names = list(known)
    defaults = {"Left": names[0] if names else None, "Right": names[1] if len(names) > 1 else None}
    with gr.Row():
        with gr.Column(scale=1):
            pickers = []
            for side in ("Left", "Right"):
                with gr.Group():
                    chosen = gr.Dropdown(choices=names, value=defaults[side], label=f"{side} NeRF (on the server)")
                    upload = gr.File(label=f"…or upload the {side.lower()} .nirz", file_types=[".nirz"],
                                     type="filepath")
                pickers += [chosen, upload]
            data = gr.Textbox(label="Dataset folder on the server (empty: the one the left model was trained on)")
            data_zip = gr.File(label="…or upload the dataset (zipped Blender / nerfstudio folder)", file_types=[".zip"],
                               type="filepath")
            split = gr.Dropdown(choices=["test", "val", "train"], value="test", label="Views")
            view = gr.Number(value=0, precision=0, minimum=0, label="View index")
            run = gr.Button("Compare", variant="primary")
            score = gr.Button("Score every variant")
        with gr.Column(scale=3):
            with gr.Row():
                truth, shown_left, shown_right, difference = (
                    gr.Image(label=label, type="filepath", height=256)
                    for label in ("Ground truth", "Left", "Right", f"|left - right| x {DIFFERENCE_GAIN:g}"))
            stats = gr.JSON(label="PSNR, SSIM and sizes")
            table = gr.Dataframe(label="Every variant on this view", interactive=False)
            plot = gr.ScatterPlot(x="KB", y="PSNR", color="variant", label="PSNR against size on disk")

    def pick(chosen, upload, side: str) -> Path:
        if upload:
            return Path(upload)
        if chosen:
            return Path(known[chosen])
        raise ValueError(f"choose or upload the {side} NeRF")

    def dataset(folder, archive, work: Path) -> Path | None:
        if archive:
            return extract_dataset(Path(archive), work / "dataset", cfg.max_upload_mb * 2**20)
        return Path(folder) if folder else None

    def on_compare(left_chosen, left_upload, right_chosen, right_upload, folder, archive, which, index,
                   request: gr.Request, progress=gr.Progress()):
        work = session_folder(cfg, getattr(request, "session_hash", None))
        try:
            progress(0.1, desc="render")
            result = run_nerf_comparison(pick(left_chosen, left_upload, "left"), pick(right_chosen, right_upload, "right"),
                                         int(index or 0), dataset(folder, archive, work), which, work)
        except (NIRStudioError, ValueError, OSError) as exc:
            raise gr.Error(user_message(exc)) from None
        images = result["images"]
        return (str(images["ground truth"]), str(images["left"]), str(images["right"]), str(images["difference"]),
                result["summary"])

    def on_score(left_chosen, left_upload, right_chosen, right_upload, folder, archive, which, index,
                 request: gr.Request, progress=gr.Progress()):
        work = session_folder(cfg, getattr(request, "session_hash", None))
        # The left model first: the views are those of its dataset.
        models = {left_chosen: known[left_chosen], **known} if left_chosen in known else dict(known)
        for label, upload in (("uploaded right", right_upload), ("uploaded left", left_upload)):
            if upload:
                models = {label: upload, **models}
        try:
            progress(0.1, desc="render every variant")
            rows = score_variants(models, int(index or 0), dataset(folder, archive, work), which)
        except (NIRStudioError, ValueError, OSError) as exc:
            raise gr.Error(user_message(exc)) from None
        frame = pd.DataFrame(rows)
        return frame, frame

    inputs = [*pickers, data, data_zip, split, view]
    run.click(on_compare, inputs=inputs, outputs=[truth, shown_left, shown_right, difference, stats],
              concurrency_limit=1, concurrency_id=JOBS)
    score.click(on_score, inputs=inputs, outputs=[table, plot], concurrency_limit=1, concurrency_id=JOBS)
