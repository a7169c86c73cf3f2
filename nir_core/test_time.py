"""Test-time refinement: fit a model's UDF head to one scan before meshing it.

The encoder sees a fixed number of points (the protocol's 10k); a scan usually has many more. Refinement keeps the
encoding of those points and fits the chosen parts (the UDF head by default) to the scan's *own* distance field,
built from all of its points (disks at the points, :class:`~nir_core.data.ground_truth.SurfelsField`; the exact
distance for a mesh), for a number of steps or seconds. It is a per-scan optimisation in the manner of NDF's and
Neural-Pull's test-time fits, started from the trained network instead of from scratch, so a few seconds already
help. A share of the scan's points is held out: the fit keeps the head that matched the whole scan best around them,
and stops when that no longer improves. The fitted copy is returned; the loaded model is not changed.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import Config, bounded, check_ranges
from .errors import NIRStudioError

FITTABLE_PARTS = ("udf", "encoder")
"""Parts refinement can fit: the UDF head (the encoding is computed once) or the encoder as well (re-encoded every
step, several times slower)."""


@dataclass
class RefineConfig(Config):
    """Settings of :func:`refine_to_scan`."""

    steps: int = bounded(0, 0)
    """Optimiser steps at most (0: no step limit, when ``seconds`` is set)."""
    seconds: float = bounded(0.0, 0.0)
    """Wall time at most (0: no time limit). Refinement runs when either limit is set."""
    parts: tuple[str, ...] = ("udf",)
    """Parts fitted (:data:`FITTABLE_PARTS`); the others stay as trained."""
    lr: float = bounded(1e-4, 0.0)
    """Adam learning rate (the training's, so the head moves no faster than it learned)."""
    queries_per_step: int = bounded(8192, 1)
    """Queries per step, drawn from a pool sampled once around the scan's points."""
    pool: int = bounded(200_000, 1)
    """Queries in that pool."""
    sigmas: tuple[float, ...] = (0.003,)
    """Gaussian displacements of the pool's queries from the scan's points (unit-cube units), supervised by the
    scan's distance field. The training's finest sigma alone: wider ones teach the head that a hole in the scan is
    empty space, and it stops completing it."""
    ratios: tuple[float, ...] = (1.0,)
    """Share of those queries drawn with each sigma."""
    holdout: float = bounded(0.1, 0.0, 0.5)
    """Share of a point scan's points kept out of the fit to check it: every ``check_every`` steps the loss at
    queries around them (targets from the whole scan) is measured, and the head at its best check is kept. A fit
    that opens holes between the points it was given shows there first. 0: no check, the last step is kept."""
    check_every: int = bounded(25, 1)
    """Steps between two checks on the held-out points."""
    patience: int = bounded(4, 1)
    """Checks without improvement after which the fit stops."""
    seed: int = bounded(0, 0)
    """Seeds the pool, the held-out points and the batches."""

    def __post_init__(self):
        unknown = [p for p in self.parts if p not in FITTABLE_PARTS]
        if unknown or not self.parts:
            raise ValueError(f"refine parts must be among {', '.join(FITTABLE_PARTS)}, got {list(self.parts)}")
        check_ranges(self)

    @property
    def active(self) -> bool:
        return self.steps > 0 or self.seconds > 0


@dataclass
class RefineReport:
    """What a refinement did."""

    steps: int
    """Steps taken (fewer than asked when the time limit came first)."""
    seconds: float
    """Wall time, the pool's sampling included."""
    loss_first: float
    """Clamped-L1 loss on the first batch, before any step."""
    loss_last: float
    """Clamped-L1 loss on the last batch."""
    parts: tuple[str, ...]
    """Parts fitted."""
    scan_points: int
    """Points of the scan whose distance field supervised the fit."""
    check_first: float | None = None
    """Loss around the held-out points before the fit (None without a check)."""
    check_best: float | None = None
    """Its lowest value, at ``best_step``, whose head was kept."""
    best_step: int | None = None
    """The step whose head was kept (0: the trained one)."""
    stopped: str = "steps"
    """Why the fit ended: ``steps``, ``seconds`` or ``patience`` (no better check for ``patience`` checks)."""

    def to_json(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 3), "loss_first": self.loss_first,
                "loss_last": self.loss_last, "parts": list(self.parts), "scan_points": self.scan_points,
                "check_first": self.check_first, "check_best": self.check_best, "best_step": self.best_step,
                "stopped": self.stopped}


def check_refinable(model, where: str) -> None:
    """Raises :class:`NIRStudioError` naming ``where`` when ``model`` has no trainable UDF head to refine."""
    parts = getattr(model, "parts", None)
    if model is None:
        raise NIRStudioError(f"{where}: refinement fits a model's decoder; without a model the scan's exact field is "
                             "meshed and there is nothing to fit (give a model, or drop --refine)")
    if parts is None or "udf" not in parts or not any(True for _ in parts["udf"].parameters()):
        raise NIRStudioError(f"{where}: this model has no trainable UDF decoder, so it cannot be refined "
                             "(drop --refine)")


