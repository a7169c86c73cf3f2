"""Per-layer bit-widths found by the search against uniform, reversed and random schedules (thesis ch. 3: Table 3.5
and Table 1 analogues, Fig. 5, and the search's cost).

One command does it all and resumes where a stopped run left off: the multi-fidelity GP search and the random
search (same budget) keep their logs in ``benchmarks/results/search_NAME/``; then each row of the table (float, the
uniform bit-widths, the GP's chosen schedules and their reverses, the random search's best) is quantised, fine-tuned
at the search's highest fidelity and scored twice: by the search's own metric (what the GP predicts, for the "Delta"
column) and by a report the search never sees (a bundle: its ``.nirz`` by the thesis protocol on more scenes at a
finer grid; a classifier: its test split). Rows already in the results JSON with the same bits are kept
(``--carry``).

``--subject bundle`` (default) searches a trained bundle's encoder (``--model``, the NDF bundle by default) scored by
the protocol; ``--subject digits`` / ``voxnet`` a small 2D / 3D CNN of ``benchmarks/classifiers.py`` scored by
accuracy.

Run: ``.venv/bin/python benchmarks/bench_search.py [--subject bundle|digits] [--model assets/models/ndf-geometry]
[--budget 30] [--fidelities 0,1,2,4] [--steps-per-fidelity 25] [--penalty K] [--carry]``.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_compress import encoder_kb
from results import REPO, RESULTS_DIR, Experiment, Table, carried_rows, carry_note, save_figure

from compress.bit_objective import METRICS, BundleObjective
from compress.config import SearchConfig
from compress.schedules import fit_parameters
from compress.search import SearchLog, fit_gp, predict, random_search, search_bits, sobol
from compress.workflow import model_from_file
from nir_core.bundle import ModelBundle
from nir_core.data.io import load
from nir_core.data.synthetic import generate_room
from nir_core.errors import FieldError
from nir_core.models.registry import from_bundle
from nir_core.protocol import HELD_OUT_SEED, RESOLUTION, EvalConfig, evaluate, prepare

SHARED = REPO.parent / "shared" / "data"
UNIFORM = (8, 5, 4, 2, 1)
"""The uniform bit-widths every search is compared with (thesis Table 3.5)."""
SEARCH_METHOD = (
    "The search (compress/search.py: a multi-task GP over fine-tuning fidelities, multi-fidelity max-value entropy "
    "search per unit cost, ranked by the effective metric E = metric - (Σb - 4n)/k with k = {k:g}) and a random "
    "search (random schedules at the highest fidelity only) spend the same budget.")
HEADLINE = {"ratio": 7.0, "f1_delta": 0.01, "cd_l1": 0.05}
"""The issue's target for a chosen schedule: the searched layers at least this many times smaller than float, F1-δ
within this much of float and CD-L1 within this fraction of it, on the report's scenes."""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", choices=("bundle", *CLASSIFIERS), default="bundle",
                        help="bundle: a trained bundle (--model) scored by the protocol; digits / voxnet: a small "
                             "classifier of benchmarks/classifiers.py, scored by accuracy")
    parser.add_argument("--model", type=Path, default=REPO / "assets" / "models" / "ndf-geometry")
    parser.add_argument("--layers", default="*encoder.*", help="globs of the searched layers (the others stay float)")
    parser.add_argument("--quantiser", default="kmeans")
    parser.add_argument("--metric", default="f1_delta", choices=sorted(METRICS), help="bundle: the protocol metric")
    parser.add_argument("--family", default="bezier")
    parser.add_argument("--degree", type=int, default=2)
    parser.add_argument("--fidelities", default="0,1,2,4", help="fine-tuning units of each task (the last: predicted)")
    parser.add_argument("--steps-per-fidelity", type=int, default=25, help="bundle: fine-tuning steps per unit "
                        "(digits: a unit is an epoch)")
    parser.add_argument("--costs", default="", help="cost of each fidelity (default: 1 + fidelity)")
    parser.add_argument("--budget", type=float, default=30.0, help="cost units each search may spend")
    parser.add_argument("--penalty", type=float,
                        help="k of the effective metric: one bit more on every one of n layers costs n/k (default: "
                             "the thesis' 100 for accuracy; 1000 for F1-δ, whose target tolerance is 0.01)")
    parser.add_argument("--top", type=int, default=2, help="chosen schedules measured (and reversed)")
    parser.add_argument("--rooms", type=int, default=2, help="bundle: held-out rooms of the search's scoring")
    parser.add_argument("--resolution", type=int, default=64, help="bundle: extraction grid of the search's scoring")
    parser.add_argument("--report-rooms", type=int, default=2, help="bundle: held-out rooms of the rows' report")
    parser.add_argument("--report-resolution", type=int, default=RESOLUTION)
    parser.add_argument("--scannet", action=argparse.BooleanOptionalAction, default=True,
                        help="bundle: also score the rows on ScanNet scene0000_00")
    parser.add_argument("--seed", type=int, default=0, help="the search's quasi-random designs (and digits' split)")
    parser.add_argument("--carry", action="store_true", help="keep rows measured by the last run with the same bits")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_search")
    return parser.parse_args()


