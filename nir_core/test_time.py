"""Test-time refinement: fit a model's UDF head to one scan before meshing it.

The encoder sees a fixed number of points (the protocol's 10k); a scan usually has many more. Refinement keeps the
encoding of those points and fits the chosen parts (the UDF head by default) to the scan's *own* distance field,
built from all of its points (disks at the points, :class:`~nir_core.data.ground_truth.SurfelsField`; the exact
distance for a mesh), for a number of steps or seconds. It is a per-scan optimisation in the manner of NDF's and
Neural-Pull's test-time fits, started from the trained network instead of from scratch, so a few seconds already
help. The fitted copy is returned; the loaded model is not changed.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

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
    """Optimiser steps (0: no refinement)."""
    seconds: float = bounded(0.0, 0.0)
    """Stop after this much wall time even if steps remain (0: no time limit)."""
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
    seed: int = bounded(0, 0)
    """Seeds the pool and the batches."""

    def __post_init__(self):
        unknown = [p for p in self.parts if p not in FITTABLE_PARTS]
        if unknown or not self.parts:
            raise ValueError(f"refine parts must be among {', '.join(FITTABLE_PARTS)}, got {list(self.parts)}")
        check_ranges(self)

    @property
    def active(self) -> bool:
        return self.steps > 0


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

    def to_json(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 3), "loss_first": self.loss_first,
                "loss_last": self.loss_last, "parts": list(self.parts), "scan_points": self.scan_points}


def check_refinable(model, where: str) -> None:
    """Raises :class:`NIRStudioError` naming ``where`` when ``model`` has no trainable UDF head to refine."""
    parts = getattr(model, "parts", None)
    if model is None:
        raise NIRStudioError(f"{where}: refinement fits a model's decoder; without a model the scan's exact field is "
                             "meshed and there is nothing to fit (give a model, or drop --refine)")
    if parts is None or "udf" not in parts or not any(True for _ in parts["udf"].parameters()):
        raise NIRStudioError(f"{where}: this model has no trainable UDF decoder, so it cannot be refined "
                             "(drop --refine)")


def refine_to_scan(model, encoded: torch.Tensor, unit, cfg: RefineConfig,
                   on_progress: Callable[[int, int, float], None] | None = None):
    """Fits a copy of ``model`` to the distance field of the normalised scan ``unit``.

    Parameters
    ----------
    model: an :class:`~nir_core.models.base.ImplicitModel` with a ``udf`` part.
    encoded: (N, 3) float32 unit-cube points the model encodes (the same ones the field will be built from).
    unit: the normalised :class:`~nir_core.data.scan.Scan`; all of its points (or its mesh) supervise the fit.
    cfg: steps, time limit, parts, learning rate, batch sizes.
    on_progress: called as ``(step, total steps, loss)`` after each step.

    Returns
    -------
    (the fitted copy in eval mode, a :class:`RefineReport`).
    """
    from .data.ground_truth import field_from_scan
    from .data.sampling import SamplingConfig, sample_queries, sample_surface
    from .models.decoders.losses import clamped_l1

    start = time.perf_counter()
    fitted = copy.deepcopy(model)
    fitted.eval()  # batch norm keeps its running statistics: one scan is not a batch
    for p in fitted.parameters():
        p.requires_grad_(False)
    params = fitted.part_parameters(cfg.parts)
    for p in params:
        p.requires_grad_(True)
    target_field = field_from_scan(unit)
    rng = np.random.default_rng(cfg.seed)
    surface = sample_surface(unit.mesh, cfg.pool, rng)[0] if unit.has_faces else unit.points
    queries = sample_queries(surface, SamplingConfig(num_queries=cfg.pool, sigmas=cfg.sigmas, ratios=cfg.ratios), rng)
    targets, _, _ = target_field.query_np(queries, grad=False)
    queries_t, targets_t = torch.from_numpy(queries), torch.from_numpy(np.asarray(targets, np.float32))
    points = torch.as_tensor(encoded, dtype=torch.float32)[None]
    refit_encoder = "encoder" in cfg.parts
    with torch.no_grad():
        encoding = fitted.encode(points)
    optimiser = torch.optim.Adam(params, lr=cfg.lr)
    losses = []
    step = 0
    while step < cfg.steps and not (cfg.seconds and time.perf_counter() - start >= cfg.seconds):
        pick = torch.from_numpy(rng.integers(0, len(queries_t), size=min(cfg.queries_per_step, len(queries_t))))
        if refit_encoder:
            encoding = fitted.encode(points)
        loss = clamped_l1(fitted.udf(encoding, queries_t[pick][None])[0], targets_t[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        step += 1
        if on_progress is not None:
            on_progress(step, cfg.steps, losses[-1])
    for p in fitted.parameters():
        p.requires_grad_(False)
    report = RefineReport(step, time.perf_counter() - start, losses[0] if losses else float("nan"),
                          losses[-1] if losses else float("nan"), tuple(cfg.parts), len(unit.points))
    return fitted, report
