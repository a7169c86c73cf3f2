"""UDF extraction on real shapes: ours against the ε-level set and NDF dense points + ball pivoting.

The field is each shape's exact unsigned distance (normalised to the unit cube), so every difference comes from
the extractor. Metrics against 100k points sampled on the ground truth, next to the metric's own floor (a second
independent 100k sample of the ground truth scored the same way). Topology (area, boundary length and loops,
pieces) against the ground truth's: holes and fragments are what users of UDF extractors complain about.

Run: ``.venv/bin/python benchmarks/bench_extract.py`` (its wall time is in docs/RESULTS.md; the dense 256³ grids
of the ε-level set dominate it). Finished rows are kept in ``benchmarks/results/extract_partial.json`` so an
interrupted run resumes; ``--quick`` runs only 128³ and only our extractor.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from results import REPO, RESULTS_DIR, Experiment, Table

from nir_core.atomic import atomic_write_json
from nir_core.data.ground_truth import MeshField
from nir_core.data.io import load
from nir_core.extract import (
    QueryCounter,
    ball_pivoting_mesh,
    dense_points,
    epsilon_level_set,
    mesh_stats,
    orient_pieces,
    remove_small_components,
    udf_marching_cubes,
)
from nir_core.metrics import reconstruction_metrics, sample_points_for_eval
from nir_core.protocol import EVAL_POINTS

SHARED = REPO.parent / "shared" / "data"
SHAPES = {
    "bunny (scan, holes)": "classic_meshes/stanford-bunny.obj",
    "armadillo": "classic_meshes/armadillo.obj",
    "dragon": "classic_meshes/dragon_10k.obj",
    "spot": "classic_meshes/spot.obj",
    "T-shirt (open)": "open_surfaces_mgn_garments/TShirtNoCoat.obj",
    "pants (open)": "open_surfaces_mgn_garments/Pants1.obj",
    "long coat (open)": "open_surfaces_mgn_garments/LongCoat1.obj",
}
PARTIAL = RESULTS_DIR / "extract_partial.json"


def self_intersections(path: Path) -> int:
    """Pairs of ground-truth triangles that cut through each other: along those curves the true surface is not a
    manifold, which no marching-cubes mesh reproduces without borders."""
    import open3d as o3d

    mesh = load(path).mesh
    o3d_mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, np.float64)),
                                         o3d.utility.Vector3iVector(np.asarray(mesh.faces, np.int32)))
    return int(len(np.asarray(o3d_mesh.get_self_intersecting_triangles())))


def run_method(method: str, field: MeshField, resolution: int) -> tuple[object, float, float | None]:
    counter = QueryCounter()
    start = time.perf_counter()
    if method == "ours":
        mesh, stats = udf_marching_cubes(field, resolution)
        mesh = orient_pieces(remove_small_components(mesh, min_area_fraction=0.0005))
        fraction = stats.dense_fraction
    elif method == "epsilon":
        mesh = epsilon_level_set(field, resolution, counter=counter)
        fraction = counter.fraction_of_grid(resolution)
    else:
        points, normals = dense_points(field, counter=counter)
        mesh = ball_pivoting_mesh(points, normals)
        fraction = counter.fraction_of_grid(resolution)
    return mesh, time.perf_counter() - start, fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128³ and our extractor only")
    parser.add_argument("--fresh", action="store_true", help="ignore rows kept from an interrupted run")
    parser.add_argument("--rerun", action="append", default=[], choices=["ours", "epsilon", "ndf-dense+bpa"],
                        help="recompute only this method's rows, keeping the others from the last full result")
    args = parser.parse_args()
    resolutions = (128,) if args.quick else (128, 256)
    methods = ("ours",) if args.quick else ("ours", "epsilon", "ndf-dense+bpa")
    rows: dict = {} if args.fresh or not PARTIAL.exists() else json.loads(PARTIAL.read_text())
    if args.quick:
        rows = {k: v for k, v in rows.items() if v["method"] == "ours" and v["resolution"] == 128}
    carried = None
    if args.rerun and not rows:
        previous = json.loads((RESULTS_DIR / "extract_udf.json").read_text())
        carried = previous["git_commit"]
        rows = {f"{r['shape']}|{r['resolution']}|{r['method']}": r for r in previous["metrics"]["rows"]
                if r["method"] not in args.rerun}
    exp = Experiment(
        name="extract_udf" if not args.quick else "extract_udf_quick",
        title="UDF extraction on exact fields of real shapes" + (" (quick)" if args.quick else ""),
        description="Ours (`udf_marching_cubes`, coarse-to-fine, pseudo-signs from diverging gradients) against "
                    "the ε-level set (PyMCubes on udf - ε, ε = one voxel) and NDF's dense points (200k) + Open3D "
                    "ball pivoting, on the exact UDF of each shape normalised to the unit cube. CD-L1 x1e2, "
                    "CD-L2 x1e4, F1 at δ = 0.005 against 100k ground-truth surface points; 'floor' is a second "
                    "independent 100k sample of the ground truth scored the same way.",
    )
    computed = 0
    for name, rel in SHAPES.items():
        scan = load(SHARED / rel).normalised()
        field = MeshField(scan.mesh)
        gt, _ = sample_points_for_eval(scan.mesh, EVAL_POINTS, seed=0)
        floor_pts, _ = sample_points_for_eval(scan.mesh, EVAL_POINTS, seed=1)
        floor = reconstruction_metrics(floor_pts, gt)
        gt_stats = mesh_stats(scan.mesh)
        for res in resolutions:
            for method in methods:
                key = f"{name}|{res}|{method}"
                if method == "ndf-dense+bpa" and res != resolutions[0]:
                    continue  # resolution-free: run once
                if key in rows:
                    continue
                print(f"{name} {res} {method} ...", flush=True)
                mesh, seconds, fraction = run_method(method, field, res)
                stats = mesh_stats(mesh)
                if len(mesh.faces):
                    pts, _ = sample_points_for_eval(mesh, EVAL_POINTS, seed=2)
                    m = reconstruction_metrics(pts, gt)
                else:
                    m = {"cd_l1": float("nan"), "cd_l2": float("nan"), "f1_delta": 0.0}
                rows[key] = {"shape": name, "resolution": res, "method": method, "seconds": seconds,
                             "query_fraction": fraction, "cd_l1": m["cd_l1"], "cd_l2": m["cd_l2"],
                             "f1_delta": m["f1_delta"], "floor_cd_l1": floor["cd_l1"],
                             "floor_f1_delta": floor["f1_delta"], "stats": stats, "gt_stats": gt_stats}
                computed += 1
                atomic_write_json(PARTIAL, rows)
    order = {name: i for i, name in enumerate(SHAPES)}
    method_order = {"ours": 0, "epsilon": 1, "ndf-dense+bpa": 2}
    ranked = sorted(rows.values(), key=lambda r: (order[r["shape"]], method_order[r["method"]]))
    for res in resolutions:
        table = Table(["shape", "method", "CD-L1", "CD-L2", "F1-δ", "floor CD-L1 / F1-δ", "area / GT",
                       "boundary length / GT", "loops (GT)", "pieces (GT)", "time (s)", "queries / dense"])
        for r in ranked:
            if r["resolution"] != res and not (r["method"] == "ndf-dense+bpa" and res == resolutions[0]):
                continue
            s, g = r["stats"], r["gt_stats"]
            bl = s["boundary_length"] / g["boundary_length"] if g["boundary_length"] else float("nan")
            table.rows.append([
                r["shape"], r["method"], f"{r['cd_l1'] * 1e2:.4f}", f"{r['cd_l2'] * 1e4:.4f}", f"{r['f1_delta']:.4f}",
                f"{r['floor_cd_l1'] * 1e2:.4f} / {r['floor_f1_delta']:.4f}", f"{s['area'] / g['area']:.3f}",
                "-" if np.isnan(bl) else f"{bl:.2f}", f"{s['boundary_loops']} ({g['boundary_loops']})",
                f"{s['components']} ({g['components']})", f"{r['seconds']:.1f}",
                "-" if r["query_fraction"] is None else f"{100 * r['query_fraction']:.2f}%"])
        exp.tables[f"{res}³"] = table
    finest = max(resolutions)
    checks = Table(["shape (ours, " + f"{finest}³)", "F1-δ gap to floor ≤ 0.01", "CD-L1 / floor ≤ 1.15",
                    "area within 5%", "border length ≤ 1.3x GT", "loops ≤ GT + 2", "one piece per GT piece",
                    "beats both baselines on CD-L1 and F1-δ at " + " and ".join(f"{r}³" for r in resolutions),
                    "GT self-intersecting triangle pairs"])

    def beats(shape: str) -> bool:
        ndf = rows.get(f"{shape}|{resolutions[0]}|ndf-dense+bpa")
        for res in resolutions:
            ours, eps = rows.get(f"{shape}|{res}|ours"), rows.get(f"{shape}|{res}|epsilon")
            for base in (eps, ndf):
                if ours is None or base is None:
                    return False
                if not (ours["cd_l1"] < base["cd_l1"] and ours["f1_delta"] > base["f1_delta"]):
                    return False
        return True

    crossings = {name: self_intersections(SHARED / rel) for name, rel in SHAPES.items()}
    for r in ranked:
        if r["method"] != "ours" or r["resolution"] != finest:
            continue
        s, g = r["stats"], r["gt_stats"]
        mark = lambda ok: "yes" if ok else "**no**"  # noqa: E731
        open_shape = g["boundary_length"] > 0
        checks.rows.append([
            r["shape"], mark(r["floor_f1_delta"] - r["f1_delta"] <= 0.01), mark(r["cd_l1"] / r["floor_cd_l1"] <= 1.15),
            mark(abs(s["area"] / g["area"] - 1) <= 0.05),
            mark(s["boundary_length"] <= 1.3 * g["boundary_length"]) if open_shape else "-",
            mark(s["boundary_loops"] <= g["boundary_loops"] + 2), mark(s["components"] <= g["components"]),
            mark(beats(r["shape"])), str(crossings[r["shape"]])])
    exp.tables[f"Checks against the targets (ours, {finest}³)"] = checks
    resumed = len(rows) - computed
    if carried:
        exp.notes.append(f"Rows of the other methods than {', '.join(args.rerun)} are carried over from the run at "
                         f"commit {carried[:12]} (their code did not change); each row's time is its own.")
    elif resumed:
        exp.notes.append(f"{resumed} of {len(rows)} rows come from an earlier, resumed run of this script "
                         f"(benchmarks/results/extract_partial.json); each row's time is its own.")
    ours_fine = [r for r in rows.values() if r["method"] == "ours" and r["resolution"] == finest]
    exp.metrics = {"rows": list(rows.values())}
    if ours_fine:
        exp.notes.append("Ours, worst F1-δ gap to the floor at the finest resolution: "
                         f"{max(r['floor_f1_delta'] - r['f1_delta'] for r in ours_fine):.4f}; worst CD-L1 ratio to the "
                         f"floor: {max(r['cd_l1'] / r['floor_cd_l1'] for r in ours_fine):.3f}.")
    exp.save()
    if not args.quick:
        PARTIAL.unlink(missing_ok=True)  # the result holds every row now
    print(f"wrote {RESULTS_DIR / (exp.name + '.json')}")


if __name__ == "__main__":
    main()
