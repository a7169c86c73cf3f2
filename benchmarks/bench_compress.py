"""Quantised encoders: reconstruction quality against the size of the compressed file on disk.

``--plan ndf`` quantises the NDF bundle's encoder, ``--plan pt`` the whole labelled Point Transformer bundle;
:data:`PLANS` and :data:`METHOD` say what each plan's rows are and how each row is scored (the text of its section
in docs/RESULTS.md).

Run: ``.venv/bin/python benchmarks/bench_compress.py --plan ndf|pt [--rooms 2] [--resolution 128]
[--finetune-steps 0] [--only "2 bits" ...] [--carry]``; with fine-tuning the results are compress_PLAN_qat.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from results import REPO, Experiment, Table, carried_rows, carry_note, save_figure

from compress.config import CompressConfig, FinetuneConfig
from compress.qat import quantisable_layers
from compress.report import layer_table
from compress.workflow import compress_bundle, model_from_file
from nir_core.bundle import ModelBundle
from nir_core.data.io import load
from nir_core.data.synthetic import generate_room
from nir_core.errors import FieldError
from nir_core.models.registry import from_bundle
from nir_core.protocol import HELD_OUT_SEED, RESOLUTION, EvalConfig, evaluate, prepare

SHARED = REPO.parent / "shared" / "data"
MODELS = REPO / "assets" / "models"
ENCODER = ("encoder.", "parts.encoder.")
"""State-dict prefixes of the encoder (NDF, Point Transformer models)."""
NDF_SCHEDULES = ["888 777 666 55", "555 666 777 88", "222 444 666 88", "111 222 333 44"]
"""Per-layer bits of the NDF encoder's 11 conv layers (thesis Table 3.5's strings), first layer first."""
PLANS = {
    "ndf": "Thesis ch. 3 Table 3.5 analogue on the NDF bundle: the encoder's 11 conv layers at uniform 8 / 5 / 2 / 1 "
           "bits and at decreasing / increasing per-layer schedules, with K-means and min-max (the decoder stays float).",
    "pt": "Every Linear layer of the labelled Point Transformer bundle (encoder, contextualiser, decoders) quantised with "
          "K-means against the uniform quantisers at 8 / 4 / 3 / 2 bits.",
}
"""What each plan's rows quantise."""
METHOD = ("Each row quantises the bundle {how}, writes the ``.nirz``, loads the model back from that file and scores it "
          "by the thesis protocol (``nir_core.protocol``: 10k input points, CD-L1 x1e2, CD-L2 x1e4, F1-δ, and mF1-δ / "
          "mIoU when the model labels) on held-out generated rooms and ScanNet scene0000_00. Size is the file's size on "
          "disk (the float32 row: the bundle folder); \"encoder\" is the encoder's share before entropy coding, the "
          "memory the thesis's table reports. A size-vs-quality plot is saved as docs/{name}.png.")
"""How every row is made and scored; ``how``: post-training or after quantisation-aware training."""
QAT = "after {steps} steps of quantisation-aware training (task {task}) on the bundle's own data"


def ndf_rows(model) -> list[tuple[str, str, dict]]:
    """(row, quantiser, layer spec): every encoder conv by the schedule, the decoder left float (bits 0)."""
    names = [n for n, _ in quantisable_layers(model)]
    encoder = [n for n in names if n.startswith("encoder.")]

    def spec(digits: str) -> dict:
        digits = digits.replace(" ", "")
        if len(digits) != len(encoder):
            raise SystemExit(f"schedule {digits} has {len(digits)} digits for {len(encoder)} encoder layers")
        return {**{n: 0 for n in names}, **{n: int(d) for n, d in zip(encoder, digits)}}

    # Setting by setting, both quantisers: a run cut short still compares them where it got to.
    settings = [(f"{b} bits", str(b) * len(encoder)) for b in (8, 5, 2, 1)] + [(s, s) for s in NDF_SCHEDULES]
    return [(f"{q}, {label}", q, spec(digits)) for label, digits in settings for q in ("kmeans", "minmax")]


def pt_rows(model) -> list[tuple[str, str, int]]:
    return [(f"{q}, {b} bits", q, b) for b in (8, 4, 3, 2) for q in ("kmeans", "minmax", "distributional")]


