"""Small images as quantised networks (Gordon et al. §4.1 and §4.2): K-means against the uniform quantisers at 1 / 3 / 5
/ 8 bits on 32 x 32 crops with their CIFAR network (one hidden layer of 20 sine units, ω = 30), MSE against log-MSE
(their Fig. 5), and the capacity / quantisation trade-off: PSNR of several architectures at several bit widths
against the bits their weights take (their Fig. 6 level sets and Fig. 10's 1-bit networks).

The crops are 32 x 32 pieces of the Kodak images in ../shared/data (a CIFAR-sized stand-in: CIFAR itself is not
here), ``--crops`` of them, from the centre and the corners' midpoints of successive images. Every fit is
quantisation-aware from the first step (Adam, full batch, the codebooks refitted every ``--repartition-every``
steps). PSNR is that of the image the quantised network holds, averaged over the crops. Weight bits: parameters x
bits of the quantised layers (the paper's memory axis; codebooks and biases not counted).

Run: ``.venv/bin/python benchmarks/bench_image_small.py [--part quantisers|levels|both] [--crops 4] [--steps 1000]``
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from results import REPO, Experiment, Table, save_figure

from compress.config import CompressConfig
from compress.image import read_image
from compress.qat_run import QATRun
from nir_core.inr.image import ImageFitConfig, ImageINRConfig, fit_image

KODAK = REPO.parent / "shared" / "data" / "kodak_01_12"
QUANTISERS = ("kmeans", "distributional", "minmax", "explicit")
BITS = (1, 3, 5, 8)
ARCHITECTURES = ((1, 10), (1, 20), (1, 40), (2, 20), (2, 40), (3, 40))
"""(hidden layers, width) of the level-set part."""
LEVEL_BITS = (1, 2, 3, 5, 8)


def crops(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` 32 x 32 crops: the centre of each Kodak image, then other positions of the same images."""
    images = sorted(KODAK.glob("kodim*.png"))
    offsets = ((0.5, 0.5), (0.25, 0.25), (0.75, 0.75), (0.25, 0.75))
    found = []
    for k in range(count):
        path, (fx, fy) = images[k % len(images)], offsets[(k // len(images)) % len(offsets)]
        w, h = read_image(path).shape[1::-1]
        x, y = int(fx * w) - 16, int(fy * h) - 16
        found.append((f"{path.stem}@{x},{y}", read_image(path, (32, 32, x, y))))
    return found


def fit(image: np.ndarray, layers: int, width: int, quantiser: str | None, bits: int, loss: str, args) -> dict:
    cfg = ImageFitConfig(model=ImageINRConfig(hidden_layers=layers, width=width), steps=args.steps, lr=args.lr,
                         loss=loss)
    run = QATRun(CompressConfig(quantiser=quantiser, bits=bits), args.repartition_every) if quantiser else None
    model, report = fit_image(image, cfg, hooks=run.hooks if run else None, progress=False)
    weights = sum(m.weight.numel() for m in model.modules() if hasattr(m, "weight"))
    return {"psnr": report["psnr"], "ssim": report["ssim"], "weight_bits": weights * (bits if quantiser else 32),
            "parameters": sum(p.numel() for p in model.parameters())}


def mean_over(images, **kw) -> dict:
    rows = [fit(img, **kw) for _, img in images]
    return {"psnr": float(np.mean([r["psnr"] for r in rows])), "psnr_std": float(np.std([r["psnr"] for r in rows])),
            "ssim": float(np.mean([r["ssim"] for r in rows])), "weight_bits": rows[0]["weight_bits"],
            "parameters": rows[0]["parameters"]}


def quantiser_part(images, args, exp: Experiment) -> list[dict]:
    rows = []
    for loss in ("mse", "log-mse"):
        for quantiser, bits in [(None, 32)] + [(q, b) for b in BITS for q in QUANTISERS]:
            row = {"loss": loss, "quantiser": quantiser or "float32", "bits": bits,
                   **mean_over(images, layers=1, width=20, quantiser=quantiser, bits=bits, loss=loss, args=args)}
            rows.append(row)
            print(row, flush=True)
            exp.metrics["quantisers"] = rows
            exp.save()
    return rows


def level_part(images, args, exp: Experiment) -> list[dict]:
    rows = []
    for layers, width in ARCHITECTURES:
        for bits in LEVEL_BITS:
            row = {"network": f"{layers} x {width}", "bits": bits,
                   **mean_over(images, layers=layers, width=width, quantiser="kmeans", bits=bits, loss="mse", args=args)}
            rows.append(row)
            print(row, flush=True)
            exp.metrics["levels"] = rows
            exp.save()
    return rows


def quantiser_table(rows: list[dict]) -> Table:
    table = Table(["loss", "bits"] + list(QUANTISERS) + ["best uniform", "K-means - best uniform (dB)"])
    floats = {r["loss"]: r["psnr"] for r in rows if r["quantiser"] == "float32"}
    for loss in ("mse", "log-mse"):
        table.rows.append([loss, "32 (float)"] + [f"{floats[loss]:.2f}"] + ["-"] * (len(QUANTISERS) + 1))
        for bits in BITS:
            got = {r["quantiser"]: r["psnr"] for r in rows if r["loss"] == loss and r["bits"] == bits}
            uniform = max(got[q] for q in QUANTISERS[1:])
            table.rows.append([loss, str(bits)] + [f"{got[q]:.2f}" for q in QUANTISERS] + [f"{uniform:.2f}",
                                                                                          f"{got['kmeans'] - uniform:+.2f}"])
    return table


def level_table(rows: list[dict]) -> Table:
    table = Table(["network", "parameters"] + [f"{b} bits" for b in LEVEL_BITS])
    for name in dict.fromkeys(r["network"] for r in rows):
        mine = {r["bits"]: r for r in rows if r["network"] == name}
        table.rows.append([name, str(next(iter(mine.values()))["parameters"])] +
                          [f"{mine[b]['psnr']:.2f} dB / {mine[b]['weight_bits'] / 8192:.2f} KB" for b in LEVEL_BITS])
    return table


def level_notes(rows: list[dict]) -> list[str]:
    """For each network's weight memory, whether a larger network at fewer bits does better (the trade-off)."""
    notes = []
    for r in sorted(rows, key=lambda r: r["weight_bits"]):
        rival = max((o for o in rows if o["weight_bits"] <= r["weight_bits"] and o["parameters"] > r["parameters"]),
                    key=lambda o: o["psnr"], default=None)
        if rival is not None and rival["psnr"] > r["psnr"] + 0.5 and r["bits"] >= 5:
            notes.append(f"{rival['network']} at {rival['bits']} bits ({rival['weight_bits'] / 8192:.2f} KB) beats "
                         f"{r['network']} at {r['bits']} bits ({r['weight_bits'] / 8192:.2f} KB): "
                         f"{rival['psnr']:.2f} against {r['psnr']:.2f} dB")
    return notes[:6]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r["network"] for r in rows):
        mine = sorted((r for r in rows if r["network"] == name), key=lambda r: r["bits"])
        ax.plot([r["weight_bits"] / 8192 for r in mine], [r["psnr"] for r in mine], "o-", label=name)
        for r in mine:
            ax.annotate(f"{r['bits']}b", (r["weight_bits"] / 8192, r["psnr"]), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("weight memory (KB: parameters x bits, log scale)")
    ax.set_ylabel("PSNR (dB), mean over the crops")
    ax.set_title("32 x 32 crops, K-means QAT: networks at 1-8 bits", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="hidden layers x width")
    save_figure(fig, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("quantisers", "levels", "both"), default="both")
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--repartition-every", type=int, default=10)
    args = parser.parse_args()
    exp = Experiment(name="image_small", title="Small images as quantised networks (Gordon et al. §4.1-4.2) (image_small)",
                     description=__doc__.split("\n\nRun:")[0])
    exp.metrics = {"args": vars(args)}
    images = crops(args.crops)
    exp.metrics["crops"] = [name for name, _ in images]
    start = time.perf_counter()
    if args.part in ("quantisers", "both"):
        rows = quantiser_part(images, args, exp)
        exp.tables[f"PSNR (dB), 1 x 20 SIREN, mean of {args.crops} crops, {args.steps} steps"] = quantiser_table(rows)
    if args.part in ("levels", "both"):
        rows = level_part(images, args, exp)
        exp.tables[f"K-means, MSE: PSNR / weight memory per network and bits, mean of {args.crops} crops"] = \
            level_table(rows)
        figure = REPO / "docs" / "image_levels.png"
        plot(rows, figure)
        exp.notes += [f"Plot: docs/{figure.name}."] + level_notes(rows)
    exp.metrics["seconds"] = time.perf_counter() - start
    exp.save()


if __name__ == "__main__":
    main()
