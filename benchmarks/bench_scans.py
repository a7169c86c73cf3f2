"""Geometry on real scans: against screened Poisson, with test-time refinement, and from more of a dense scan.

Real rooms: ScanNet scene0000_00 at full resolution and scenes 0001-0009 (50k points each) from ../shared/data; each
is normalised, 10,000 of its points are the input (what the pipeline encodes, and the scan the refinement fits), and
all of its points are the ground truth. Generated rooms: held-out rooms, 10,000 points sampled on the surface as the
input, 100k as the ground truth. Methods: the default model at 256³ without refinement and with the refinement
stopped after a number of seconds (``reconstruct --refine-seconds``), and screened Poisson (depth 9, 2% density
trim, as in bench_reconstruct) on the same 10,000 points. Metrics as in bench_reconstruct (CD-L1 x1e2 with
accuracy / completeness, F1 at δ = 0.005 and 2δ). Dense scans: each real room given whole (scene0000_00: 81k points,
the others 50k), encoded in disjoint draws of 10,000 points (``PipelineConfig.draws``: 2, 4, 8 on scene0000_00;
every draw the room allows on the others), against the same ground truth.

Run: ``.venv/bin/python benchmarks/bench_scans.py [--seconds 30] [--sweep 15,60,120] [--carry]``
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_reconstruct import poisson
from results import REPO, Experiment, Table, carried_rows, carry_note

from app.batch import default_model
from nir_core.data.io import load
from nir_core.data.scan import Scan
from nir_core.data.synthetic import generate_room
from nir_core.pipeline import Pipeline, PipelineConfig, load_model
from nir_core.protocol import HELD_OUT_SEED, RESOLUTION, EvalConfig, prepare, score_mesh

SHARED = REPO.parent / "shared" / "data"
FULLRES = SHARED / "scannet_scene0000_00_fullres"
REAL_50K = [SHARED / "scannet_votenet_50k" / f"scene000{i}_00_vert.npy" for i in range(1, 10)]
SWEEP_SCENES = ("ScanNet scene0000_00", "ScanNet scene0005_00", f"generated room {HELD_OUT_SEED}")
"""Scenes that get the whole time sweep (the others: no refinement and the default time)."""
DRAWS_SWEEP = (2, 4)
"""Draws of 10,000 points encoded from the whole of the sweep rooms, besides all the draws a room allows."""


def scenes(cfg: EvalConfig, generated: int):
    if FULLRES.exists():
        yield prepare(load(FULLRES), "ScanNet scene0000_00", cfg)
    for path in REAL_50K:
        if path.exists():
            yield prepare(load(path), f"ScanNet {path.name[:12]}", cfg)
    for i in range(generated):
        yield prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"generated room {HELD_OUT_SEED + i}", cfg)


def run_model(model, scene, cfg: EvalConfig, seconds: float, scan: Scan | None = None, draws: int = 1) -> dict:
    pipe = PipelineConfig(resolution=cfg.resolution, num_input=cfg.num_input, labels=False, score=False,
                          refine_seconds=seconds, draws=draws)
    start = time.perf_counter()
    run = Pipeline(pipe, model).run(scan if scan is not None else Scan(points=scene.input_points))
    total = time.perf_counter() - start
    metrics, _ = score_mesh(run.mesh, scene, cfg)
    return {**metrics, "seconds": total, "refine": run.report.get("refine"),
            "encoded_points": run.report["encoded_points"]}


def wins(rows: list[dict]) -> Table:
    """Per method, on how many rooms (real / generated) it beats Poisson on both F1-δ and CD-L1."""
    by_scene = {}
    for r in rows:
        scene, method = r["row"].split(" | ")
        by_scene.setdefault(scene, {})[method] = r
    counts: dict[str, list[int]] = {}
    for scene, methods in by_scene.items():
        base = methods.get("screened Poisson")
        for method, r in methods.items():
            if base is None or not method.startswith("refine"):
                continue
            c = counts.setdefault(method, [0, 0, 0, 0])
            real = scene.startswith("ScanNet")
            c[0 if real else 2] += r["f1_delta"] > base["f1_delta"] and r["cd_l1"] < base["cd_l1"]
            c[1 if real else 3] += 1
    table = Table(["method", "real rooms", "generated rooms"])
    for method, (rw, rn, gw, gn) in sorted(counts.items(), key=lambda kv: float(kv[0].split()[1])):
        table.rows.append([method, f"{rw} of {rn}", f"{gw} of {gn}"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--seconds", type=float, default=30.0, help="refinement time every scene gets")
    parser.add_argument("--sweep", default="15,60,120", help="further refinement times for the sweep scenes")
    parser.add_argument("--generated", type=int, default=2, help="held-out generated rooms")
    parser.add_argument("--carry", action="store_true", help="keep the rows the last run measured")
    args = parser.parse_args()
    model = load_model(args.model)
    exp = Experiment(name="scans", title="Geometry on real scans: Poisson, refinement, dense scans (scans)",
                     description=__doc__.split("\n\nRun:")[0])
    done = carried_rows("scans", args, ("model", "resolution")) if args.carry else {}
    cfg = EvalConfig(resolution=args.resolution)
    sweep = [float(s) for s in args.sweep.split(",") if s]
    rows: list[dict] = []

    def measure(key: str, fn) -> None:
        if key in done:
            rows.append(done[key])
        else:
            rows.append({"row": key, **fn()})
            print(key, {k: round(v, 4) for k, v in rows[-1].items() if isinstance(v, float)}, flush=True)
        exp.metrics = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}

    for scene in scenes(cfg, args.generated):
        def poisson_row(scene=scene):
            start = time.perf_counter()
            metrics, _ = score_mesh(poisson(scene.input_points), scene, cfg)
            return {**metrics, "seconds": time.perf_counter() - start}

        measure(f"{scene.name} | screened Poisson", poisson_row)
        times = [0.0, args.seconds] + (sweep if scene.name in SWEEP_SCENES else [])
        for seconds in sorted(set(times)):
            measure(f"{scene.name} | refine {seconds:g} s", lambda s=seconds, scene=scene: run_model(model, scene, cfg, s))
        if scene.name.startswith("ScanNet"):
            whole = Scan(points=scene.gt_points.astype(np.float32))
            most = len(whole.points) // cfg.num_input
            counts = [d for d in DRAWS_SWEEP if d < most] if scene.name in SWEEP_SCENES else []
            for draws in [*counts, most]:
                measure(f"{scene.name} | whole scan, {draws} draws",
                        lambda d=draws, scene=scene, whole=whole: run_model(model, scene, cfg, 0.0, whole, d))
    table = Table(["scene", "method", "CD-L1", "accuracy / completeness", "F1-δ", "precision / recall at δ", "F1-2δ",
                   "encoded points", "refine steps", "time (s)"])
    for r in rows:
        scene, method = r["row"].split(" | ")
        steps = r.get("refine", {}) or {}
        table.rows.append([scene, method, f"{r['cd_l1'] * 1e2:.4f}",
                           f"{r['accuracy'] * 1e2:.4f} / {r['completeness'] * 1e2:.4f}", f"{r['f1_delta']:.4f}",
                           f"{r['precision']:.3f} / {r['recall']:.3f}", f"{r['f1_2delta']:.4f}",
                           f"{r['encoded_points']:,}" if "encoded_points" in r else "-",
                           str(steps.get("steps", "-")), f"{r['seconds']:.1f}"])
    exp.tables["Geometry against screened Poisson"] = table
    exp.tables["Rooms where the model beats Poisson on both F1-δ and CD-L1"] = wins(rows)
    exp.notes += carry_note(rows)
    exp.save()


if __name__ == "__main__":
    main()