def kmeans_verdicts(rows: list[dict]) -> list[str]:
    """Per setting (the row label after the quantiser: "2 bits", a schedule), whether K-means scores a higher F1-δ
    than every uniform quantiser measured at that setting: the paper's finding, checked row by row."""
    scores: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["quantiser"] != "float32":  # a collapsed field (no surface) scores 0
            scores.setdefault(r["row"].split(", ", 1)[1], {})[r["quantiser"]] = r["mean"].get("f1_delta", 0.0)
    verdicts = []
    for setting, by in scores.items():
        others = {q: v for q, v in by.items() if q != "kmeans"}
        if "kmeans" in by and others:
            best = max(others, key=others.get)
            if not any(by.values()):
                verdicts.append(f"{setting}: every quantiser's field collapses")
                continue
            verdicts.append(f"{setting}: K-means {by['kmeans']:.3f} {'>' if by['kmeans'] > others[best] else '<='} "
                            f"{best} {others[best]:.3f}")
    return ["K-means against the best uniform quantiser, F1-δ (a collapsed field counts 0): "
            + "; ".join(verdicts) + "."] if verdicts else []


def encoder_kb(path: Path) -> float:
    """The encoder's share of a ``.nirz``: its tensors' codebooks + packed indices (or raw bytes), before entropy
    coding (the coder works on the whole body, so its saving cannot be split by tensor)."""
    rows, _ = layer_table(path)
    return sum(r["bytes"] for r in rows if r["name"].startswith(ENCODER)) / 1024


