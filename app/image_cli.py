"""``nir-studio image``: store an image as a (quantised) network, and decode it back."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

image_app = typer.Typer(help="Images as networks (COIN-like): fit, decode.", no_args_is_help=True)
out = Console(soft_wrap=True)


def _crop(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"--crop takes W,H or W,H,X,Y in pixels, got {text!r}") from None
    if len(values) not in (2, 4):
        raise typer.BadParameter(f"--crop takes W,H or W,H,X,Y in pixels, got {text!r}")
    return values


@image_app.command("fit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def fit(
    ctx: typer.Context,
    image: Path = typer.Argument(..., help="An image file (PNG, JPEG, ...)."),
    output: Path = typer.Option(..., "--out", "-o", help="The .nirz to write; the decoded PNG goes beside it."),
    quantiser: str | None = typer.Option(None, help="Fit quantisation-aware with this quantiser (kmeans, minmax, "
                                         "distributional, explicit, dsconv); none: float32 weights."),
    bits: int = typer.Option(8, min=1, max=8, help="Bits per weight with --quantiser."),
    layers: int | None = typer.Option(None, min=0, help="Hidden layers (default 1)."),
    width: int | None = typer.Option(None, min=1, help="Units per hidden layer (default 20)."),
    steps: int | None = typer.Option(None, min=1, help="Optimiser steps (default 2000)."),
    loss: str | None = typer.Option(None, help="mse or log-mse."),
    crop: str | None = typer.Option(None, help="Fit a crop: W,H from the centre, or W,H,X,Y."),
    repartition_every: int = typer.Option(1, min=1, help="Refit the codebooks every this many steps (QAT)."),
    half: bool = typer.Option(False, "--float16", help="Store the codebooks and biases as float16 (fewer bits per "
                              "pixel for a small network, whose fixed costs are most of the file)."),
):
    """Fit a SIREN to an image and store it as a .nirz (extra KEY=VALUE words override the fit's config, e.g.
    model.omega=20 lr=1e-4)."""
    from compress.config import CompressConfig
    from compress.image import decode_file, fit_to_file, read_image
    from nir_core.inr.image import ImageFitConfig

    try:
        cfg = ImageFitConfig().with_overrides(list(ctx.args))
        for key, value in (("hidden_layers", layers), ("width", width)):
            if value is not None:
                setattr(cfg.model, key, value)
        cfg.steps, cfg.loss = steps or cfg.steps, loss or cfg.loss
        cfg = ImageFitConfig.from_json(cfg.to_json())  # checks the changed values
        precision = {"codebook_dtype": "float16", "raw_float": "float16"} if half else {}
        quantisation = CompressConfig(quantiser=quantiser, bits=bits, **precision) if quantiser else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if output.suffix != ".nirz":
        raise typer.BadParameter(f"--out must end in .nirz, got {output}")
    pixels = read_image(image, _crop(crop))
    report = fit_to_file(pixels, output, cfg, quantisation, repartition_every, source=image.name,
                         raw_float="float16" if half else "float32")
    png = output.with_suffix(".png")
    save_png(png, decode_file(output))
    out.print(f"wrote {output}: {report['file_bytes']:,} bytes, {report['bpp']:.3f} bpp ({report['body_bpp']:.3f} "
              f"bpp of coded weights), PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.3f}; decoded: {png}")


@image_app.command("decode")
def decode(
    file: Path = typer.Argument(..., help="A .nirz written by 'nir-studio image fit'."),
    output: Path | None = typer.Option(None, "--out", "-o", help="The PNG (default: beside the file)."),
):
    """Decode an image network back to a PNG."""
    from compress.image import decode_file

    png = output or file.with_suffix(".png")
    save_png(png, decode_file(file))
    out.print(f"wrote {png}")


def save_png(path: Path, image) -> None:
    """Writes (H, W, 3) colours in [0, 1] as an 8-bit PNG, atomically."""
    import io

    import numpy as np
    from PIL import Image

    from nir_core.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
