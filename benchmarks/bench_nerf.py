"""Quantised NeRFs on the lego scene: K-means against the uniform quantisers at 3 bits (Gordon et al. Table 1) and
the bit sweep (their Fig. 9), trained quantisation-aware from the first step with repartitioning.

Every run trains the paper's network (4 x 64 ReLU, positional encoding with 10 / 4 octaves, 64 stratified samples,
no hierarchical sampling) on the Blender lego scene of ../shared/data at the stated image size, for the stated
number of steps (a CPU budget, far below the paper's 200,000), then renders the first ``--test-views`` test views
and scores them (PSNR, SSIM, gradient PSNR). The size is the ``.nirz`` file (codebook + indices per layer, biases
float32, coded by BZIP2 / LZMA / range coder, the smallest kept; the BZIP2 body beside it, the paper's coder).
Each run is a resumable training folder under ``--work``: an interrupted benchmark continues where it stopped, and
``--carry`` keeps the rows already measured.

``--scene fern`` runs the same on the LLFF fern (forward-facing, rays in normalised device coordinates).

Run: ``.venv/bin/python benchmarks/bench_nerf.py [--scene lego|fern] [--steps 3000] [--downscale 2] [--table 1|sweep]
[--bits 1,3,5,8] [--carry] [--retable]``
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from results import REPO, Experiment, Table, carried_rows, carry_note, save_figure

from compress.config import CompressConfig
from compress.nerf import load_nerf, train_quantised
from nir_core.data.views import load_views
from nir_core.nerf.train import NerfTrainConfig, render_view

SCENES = {"lego": REPO.parent / "shared" / "data" / "nerf_synthetic_lego_200",
          "fern": REPO.parent / "shared" / "data" / "nerf_llff_fern_8x"}
"""The Blender lego (200 x 200, white background) and the LLFF fern (504 x 378, forward-facing, NDC rays)."""
QUANTISERS = ("kmeans", "distributional", "minmax", "explicit")
LR = 5e-4
"""The learning rate the first measurements used (the trainer's default then; its default is now 2e-3 -> 1e-4)."""
PAPER_TABLE_1_LEGO = {"kmeans": 22.88, "distributional": 21.37, "minmax": 20.79, "explicit": 21.89}
"""Gordon et al. Table 1, lego, 3 bits: test PSNR (their 200,000-step training on 800 x 800 images)."""


def run(name: str, args, quantiser: str | None, bits: int) -> dict:
    data = SCENES[args.scene]
    cfg = NerfTrainConfig(data=str(data), downscale=args.downscale, steps=args.steps, val_every=0, val_views=0,
                          out=str(Path(args.work) / name), lr=args.lr, lr_final=args.lr_final)
    start = time.perf_counter()
    quantisation = CompressConfig(quantiser=quantiser, bits=bits) if quantiser else None
    report = train_quantised(cfg, quantisation, repartition_every=args.repartition_every, progress=False)
    model, bundle = load_nerf(report.get("file") or report["bundle"])
    views = load_views(data, "test", args.downscale)
    scores = [render_view(model, views, i, cfg.render)[1] for i in range(min(args.test_views, len(views)))]
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    return {**mean, "file_bytes": report.get("file_bytes"), "bzip2_body_bytes": (report.get("coded_sizes") or {})
            .get("bzip2"), "best_body_bytes": min((report.get("coded_sizes") or {"-": None}).values()),
            "index_entropy_bytes": index_entropy_bytes(report["file"]) if "file" in report else None,
            "float32_bytes": report["float32_bytes"], "train_seconds": report["seconds"],
            "seconds": time.perf_counter() - start}


def index_entropy_bytes(nirz: str | Path) -> float:
    """The order-0 entropy of the file's quantised weights (each layer's codebook indices), in bytes: what any coder
    of independent symbols needs at least for them (biases and codebooks not included)."""
    from compress.codec import read

    total = 0.0
    for name, tensor in read(nirz).state.items():
        if name.endswith("weight"):
            _, counts = np.unique(tensor.numpy(), return_counts=True)
            p = counts / counts.sum()
            total += float(-(p * np.log2(p)).sum()) * tensor.numel() / 8
    return total


def tables(rows: list[dict], steps: int, downscale: int, scene: str = "lego") -> dict[str, Table]:
    table = Table(["run", "PSNR", "SSIM", "gradient PSNR", "size (KB)", "BZIP2 body (KB)", "best body / BZIP2",
                   "index entropy (KB)", "paper PSNR", "train time (s)"])
    for r in rows:
        size = r["float32_bytes"] if r["file_bytes"] is None else r["file_bytes"]
        table.rows.append([r["row"], f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['gradient_psnr']:.2f}",
                           f"{size / 1024:.2f}" + (" (float32 weights)" if r["file_bytes"] is None else ""),
                           "-" if r["bzip2_body_bytes"] is None else f"{r['bzip2_body_bytes'] / 1024:.2f}",
                           "-" if r.get("best_body_bytes") is None or r["bzip2_body_bytes"] is None
                           else f"{r['best_body_bytes'] / r['bzip2_body_bytes']:.2f}",
                           "-" if r.get("index_entropy_bytes") is None else f"{r['index_entropy_bytes'] / 1024:.2f}",
                           f"{PAPER_TABLE_1_LEGO[r['quantiser']]:.2f}" if scene == "lego" and r["bits"] == 3 and
                           r["quantiser"] in PAPER_TABLE_1_LEGO else "-", f"{r['train_seconds']:.0f}"])
    size = f"{200 // downscale} px" if scene == "lego" else f"{504 // downscale} x {378 // downscale} px"
    return {f"{scene} at {size}, {steps} steps": table}


