"""``nir-studio nerf``: train a (quantised) radiance field on posed images, render it, score it."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.image_cli import save_png

nerf_app = typer.Typer(help="Radiance fields: train (optionally quantisation-aware), render, evaluate.",
                       no_args_is_help=True)
out = Console(soft_wrap=True)
QUANTISER_HELP = ("Train quantisation-aware with this quantiser (kmeans, minmax, distributional, explicit, dsconv); none: "
                  "float.")


@nerf_app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Blender folder, transforms.json folder, LLFF folder or tiny-NeRF .npz."),
    run_dir: Path = typer.Option(Path("out/nerf"), "--out", "-o", help="Run folder (re-run the command to resume)."),
    quantiser: str | None = typer.Option(None, help=QUANTISER_HELP),
    bits: int = typer.Option(3, min=1, max=8, help="Bits per weight with --quantiser."),
    steps: int | None = typer.Option(None, min=1, help="Optimiser steps (default: the config's)."),
    downscale: int | None = typer.Option(None, min=1, help="Shrink the images by this whole factor."),
    repartition_every: int = typer.Option(100, min=1, help="Refit the codebooks every this many steps (QAT)."),
    paper: bool = typer.Option(False, help="Gordon et al.'s optimiser settings (Adam 1e-4, betas 0.99/0.999, "
                               "weight decay 1e-8, 200,000 steps) instead of the CPU defaults."),
):
    """Train a NeRF (4 x 64, positional encoding, 64 samples per ray by default). Extra KEY=VALUE arguments override
    the config (e.g. model.width=128 render.samples=32 loss=log-mse). With --quantiser the weights are fake-quantised
    from the first step and the run writes model.nirz beside its bundle."""
    from compress.config import CompressConfig
    from compress.nerf import train_quantised
    from nir_core.nerf.train import NerfTrainConfig, paper_config

    try:
        cfg = (paper_config() if paper else NerfTrainConfig()).with_overrides(list(ctx.args))
        cfg.data, cfg.out = str(data), str(run_dir)
        if steps is not None:
            cfg.steps = steps
        if downscale is not None:
            cfg.downscale = downscale
        quantisation = CompressConfig(quantiser=quantiser, bits=bits) if quantiser else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    report = train_quantised(cfg, quantisation, repartition_every)
    out.print(f"bundle written to {report['bundle']} ({report['float32_bytes'] / 1024:.1f} KB as float32)")
    if "file" in report:
        sizes = ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in report["coded_sizes"].items())
        out.print(f"quantised file {report['file']}: {report['file_bytes'] / 1024:.1f} KB ({sizes})")


@nerf_app.command("make-scene")
def make_scene(
    out_dir: Path = typer.Argument(..., help="New folder for the scene (Blender layout)."),
    size: int = typer.Option(64, min=8, max=2048, help="Image width and height in pixels."),
    train_views: int = typer.Option(40, min=1, help="Training views."),
    test_views: int = typer.Option(8, min=1, help="Test views (evenly around the object)."),
    seed: int = typer.Option(0, help="Seed of the toy's layout and of the training cameras."),
):
    """Render the project's toy scene (coloured primitives on a checkered base) with pyrender into the Blender
    layout, ready for `nerf train`. Offscreen through EGL on a machine without a display."""
    import os

    if not os.environ.get("DISPLAY"):  # before pyrender imports OpenGL: draw offscreen through EGL
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    from nir_core.data.rendered_scene import SceneRenderConfig, render_scene

    cfg = SceneRenderConfig(size=size, train_views=train_views, test_views=test_views, seed=seed)
    folder = render_scene(out_dir, cfg)
    out.print(f"scene written to {folder} ({train_views} train, {cfg.val_views} val, {test_views} test views of "
              f"{size} x {size})")


@nerf_app.command("render")
def render(
    model: Path = typer.Argument(..., help="A run folder, its bundle/ or a .nirz file."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the images, the table and the turntable."),
    data: Path | None = typer.Option(None, help="The dataset, to render and score its views (default: the one the "
                                     "model was trained on, when it still exists)."),
    split: str = typer.Option("test", help="Which views: train, val, test."),
    views: int = typer.Option(8, min=0, help="Views of the split rendered (0: all)."),
    turntable: int = typer.Option(40, min=0, help="Frames of the turntable (0: none)."),
    fmt: str = typer.Option("gif", "--turntable-format", help="gif or mp4 (mp4 needs imageio-ffmpeg)."),
):
    """Render test views (PNG, with a per-view PSNR / SSIM table) and a turntable of a trained NeRF."""
    result = _render(model, out_dir, data, split, views, turntable, fmt)
    _print_table(result)


@nerf_app.command("view")
def view(
    model: Path = typer.Argument(..., help="A NeRF (run folder, bundle/, .nirz) or a folder of rendered PNGs."),
    compare: list[Path] = typer.Option([], help="Another NeRF or render folder shown beside it; repeat for more."),
    frames: int = typer.Option(24, min=1, max=720, help="Turntable frames rendered per model."),
    screenshot: Path | None = typer.Option(None, help="Write the frames as one PNG instead of opening a window."),
    close_after: float | None = typer.Option(None, hidden=True, help="Close the window after this many seconds."),
    grab: Path | None = typer.Option(None, hidden=True, help="Save a PNG of the whole display before closing."),
):
    """Play a NeRF's turntable beside its compressed variants in a desktop window (Open3D), all along the first
    model's camera path; with --screenshot, write the frames as a contact sheet instead."""
    from app.nerf_viewer import show, write_sheet

    paths = [model, *compare]
    if screenshot is not None:
        if screenshot.suffix.lower() != ".png":
            raise typer.BadParameter(f"{screenshot}: write a .png", param_hint="--screenshot")
        out.print(f"wrote {write_sheet(paths, screenshot, frames)}")
        return
    show(paths, frames, close_after, grab)