@dataclass
class Subject:
    """What one run searches: the objective, how a row is measured beyond the search's own score, and how the
    results are named and described."""

    name: str
    title: str
    description: str
    objective: object
    """A :class:`compress.search.Objective` with ``weights`` (per searched layer) and ``layer_bits``."""
    label: str
    """The searched metric's name in the tables."""
    report_headers: list[str]
    measure: Callable[[list[int] | None, int], dict]
    """(bits or None for float, fidelity) -> {"search_metric", "report" (dict), "report_cells", ...}."""
    compared: tuple[str, ...]
    """Command-line settings a carried row must share."""
    headline: Callable[[list[dict], float], list[str]] = lambda rows, float_memory: []


def bundle_subject(args: argparse.Namespace) -> Subject:
    """The protocol on a trained bundle (the NDF or Point Transformer encoder)."""
    bundle = ModelBundle.load(args.model)
    search_cfg = EvalConfig(resolution=args.resolution)
    objective = BundleObjective(args.model, [], args.out / "work", tuple(args.layers.split(",")), args.quantiser,
                                args.metric, args.steps_per_fidelity, eval_config=search_cfg)
    objective.scenes = [prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"room_{HELD_OUT_SEED + i}", search_cfg)
                        for i in range(args.rooms)]
    report_cfg = EvalConfig(resolution=args.report_resolution)
    report_scenes = [prepare(generate_room(HELD_OUT_SEED + i).to_scan(), f"room_{HELD_OUT_SEED + i}", report_cfg)
                     for i in range(args.report_rooms)]
    fullres = SHARED / "scannet_scene0000_00_fullres"
    if args.scannet and fullres.exists():
        report_scenes.append(prepare(load(fullres), "ScanNet scene0000_00", report_cfg))
    float_kb = sum(f.stat().st_size for f in args.model.iterdir() if f.is_file()) / 1024

    def score(model, scenes, cfg_) -> dict:
        try:
            return evaluate(model, scenes, cfg_)["mean"]
        except FieldError:  # quantised too hard: the field no longer describes a surface
            return {}

    def measure(bits: list[int] | None, fidelity: int) -> dict:
        if bits is None:
            model, row = from_bundle(bundle, source=args.model), {"file_kb": float_kb}
        else:
            path = args.out / f"{args.model.name}-{''.join(map(str, bits))}.nirz"
            report = objective.quantise(bits, fidelity, path)
            model, _ = model_from_file(path)
            row = {"file_kb": report["file_bytes"] / 1024, "encoder_kb": encoder_kb(path),
                   "finetune": report["finetune"]}
        searched = score(model, objective.scenes, search_cfg)
        m = score(model, report_scenes, report_cfg)
        cells = [f"{row['file_kb']:.1f}"] + ([f"{m['cd_l1'] * 1e2:.4f}", f"{m['cd_l2'] * 1e4:.4f}",
                                              f"{m['f1_delta']:.4f}"] if m else ["no surface", "-", "-"])
        return {**row, "search_metric": searched.get(args.metric), "search_scores": searched, "report": m,
                "report_cells": cells}

    top_steps = int(args.fidelities.split(",")[-1]) * args.steps_per_fidelity
    return Subject(
        name=f"search_{args.model.name.replace('-', '_')}", title=f"Bit-width search on {args.model.name} (thesis ch. 3)",
        description=(
            f"Thesis ch. 3 on the {args.model.name} bundle: the {objective.layers} layers matching {args.layers} get "
            f"one bit-width each from a {args.family} schedule of degree {args.degree} ({args.quantiser}; the other "
            f"layers stay float). {SEARCH_METHOD.format(k=args.penalty)} Each evaluation quantises, fine-tunes "
            f"quantisation-aware for fidelity x {args.steps_per_fidelity} steps, loads the model back from its .nirz and "
            f"scores {args.metric} on {args.rooms} held-out generated rooms at {args.resolution}³ (the search's "
            f"protocol). Every row is then fine-tuned for {top_steps} steps (the highest fidelity) and scored by that "
            "protocol (\"measured\", next to the GP's prediction at the highest fidelity and its standard deviation; "
            f"their difference is the thesis' Delta) and by the thesis protocol ({len(report_scenes)} scenes: "
            f"{', '.join(s.name for s in report_scenes)} at {args.report_resolution}³; CD-L1 x1e2, CD-L2 x1e4, F1-δ). "
            "Memory is the searched layers' weights at their bits; file is the .nirz on disk."),
        objective=objective, label={"f1_delta": "F1-δ", "cd_l1": "CD-L1", "cd_l2": "CD-L2"}.get(args.metric, args.metric),
        report_headers=["file (KB)", "CD-L1", "CD-L2", "F1-δ"], measure=measure,
        compared=("model", "layers", "quantiser", "metric", "fidelities", "steps_per_fidelity", "rooms", "resolution",
                  "report_rooms", "report_resolution", "scannet"),
        headline=bundle_headline)


