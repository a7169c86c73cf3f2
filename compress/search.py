"""Per-layer bit-widths found by Bayesian optimisation (thesis ch. 3, §3.2-3.3).

A bit schedule is a point w of a few parameters (:mod:`compress.schedules`); evaluating it at a *fidelity* (a number
of fine-tuning epochs or steps after quantising) gives a metric. A multi-task Gaussian process with the intrinsic
correlation model (BoTorch's ``MultiTaskGP``: a kernel over w times a free covariance between tasks, the thesis'
Eq. 2-3) models the metric of every fidelity at once, so cheap evaluations inform the prediction of the expensive
one. Exploration picks the (w, fidelity) with the most information about the best value at the highest fidelity per
unit cost (multi-fidelity max-value entropy search with an inverse-cost utility), until the budget is spent. Then
many candidate schedules are ranked by the GP's prediction at the highest fidelity with the thesis' effective
metric, E = metric - (Σ b - 4 n) / k (§3.3): each bit above 4 per layer costs 1/k, each bit below earns it.

The GP models the effective metric (the metric, negated when lower is better, minus the bit penalty), since that is
what the search maximises; a prediction of the metric itself adds the known penalty back.

Every evaluation is appended to a JSON log, written atomically, so a search that is killed continues from the same
command without repeating an evaluation.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from nir_core.atomic import atomic_write_json
from nir_core.errors import NIRStudioError

from .config import SearchConfig

LOG_FORMAT = "nir-studio bit search"
EXTENDABLE = ("budget", "budget_seconds", "top", "ranking_candidates")
"""Settings a resumed search may change (a larger budget continues it); any other change makes it another search."""


class SearchError(NIRStudioError, ValueError):
    """A search cannot start or continue (e.g. its log was written by a different search)."""


class Objective(Protocol):
    """What a search evaluates: a model of ``layers`` quantisable layers, quantised with one bit-width per layer and
    fine-tuned for ``fidelity`` epochs (or steps), then scored."""

    layers: int

    def evaluate(self, bits: list[int], fidelity: int) -> float:
        """The metric of the model quantised with ``bits`` (one per layer) after ``fidelity`` epochs of fine-tuning."""


@dataclass
class Evaluation:
    """One evaluated schedule."""

    w: list[float]
    bits: list[int]
    task: int
    """Index into the config's fidelities."""
    fidelity: int
    metric: float
    effective: float
    cost: float
    seconds: float
    how: str
    """"initial", "initial-target" or "acquired"."""


