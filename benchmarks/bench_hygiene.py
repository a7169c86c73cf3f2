"""Mesh hygiene of reconstructions: what a viewer would stumble on before the clean-up and what is left after it.

Each input (the bundled 10,000-point simulated scans and real ScanNet rooms, encoded as the pipeline does: 10,000
points per draw, a denser scan in up to 8 draws) is
reconstructed by the default model at 256³; the clean-up (``nir_core.extract.hygiene.clean_mesh``, its rule in the
report) counts faces, pieces, border loops, non-manifold edges and winding conflicts before and after, and the faces
each of its steps dropped. The clean-up's time is the pipeline's ``cleanup`` stage.

Run: ``.venv/bin/python benchmarks/bench_hygiene.py [--model BUNDLE] [--resolution 256]``
"""
from __future__ import annotations

import argparse
from pathlib import Path

from results import REPO, Experiment, Table

from app.batch import default_model
from nir_core.data.io import load
from nir_core.pipeline import Pipeline, PipelineConfig, load_model
from nir_core.protocol import RESOLUTION

SHARED = REPO.parent / "shared" / "data"
INPUTS = [REPO / "assets" / "samples" / "room_00001_scan.ply", REPO / "assets" / "samples" / "room_00004_scan.ply",
          SHARED / "scannet_scene0000_00_fullres" / "scene0000_00_vert_all.npy",
          SHARED / "scannet_votenet_50k" / "scene0003_00_vert.npy",
          SHARED / "scannet_votenet_50k" / "scene0007_00_vert.npy"]
COUNTS = ("faces", "components", "boundary_loops", "non_manifold_edges", "inconsistent_edges")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    args = parser.parse_args()
    model = load_model(args.model)
    exp = Experiment(name="hygiene", title=f"Mesh hygiene of reconstructions ({args.model.name})",
                     description=__doc__.split("\n\nRun:")[0])
    table = Table(["input", *(f"{k} before -> after" for k in COUNTS), "faces dropped", "clean-up (s)"])
    rows = []
    for path in (p for p in INPUTS if p.exists()):
        report = Pipeline(PipelineConfig(resolution=args.resolution, labels=False, score=False), model
                          ).run(load(path)).report
        cleanup = report["cleanup"]
        rows.append({"input": path.name, **cleanup, "seconds": report["timings_s"]["cleanup"]})
        dropped = ", ".join(f"{k} {v:,}" for k, v in cleanup["faces_dropped"].items())
        table.rows.append([path.name, *(f"{cleanup['before'][k]:,} -> {cleanup['after'][k]:,}" for k in COUNTS),
                           dropped, f"{report['timings_s']['cleanup']:.1f}"])
        print(table.rows[-1], flush=True)
    exp.metrics = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
    exp.tables["Before and after the clean-up"] = table
    if rows:
        exp.notes.append(f"Rule: {rows[0]['rule']}.")
    exp.save()


if __name__ == "__main__":
    main()
