"""Images as networks against JPEG and WebP at matched bits per pixel (COIN's claim: an INR beats JPEG at low rates,
around 0.3 bpp), with K-means quantisation-aware fitting (Gordon et al.).

Each Kodak image of ../shared/data (a centre crop of ``--crop`` pixels, a CPU budget; ``--crop 0``: the whole image,
768 x 512, with ``--batch-pixels`` random pixels per step) is fitted by SIRENs of several sizes (``--sizes``),
quantisation-aware with K-means at ``--bits`` bits from the first step (codebooks refitted every step), and stored as
a ``.nirz`` (codebooks and biases in float16 with ``--float16``, as COIN stores its weights). Its rate is counted
twice: the whole file (header included) and the coded weights alone (what COIN counts). JPEG and WebP (Pillow)
encode the same image at every quality setting; their PSNR at the network's rate is read off their rate-distortion
curve by linear interpolation (a rate below the codec's lowest is "out of range", as is a rate above its highest
quality's). Rows: every network size; the note says at which rates the network wins.

Run: ``.venv/bin/python benchmarks/bench_image_inr.py [--images 3] [--crop 128] [--steps 1000] [--bits 6] [--float16]
[--sizes 2x16,3x24] [--batch-pixels N] [--retable]``; whole images write ``image_inr_whole``.
"""
from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from results import REPO, Experiment, Table

from compress.config import CompressConfig
from compress.image import fit_to_file, read_image
from nir_core.image_metrics import psnr
from nir_core.inr.image import ImageFitConfig, ImageINRConfig

KODAK = REPO.parent / "shared" / "data" / "kodak_01_12"
SIZES = "2x16,3x24,4x32,5x40,6x56"
"""Hidden layers x width of the networks, smallest first (for 128 x 128 crops)."""


def codec_curve(image: np.ndarray, fmt: str) -> list[tuple[float, float]]:
    """(bpp, PSNR) of Pillow's ``fmt`` at every quality 1..95, sorted by rate."""
    pixels = Image.fromarray((image * 255 + 0.5).astype(np.uint8))
    points = []
    for quality in range(1, 96):
        buffer = io.BytesIO()
        pixels.save(buffer, format=fmt, quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), np.float32) / 255
        points.append((len(buffer.getvalue()) * 8 / (image.shape[0] * image.shape[1]), psnr(decoded, image)))
    return sorted(points)


