"""Labels on real rooms and on simulated scans: each labelled bundle against the three-rule heuristic and the oracle.

Real rooms: the ten ScanNet rooms of ../shared/data (scene0000_00 at full resolution, scenes 0001-0009 at 50k
points), each encoded from 10,000 of its points and scored against all of them by the thesis protocol
(:mod:`nir_core.protocol`: mIoU of the mesh's labels carried to the ground-truth points by nearest neighbour, mF1-δ;
``miou_at_gt``: the semantic head queried at the ground-truth points). Simulated scans: held-out generated rooms
scanned by the generator's scanner (partial, noisy, dense near the camera) as a user's upload would be, scored
against the whole room's surface.

Rows besides the models, on the same 10,000 input points: the three-rule heuristic
(:mod:`nir_core.semantic_baseline`; its fallback class is the room's commonest class other than wall and floor,
read from the ground truth) and the oracle (the input points' own true labels), both carried to the ground-truth
points by nearest neighbour like the mesh's labels.

:data:`FOLDS` are the real-room splits the fine-tuned bundles train on (their test rooms are the ones to read); a
bundle trained on generated rooms only has seen none of the real rooms, so all ten are test rooms for it.

Run: ``.venv/bin/python benchmarks/bench_labels.py --models assets/models/pt-context [...] [--finetuned A=BUNDLE
B=BUNDLE] [--scans 3] [--resolution 256] [--name labels]``
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from results import REPO, Experiment, Table

from nir_core.data.io import load
from nir_core.data.labels import SCANNET20
from nir_core.data.sampling import sample_surface
from nir_core.data.synthetic import ScannerConfig, generate_room, simulate_scan
from nir_core.metrics import semantic_metrics
from nir_core.pipeline import load_model
from nir_core.protocol import HELD_OUT_SEED, RESOLUTION, EvalConfig, ProtocolScene, evaluate_scene
from nir_core.semantic_baseline import commonest_other_class, three_rule_labels

SHARED = REPO.parent / "shared" / "data"
REAL_ROOMS = [SHARED / "scannet_scene0000_00_fullres" / "scene0000_00_vert_all.npy"] + \
    [SHARED / "scannet_votenet_50k" / f"scene{i:04d}_00_vert.npy" for i in range(1, 10)]
FOLDS = {
    "A": {"test": ["scene0000_00"], "val": ["scene0009_00"],
          "train": [f"scene{i:04d}_00" for i in range(1, 9)]},
    "B": {"test": ["scene0005_00"], "val": ["scene0009_00"],
          "train": [f"scene{i:04d}_00" for i in (0, 1, 2, 3, 4, 6, 7, 8)]},
}
"""Real-room splits: a fine-tuned bundle of fold F trains on ``train``, picks its checkpoint on ``val`` and is
scored on ``test``."""
FINETUNED_ROW = "fine-tuned on the fold's real rooms"
"""The row of the ``--finetuned`` bundles (each on its own fold's test rooms)."""
SCAN_POINTS = 50_000
"""Points of a simulated scan (the real rooms' density in ../shared/data)."""


def real_scene(path: Path, cfg: EvalConfig) -> tuple[ProtocolScene, np.ndarray]:
    """A real room as the protocol scores it (input: ``cfg.num_input`` of its points; ground truth: all of them),
    and the true labels of the input points."""
    unit = load(path).normalised()
    points, _, labels = sample_surface(unit, cfg.num_input, cfg.seed)
    name = path.name.split("_vert")[0]
    return ProtocolScene(name, unit, points, unit.points.astype(np.float64), unit.labels.astype(np.int64)), labels


def scanned_scene(seed: int, cfg: EvalConfig) -> tuple[ProtocolScene, np.ndarray]:
    """A held-out generated room scanned by the simulated scanner: the scan is the input (normalised as a user's
    upload would be), the whole room's surface, in the scan's frame, the ground truth."""
    room = generate_room(seed)
    scan = simulate_scan(room, ScannerConfig(n_points=SCAN_POINTS), seed=seed)
    unit = scan.normalised()
    points, _, labels = sample_surface(unit, cfg.num_input, cfg.seed)
    whole = room.to_scan()
    gt, _, gt_labels = sample_surface(whole, cfg.num_gt, cfg.seed - 1)
    gt = unit.normalisation.apply(np.asarray(gt, np.float64))
    return ProtocolScene(f"scan of room {seed}", unit, points, gt, np.asarray(gt_labels, np.int64)), labels


def point_rows(scene: ProtocolScene, input_labels: np.ndarray) -> dict[str, dict]:
    """Heuristic and oracle: labels of the input points, scored like a mesh's."""
    metres = scene.unit.normalisation.invert(scene.input_points.astype(np.float64))
    fallback = commonest_other_class(scene.gt_labels, SCANNET20)
    heuristic = three_rule_labels(metres, SCANNET20, fallback)
    rows = {}
    for row, labels in (("three-rule heuristic", heuristic), ("oracle (input's true labels)", input_labels)):
        m = semantic_metrics(scene.input_points, labels, scene.gt_points, scene.gt_labels, len(SCANNET20))
        rows[row] = {"miou": m["miou"], "mf1_delta": m["mf1_delta"]}
    return rows


def _mean(values: list[float], count: int) -> str:
    """The mean of ``values`` when there are ``count`` of them (one per room of the group), else "-"."""
    return f"{np.mean(values):.3f}" if len(values) == count else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, nargs="*", default=[REPO / "assets" / "models" / "pt-context"],
                        help="bundles scored on every room (none: only the --finetuned ones, on their test rooms)")
    parser.add_argument("--finetuned", nargs="*", default=[], metavar="FOLD=BUNDLE",
                        help="bundles fine-tuned on a fold's real training rooms, scored on its test rooms only")
    parser.add_argument("--scans", type=int, default=3, help="held-out generated rooms to scan")
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--name", default="labels")
    parser.add_argument("--retable", action="store_true",
                        help="only rebuild the tables of the last run's JSON from its rows (nothing is measured)")
    args = parser.parse_args()
    if args.retable:
        return retable(args.name)
    cfg = EvalConfig(resolution=args.resolution)
    # A training run's bundle sits in RUN/bundle: name it by its run.
    models = {(path.parent if path.name == "bundle" else path).name: load_model(path) for path in args.models}
    finetuned = {}
    for item in args.finetuned:
        fold, _, path = item.partition("=")
        if fold not in FOLDS or not path:
            raise SystemExit(f"--finetuned {item}: write FOLD=BUNDLE with FOLD one of {', '.join(FOLDS)}")
        finetuned[fold] = load_model(Path(path))
    for name, model in {**models, **{f"fold {f}": m for f, m in finetuned.items()}}.items():
        if not model.can_label:
            raise SystemExit(f"{name}: has no semantic head")
    exp = Experiment(name=args.name, title=f"Labels on real rooms and simulated scans ({args.name})",
                     description=__doc__.split("\n\nRun:")[0])
    results: list[dict] = []
    scenes = [("real", path) for path in REAL_ROOMS if path.exists()] + \
        [("scan", HELD_OUT_SEED + i) for i in range(args.scans)]
    for kind, source in scenes:
        scene, input_labels = real_scene(source, cfg) if kind == "real" else scanned_scene(source, cfg)
        for row, metrics in point_rows(scene, input_labels).items():
            results.append({"scene": scene.name, "kind": kind, "row": row, **metrics})
        chosen = dict(models)
        for fold, model in finetuned.items():  # the folds' test rooms differ: one fine-tuned bundle per room at most
            if scene.name in FOLDS[fold]["test"]:
                chosen[FINETUNED_ROW] = model
        for name, model in chosen.items():
            r = evaluate_scene(model, scene, cfg)
            results.append({"scene": scene.name, "kind": kind, "row": name, "miou": r["miou"],
                            "mf1_delta": r["mf1_delta"], "miou_at_gt": r["miou_at_gt"], "f1_delta": r["f1_delta"],
                            "seconds": r["seconds"]})
            print(f"{scene.name:>22} {name:>22}: mIoU {r['miou']:.3f} (at gt {r['miou_at_gt']:.3f}), "
                  f"mF1-δ {r['mf1_delta']:.3f}, F1-δ {r['f1_delta']:.3f}", flush=True)
    exp.metrics = {"args": {k: str(v) for k, v in vars(args).items()}, "folds": FOLDS, "rows": results}
    exp.tables = tables(results)
    exp.save()


