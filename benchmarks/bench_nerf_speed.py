"""Training throughput of the 4 x 64 NeRF (64 stratified samples per ray, 1,024 rays per step) on this CPU: NIR Studio's
trainer against nerfstudio's, side by side in one run.

Rows: ``nir-studio nerf train`` (float, and K-means 3-bit quantisation-aware) with ``model.feature_layer=false``, the
network nerfstudio's ``NeRFField`` has layer for layer; nerfstudio 1.1.5's trainer with its own ``NeRFField`` of the same
size (the ``nir-kmeans-nerf`` method with ``field_implementation=nerfstudio``, float), and
with NIR Studio's quantised field (the method's default). Each trains ``--steps`` steps on the lego scene of
../shared/data; rays/s is rays per step x steps / the training loop's time (NIR Studio: the run's own clock at its
last step; nerfstudio: its profiler's mean ``Trainer.train_iteration``). Threads are torch's intra-op threads
(``OMP_NUM_THREADS`` for nerfstudio, which sets none itself). Needs ``.venv-nerfstudio`` (``make nerfstudio-env``).

Run: ``.venv/bin/python benchmarks/bench_nerf_speed.py [--steps 300] [--threads 1,2]``
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from results import REPO, Experiment, Table

from compress.config import CompressConfig
from compress.nerf import train_quantised
from nir_core.nerf.model import NeRFConfig
from nir_core.nerf.train import NerfTrainConfig

LEGO = REPO.parent / "shared" / "data" / "nerf_synthetic_lego_200"
NS_BIN = REPO / ".venv-nerfstudio" / "bin"
RAYS = 1024


def nir_studio(work: Path, steps: int, threads: int, quantiser: str | None) -> dict:
    out = work / f"nir-{quantiser or 'float'}-{threads}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = NerfTrainConfig(data=str(LEGO), downscale=2, steps=steps, batch_rays=RAYS, val_every=0, val_views=0,
                          checkpoint_every=steps, threads=threads, out=str(out),
                          model=NeRFConfig(feature_layer=False))
    train_quantised(cfg, CompressConfig(quantiser=quantiser, bits=3) if quantiser else None, progress=False)
    last = json.loads((out / "log.jsonl").read_text().strip().splitlines()[-1])
    return {"seconds_per_step": last["elapsed_s"] / steps, "rays_per_s": RAYS * steps / last["elapsed_s"]}


def nerfstudio(work: Path, steps: int, threads: int, field: str) -> dict:
    out = work / f"ns-{field}-{threads}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(NS_BIN / "ns-train"), "nir-kmeans-nerf", "--data", str(LEGO), "--machine.device-type", "cpu",
           "--max-num-iterations", str(steps), "--steps-per-save", str(10 * steps), "--steps-per-eval-batch",
           str(10 * steps), "--steps-per-eval-image", str(10 * steps), "--steps-per-eval-all-images", str(10 * steps),
           "--output-dir", str(out), "--pipeline.datamanager.train-num-rays-per-batch", str(RAYS),
           "--pipeline.model.field-implementation", field]
    if field == "nerfstudio":
        cmd += ["--pipeline.model.quantiser", "None"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=7200)
    if done.returncode != 0:
        raise SystemExit(f"ns-train failed:\n{done.stderr[-3000:]}")
    match = re.search(r"Trainer\.train_iteration:\s*([0-9.]+)", done.stdout + done.stderr)
    if not match:
        raise SystemExit("ns-train printed no profile of Trainer.train_iteration")
    per_step = float(match.group(1))
    return {"seconds_per_step": per_step, "rays_per_s": RAYS / per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--work", default="out/bench_nerf_speed")
    args = parser.parse_args()
    if not (NS_BIN / "ns-train").exists():
        raise SystemExit(f"{NS_BIN / 'ns-train'} is missing: run `make nerfstudio-env` first")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    exp = Experiment(name="nerf_speed", title="NeRF training throughput: NIR Studio against nerfstudio (nerf_speed)",
                     description=__doc__.split("\n\nRun:")[0])
    plan = []
    for threads in (int(t) for t in args.threads.split(",")):
        plan += [("NIR Studio", "float", threads, lambda t=threads: nir_studio(work, args.steps, t, None)),
                 ("nerfstudio (its NeRFField)", "float", threads,
                  lambda t=threads: nerfstudio(work, args.steps, t, "nerfstudio")),
                 ("NIR Studio", "K-means 3 bits", threads, lambda t=threads: nir_studio(work, args.steps, t, "kmeans")),
                 ("nerfstudio (nir-kmeans-nerf)", "K-means 3 bits", threads,
                  lambda t=threads: nerfstudio(work, args.steps, t, "nir"))]
    rows = []
    for trainer, weights, threads, run in plan:
        rows.append({"trainer": trainer, "weights": weights, "threads": threads, **run()})
        print(rows[-1], flush=True)
        exp.metrics = {"args": vars(args), "rows": rows}
        exp.save()
    table = Table(["trainer", "weights", "threads", "rays/s", "s/step", "× nerfstudio"])
    reference = {(r["threads"], r["weights"]): r["rays_per_s"] for r in rows if r["trainer"].startswith("nerfstudio")}
    for r in rows:
        ratio = r["rays_per_s"] / reference[(r["threads"], r["weights"])]
        table.rows.append([r["trainer"], r["weights"], str(r["threads"]), f"{r['rays_per_s']:.0f}",
                           f"{r['seconds_per_step']:.3f}", f"{ratio:.2f}"])
    exp.tables = {f"lego, 4 x 64, 64 samples, {RAYS} rays per step, {args.steps} steps": table}
    exp.save()


if __name__ == "__main__":
    main()