def plot(rows: list[dict], metric: str, label: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    series: dict[str, list[dict]] = {}
    for r in rows:
        series.setdefault(r["quantiser"], []).append(r)
    for name, points in series.items():
        points = sorted((p for p in points if p["mean"]), key=lambda r: r["file_kb"])  # collapsed rows have none
        if name == "float32":
            ax.plot([p["file_kb"] for p in points], [p["mean"][metric] for p in points], "*", label=name,
                    markersize=8)
            continue
        # One line through the uniform bit-widths per quantiser; per-layer schedules are points of their own
        # (joined to the uniform ones, the line would zigzag between unrelated settings).
        uniform = [p for p in points if p["row"].endswith(" bits")]
        line, = ax.plot([p["file_kb"] for p in uniform], [p["mean"][metric] for p in uniform], "o-", label=name,
                        markersize=6)
        for p in points:
            setting = p["row"].split(", ", 1)[1]
            if p not in uniform:
                ax.plot(p["file_kb"], p["mean"][metric], "s", mfc="none", color=line.get_color(), markersize=7)
            ax.annotate(setting.replace(" bits", "b"), (p["file_kb"], p["mean"][metric]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("model file on disk (KB, log scale)")
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", choices=("ndf", "pt"), required=True)
    parser.add_argument("--model", type=Path, help="bundle (default: ndf-geometry for ndf, pt-context for pt)")
    parser.add_argument("--rooms", type=int, default=2, help="held-out generated rooms (seeds from 100000)")
    parser.add_argument("--scannet", action=argparse.BooleanOptionalAction, default=True,
                        help="also score ScanNet scene0000_00 (full resolution)")
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--finetune-steps", type=int, default=0, help="QAT steps per row (0: post-training)")
    parser.add_argument("--finetune-task", default="whole", help="QAT task: whole (every part) or own")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="run only the rows whose label contains one of these, e.g. \"2 bits\" \"3 bits\"")
    parser.add_argument("--carry", action="store_true",
                        help="keep the rows the last run of this plan measured (benchmarks/results) and measure only "
                             "the missing ones")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_compress")
    args = parser.parse_args()
    bundle_path = args.model or MODELS / {"ndf": "ndf-geometry", "pt": "pt-context"}[args.plan]
    name = f"compress_{args.plan}" + ("_qat" if args.finetune_steps else "")
    title = {"ndf": "Quantising the NDF encoder (thesis ch. 3 Table 3.5 analogue)",
             "pt": "Quantising the labelled Point Transformer bundle"}[args.plan]
    exp = Experiment(name=name, title=title + (f", {args.finetune_steps} QAT steps" if args.finetune_steps else ""),
                     description=PLANS[args.plan] + " " + METHOD.format(
                         how=QAT.format(steps=args.finetune_steps, task=args.finetune_task) if args.finetune_steps
                         else "post-training", name=name))
    bundle = ModelBundle.load(bundle_path)
    semantic = bundle.label_set is not None
    float_model = from_bundle(bundle, source=bundle_path)
    full_plan = ndf_rows(float_model) if args.plan == "ndf" else pt_rows(float_model)
    plan = [row for row in full_plan if not args.only or any(text in row[0] for text in args.only)]
    compared = ("model", "rooms", "scannet", "resolution", "finetune_steps") + \
        (("finetune_task",) if args.finetune_steps else ())
    carried = carried_rows(name, args, compared) if args.carry else {}
    cfg = EvalConfig(resolution=args.resolution)
    scenes = [prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"room_{HELD_OUT_SEED + i}", cfg) for i in range(args.rooms)]
    fullres = SHARED / "scannet_scene0000_00_fullres"
    if args.scannet and fullres.exists():
        scenes.append(prepare(load(fullres), "ScanNet scene0000_00", cfg))
    args.out.mkdir(parents=True, exist_ok=True)
    float_kb = sum(f.stat().st_size for f in bundle_path.iterdir() if f.is_file()) / 1024
    headers = ["configuration", "file (KB)", "x smaller", "encoder (KB)", "CD-L1", "CD-L2", "F1-δ"] + (["mF1-δ", "mIoU"] if semantic
                                                                                       else []) + ["TLQE"]
    table = Table(headers)
    exp.tables[f"{bundle_path.name}: means over {len(scenes)} scenes at {args.resolution}³"] = table
    rows = []
    exp.metrics = {"rows": rows, "float_kb": float_kb, "args": {k: str(v) for k, v in vars(args).items()}}

    def scored(label: str, quantiser: str, model, file_kb: float, extra: dict) -> None:
        start = time.perf_counter()
        try:
            result = evaluate(model, scenes, cfg, semantic=semantic)
        except FieldError as exc:  # quantised too hard: the field no longer describes a surface
            result = {"mean": {}, "scenes": [], "failed": str(exc)}
        m = result["mean"]
        add({"row": label, "quantiser": quantiser, "file_kb": file_kb, "mean": m, "scenes": result["scenes"],
             "eval_s": time.perf_counter() - start, **extra, **({"failed": result["failed"]} if not m else {})})

    def pending(rows: list[dict]) -> list[str]:
        done = {r["row"] for r in rows}
        missing = [label for label, *_ in plan if label not in done]
        skipped = [label for label, *_ in full_plan if label not in done and label not in missing]
        return ([f"Incomplete: rows still to measure (--carry adds them): {'; '.join(missing)}."] if missing else []) \
            + ([f"Not measured (--only {' '.join(args.only)}): {'; '.join(skipped)}."] if skipped else [])

    def add(row: dict) -> None:
        rows.append(row)
        m = row["mean"]
        cells = [row["row"], f"{row['file_kb']:.1f}", f"{float_kb / row['file_kb']:.1f}", f"{row['encoder_kb']:.1f}"]
        if m:
            cells += [f"{m['cd_l1'] * 1e2:.4f}", f"{m['cd_l2'] * 1e4:.4f}", f"{m['f1_delta']:.4f}"]
            if semantic:
                cells += [f"{m.get('mf1_delta', float('nan')):.4f}", f"{m.get('miou', float('nan')):.4f}"]
        else:
            cells += ["no surface (collapsed field)"] + ["-"] * (4 if semantic else 2)
        table.rows.append(cells + [f"{row['tlqe']:.4g}" if "tlqe" in row else "-"])
        exp.notes = carry_note(rows) + pending(rows)
        exp.save()  # after every row: a run cut short keeps what it measured
        print(f"{row['row']}: {row['file_kb']:.1f} KB, {m or row.get('failed')}", flush=True)

    encoder_float_kb = sum(t.numel() * 4 for k, t in bundle.state.items() if k.startswith(ENCODER)) / 1024
    if "float32" in carried:
        add(carried["float32"])
    else:
        scored("float32", "float32", float_model, float_kb, {"encoder_kb": encoder_float_kb})
    for label, quantiser, spec in plan:
        if label in carried:
            add(carried[label])
            continue
        path = args.out / f"{args.plan}-{label.replace(', ', '-').replace(' ', '')}.nirz"
        bits = spec if isinstance(spec, int) else 8
        ccfg = CompressConfig(quantiser=quantiser, bits=bits, layer_bits=None if isinstance(spec, int) else spec)
        tune = FinetuneConfig(steps=args.finetune_steps, task=args.finetune_task,
                              out=str(args.out / "qat" / path.stem)) if args.finetune_steps else None
        report = compress_bundle(bundle_path, path, ccfg, tune, progress=False)
        model, _ = model_from_file(path)
        scored(label, quantiser, model, report["file_bytes"] / 1024,
               {"tlqe": report["tlqe"], "coder": report["coder"], "compress_s": report["seconds"],
                "finetune": report["finetune"], "encoder_kb": encoder_kb(path)})
    how = f"QAT, {args.finetune_steps} steps per row, task {args.finetune_task}" if args.finetune_steps \
        else "post-training"
    figure = REPO / "docs" / f"{name}.png"
    plot(rows, "f1_delta", "F1-δ (higher is better)", figure, f"{bundle_path.name}: F1-δ against file size, {how}")
    exp.notes = carry_note(rows) + pending(rows) + kmeans_verdicts(rows) + \
        [f"Plot: docs/{figure.name}. Quantisation: {how}."]
    exp.save()


if __name__ == "__main__":
    main()