CLASSIFIERS = {
    "digits": ("search_digits_cnn", "Bit-width search on a 2D CNN, handwritten digits (thesis ch. 3 Table 1)",
               "a VGG-style CNN (6 convs + 2 linear layers) trained on scikit-learn's 8 x 8 handwritten digits upsampled "
               "to 32 x 32 (60 / 20 / 20 % train / validation / test)"),
    "voxnet": ("search_voxnet", "Bit-width search on VoxNet, generated objects and ModelNet40 (thesis ch. 3 Table 3.3)",
               "VoxNet (2 convs + 2 linear layers) trained on 32³ occupancy grids of generated objects of 15 classes "
               "(40 / 10 / 10 per class for train / validation / test), also scored on the ModelNet40 samples of "
               "../shared/data whose class the generator makes (bathtub, bed, chair, toilet)"),
}
"""--subject -> (results name, title, what the model is and what it learns from)."""


def classifier_subject(args: argparse.Namespace) -> Subject:
    """A small classifier of benchmarks/classifiers.py, scored by accuracy (thesis Table 1 / Table 3.3 analogues)."""
    from classifiers import ClassifierObjective, DigitsCNN, VoxNet, accuracy, digits, modelnet_samples, trained, voxelised_objects

    name, title, what = CLASSIFIERS[args.subject]
    if args.subject == "digits":
        data, make, extra = digits(args.seed), DigitsCNN, None
    else:
        data, make = voxelised_objects(seed=args.seed), VoxNet
        grids, labels, _ = modelnet_samples(SHARED / "modelnet40_samples")
        extra = ("ModelNet40 accuracy", (grids, labels))
    # Kept with the search's logs, so a resumed search goes on with the very model it started on.
    model = trained(RESULTS_DIR / name / f"float_seed{args.seed}.safetensors", make, data, seed=args.seed)
    objective = ClassifierObjective(model, data, args.quantiser, seed=args.seed)

    def measure(bits: list[int] | None, fidelity: int) -> dict:
        tuned = model if bits is None else objective.quantised(bits, fidelity)
        report = {"test_accuracy": accuracy(tuned, data["test"])}
        if extra:
            report["extra_accuracy"] = accuracy(tuned, extra[1])
        return {"search_metric": accuracy(tuned, data["val"]), "report": report,
                "report_cells": [f"{v:.4f}" for v in report.values()]}

    return Subject(
        name=name, title=title,
        description=(
            f"Thesis ch. 3 on benchmarks/classifiers.py: {what}; {sum(objective.weights):,} weights. Every layer gets "
            f"one bit-width from a {args.family} schedule of degree {args.degree} ({args.quantiser}). "
            f"{SEARCH_METHOD.format(k=args.penalty)} Each evaluation quantises the float model, fine-tunes it "
            "quantisation-aware for fidelity epochs (Adam 1e-3, cosine decay, codebooks refitted after each epoch) and "
            "scores the validation accuracy; every row is measured the same way at the highest fidelity "
            "(\"measured\", next to the GP's prediction and its standard deviation; the difference is the thesis' "
            "Delta) and on the test split, which the search never sees. Memory is the weights at their bits."),
        objective=objective, label="val. accuracy",
        report_headers=["test accuracy"] + ([extra[0]] if extra else []), measure=measure,
        compared=("quantiser", "fidelities", "seed"))


