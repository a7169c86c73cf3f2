"""Thesis ch. 6 Tables 1 and 3 analogues: what each way of adding semantics costs and gains, on held-out rooms.

Rows: Geometric only (the geometry bundle, no labels), Baseline (joint: encoder + UDF + semantic heads from scratch
with uncertainty weighting), Frozen encoder (semantic head on the frozen geometry encodings), Unfrozen encoder
(the geometry encoder fine-tuned on cross-entropy alone), Context features (contextualiser + semantic head on the
frozen geometry encodings). Each trained row is a resumable run of `nir-studio train` (re-running this script
continues unfinished runs); every row is then scored by the thesis protocol (`nir_core.evaluate`: 10k input
points, mesh at 256³, CD-L1 x1e2, F1-δ, and mF1-δ / mIoU of the labelled mesh against 100k labelled ground-truth
points). ``--table 3``: the contextualiser's ablations instead (an MLP module; 3 scales; l = 1, 2, 4; more blocks;
more channels), each trained like the Context row.

Run: ``.venv/bin/python benchmarks/bench_context.py [--table 1|3] [--steps 3000] [--joint-steps 12000] [--rooms 3]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from results import REPO, Experiment, Table

from nir_core.bundle import ModelBundle
from nir_core.data.synthetic import generate_room
from nir_core.evaluate import EvalConfig, evaluate, prepare
from nir_core.models.registry import from_bundle
from nir_core.train import train
from nir_core.train.presets import preset

TABLE1 = [  # (row, run name, preset, contextualiser settings); the long joint run last, the quick rows land first
    ("Geometric only", None, None, None),
    ("Frozen encoder", "frozen", "pt-frozen", None),
    ("Context features", "context", "pt-context", None),
    ("Unfrozen encoder", "unfrozen", "pt-unfrozen", None),
    ("Baseline (joint)", "joint", "pt-joint", None),
]
TABLE3 = [
    ("Context, thesis module (l = 4)", "context", "pt-context", None),
    ("MLP context module", "ctx-mlp", "pt-context", {"kind": "mlp"}),
    ("Shallower (3 scales)", "ctx-3scales", "pt-context", {"channels": [32, 32, 64], "blocks": [1, 1, 1]}),
    ("l = 1", "ctx-l1", "pt-context", {"context_features": 1}),
    ("l = 2", "ctx-l2", "pt-context", {"context_features": 2}),
    ("More blocks (2 per scale)", "ctx-blocks2", "pt-context", {"blocks": [2, 2, 2, 2, 2]}),
    ("More channels (x2)", "ctx-wide", "pt-context", {"channels": [64, 64, 128, 128, 256]}),
]


def trained(run: str, name: str, runs: Path, geometry: Path, steps: int, context: dict | None) -> Path:
    """Runs (or resumes) the preset's training into ``runs/run``; returns its bundle."""
    cfg = preset(name)
    cfg.out, cfg.steps = str(runs / run), steps
    if cfg.init_from:
        cfg.init_from = str(geometry)
    if context:
        cfg.model = {"context": {**cfg.model.get("context", {}), **context}}
    bundle = runs / run / "bundle"
    if bundle.exists() and ModelBundle.load(bundle).training.get("steps") == steps:
        return bundle
    print(f"training {run} ({name}) for {steps} steps in {cfg.out}", flush=True)
    return train(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=int, choices=(1, 3), default=1)
    parser.add_argument("--geometry", type=Path, default=REPO / "assets" / "models" / "pt-geometry")
    parser.add_argument("--steps", type=int, default=3000, help="steps of the rows built on the geometry bundle")
    parser.add_argument("--joint-steps", type=int, default=12_000, help="steps of the joint baseline (from scratch)")
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--runs", type=Path, default=REPO / "out" / "bench_context")
    args = parser.parse_args()
    title = {1: "Semantics on top of a reconstruction encoder (thesis ch. 6 Table 1)",
             3: "Contextualiser ablations (thesis ch. 6 Table 3)"}[args.table]
    exp = Experiment(name=f"context_table{args.table}", title=title,
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    cfg = EvalConfig(resolution=args.resolution)
    scenes = [prepare(generate_room(100_000 + i).to_scan(), f"room_{100_000 + i}", cfg) for i in range(args.rooms)]
    table = Table(["row", "CD-L1", "F1-δ", "mF1-δ", "mIoU", "training steps", "training time (s)", "eval time (s)"])
    exp.tables[f"Held-out generated rooms (seeds 100000-{100_000 + args.rooms - 1}), means"] = table
    exp.metrics = {"rows": [], "args": {k: str(v) for k, v in vars(args).items()}}
    rows = exp.metrics["rows"]
    plan = TABLE1 if args.table == 1 else TABLE3
    for label, run, name, context in plan:
        bundle = args.geometry if name is None else trained(
            run, name, args.runs, args.geometry, args.joint_steps if name == "pt-joint" else args.steps, context)
        info = ModelBundle.load(bundle)
        start = time.perf_counter()
        result = evaluate(from_bundle(info, source=bundle), scenes, cfg, semantic=info.label_set is not None)
        seconds = time.perf_counter() - start
        mean = result["mean"]
        rows.append({"row": label, "bundle": str(bundle), "mean": mean, "scenes": result["scenes"],
                     "training": info.training, "eval_s": seconds})
        table.rows.append([label, f"{mean['cd_l1'] * 100:.4f}", f"{mean['f1_delta']:.4f}",
                           f"{mean['mf1_delta']:.4f}" if "mf1_delta" in mean else "-",
                           f"{mean['miou']:.4f}" if "miou" in mean else "-", str(info.training.get("steps")),
                           str(info.training.get("seconds_this_process")), f"{seconds:.0f}"])
        print(label, json.dumps({k: round(v, 4) for k, v in mean.items()}), flush=True)
        pending = [row for row, *_ in plan[len(rows):]]
        exp.notes = [f"Incomplete run: rows still to come: {', '.join(pending)}."] if pending else []
        exp.save()  # after every row, so a run cut short still leaves the rows it measured
    by = {r["row"]: r["mean"] for r in rows}
    if args.table == 1:
        base, ctx, geo = by["Baseline (joint)"], by["Context features"], by["Geometric only"]
        exp.notes.append(f"Context / Baseline mF1-δ: {ctx['mf1_delta'] / base['mf1_delta']:.3f} (the bar: >= 0.90); "
                         f"Context CD-L1 / Geometric only: {ctx['cd_l1'] / geo['cd_l1']:.3f} (the bar: <= 1.05).")
    exp.notes.append("Training time is that of the last process of each run (a resumed run reports its last leg).")
    exp.save()


if __name__ == "__main__":
    main()
