"""``nir-studio search-bits``: per-layer bit-widths of a bundle found by Bayesian optimisation (compress/search.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.options import config_options
from compress.config import SearchConfig

out = Console(soft_wrap=True)


@config_options(SearchConfig, "family", "degree", "budget", "budget_seconds", "penalty", "reference_bits", "initial",
                "initial_target", "top", "seed", param="search")
def search_bits(
    bundle: Path = typer.Argument(..., help="Trained bundle folder whose layers get their bit-widths."),
    output: Path = typer.Option(..., "--out", "-o", help="The search's log and result (JSON); re-running the same "
                                "command resumes it, and `nir-studio compress --layer-bits FILE` applies its choice."),
    layers: str = typer.Option("*encoder.*", help="Comma-separated globs of the layers searched; the others stay float."),
    quantiser: str = typer.Option("kmeans", help="Quantiser of the searched layers (kmeans, minmax, distributional, "
                                  "explicit, dsconv)."),
    metric: str = typer.Option("f1_delta", help="Protocol metric the search optimises: f1_delta, cd_l1, cd_l2 (or "
                               "mf1_delta, miou for a labelling bundle)."),
    fidelities: str = typer.Option("0,1,2,8", help="Fine-tuning length of each task, in units of "
                                   "--steps-per-fidelity, increasing; the last is the one predicted."),
    steps_per_fidelity: int = typer.Option(50, min=1, help="Quantisation-aware fine-tuning steps per fidelity unit."),
    rooms: int = typer.Option(2, min=1, help="Held-out generated rooms each evaluation is scored on."),
    resolution: int = typer.Option(64, min=8, max=1024, help="Extraction grid of the scoring."),
    random: bool = typer.Option(False, "--random", help="Run the random-search baseline with the same budget (only "
                                "the last fidelity) instead."),
    *,
    search,
):
    """Find per-layer bit-widths: a Bezier / Chebyshev schedule over the searched layers, explored by a multi-task
    Gaussian process over fine-tuning lengths (thesis ch. 3), ranked by the effective metric."""
    from compress.bit_objective import METRICS, BundleObjective
    from compress.search import random_search
    from compress.search import search_bits as run_search
    from nir_core.data.synthetic import generate_room
    from nir_core.protocol import HELD_OUT_SEED, EvalConfig, prepare

    if output.suffix.lower() != ".json":
        raise typer.BadParameter(f"{output}: write a .json file", param_hint="--out")
    try:
        steps = tuple(int(v) for v in fidelities.split(","))
        search = dataclasses.replace(search, fidelities=steps, maximise=METRICS.get(metric, True))
        eval_cfg = EvalConfig(resolution=resolution)
        objective = BundleObjective(bundle, [], output.with_suffix(".work"), tuple(layers.split(",")), quantiser,
                                    metric, steps_per_fidelity, eval_config=eval_cfg,
                                    semantic=metric in ("mf1_delta", "miou"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    objective.scenes = [prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"room_{HELD_OUT_SEED + i}", eval_cfg)
                        for i in range(rooms)]
    names = objective.layer_names
    out.print(f"searching {len(names)} layers of {bundle}: {names[0]}" + (f" ... {names[-1]}" if len(names) > 1 else ""))

    def progress(p) -> None:
        out.print(f"  {p.how:15s} fidelity {p.fidelity:3d}: bits {''.join(map(str, p.bits))} -> {metric} "
                  f"{p.metric:.4f} (effective {p.effective:.4f}, {p.seconds:.0f} s)")

    result = (random_search if random else run_search)(objective, search, output, progress=progress)
    table = Table(title=f"{'random search' if random else 'GP search'}: {result['evaluations']} evaluations, cost "
                  f"{result['spent']:.1f} of {search.budget:.1f}")
    for column in ("bits", "total", f"predicted {metric}", "±", f"measured {metric}"):
        table.add_column(column, justify="left" if column == "bits" else "right")
    for c in result["chosen"]:
        measured = c.get("measured_metric")
        table.add_row("".join(map(str, c["bits"])), str(c["total_bits"]),
                      f"{c['predicted_metric']:.4f}" if "predicted_metric" in c else "-",
                      f"{c['predicted_std']:.4f}" if "predicted_std" in c else "-",
                      "-" if measured is None else f"{measured:.4f}")
    out.print(table)
    out.print(f"written to {output}; apply the best with: nir-studio compress {bundle} -o OUT.nirz --quantiser "
              f"{quantiser} --layer-bits {output}")
