"""Thesis ch. 6 Tables 1-3 analogues: what each way of adding semantics costs and gains.

``--table 1`` compares five ways to get labels from one reconstruction encoder, on generated rooms
(``--data synthetic``) or on the ScanNet scenes in ../shared/data (``--data scannet``); ``--table 2`` trains the
contextualiser on ScanNet on top of encoders trained on either data; ``--table 3`` ablates the contextualiser.
:data:`DESCRIPTIONS` says what each table's rows are (the text of its section in docs/RESULTS.md). Each trained row
is a resumable run of the training engine (re-running the command continues unfinished runs).

Run: ``.venv/bin/python benchmarks/bench_context.py [--table 1|2|3] [--data synthetic|scannet] [--steps 2000]
[--joint-steps 8000] [--geometry-steps 4000] [--rooms 3] [--carry]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from results import REPO, Experiment, Table, carried_rows, carry_note, training_time

from nir_core.bundle import ModelBundle
from nir_core.data.io import load
from nir_core.data.synthetic import generate_room
from nir_core.models.registry import from_bundle
from nir_core.protocol import HELD_OUT_SEED, RESOLUTION, EvalConfig, evaluate, prepare
from nir_core.train import train
from nir_core.train.presets import preset

SCANNET = REPO.parent / "shared" / "data" / "scannet_votenet_50k"
SCANNET_TEST = REPO.parent / "shared" / "data" / "scannet_scene0000_00_fullres"
SHIPPED_GEOMETRY = REPO / "assets" / "models" / "pt-geometry"
SHIPPED_CONTEXT = REPO / "assets" / "models" / "pt-context"
"""The shipped labelled bundle: the pt-context preset's run on generated rooms; it stands for that run when the
steps asked for are the ones it was trained with (the same config otherwise, so training it again would only
repeat it)."""

# (row, run name, preset, contextualiser settings, geometry encoder: "own" = this dataset's, "synthetic" = shipped).
# The long from-scratch runs come last so the quick rows land first.
TABLE1 = [
    ("Geometric only", "geometry", "pt-geometry", None, None),
    ("Frozen encoder", "frozen", "pt-frozen", None, "own"),
    ("Context features", "context", "pt-context", None, "own"),
    ("Unfrozen encoder", "unfrozen", "pt-unfrozen", None, "own"),
    ("Baseline (joint)", "joint", "pt-joint", None, None),
]
TABLE2 = [
    ("Geometric only, encoder trained on ScanNet", "geometry", "pt-geometry", None, None),
    ("Context on ScanNet, encoder trained on ScanNet", "context", "pt-context", None, "own"),
    ("Geometric only, encoder trained on generated rooms", None, None, None, "synthetic"),
    ("Context on ScanNet, encoder trained on generated rooms", "context-cross", "pt-context", None, "synthetic"),
]
MORE_BLOCKS, MORE_CHANNELS = [1, 2, 3, 5, 2], [32, 64, 128, 256, 512]
TABLE3 = [
    ("Context, thesis module (l = 4)", "context", "pt-context", None, "own"),
    ("MLP context module", "ctx-mlp", "pt-context", {"kind": "mlp"}, "own"),
    ("Shallower (3 scales)", "ctx-3scales", "pt-context", {"channels": [32, 32, 64], "blocks": [1, 1, 1]}, "own"),
    ("l = 1", "ctx-l1", "pt-context", {"context_features": 1}, "own"),
    ("l = 2", "ctx-l2", "pt-context", {"context_features": 2}, "own"),
    # The thesis's larger modules: blocks [1, 1, 1, 1, 1] -> [1, 2, 3, 5, 2], channels [32, 32, 64, 64, 128] ->
    # [32, 64, 128, 256, 512], and both.
    ("More blocks", "ctx-blocks", "pt-context", {"blocks": MORE_BLOCKS}, "own"),
    ("More channels", "ctx-channels", "pt-context", {"channels": MORE_CHANNELS}, "own"),
    ("More blocks & channels", "ctx-blocks-channels", "pt-context", {"blocks": MORE_BLOCKS, "channels": MORE_CHANNELS},
     "own"),
]


DESCRIPTIONS = {
    (1, "synthetic"): "Thesis ch. 6 Table 1 on generated rooms: five ways to add semantics to one reconstruction "
                      "encoder. Geometric only: the shipped pt-geometry bundle (no labels). Baseline (joint): encoder, "
                      "UDF and semantic heads trained together from scratch with uncertainty weighting. Frozen encoder: "
                      "a semantic head on the frozen geometry encodings. Unfrozen encoder: the geometry encoder "
                      "fine-tuned on cross-entropy alone. Context features: the contextualiser and a semantic head on the "
                      "frozen geometry encodings (at its 2,000 steps, the shipped pt-context bundle). Tested on held-out "
                      "generated rooms.",
    (1, "scannet"): "Thesis ch. 6 Table 1 on ScanNet: the five rows of the generated-room table, every one (the "
                    "geometry encoder too) trained on ScanNet scenes 0001-0008 from ../shared/data, validated on scene "
                    "0009 and tested on scene0000_00 at full resolution.",
    (2, "scannet"): "Thesis ch. 6 Table 2, cross training: a contextualiser trained on ScanNet scenes 0001-0008 on top "
                    "of the generated-room geometry encoder (the shipped pt-geometry, trained without labels) against "
                    "one on top of a geometry encoder trained on those ScanNet scenes only, each beside its encoder's "
                    "geometry-only row; tested on scene0000_00 at full resolution.",
    (3, "synthetic"): "Thesis ch. 6 Table 3, the contextualiser's ablations on generated rooms: the thesis module "
                      "(l = 4 context features), an MLP module, 3 scales instead of 5, l = 1 and 2, and the thesis's "
                      "larger modules (more blocks, more channels, both), each trained like Table 1's Context row on the "
                      "frozen geometry encoder and tested on held-out generated rooms.",
}
"""What each table measures, by (table, data): the description its results JSON and docs/RESULTS.md carry."""
PROTOCOL = ("Every row is scored by the thesis protocol (``nir_core.protocol``: 10k input points, mesh at 256³; CD-L1 "
            "x1e2 and F1-δ of the mesh, mF1-δ / mIoU of the labelled mesh against 100k labelled ground-truth points; "
            "\"mIoU at GT points\" queries the semantic head at the ground-truth points themselves, which scores the "
            "labelling apart from what the mesh misses).")


def context_parameters(model) -> int | None:
    """The size of a model's contextualiser (None when it has none)."""
    return model.parts["context"].num_parameters() if "context" in model.parts else None