@nerf_app.command("eval")
def evaluate(
    model: Path = typer.Argument(..., help="A run folder, its bundle/ or a .nirz file."),
    data: Path | None = typer.Option(None, help="The dataset (default: the one the model was trained on)."),
    split: str = typer.Option("test", help="Which views: train, val, test."),
    views: int = typer.Option(0, min=0, help="Views scored (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
):
    """Score a NeRF on a split: PSNR, SSIM and gradient PSNR per view and their means, and the file's size."""
    result = _render(model, None, data, split, views, 0, "gif")
    if as_json:
        out.print_json(json.dumps(result))
    else:
        _print_table(result)


def _render(model_path: Path, out_dir: Path | None, data: Path | None, split: str, count: int, frames: int,
            fmt: str) -> dict:
    import numpy as np

    from compress.nerf import load_nerf, scored_views
    from nir_core.atomic import atomic_write_json
    from nir_core.nerf.render import RenderConfig, render_turntable
    from nir_core.nerf.train import render_view

    if fmt not in ("gif", "mp4"):
        raise typer.BadParameter(f"--turntable-format must be gif or mp4, got {fmt!r}")
    model, bundle = load_nerf(model_path)
    scene, render_cfg = bundle.extra.get("scene") or {}, RenderConfig.from_json(bundle.extra.get("render") or {})
    views = scored_views(model_path, bundle, split, data)
    if count:
        views = views.subset(np.arange(min(count, len(views))))
    rows = []
    for i in range(len(views)):
        image, metrics = render_view(model, views, i, render_cfg)
        rows.append({"view": views.names[i], **metrics})
        if out_dir is not None:
            save_png(out_dir / f"{split}_{i:03d}.png", image.numpy())
    file_bytes = model_path.stat().st_size if model_path.is_file() else None
    result = {"model": str(model_path), "data": str(views.source), "split": split, "views": rows,
              "mean": {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "gradient_psnr")} if rows
              else {}, "file_bytes": file_bytes,
              "coded_sizes": (bundle.extra.get("nirz") or {}).get("coded_sizes")}
    if out_dir is not None and frames:
        images = render_turntable(model, scene, render_cfg, frames)
        result["turntable"] = str(_save_animation(out_dir / f"turntable.{fmt}", images))
    if out_dir is not None:
        atomic_write_json(out_dir / "metrics.json", result)
    return result


def _save_animation(path: Path, frames: list) -> Path:
    import imageio.v3 as iio

    from nir_core.atomic import atomic_write_bytes

    options = {"duration": 80, "loop": 0} if path.suffix == ".gif" else {"fps": 12}
    return atomic_write_bytes(path, iio.imwrite("<bytes>", frames, extension=path.suffix, **options))


def _print_table(result: dict) -> None:
    table = Table(title=f"{result['model']} on {result['split']} views of {result['data']}")
    for col in ("view", "PSNR", "SSIM", "gradient PSNR"):
        table.add_column(col)
    for r in result["views"]:
        table.add_row(r["view"], f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['gradient_psnr']:.2f}")
    if result["mean"]:
        m = result["mean"]
        table.add_row("mean", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}", f"{m['gradient_psnr']:.2f}")
    out.print(table)
    if result.get("file_bytes"):
        sizes = result.get("coded_sizes") or {}
        out.print(f"file: {result['file_bytes'] / 1024:.2f} KB" + (
            " (" + ", ".join(f"{k} {v / 1024:.2f} KB" for k, v in sizes.items()) + ")" if sizes else ""))
    if result.get("turntable"):
        out.print(f"turntable: {result['turntable']}")