def at_rate(curve: list[tuple[float, float]], bpp: float) -> float | None:
    """The codec's PSNR at ``bpp`` by linear interpolation of its curve; None outside the rates it reaches (below
    its lowest quality's or above its highest's)."""
    rates, scores = np.array([p[0] for p in curve]), np.array([p[1] for p in curve])
    if not rates[0] <= bpp <= rates[-1]:
        return None
    return float(np.interp(bpp, rates, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--bits", type=int, default=6)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--sizes", default=SIZES, help="hidden layers x width of each network, comma-separated")
    parser.add_argument("--float16", action="store_true", help="codebooks and biases in float16")
    parser.add_argument("--batch-pixels", type=int, default=0, help="random pixels per step (0: every pixel)")
    parser.add_argument("--retable", action="store_true", help="only re-read the codecs' curves and rebuild the table")
    args = parser.parse_args()
    name = "image_inr" if args.crop else "image_inr_whole"
    if args.retable:
        return retable(name)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    precision = {"codebook_dtype": "float16", "raw_float": "float16"} if args.float16 else {}
    exp = Experiment(name=name, title=f"Images as networks against JPEG and WebP ({name})",
                     description=__doc__.split("\n\nRun:")[0])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(KODAK.glob("kodim*.png"))[:args.images]:
            image = read_image(path, (args.crop, args.crop) if args.crop else None)
            curves = {fmt: codec_curve(image, fmt) for fmt in ("JPEG", "WEBP")}
            for layers, width in sizes:
                cfg = ImageFitConfig(model=ImageINRConfig(hidden_layers=layers, width=width), steps=args.steps,
                                     lr=args.lr, batch_pixels=args.batch_pixels)
                r = fit_to_file(image, Path(tmp) / "x.nirz", cfg,
                                CompressConfig(quantiser="kmeans", bits=args.bits, **precision), progress=False)
                row = with_codecs({"image": path.stem, "network": f"{layers} x {width}", "bpp": r["bpp"],
                                   "body_bpp": r["body_bpp"], "psnr": r["psnr"], "ssim": r["ssim"],
                                   "seconds": r["seconds"]}, curves)
                rows.append(row)
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            exp.metrics = {"args": vars(args), "rows": rows,
                           "codec_curves": exp.metrics.get("codec_curves", {}) | {path.stem: curves}}
            exp.save()
    exp.tables, exp.notes = tables(rows, args), notes(rows, exp.metrics["codec_curves"])
    exp.save()


def with_codecs(row: dict, curves: dict) -> dict:
    """``row`` with JPEG's and WebP's PSNR at its two rates, read off ``curves`` (format -> (bpp, PSNR) points)."""
    return {**row, **{f"{fmt.lower()}_at_bpp": at_rate(c, row["bpp"]) for fmt, c in curves.items()},
            **{f"{fmt.lower()}_at_body_bpp": at_rate(c, row["body_bpp"]) for fmt, c in curves.items()}}


def tables(rows: list[dict], args) -> dict[str, Table]:
    fmt = lambda v: "out of range" if v is None else f"{v:.2f}"
    table = Table(["image", "network", "bpp (file / weights)", "PSNR", "JPEG at file bpp", "WebP at file bpp",
                   "JPEG at weights bpp", "WebP at weights bpp"])
    for r in rows:
        table.rows.append([r["image"], r["network"], f"{r['bpp']:.3f} / {r['body_bpp']:.3f}", f"{r['psnr']:.2f}",
                           fmt(r["jpeg_at_bpp"]), fmt(r["webp_at_bpp"]), fmt(r["jpeg_at_body_bpp"]),
                           fmt(r["webp_at_body_bpp"])])
    crop = f"{args.crop} x {args.crop} centre crops" if args.crop else "whole images"
    precision = ", float16 codebooks and biases" if getattr(args, "float16", False) else ""
    return {f"{crop}, K-means {args.bits} bits{precision}, {args.steps} steps": table}


def notes(rows: list[dict], curves: dict) -> list[str]:
    """What the rows say against JPEG: wins at the same file rate, and networks below JPEG's lowest rate against
    the best JPEG can do there (its lowest quality, at a higher rate). ``curves``: image -> format -> (bpp, PSNR)."""
    wins = [r for r in rows if r["jpeg_at_bpp"] is not None and r["psnr"] > r["jpeg_at_bpp"]]
    out = [f"The network beats JPEG at the same file rate in {len(wins)} of {len(rows)} rows"
           + (f" (rates {min(r['bpp'] for r in wins):.2f}-{max(r['bpp'] for r in wins):.2f} bpp)." if wins else ".")]
    for r in rows:
        lowest_rate, lowest_psnr = curves[r["image"]]["JPEG"][0]
        if r["bpp"] < lowest_rate:
            out.append(f"{r['image']}, {r['network']}: {r['bpp']:.3f} bpp is below JPEG's lowest rate "
                       f"({lowest_rate:.3f} bpp, {lowest_psnr:.2f} dB); the network gives {r['psnr']:.2f} dB.")
    return out


def retable(name: str) -> None:
    """Re-reads the codecs' PSNR at each row's rates from the stored curves and rebuilds the table (the networks are
    not refitted)."""
    import json

    from results import RESULTS_DIR, atomic_write_json, refresh_results_md

    path = RESULTS_DIR / f"{name}.json"
    record = json.loads(path.read_text())
    metrics = record["metrics"]
    metrics["rows"] = [with_codecs(r, metrics["codec_curves"][r["image"]]) for r in metrics["rows"]]
    args = argparse.Namespace(**metrics["args"])
    record["tables"] = {k: {"headers": t.headers, "rows": t.rows} for k, t in tables(metrics["rows"], args).items()}
    record["notes"] = notes(metrics["rows"], metrics["codec_curves"])
    atomic_write_json(path, record)
    refresh_results_md()


if __name__ == "__main__":
    main()