def memory_kb(weights: list[int], bits: list[int]) -> float:
    """The searched layers' weights at these bits (the thesis' memory axis, codebooks aside)."""
    return sum(n * b for n, b in zip(weights, bits)) / 8 / 1024


def first_reaching(log: SearchLog, target: float) -> dict | None:
    """How many evaluations and seconds the log took before its best effective metric reached ``target``."""
    seconds = 0.0
    for i, p in enumerate(log.points):
        seconds += p.seconds
        if p.effective >= target - 1e-12:
            return {"evaluations": i + 1, "seconds": round(seconds, 1)}
    return None


def plot(candidates: list[dict], rows: list[dict], metric: str, path: Path, title: str) -> None:
    """Fig. 5 analogue: the GP's prediction for many schedules against their memory, the measured uniform line, the
    measured chosen / reversed / random-best schedules."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.scatter([c["memory_kb"] for c in candidates], [c["predicted"] for c in candidates], s=6, color="0.7",
               label="GP estimate, sampled schedules")
    measured = [r for r in rows if r.get("search_metric") is not None and r["kind"] != "float"]
    uniform = sorted((r for r in measured if r["kind"] == "uniform"), key=lambda r: r["memory_kb"])
    ax.plot([r["memory_kb"] for r in uniform], [r["search_metric"] for r in uniform], "o-", color="C0",
            label="uniform (measured)")
    styles = {"chosen": ("*", "C3", "GP chosen (measured)"), "reversed": ("v", "C2", "reversed (measured)"),
              "random": ("D", "C1", "random search's best (measured)")}
    for kind, (marker, colour, label) in styles.items():
        points = [r for r in measured if r["kind"] == kind]
        if points:
            ax.plot([r["memory_kb"] for r in points], [r["search_metric"] for r in points], marker, color=colour,
                    markersize=9, linestyle="none", label=label)
        for r in points:
            if r.get("predicted") is not None:
                ax.errorbar(r["memory_kb"], r["predicted"], yerr=r["predicted_std"], fmt="none", ecolor=colour,
                            alpha=0.6, capsize=3)
    for r in measured:
        ax.annotate(r["bits_text"], (r["memory_kb"], r["search_metric"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    floats = [r for r in rows if r["kind"] == "float" and r.get("search_metric") is not None]
    if floats:
        ax.axhline(floats[0]["search_metric"], color="0.3", linestyle=":", label="float32")
    ax.set_xlabel("searched layers' weights (KB at their bits)")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main() -> None:
    args = arguments()
    classifier = args.subject in CLASSIFIERS
    if args.penalty is None:
        args.penalty = 100.0 if classifier else 1000.0
    subject = (classifier_subject if classifier else bundle_subject)(args)
    objective, label = subject.objective, subject.label
    logs = RESULTS_DIR / subject.name
    logs.mkdir(parents=True, exist_ok=True)
    fidelities = tuple(int(v) for v in args.fidelities.split(","))
    maximise = True if classifier else METRICS[args.metric]
    cfg = SearchConfig(family=args.family, degree=args.degree, fidelities=fidelities,
                       costs=tuple(float(c) for c in args.costs.split(",")) if args.costs else None,
                       budget=args.budget, penalty=args.penalty, top=max(args.top, 5), maximise=maximise,
                       seed=args.seed)
    exp = Experiment(name=subject.name, title=subject.title, description=subject.description)

    def progress(p) -> None:
        print(f"  {p.how:14s} fidelity {p.fidelity}: {''.join(map(str, p.bits))} -> {p.metric:.4f} "
              f"(E {p.effective:.4f}, {p.seconds:.0f} s)", flush=True)

    print(f"GP search over {objective.layers} layers, budget {args.budget:g}", flush=True)
    gp_result = search_bits(objective, cfg, logs / "gp.json", progress)
    print("random search, same budget", flush=True)
    random_result = random_search(objective, cfg, logs / "random.json", progress)
    gp_log = SearchLog.open(logs / "gp.json", cfg, objective.layers)
    random_log = SearchLog.open(logs / "random.json", cfg, objective.layers, kind="random")
    gp = fit_gp(gp_log, cfg)

    def predicted(bits: list[int]) -> tuple[float | None, float | None]:
        """The GP's metric at the highest fidelity for a bit list its schedule family can express."""
        w = fit_parameters(cfg.schedule, bits)
        if w is None:
            return None, None
        mean, std = predict(gp, cfg, w[None])
        return cfg.metric_of(float(mean[0]), bits), float(std[0])

    # (row, kind, bits, the GP's prediction): the chosen schedules keep the prediction they were ranked by.
    plan: list[tuple[str, str, list[int] | None, tuple | None]] = [("float32", "float", None, (None, None))]
    plan += [(f"uniform {b} bits", "uniform", [b] * objective.layers, None) for b in UNIFORM]
    for k, choice in enumerate(gp_result["chosen"][:args.top], 1):
        plan += [(f"GP #{k}", "chosen", choice["bits"], (choice["predicted_metric"], choice["predicted_std"])),
                 (f"GP #{k} reversed", "reversed", choice["bits"][::-1], None)]
    plan += [("random search's best", "random", c["bits"], None) for c in random_result["chosen"][:1]]

    carried = carried_rows(subject.name, args, subject.compared) if args.carry else {}
    float_memory = memory_kb(objective.weights, [32] * objective.layers)
    top_units = fidelities[-1] * (1 if classifier else args.steps_per_fidelity)
    unit = "epochs" if classifier else "steps"
    table = Table(["configuration", "bits", "memory (KB)", "x smaller", f"predicted {label}", f"measured {label}",
                   "Delta"] + subject.report_headers)
    exp.tables[f"{subject.name}: after {top_units} fine-tuning {unit} (the highest fidelity)"] = table
    rows: list[dict] = []
    exp.metrics = {"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}, "gp": gp_result,
                   "random": random_result}
    args.out.mkdir(parents=True, exist_ok=True)

    def add(row: dict) -> None:
        rows.append(row)
        s, pred = row["search_metric"], row["predicted"]
        table.rows.append([row["row"], row["bits_text"], f"{row['memory_kb']:.1f}",
                           f"{float_memory / row['memory_kb']:.1f}",
                           "-" if pred is None else f"{pred:.4f} ± {row['predicted_std']:.4f}",
                           "-" if s is None else f"{s:.4f}",
                           "-" if pred is None or s is None else f"{s - pred:+.4f}", *row["report_cells"]])
        exp.notes = carry_note(rows)
        exp.save()  # after every row: a run cut short keeps what it measured
        print(f"{row['row']} {row['bits_text']}: measured {s}, predicted {pred}, report {row['report']}", flush=True)

    for row_label, kind, bits, prediction in plan:
        bits_text = "float" if bits is None else "".join(map(str, bits))
        old = carried.get(row_label)
        if old is not None and old["bits_text"] == bits_text:
            add(old)
            continue
        started = time.perf_counter()
        pred, std = prediction or predicted(bits)
        measured = subject.measure(bits, fidelities[-1])
        add({"row": row_label, "kind": kind, "bits": bits, "bits_text": bits_text,
             "memory_kb": float_memory if bits is None else memory_kb(objective.weights, bits),
             "predicted": pred, "predicted_std": std, **measured, "seconds": round(time.perf_counter() - started, 1)})

    # Fig. 5: the GP's estimate over many schedules (distinct bit lists), the measured rows on top.
    w = sobol(cfg, 2048, 5)
    mean, _ = predict(gp, cfg, w)
    seen, candidates = set(), []
    for wi, mi in zip(w, mean):
        bits = cfg.schedule.bits(wi, objective.layers)
        if tuple(bits) not in seen:
            seen.add(tuple(bits))
            candidates.append({"bits": bits, "memory_kb": memory_kb(objective.weights, bits),
                               "predicted": cfg.metric_of(float(mi), bits)})
    exp.metrics["candidates"] = candidates
    figure = REPO / "docs" / f"{subject.name}.png"
    plot(candidates, rows, label, figure, f"{subject.name}: {label} after {top_units} fine-tuning {unit}")

    costs = Table(["search", "evaluations", "cost spent", "wall time (s)", "best measured E at the top fidelity",
                   "GP #1's measured E", "random search reached it after"])
    exp.tables["Search cost (the same budget)"] = costs
    chosen = next((r for r in rows if r["row"] == "GP #1" and r["search_metric"] is not None), None)
    target = cfg.effective(chosen["search_metric"], chosen["bits"]) if chosen else None
    for kind, log, result in (("GP", gp_log, gp_result), ("random", random_log, random_result)):
        top_points = [p.effective for p in log.points if p.task == len(fidelities) - 1]
        reached = first_reaching(random_log, target) if kind == "random" and target is not None else None
        costs.rows.append([kind, str(result["evaluations"]), f"{result['spent']:g}", f"{log.seconds:.0f}",
                           f"{max(top_points):.4f}" if top_points else "-",
                           f"{target:.4f}" if kind == "GP" and target is not None else "-",
                           "-" if kind == "GP" else (f"{reached['evaluations']} evaluations, {reached['seconds']} s"
                                                     if reached else "not reached")])
    exp.notes = carry_note(rows) + pareto_notes(rows) + subject.headline(rows, float_memory) + \
        [f"Plot: docs/{figure.name}."]
    exp.save()