def tables(results: list[dict]) -> dict[str, Table]:
    """The per-room and mean tables of the measured ``results`` (the ``rows`` of the JSON)."""
    present = list(dict.fromkeys(r["row"] for r in results))
    point_rows_first = ["three-rule heuristic"]
    last = ["oracle (input's true labels)"]
    rows = point_rows_first + [r for r in present if r not in point_rows_first + last] + last
    names = list(dict.fromkeys(r["scene"] for r in results))
    per_room = Table(["scene", *(f"{row} mIoU / mF1-δ" for row in rows)])
    for scene in names:
        cells = {r["row"]: f"{r['miou']:.3f} / {r['mf1_delta']:.3f}" for r in results if r["scene"] == scene}
        per_room.rows.append([scene, *(cells.get(row, "-") for row in rows)])
    means = Table(["rooms", *(f"{row} mIoU" for row in rows)])
    groups = {"real rooms (all ten)": lambda r: r["kind"] == "real",
              **{f"fold {f} test room ({', '.join(s['test'])})": (lambda r, s=s: r["scene"] in s["test"])
                 for f, s in FOLDS.items()},
              "simulated scans of held-out generated rooms": lambda r: r["kind"] == "scan"}
    for group, keep in groups.items():
        scenes = {r["scene"] for r in results if keep(r)}
        if scenes:
            # A row's mean only over the whole group: a fine-tuned row has only its folds' test rooms.
            means.rows.append([group, *(_mean([r["miou"] for r in results if r["row"] == row and r["scene"] in scenes],
                                              len(scenes)) for row in rows)])
    return {"mIoU / mF1-δ per room": per_room, "Mean mIoU": means}


def retable(name: str) -> None:
    """Rebuilds the tables of ``benchmarks/results/NAME.json`` from its measured rows (nothing is re-run; the
    record keeps its command, commit and time) and regenerates docs/RESULTS.md."""
    import json

    from results import RESULTS_DIR, atomic_write_json, refresh_results_md

    path = RESULTS_DIR / f"{name}.json"
    record = json.loads(path.read_text())
    record["tables"] = {k: {"headers": t.headers, "rows": t.rows} for k, t in tables(record["metrics"]["rows"]).items()}
    atomic_write_json(path, record)
    refresh_results_md()


if __name__ == "__main__":
    main()