def plot_sweep(rows: list[dict], path: Path, title: str) -> None:
    """PSNR against bits per weight, one line per quantiser and the float model as a level (their Fig. 9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for quantiser in QUANTISERS:
        points = sorted((r for r in rows if r["quantiser"] == quantiser), key=lambda r: r["bits"])
        ax.plot([r["bits"] for r in points], [r["psnr"] for r in points], "o-", label=quantiser, markersize=6)
    for r in rows:
        if r["quantiser"] == "none":
            ax.axhline(r["psnr"], color="black", linestyle="--", linewidth=1, label="float32")
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_xticks(sorted({r["bits"] for r in rows if r["quantiser"] != "none"}))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def sweep_plot_path(name: str) -> Path:
    return REPO / "docs" / f"{name}.png"


def retable(name: str) -> None:
    """Rebuilds the table of ``benchmarks/results/NAME.json`` from its measured rows (nothing is re-run); a row
    without the coders' and entropy columns gets them from its run's file when that is still in ``--work``."""
    import json

    from results import RESULTS_DIR, atomic_write_json, refresh_results_md

    from compress.codec import read

    path = RESULTS_DIR / f"{name}.json"
    record = json.loads(path.read_text())
    args = record["metrics"]["args"]
    for r in record["metrics"]["rows"]:
        nirz = Path(args["work"]) / r["row"].replace(" ", "-") / "model.nirz"
        if r.get("file_bytes") is not None and "index_entropy_bytes" not in r and nirz.exists():
            r["best_body_bytes"] = min(read(nirz).extra["nirz"]["coded_sizes"].values())
            r["index_entropy_bytes"] = index_entropy_bytes(nirz)
    built = tables(record["metrics"]["rows"], int(args["steps"]), int(args["downscale"]), args.get("scene", "lego"))
    record["tables"] = {k: {"headers": t.headers, "rows": t.rows} for k, t in built.items()}
    if name.startswith("nerf_bits"):
        plot_sweep(record["metrics"]["rows"], sweep_plot_path(name), record["title"])
        done = {r["row"] for r in record["metrics"]["rows"]}
        missing = [f"{q} {b} bits" for b in args["bits"].split(",") for q in QUANTISERS if f"{q} {b} bits" not in done]
        notes = [n for n in record.get("notes", []) if not n.startswith(("Plot: ", "Still to measure"))]
        record["notes"] = notes + [f"Plot: docs/{sweep_plot_path(name).name}."] + \
            ([f"Still to measure (the same command with --carry adds them): {'; '.join(missing)}."] if missing else [])
    atomic_write_json(path, record)
    refresh_results_md()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=("1", "sweep"), default="1")
    parser.add_argument("--scene", choices=tuple(SCENES), default="lego")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--downscale", type=int, default=2, help="of the 200 x 200 lego images")
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--lr-final", type=float, default=5e-5)
    parser.add_argument("--repartition-every", type=int, default=100)
    parser.add_argument("--test-views", type=int, default=10)
    parser.add_argument("--bits", default="1,3,5,8", help="bit widths of the sweep")
    parser.add_argument("--work", default=None, help="run folders (default: out/bench_nerf, out/bench_nerf_fern)")
    parser.add_argument("--carry", action="store_true")
    parser.add_argument("--retable", action="store_true", help="only rebuild the table from the last run's rows")
    args = parser.parse_args()
    # Another scene or learning rate is another experiment: its own results file and run folders.
    suffix = ("" if args.scene == "lego" else f"_{args.scene}") + ("" if args.lr == LR else f"_lr{args.lr:g}")
    args.work = args.work or "out/bench_nerf" + suffix
    name = ("nerf_table1" if args.table == "1" else "nerf_bits") + suffix
    if args.retable:
        return retable(name)
    exp = Experiment(name=name, title=(f"Quantised NeRF, {args.scene}, 3 bits (Gordon et al. Table 1)" if args.table == "1"
                                       else f"Quantised NeRF, {args.scene}: bits per weight (Gordon et al. Fig. 9)")
                     + f" ({name})",
                     description=__doc__.split("\n\nRun:")[0])
    compared = ("steps", "downscale", "lr", "lr_final", "repartition_every", "test_views")
    done = {}
    if args.carry:  # the sweep shares its float and 3-bit rows with Table 1 when both ran with the same settings
        for source in ("nerf_table1" + suffix, name) if args.table == "sweep" else (name,):
            done.update(carried_rows(source, args, compared))
    plan = [("float32", None, 32)] + ([(f"{q} 3 bits", q, 3) for q in QUANTISERS] if args.table == "1" else
                                      [(f"{q} {b} bits", q, int(b)) for b in args.bits.split(",") for q in QUANTISERS])
    rows = []
    for label, quantiser, bits in plan:
        if label in done:
            rows.append(done[label])
        else:
            folder = label.replace(" ", "-")
            rows.append({"row": label, "quantiser": quantiser or "none", "bits": bits, **run(folder, args, quantiser, bits)})
            print(label, {k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)}, flush=True)
        exp.metrics = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
        exp.tables = tables(rows, args.steps, args.downscale, args.scene)
        exp.save()  # after every run: a long benchmark keeps what it measured, table included
    exp.notes += carry_note(rows)
    if args.table == "sweep":
        plot_sweep(rows, sweep_plot_path(name), exp.title)
        exp.notes.append(f"Plot: docs/{sweep_plot_path(name).name}.")
    exp.save()


if __name__ == "__main__":
    main()