def refine_to_scan(model, encoded: torch.Tensor | list[torch.Tensor], unit, cfg: RefineConfig,
                   on_progress: Callable[[int, int, float], None] | None = None):
    """Fits a copy of ``model`` to the distance field of the normalised scan ``unit``.

    Parameters
    ----------
    model: an :class:`~nir_core.models.base.ImplicitModel` with a ``udf`` part.
    encoded: (N, 3) float32 unit-cube points the model encodes, or a list of draws of them (as
        :meth:`~nir_core.models.base.ImplicitModel.field` takes them; the same the field will be built from).
    unit: the normalised :class:`~nir_core.data.scan.Scan`; its points (but ``cfg.holdout`` of them, which check
        the fit) or its mesh supervise the fit.
    cfg: steps, time limit (at least one must be set), parts, learning rate, batch sizes.
    on_progress: called as ``(step, total steps or None without a step limit, loss)`` after each step.

    Returns
    -------
    (the fitted copy in eval mode, a :class:`RefineReport`).
    """
    from .models.decoders.losses import clamped_l1

    if not cfg.active:
        raise ValueError("refinement needs a step limit, a time limit or both")
    start = time.perf_counter()
    fitted = copy.deepcopy(model)
    fitted.eval()  # batch norm keeps its running statistics: one scan is not a batch
    for p in fitted.parameters():
        p.requires_grad_(False)
    params = fitted.part_parameters(cfg.parts)
    for p in params:
        p.requires_grad_(True)
    rng = np.random.default_rng(cfg.seed)
    queries_t, targets_t, check_q, check_t = _supervision(unit, cfg, rng)
    draws = [torch.as_tensor(d, dtype=torch.float32)[None] for d in (encoded if isinstance(encoded, list) else [encoded])]
    encode = lambda: fitted.encode_draws(draws)
    refit_encoder = "encoder" in cfg.parts
    with torch.no_grad():
        encoding = encode()
    check = None
    if check_q is not None:
        def check() -> float:
            with torch.no_grad():
                enc = encode() if refit_encoder else encoding
                return float(clamped_l1(fitted.udf(enc, check_q[None])[0], check_t))

    optimiser = torch.optim.Adam(params, lr=cfg.lr)
    losses = []
    step, stopped = 0, "steps"
    check_first = best = check() if check else None
    best_step, best_state, waited = 0, _state(fitted, cfg.parts), 0
    while not cfg.steps or step < cfg.steps:
        if cfg.seconds and time.perf_counter() - start >= cfg.seconds:
            stopped = "seconds"
            break
        pick = torch.from_numpy(rng.integers(0, len(queries_t), size=min(cfg.queries_per_step, len(queries_t))))
        if refit_encoder:
            encoding = encode()
        loss = clamped_l1(fitted.udf(encoding, queries_t[pick][None])[0], targets_t[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        step += 1
        if on_progress is not None:
            on_progress(step, cfg.steps or None, losses[-1])
        if check and step % cfg.check_every == 0:
            now = check()
            if now < best:
                best, best_step, best_state, waited = now, step, _state(fitted, cfg.parts), 0
            else:
                waited += 1
                if waited >= cfg.patience:
                    stopped = "patience"
                    break
    if check:
        now = check()  # the last steps since the last check
        if now < best:
            best, best_step, best_state = now, step, _state(fitted, cfg.parts)
        fitted.load_state_dict(best_state, strict=False)
    for p in fitted.parameters():
        p.requires_grad_(False)
    report = RefineReport(step, time.perf_counter() - start, losses[0] if losses else float("nan"),
                          losses[-1] if losses else float("nan"), tuple(cfg.parts), len(unit.points),
                          check_first, best, best_step if check else None, stopped)
    return fitted, report


def _supervision(unit, cfg: RefineConfig, rng: np.random.Generator):
    """The fit's queries and targets, (P, 3) and (P,) tensors, drawn around the points it may use; and the check's,
    around the held-out points with targets from the whole scan (None, None without a check)."""
    from .data.ground_truth import field_from_scan
    from .data.sampling import SamplingConfig, sample_queries, sample_surface

    near = SamplingConfig(num_queries=cfg.pool, sigmas=cfg.sigmas, ratios=cfg.ratios)
    held = np.zeros(len(unit.points), dtype=bool)
    if not unit.has_faces and cfg.holdout > 0:
        held = rng.random(len(unit.points)) < cfg.holdout
    fit_scan = unit.subset(np.flatnonzero(~held)) if held.any() else unit
    surface = sample_surface(unit.mesh, cfg.pool, rng)[0] if unit.has_faces else fit_scan.points
    queries = sample_queries(surface, near, rng)
    targets = field_from_scan(fit_scan).query_np(queries, grad=False)[0]
    as_tensors = lambda q, t: (torch.from_numpy(q), torch.from_numpy(np.asarray(t, np.float32)))
    if not held.any():
        return (*as_tensors(queries, targets), None, None)
    check = sample_queries(unit.points[held], replace(near, num_queries=CHECK_QUERIES), rng)
    return (*as_tensors(queries, targets), *as_tensors(check, field_from_scan(unit).query_np(check, grad=False)[0]))


CHECK_QUERIES = 8192
"""Queries around the held-out points at each check."""


def _state(model, parts: tuple[str, ...]) -> dict:
    """A detached copy of the named parts' weights, keyed as in the model's state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if any(k.startswith(f"parts.{name}.") for name in parts)}