def scannet_split() -> tuple[list[str], list[str]]:
    """Training scenes 0001-0008 and the validation scene 0009 (votenet 50k-point files)."""
    scenes = [str(SCANNET / f"scene{i:04d}_00_vert.npy") for i in range(1, 10)]
    missing = [p for p in scenes if not Path(p).exists()]
    if missing:
        raise SystemExit(f"ScanNet scenes missing: {missing[:2]} (../shared/data/scannet_votenet_50k)")
    return scenes[:8], scenes[8:]


def trained(run: str, name: str, runs: Path, steps: int, data: str, init: Path | None, context: dict | None) -> Path:
    """Runs (or resumes) the preset's training into ``runs/run``; returns its bundle."""
    cfg = preset(name)
    cfg.out, cfg.steps = str(runs / run), steps
    if cfg.lr_decay_start:  # a shorter run than the preset's still decays, over at least its last quarter
        cfg.lr_decay_start = min(cfg.lr_decay_start, steps * 3 // 4)
    if cfg.init_from:
        cfg.init_from = str(init)
    if context:
        cfg.model_overrides = {"context": {**cfg.model_overrides.get("context", {}), **context}}
    if data == "scannet":
        cfg.data.source = "files"
        cfg.data.paths, cfg.data.val_paths = scannet_split()
    bundle = runs / run / "bundle"
    if bundle.exists() and ModelBundle.load(bundle).training.get("steps") == steps:
        return bundle
    print(f"training {run} ({name}) for {steps} steps in {cfg.out}", flush=True)
    return train(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--data", choices=("synthetic", "scannet"), default="synthetic",
                        help="Table 1's training and test data (Table 2 is ScanNet, Table 3 generated rooms)")
    parser.add_argument("--steps", type=int, default=2000, help="steps of the rows built on a geometry encoder")
    parser.add_argument("--joint-steps", type=int, default=8000, help="steps of the joint baseline (from scratch)")
    parser.add_argument("--geometry-steps", type=int, default=4000,
                        help="steps of a geometry encoder trained here (ScanNet); generated rooms use the shipped one")
    parser.add_argument("--rooms", type=int, default=3, help="held-out generated rooms (synthetic test)")
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--runs", type=Path, default=REPO / "out" / "bench_context")
    parser.add_argument("--carry", action="store_true",
                        help="keep the rows the last run of this table measured (benchmarks/results) and train and "
                             "score only the missing ones, e.g. a long joint baseline run on its own")
    args = parser.parse_args()
    data = {1: args.data, 2: "scannet", 3: "synthetic"}[args.table]
    title = {1: f"Semantics on top of a reconstruction encoder (thesis ch. 6 Table 1), {data}",
             2: "Cross training: generated-room encoder, ScanNet contextualiser (thesis ch. 6 Table 2)",
             3: "Contextualiser ablations (thesis ch. 6 Table 3)"}[args.table]
    name = f"context_table{args.table}" + ("_scannet" if args.table == 1 and data == "scannet" else "")
    exp = Experiment(name=name, title=title, description=f"{DESCRIPTIONS[args.table, data]} {PROTOCOL}")
    cfg = EvalConfig(resolution=args.resolution)
    runs = args.runs / data
    if data == "synthetic":
        scenes = [prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"room_{HELD_OUT_SEED + i}", cfg) for i in range(args.rooms)]
        where = f"Held-out generated rooms (seeds {HELD_OUT_SEED}-{HELD_OUT_SEED + args.rooms - 1}), means"
    else:
        scenes = [prepare(load(SCANNET_TEST), "ScanNet scene0000_00", cfg)]
        where = "ScanNet scene0000_00 (full resolution), trained on scenes 0001-0008"
    table = Table(["row", "CD-L1", "F1-δ", "mF1-δ", "mF1-2δ", "mIoU", "mIoU at GT points", "context parameters",
                   "training steps", "training time (s)", "eval time (s)"])
    exp.tables[where] = table
    exp.metrics = {"rows": [], "args": {k: str(v) for k, v in vars(args).items()}}
    rows = exp.metrics["rows"]
    plan = {1: TABLE1, 2: TABLE2, 3: TABLE3}[args.table]
    carried = carried_rows(name, args, ("steps", "geometry_steps", "rooms", "resolution")) if args.carry else {}
    own_geometry = SHIPPED_GEOMETRY

    def bundle_of(run, name, context, encoder) -> Path:
        init = SHIPPED_GEOMETRY if encoder == "synthetic" else own_geometry
        if encoder and not init.exists():  # a carried row's encoder lives in a run folder that did not survive
            raise SystemExit(f"the geometry encoder {init} (carried over) is gone; run again without --carry")
        if name is None:
            return init
        if name == "pt-geometry" and data == "synthetic":
            return SHIPPED_GEOMETRY
        steps = {"pt-joint": args.joint_steps, "pt-geometry": args.geometry_steps}.get(name, args.steps)
        if (name, data, encoder, context) == ("pt-context", "synthetic", "own", None) and \
                ModelBundle.load(SHIPPED_CONTEXT).training.get("steps") == steps:
            return SHIPPED_CONTEXT
        return trained(run, name, runs, steps, data, init, context)

    for label, run, name, context, encoder in plan:
        if label in carried:
            row = carried[label]
            if name == "pt-geometry":
                own_geometry = Path(row["bundle"])
        else:
            bundle = bundle_of(run, name, context, encoder)
            if name == "pt-geometry":
                own_geometry = bundle
            info = ModelBundle.load(bundle)
            model = from_bundle(info, source=bundle)
            start = time.perf_counter()
            result = evaluate(model, scenes, cfg, semantic=info.label_set is not None)
            row = {"row": label, "bundle": str(bundle), "mean": result["mean"], "scenes": result["scenes"],
                   "training": info.training, "eval_s": time.perf_counter() - start,
                   "context_parameters": context_parameters(model)}
        if "context_parameters" not in row and Path(row["bundle"]).exists():  # carried rows may predate the count
            row["context_parameters"] = context_parameters(from_bundle(Path(row["bundle"])))
        rows.append(row)
        mean, training, size = row["mean"], row["training"], row.get("context_parameters")
        table.rows.append([label, f"{mean['cd_l1'] * 100:.4f}", f"{mean['f1_delta']:.4f}",
                           f"{mean['mf1_delta']:.4f}" if "mf1_delta" in mean else "-",
                           f"{mean['mf1_2delta']:.4f}" if "mf1_2delta" in mean else "-",
                           f"{mean['miou']:.4f}" if "miou" in mean else "-",
                           f"{mean['miou_at_gt']:.4f}" if "miou_at_gt" in mean else "-", f"{size:,}" if size else "-",
                           str(training.get("steps")),
                           training_time(training), f"{row['eval_s']:.0f}"])
        print(label, json.dumps({k: round(v, 4) for k, v in mean.items()}), flush=True)
        pending = [row for row, *_ in plan[len(rows):]]
        exp.notes = [f"Incomplete run: rows still to come: {', '.join(pending)}."] if pending else []
        exp.notes += carry_note(rows)
        exp.save()  # after every row, so a run cut short still leaves the rows it measured
    by = {r["row"]: r["mean"] for r in rows}
    if args.table == 1:
        base, ctx, geo = by["Baseline (joint)"], by["Context features"], by["Geometric only"]
        exp.notes.append(f"Context / Baseline mF1-δ: {ctx['mf1_delta'] / base['mf1_delta']:.3f} (the bar: >= 0.90); "
                         f"Context CD-L1 / Geometric only: {ctx['cd_l1'] / geo['cd_l1']:.3f} (the bar: <= 1.05).")
    switched = [r["row"] for r in rows if Path(r["bundle"]).exists()
                and "norm_statistics" in ModelBundle.load(r["bundle"]).extra]
    if switched:
        exp.notes.append(f"Trained with running-average norms and switched to per-scene statistics afterwards "
                         f"(nir_core.train.convert, the same training pass at one scene per step): {'; '.join(switched)}.")
    exp.notes.append("'(last process only)': a run resumed before training times were summed over its processes.")
    exp.save()


if __name__ == "__main__":
    main()
