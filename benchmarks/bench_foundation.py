"""Foundation speed targets: ground truth for a real ScanNet room, the room generator, metrics, loaders.

Targets (issue "Foundation"):
- 100,000 query points with distances and labels for a 50k-point ScanNet room: < 5 s.
- A procedural room with its 10k-point simulated scan and 100k labelled UDF samples: < 2 s.
- Chamfer / F1 on 100k x 100k points: "seconds".

Run: ``.venv/bin/python benchmarks/bench_foundation.py``.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from results import REPO, Experiment, Table

from nir_core.data.io import find_scans, load
from nir_core.data.sampling import SamplingConfig, make_udf_samples
from nir_core.data.synthetic import ScannerConfig, generate_room, simulate_scan
from nir_core.metrics import reconstruction_metrics, semantic_metrics

SHARED = REPO.parent / "shared" / "data"


def _time(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def bench_scannet_ground_truth(exp: Experiment, repeats: int) -> None:
    cfg = SamplingConfig(num_surface=10_000, num_queries=100_000)
    table = Table(["scene", "points", "load (s)", "normalise + 100k labelled queries (s), median", "max (s)"])
    medians = []
    for vert in sorted((SHARED / "scannet_votenet_50k").glob("scene*_vert.npy")):
        load_times, scan = _time(lambda v=vert: load(v), 1)
        times, samples = _time(lambda s=scan: make_udf_samples(s.normalised(), cfg), repeats)
        assert samples.labels is not None and len(samples.distances) == 100_000
        medians.append(statistics.median(times))
        table.rows.append([scan.extra["scene"], f"{len(scan):,}", f"{load_times[0]:.3f}",
                           f"{statistics.median(times):.3f}", f"{max(times):.3f}"])
    exp.tables["Ground truth on real ScanNet rooms (target < 5 s)"] = table
    exp.metrics["scannet_gt_100k_median_s"] = round(statistics.median(medians), 4)
    exp.metrics["scannet_gt_100k_worst_s"] = round(max(float(r[4]) for r in table.rows), 4)


def bench_generator(exp: Experiment, seeds: int) -> None:
    cfg = SamplingConfig(num_surface=10_000, num_queries=100_000)
    table = Table(["seed", "faces", "room (s)", "10k scan (s)", "100k labelled UDF samples (s)", "total (s)"])
    totals = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        room = generate_room(seed)
        t1 = time.perf_counter()
        scan = simulate_scan(room, ScannerConfig(n_points=10_000), seed=seed)
        t2 = time.perf_counter()
        truth = room.to_scan().normalised()
        make_udf_samples(truth, cfg)
        t3 = time.perf_counter()
        assert len(scan) == 10_000
        totals.append(t3 - t0)
        table.rows.append([seed, f"{len(room.mesh.faces):,}", f"{t1 - t0:.3f}", f"{t2 - t1:.3f}", f"{t3 - t2:.3f}",
                           f"{t3 - t0:.3f}"])
    exp.tables["Procedural room + scan + ground truth (target < 2 s)"] = table
    exp.metrics["generator_total_median_s"] = round(statistics.median(totals), 4)
    exp.metrics["generator_total_worst_s"] = round(max(totals), 4)


def bench_metrics(exp: Experiment, repeats: int) -> None:
    rng = np.random.default_rng(0)
    scan = load(SHARED / "scannet_scene0000_00_fullres").normalised()
    idx_a, idx_b = rng.choice(len(scan), 100_000), rng.choice(len(scan), 100_000)
    pred = scan.points[idx_a] + rng.normal(0, 0.002, (100_000, 3)).astype(np.float32)
    gt = scan.points[idx_b]
    labels = np.where(scan.labels < 0, 0, scan.labels)
    times, rec = _time(lambda: reconstruction_metrics(pred, gt), repeats)
    stimes, _ = _time(lambda: semantic_metrics(pred, labels[idx_a], gt, labels[idx_b], 20), repeats)
    exp.tables["Metrics on 100k x 100k points (scene0000_00)"] = Table(
        ["metric", "median (s)", "max (s)"],
        [["Chamfer L1/L2 + F1-δ/2δ", f"{statistics.median(times):.3f}", f"{max(times):.3f}"],
         ["mIoU + mF1-δ (20 classes)", f"{statistics.median(stimes):.3f}", f"{max(stimes):.3f}"]])
    exp.metrics["metrics_100k_reconstruction_s"] = round(statistics.median(times), 4)
    exp.metrics["metrics_100k_semantic_s"] = round(statistics.median(stimes), 4)
    exp.metrics["example_cd_l1_x1e2"] = round(rec["cd_l1"] * 1e2, 4)


def bench_loaders(exp: Experiment) -> None:
    table = Table(["file", "points", "faces", "load (s)"])
    for path in find_scans(SHARED):
        times, scan = _time(lambda p=path: load(p), 1)
        table.rows.append([str(path.relative_to(SHARED)), f"{len(scan):,}",
                           f"{len(scan.mesh.faces):,}" if scan.has_faces else "-", f"{times[0]:.3f}"])
    exp.tables["Loading every scan in ../shared/data"] = table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: the benchmarks read real data from ../shared/data")
    exp = Experiment(
        name="foundation_speed",
        title="Foundation: ground truth, generator, metrics and loader speed",
        description="Wall-clock times on this machine (2 CPU cores, no GPU). Queries follow NDF's protocol "
                    "(σ = 0.08 / 0.02 / 0.003 with ratios 0.01 / 0.49 / 0.5, unit cube).",
    )
    bench_scannet_ground_truth(exp, args.repeats)
    bench_generator(exp, args.seeds)
    bench_metrics(exp, args.repeats)
    bench_loaders(exp)
    exp.notes.append(f"ScanNet ground truth: median {exp.metrics['scannet_gt_100k_median_s']} s, worst "
                     f"{exp.metrics['scannet_gt_100k_worst_s']} s (target < 5 s).")
    exp.notes.append(f"Generator: median {exp.metrics['generator_total_median_s']} s, worst "
                     f"{exp.metrics['generator_total_worst_s']} s per room (target < 2 s).")
    path = exp.save()
    print(f"wrote {path} and {Path('docs/RESULTS.md')}")


if __name__ == "__main__":
    main()
