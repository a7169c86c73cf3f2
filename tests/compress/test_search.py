"""The bit-width search on a synthetic objective whose every schedule's value is known: within its budget it finds a
schedule better than 90% of random ones and predicts its value, and a killed search resumes without repeating an
evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from compress.config import SearchConfig
from compress.search import SearchError, random_search, search_bits, sobol


class Synthetic:
    """Accuracy-like: the first and last of 8 layers are the sensitive ones, and fine-tuning recovers part of what
    quantisation loses (fidelity = epochs)."""

    layers = 8
    sensitivity = np.array([4.0, 1, 1, 1, 1, 1, 1, 3]) * 0.2

    def __init__(self, fail_after: int | None = None):
        self.calls: list[tuple[tuple[int, ...], int]] = []
        self.fail_after = fail_after

    def evaluate(self, bits, fidelity):
        if self.fail_after is not None and len(self.calls) == self.fail_after:
            raise KeyboardInterrupt  # the process is killed mid-search
        self.calls.append((tuple(bits), fidelity))
        return 0.9 - float((self.sensitivity * 2.0 ** -np.array(bits)).sum()) / (1 + 0.1 * fidelity)


def true_effective(cfg: SearchConfig, bits) -> float:
    return cfg.effective(Synthetic().evaluate(bits, cfg.fidelities[-1]), bits)


CFG = dict(family="bezier", degree=2, fidelities=(0, 2, 6), budget=30.0, penalty=100.0, acquisition_candidates=64,
           ranking_candidates=512, initial_target=2)


@pytest.mark.slow
def test_the_search_finds_a_good_schedule_and_predicts_it(tmp_path):
    cfg = SearchConfig(**CFG)
    objective = Synthetic()
    result = search_bits(objective, cfg, tmp_path / "search.json")
    assert result["spent"] <= cfg.budget and result["evaluations"] == len(objective.calls)
    assert {f for _, f in objective.calls} >= {0, cfg.fidelities[-1]}
    chosen = result["chosen"][0]
    random_schedules = [true_effective(cfg, cfg.schedule.bits(w, 8)) for w in sobol(cfg, 1024, 9)]
    assert true_effective(cfg, chosen["bits"]) >= np.percentile(random_schedules, 90)
    truth = Synthetic().evaluate(chosen["bits"], cfg.fidelities[-1])
    assert abs(chosen["predicted_metric"] - truth) <= 3 * chosen["predicted_std"] + 0.01
    baseline = random_search(Synthetic(), cfg, tmp_path / "random.json")
    assert baseline["spent"] <= cfg.budget and baseline["evaluations"] == int(cfg.budget // cfg.task_costs[-1])


@pytest.mark.slow
def test_a_killed_search_resumes_without_repeating_an_evaluation(tmp_path):
    cfg = SearchConfig(**{**CFG, "budget": 16.0})
    log = tmp_path / "search.json"
    first = Synthetic(fail_after=6)
    with pytest.raises(KeyboardInterrupt):
        search_bits(first, cfg, log)
    assert len(json.loads(log.read_text())["points"]) == 6
    second = Synthetic()
    result = search_bits(second, cfg, log)
    assert not set(first.calls) & set(second.calls)
    points = json.loads(log.read_text())["points"]
    assert [tuple(p["bits"]) for p in points[:6]] == [b for b, _ in first.calls]
    assert result["evaluations"] == len(points) == 6 + len(second.calls)
    # a larger budget continues the same search; other settings make it another search
    more = search_bits(Synthetic(), SearchConfig(**{**CFG, "budget": 20.0}), log)
    assert more["evaluations"] > result["evaluations"]
    with pytest.raises(SearchError, match="different search"):
        search_bits(Synthetic(), SearchConfig(**{**CFG, "degree": 3}), log)
    with pytest.raises(SearchError, match="different search"):  # the random baseline keeps its own log
        random_search(Synthetic(), cfg, log)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="fidelities"):
        SearchConfig(fidelities=(2, 1))
    with pytest.raises(ValueError, match="one positive cost per fidelity"):
        SearchConfig(fidelities=(0, 1), costs=(1.0,))
    with pytest.raises(ValueError, match="unknown schedule family"):
        SearchConfig(family="spline")
    cfg = SearchConfig(maximise=False, penalty=10.0)
    bits = [6] * 4
    assert cfg.effective(0.5, bits) == pytest.approx(-0.5 - 0.8)
    assert cfg.metric_of(cfg.effective(0.5, bits), bits) == pytest.approx(0.5)