@dataclass
class SearchLog:
    """Every evaluation of a search, in the order made; persisted after each one."""

    path: Path
    config: dict
    layers: int
    kind: str = "gp"
    """"gp" (:func:`search_bits`) or "random" (:func:`random_search`)."""
    points: list[Evaluation] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time spent across resumes."""

    @classmethod
    def open(cls, path: str | Path, cfg: SearchConfig, layers: int, kind: str = "gp") -> SearchLog:
        """The log at ``path`` when it exists (it must be this search's), else a new one."""
        path = Path(path)
        if not path.exists():
            return cls(path, cfg.to_json(), layers, kind)
        try:
            record = json.loads(path.read_text())
            if record.get("format") != LOG_FORMAT:
                raise ValueError("not a bit-search log")
            points = [Evaluation(**p) for p in record["points"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SearchError(f"{path}: cannot resume from it ({exc})") from None
        if _identity(record["config"]) != _identity(cfg.to_json()) or record["layers"] != layers \
                or record.get("kind", "gp") != kind:
            raise SearchError(f"{path}: written by a different search (its kind, config or layer count differs); "
                              "use another file or the same settings")
        return cls(path, cfg.to_json(), layers, kind, points, float(record.get("seconds", 0.0)))

    def save(self, extra: dict | None = None) -> None:
        atomic_write_json(self.path, {"format": LOG_FORMAT, "kind": self.kind, "config": self.config,
                                      "layers": self.layers, "seconds": round(self.seconds, 2),
                                      "points": [vars(p) for p in self.points], **(extra or {})})

    @property
    def spent(self) -> float:
        return sum(p.cost for p in self.points)

    def done(self, bits: list[int], task: int) -> bool:
        return any(p.bits == bits and p.task == task for p in self.points)


def _identity(config: dict) -> dict:
    """What makes two searches the same: every setting but the :data:`EXTENDABLE` ones."""
    return {k: v for k, v in config.items() if k not in EXTENDABLE}


def sobol(cfg: SearchConfig, count: int, salt: int) -> np.ndarray:
    """(count, d) quasi-random schedule parameters in the config's box."""
    engine = torch.quasirandom.SobolEngine(cfg.schedule.parameters, scramble=True, seed=cfg.seed * 1000 + salt)
    lo, hi = cfg.box
    return lo + (hi - lo) * engine.draw(count).double().numpy()


def search_bits(objective: Objective, cfg: SearchConfig, log_path: str | Path,
                progress: Callable[[Evaluation], None] | None = None) -> dict:
    """Runs (or resumes) the search; returns the result (:func:`rank`) and writes it into the log too."""
    log = SearchLog.open(log_path, cfg, objective.layers)
    costs, top = cfg.task_costs, len(cfg.fidelities) - 1
    d = cfg.schedule.parameters
    initial = cfg.initial or 2 * d + 1
    plan = [(w, 0, "initial") for w in sobol(cfg, initial, 1)] + \
        [(w, top, "initial-target") for w in sobol(cfg, cfg.initial_target, 2)]
    started = time.perf_counter()
    earlier = log.seconds

    def out_of_budget(next_cost: float) -> bool:
        over_time = cfg.budget_seconds and earlier + time.perf_counter() - started >= cfg.budget_seconds
        return log.spent + next_cost > cfg.budget + 1e-9 or bool(over_time)

    def run(w: np.ndarray, task: int, how: str) -> None:
        _evaluate(objective, cfg, log, w, task, how, earlier + time.perf_counter() - started, progress)

    for w, task, how in plan[sum(1 for p in log.points if p.how.startswith("initial")):]:
        if out_of_budget(costs[task]):
            break
        run(w, task, how)
    while not out_of_budget(min(costs)):
        w, task = next_point(log, cfg, salt=100 + len(log.points), max_cost=cfg.budget - log.spent)
        if w is None:
            break
        run(w, task, "acquired")
    result = rank(log, cfg, getattr(objective, "layer_bits", None))
    log.save({"result": result})
    return result


def _evaluate(objective: Objective, cfg: SearchConfig, log: SearchLog, w: np.ndarray, task: int, how: str,
              seconds_before: float, progress: Callable[[Evaluation], None] | None) -> None:
    """Evaluates schedule ``w`` at fidelity ``task``, appends it to the log and saves the log (``seconds_before``: the
    search's time before this evaluation)."""
    bits = cfg.schedule.bits(w, objective.layers)
    clock = time.perf_counter()
    metric = float(objective.evaluate(bits, cfg.fidelities[task]))
    taken = time.perf_counter() - clock
    log.points.append(Evaluation([float(v) for v in w], bits, task, cfg.fidelities[task], metric,
                                 cfg.effective(metric, bits), cfg.task_costs[task], round(taken, 3), how))
    log.seconds = seconds_before + taken
    log.save()
    if progress:
        progress(log.points[-1])


def _unit(cfg: SearchConfig, w: np.ndarray) -> np.ndarray:
    lo, hi = cfg.box
    return (np.asarray(w, dtype=np.float64) - lo) / (hi - lo)


def fit_gp(log: SearchLog, cfg: SearchConfig):
    """The multi-task GP (ICM) of the effective metric over (w scaled to the unit cube, task index)."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import MultiTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    x = torch.tensor([[*_unit(cfg, p.w), p.task] for p in log.points], dtype=torch.float64)
    y = torch.tensor([[p.effective] for p in log.points], dtype=torch.float64)
    # botorch's default outcome transform standardises the effective metric over all tasks together.
    # One output (the highest fidelity's) for inputs without a task column, which the max-value entropy search needs;
    # inputs with the column get the task they name.
    tasks = list(range(len(cfg.fidelities)))
    model = MultiTaskGP(x, y, task_feature=-1, all_tasks=tasks, output_tasks=[tasks[-1]])
    with torch.random.fork_rng(devices=[]):  # the fit's random restarts, seeded without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def next_point(log: SearchLog, cfg: SearchConfig, salt: int, max_cost: float = float("inf")
               ) -> tuple[np.ndarray | None, int]:
    """The (w, task) with the most information about the best effective metric at the highest fidelity per unit
    cost, among quasi-random candidates at every fidelity whose cost is at most ``max_cost``, skipping bit lists
    already evaluated at that fidelity; (None, 0) when there is none."""
    from botorch.acquisition.cost_aware import InverseCostWeightedUtility
    from botorch.acquisition.max_value_entropy_search import qMultiFidelityMaxValueEntropy
    from botorch.models.deterministic import GenericDeterministicModel

    model = fit_gp(log, cfg)
    tasks = len(cfg.fidelities)
    top = float(tasks - 1)
    costs = torch.tensor(cfg.task_costs, dtype=torch.float64)
    cost_model = GenericDeterministicModel(lambda x: costs[x[..., -1].round().long()].unsqueeze(-1))

    def project(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., -1] = top
        return x

    w = sobol(cfg, cfg.acquisition_candidates, salt)
    unit = torch.tensor(_unit(cfg, w), dtype=torch.float64)
    candidates = torch.cat([torch.cat([unit, torch.full((len(unit), 1), float(t), dtype=torch.float64)], -1)
                            for t in range(tasks)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed * 7919 + salt)
        acquisition = qMultiFidelityMaxValueEntropy(model, candidate_set=project(candidates[:len(unit)]),
                                                    cost_aware_utility=InverseCostWeightedUtility(cost_model),
                                                    project=project)
        with torch.no_grad():
            values = torch.cat([acquisition(chunk.unsqueeze(1)) for chunk in candidates.split(256)])
    schedule = cfg.schedule
    for index in torch.argsort(values, descending=True).tolist():
        task = index // len(unit)
        if cfg.task_costs[task] <= max_cost + 1e-9 and not log.done(schedule.bits(w[index % len(unit)], log.layers),
                                                                     task):
            return w[index % len(unit)], task
    return None, 0


def predict(model, cfg: SearchConfig, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GP's (:func:`fit_gp`) posterior mean and standard deviation of the effective metric at the highest
    fidelity for schedule parameters ``w`` (m, d): two (m,) arrays."""
    unit = torch.tensor(_unit(cfg, w), dtype=torch.float64)
    x = torch.cat([unit, torch.full((len(unit), 1), float(len(cfg.fidelities) - 1), dtype=torch.float64)], -1)
    with torch.no_grad():
        posterior = model.posterior(x)
        return posterior.mean.squeeze(-1).numpy(), posterior.variance.clamp_min(0).sqrt().squeeze(-1).numpy()


def rank(log: SearchLog, cfg: SearchConfig, layer_bits: Callable[[list[int]], dict] | None = None) -> dict:
    """The ``top`` distinct bit lists by the GP's predicted effective metric at the highest fidelity, among
    quasi-random candidates and every evaluated schedule, with the predicted metric and its standard deviation, and
    the measured metric where the schedule was evaluated at that fidelity. ``layer_bits``: the objective's map from a
    bit list to bits per layer name (stored with each choice, what ``nir-studio compress --layer-bits`` applies)."""
    if not log.points:
        return {"chosen": [], "evaluations": 0, "spent": 0.0}
    model = fit_gp(log, cfg)
    schedule, top_task = cfg.schedule, len(cfg.fidelities) - 1
    w = np.concatenate([np.array([p.w for p in log.points]), sobol(cfg, cfg.ranking_candidates, 3)])
    mean, std = predict(model, cfg, w)
    measured = {tuple(p.bits): p.metric for p in log.points if p.task == top_task}
    seen, chosen = set(), []
    for i in np.argsort(-mean):
        bits = schedule.bits(w[i], log.layers)
        if tuple(bits) in seen:
            continue
        seen.add(tuple(bits))
        chosen.append({"w": [float(v) for v in w[i]], "bits": bits, "total_bits": sum(bits),
                       "predicted_effective": float(mean[i]), "predicted_metric": cfg.metric_of(float(mean[i]), bits),
                       "predicted_std": float(std[i]), "measured_metric": measured.get(tuple(bits)),
                       **({"layer_bits": layer_bits(bits)} if layer_bits else {})})
        if len(chosen) == cfg.top:
            break
    return {"chosen": chosen, "evaluations": len(log.points), "spent": log.spent, "seconds": round(log.seconds, 2)}


def random_search(objective: Objective, cfg: SearchConfig, log_path: str | Path,
                  progress: Callable[[Evaluation], None] | None = None) -> dict:
    """The baseline: quasi-random schedules evaluated at the highest fidelity only, until the same budget is spent;
    the best measured effective metric wins. Resumable like :func:`search_bits`."""
    log = SearchLog.open(log_path, cfg, objective.layers, kind="random")
    top = len(cfg.fidelities) - 1
    cost = cfg.task_costs[top]
    earlier, started = log.seconds, time.perf_counter()
    for w in sobol(cfg, int(cfg.budget // cost) + 1, 4)[len(log.points):]:
        if log.spent + cost > cfg.budget + 1e-9:
            break
        if cfg.budget_seconds and earlier + time.perf_counter() - started >= cfg.budget_seconds:
            break
        _evaluate(objective, cfg, log, w, top, "random", earlier + time.perf_counter() - started, progress)
    best = max(log.points, key=lambda p: p.effective, default=None)
    layer_bits = getattr(objective, "layer_bits", None)
    result = {"chosen": [] if best is None else [{"w": best.w, "bits": best.bits, "total_bits": sum(best.bits),
                                                  "measured_metric": best.metric, "effective": best.effective,
                                                  **({"layer_bits": layer_bits(best.bits)} if layer_bits else {})}],
              "evaluations": len(log.points), "spent": log.spent, "seconds": round(log.seconds, 2)}
    log.save({"result": result})
    return result


def chosen_layer_bits(path: str | Path, choice: int = 0) -> dict[str, int]:
    """Bits per layer name of a search's ``choice``-th schedule (0: the best), from its log / result file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        chosen = record["result"]["chosen"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SearchError(f"{path}: not a finished bit search ({exc})") from None
    if not 0 <= choice < len(chosen):
        raise SearchError(f"{path}: has {len(chosen)} chosen schedules, not a number {choice}")
    if "layer_bits" not in chosen[choice]:
        raise SearchError(f"{path}: its schedules are not tied to layer names (a search of a synthetic objective?)")
    return {name: int(b) for name, b in chosen[choice]["layer_bits"].items()}


__all__ = ["SearchError", "Objective", "Evaluation", "SearchLog", "search_bits", "random_search",
           "fit_gp", "predict", "next_point", "rank", "chosen_layer_bits"]