def pareto_notes(rows: list[dict]) -> list[str]:
    """Whether each measured non-uniform schedule lies on or beyond the uniform line (the issue's acceptance): no
    more memory than a uniform row with no worse metric, or less memory at an equal or better metric."""
    uniform = [r for r in rows if r["kind"] == "uniform" and r["search_metric"] is not None]
    verdicts = []
    for r in rows:
        if r["kind"] in ("float", "uniform") or r["search_metric"] is None:
            continue
        dominated = [u["row"] for u in uniform if u["memory_kb"] <= r["memory_kb"]
                     and u["search_metric"] >= r["search_metric"] and (u["memory_kb"] < r["memory_kb"]
                                                                       or u["search_metric"] > r["search_metric"])]
        verdicts.append(f"{r['row']} ({r['bits_text']}): " + (f"behind {', '.join(dominated)}" if dominated
                                                             else "on or beyond the uniform line"))
    return ["Against the uniform rows (the search's metric, memory): " + "; ".join(verdicts) + "."] if verdicts else []


def bundle_headline(rows: list[dict], float_memory: float) -> list[str]:
    """Which measured schedules meet the issue's target against float (:data:`HEADLINE`), on the report's scenes."""
    base = next((r["report"] for r in rows if r["kind"] == "float" and r["report"]), None)
    if base is None:
        return []
    met = [f"{r['row']} ({r['bits_text']}, {float_memory / r['memory_kb']:.1f}x smaller)" for r in rows
           if r["kind"] != "float" and r["report"] and float_memory / r["memory_kb"] >= HEADLINE["ratio"]
           and r["report"]["f1_delta"] >= base["f1_delta"] - HEADLINE["f1_delta"]
           and r["report"]["cd_l1"] <= base["cd_l1"] * (1 + HEADLINE["cd_l1"])]
    return [f"Target (searched layers >= {HEADLINE['ratio']:g}x smaller, F1-δ within {HEADLINE['f1_delta']} and "
            f"CD-L1 within {HEADLINE['cd_l1']:.0%} of float on the report's scenes): "
            + ("met by " + "; ".join(met) if met else "met by no measured row") + "."]


if __name__ == "__main__":
    main()
