"""Where a NeRF training step's time goes on this CPU: seconds per step of the 4 x 64 network with and without the
feature layer, the share of the step's top operators (torch's profiler), and the throughput of the matrix products
the step runs, through torch's default path (MKL here) and through oneDNN's linear (torch's ``mkldnn`` ops).

A step is ``--rays`` rays x 64 stratified samples of the lego scene, forward, backward and Adam, on ``--threads``
threads. The matrix shapes are the step's: 65,536 samples x 64 -> 64 (trunk), 63 -> 64 (first layer), 91 -> 32 (the
colour head over the concatenated trunk output and encoded direction) and 64 -> 32 (the same head split).

Run: ``.venv/bin/python benchmarks/bench_nerf_step.py [--threads 1] [--steps 60]``
"""
from __future__ import annotations

import argparse
import time

import torch
from results import REPO, Experiment, Table

from nir_core.data.views import load_views
from nir_core.nerf.model import NeRF, NeRFConfig
from nir_core.nerf.rays import all_rays
from nir_core.nerf.render import RenderConfig, render_rays

LEGO = REPO.parent / "shared" / "data" / "nerf_synthetic_lego_200"
SAMPLES = 65_536
"""Rows of each matrix product: 1,024 rays x 64 samples."""


def step_function(feature_layer: bool, rays_per_step: int):
    views = load_views(LEGO, "train", 2)
    rays = all_rays(views)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = NeRF(NeRFConfig(feature_layer=feature_layer))
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(0)

    def step():
        batch = rays[torch.randint(len(rays), (rays_per_step,), generator=generator)]
        out = render_rays(model, batch, views.near, views.far, RenderConfig(), views.white_background, perturb=True,
                          generator=generator)
        loss = ((out.rgb - batch.colours) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def seconds_per_call(fn, calls: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def gemm_rows(calls: int) -> list[dict]:
    """GFLOP/s of the step's product shapes: forward (x W^T + b), gradient of the input (g W) and of the weight
    (g^T x), by MKL (torch's default here) and oneDNN (forward and input gradient)."""
    linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    rows = []
    for k, n in ((64, 64), (63, 64), (91, 32), (64, 32)):
        x, w, b, g = torch.randn(SAMPLES, k), torch.randn(n, k), torch.randn(n), torch.randn(SAMPLES, n)
        flops = 2 * SAMPLES * k * n
        cases = {"forward (MKL)": lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()),
                 "input gradient (MKL)": lambda g=g, w=w: g.mm(w), "weight gradient (MKL)": lambda g=g, x=x: g.t().mm(x)}
        if linear is not None:
            cases |= {"forward (oneDNN)": lambda x=x, w=w, b=b: linear(x, w, b, "none", [], ""),
                      "input gradient (oneDNN)": lambda g=g, wt=w.t().contiguous(): linear(g, wt, None, "none", [], "")}
        for name, fn in cases.items():
            rows.append({"shape": f"{SAMPLES} x {k} -> {n}", "product": name,
                         "gflops": flops / seconds_per_call(fn, calls) / 1e9})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exp = Experiment(name="nerf_step", title="Where a NeRF training step's time goes (nerf_step)",
                     description=__doc__.split("\n\nRun:")[0])
    steps = []
    for feature_layer in (True, False):
        step = step_function(feature_layer, SAMPLES // 64)
        seconds = seconds_per_call(step, args.steps)
        with torch.profiler.profile() as prof:
            for _ in range(10):
                step()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        steps.append({"feature_layer": feature_layer, "seconds_per_step": seconds,
                      "top_operators": [{"name": e.key, "share": e.self_cpu_time_total / total} for e in events[:6]]})
        print(steps[-1], flush=True)
    gemms = gemm_rows(20)
    exp.metrics = {"args": vars(args), "steps": steps, "gemm": gemms}
    step_table = Table(["feature layer", "s/step", "rays/s", "top operators (share of the profiled time)"])
    for s in steps:
        top = ", ".join(f"{o['name']} {o['share']:.0%}" for o in s["top_operators"])
        step_table.rows.append(["yes" if s["feature_layer"] else "no", f"{s['seconds_per_step']:.3f}",
                                f"{SAMPLES // 64 / s['seconds_per_step']:.0f}", top])
    gemm_table = Table(["shape", "product", "GFLOP/s"])
    gemm_table.rows = [[g["shape"], g["product"], f"{g['gflops']:.1f}"] for g in gemms]
    exp.tables = {f"a training step, lego, {args.threads} thread(s)": step_table,
                  f"matrix products, {args.threads} thread(s)": gemm_table}
    exp.save()


if __name__ == "__main__":
    main()
