"""Batched, memory-bounded evaluation of any :class:`~nir_core.field.Field` on numpy points.

Every extractor asks its field through :func:`query_field` (scattered points) or :func:`sample_grid` (a dense
grid), so that

- memory stays bounded: points go through the field ``batch_size`` at a time, and grid coordinates are
  generated per batch (a 512^3 grid never exists as a (134M, 3) array);
- every field is asked through its ``query_np`` (:class:`~nir_core.field.Field`): ground-truth fields answer
  in numpy with analytic gradients, networks through :class:`~nir_core.field.TorchField`'s torch path;
- a handful of degenerate queries (a field that returns NaN or Inf at a few points) never aborts an extraction:
  they are repaired (:func:`repair_degenerate`: far from the surface, no direction) and counted; a field
  that returns NaN or Inf at many points is broken and fails loudly with :class:`~nir_core.errors.FieldError`
  naming an example point, instead of silently producing holes;
- queries are counted (:class:`QueryCounter`), so benchmarks report field queries as a fraction of the
  dense grid an extractor avoided.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import FieldError

DEFAULT_BATCH_SIZE = 262_144
"""Points per field call: 2^18 queries keep a small MLP's activations (and autograd graph) to a few hundred MB."""

Bounds = tuple[float, float]


@dataclass
class QueryCounter:
    """Running count of field queries, shared by the calls of one extraction.

    Pass the same counter to every :func:`query_field` / :func:`sample_grid` call of an extraction and read it
    afterwards; :meth:`fraction_of_grid` relates it to the cost of a dense grid.
    """

    queries: int = 0
    """Points whose distance was asked for (each point of each call, with or without a gradient)."""
    grad_queries: int = 0
    """Of those, points whose gradient was asked for too (more expensive for networks: a backward pass)."""
    calls: int = 0
    """Field calls made (batches), a proxy for per-call overhead."""
    degenerate: int = 0
    """Queries whose distance or gradient came back NaN or Inf and were repaired (:func:`repair_degenerate`)."""

    def add(self, n: int, *, grad: bool, degenerate: int = 0) -> None:
        """Record one batch of ``n`` queries, ``degenerate`` of them repaired."""
        self.queries += int(n)
        self.grad_queries += int(n) if grad else 0
        self.calls += 1
        self.degenerate += int(degenerate)

    def fraction_of_grid(self, resolution: int) -> float:
        """``queries / resolution^3``: the share of a dense ``resolution^3`` grid the extraction cost."""
        return self.queries / float(resolution) ** 3

    def to_dict(self) -> dict:
        """JSON-ready counts."""
        return {"queries": self.queries, "grad_queries": self.grad_queries, "calls": self.calls,
                "degenerate": self.degenerate}


# ------------------------------------------------------------------------------------------- torch helpers


def autograd_udf_and_grad(udf_fn: Callable[[torch.Tensor], torch.Tensor], q: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and their spatial gradients by autograd, for fields that only define ``udf``.

    Networks implement ``Field.udf_and_grad`` with this. Gradients are taken with respect to the query
    points only; the graph is discarded afterwards, so model parameters accumulate nothing.

    Parameters
    ----------
    udf_fn: ``(M, 3) -> (M,)`` differentiable distance function (a network's ``udf``).
    q: (M, 3) float query points (any device).

    Returns
    -------
    d: (M,) detached distances.
    grad: (M, 3) detached raw gradients ``d udf / d q`` (not normalised: a learned UDF's gradient is not unit
        length, and callers that need directions normalise them); zero where ``d`` does not depend on ``q``.
    """
    # enable_grad: callers often sit inside torch.no_grad() (evaluation loops), where autograd is off.
    with torch.enable_grad():
        qg = q.detach().requires_grad_(True)
        d = udf_fn(qg).reshape(-1)
        if d.requires_grad:
            (g,) = torch.autograd.grad(d.sum(), qg, allow_unused=True)
        else:
            g = None
    if g is None:
        g = torch.zeros_like(qg)
    return d.detach(), g.detach()


def _to_numpy(x, dtype=np.float32) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu").numpy()
    return np.asarray(x, dtype=dtype)


# ------------------------------------------------------------------------------------------- validation


def _check_finite(values: np.ndarray, points: np.ndarray, what: str) -> None:
    """Raise :class:`FieldError` when ``values`` ((m,) or (m, 3)) holds NaN or Inf."""
    ok = np.isfinite(values)
    if ok.all():
        return
    bad_rows = ~ok if ok.ndim == 1 else ~ok.all(axis=1)
    count = int(bad_rows.sum())
    example = points[int(np.argmax(bad_rows))]
    raise FieldError(
        f"the field returned {count} non-finite {what} (NaN or Inf) in a batch of {len(points)} queries, "
        f"e.g. at ({example[0]:.4f}, {example[1]:.4f}, {example[2]:.4f})", count, example.copy())


MAX_DEGENERATE_FRACTION = 0.01
"""Share of a batch's queries that may come back NaN or Inf and be repaired; more means the field is broken
(a diverged network, a corrupt model), which :func:`query_field` reports instead of meshing noise."""
DEGENERATE_ALLOWANCE = 64
"""Degenerate queries repaired in any batch however small it is (a few points of a small batch are as likely to
sit on a degenerate triangle as a few of a large one)."""
DEGENERATE_DISTANCE = 1e3
"""The distance a degenerate query is given: far beyond the unit cube, so no extractor puts surface there."""


def repair_degenerate(d: np.ndarray, g: np.ndarray | None, points: np.ndarray) -> int:
    """Repairs, in place, queries whose distance ``d`` (m,) or gradient ``g`` (m, 3) is NaN or Inf; returns how many.

    A query with a bad distance is taken as far from the surface (:data:`DEGENERATE_DISTANCE`) and one with a bad
    gradient as having no direction (zero): the extractors then leave the cells around it to their neighbours
    and the hole repair instead of placing surface on noise. Raises :class:`FieldError` naming an example point
    when more than :data:`MAX_DEGENERATE_FRACTION` of the batch (beyond :data:`DEGENERATE_ALLOWANCE`) is bad.
    """
    bad_distance = ~np.isfinite(d)
    bad = bad_distance if g is None else bad_distance | ~np.isfinite(g).all(axis=1)
    count = int(bad.sum())
    if not count:
        return 0
    if count > DEGENERATE_ALLOWANCE + MAX_DEGENERATE_FRACTION * len(points):
        what = "distances" if bad_distance.any() else "gradients"
        _check_finite(d if bad_distance.any() else g, points, what)
    d[bad_distance] = DEGENERATE_DISTANCE
    if g is not None:
        g[bad] = 0.0
    return count


def _check_shape(values: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``values`` reshaped to ``shape`` ((m, 1) distances are accepted as (m,)), else FieldError."""
    if values.size != int(np.prod(shape)):
        raise FieldError(f"the field returned {what} of shape {values.shape} for {shape[0]} queries; "
                         f"expected {shape}")
    return values.reshape(shape)


def _as_points(points) -> np.ndarray:
    points = _to_numpy(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"query points must have shape (M, 3), got {points.shape}")
    return np.ascontiguousarray(points)


# ------------------------------------------------------------------------------------------- evaluation


def query_field(field, points, *, grad: bool, batch_size: int = DEFAULT_BATCH_SIZE,
                counter: QueryCounter | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Distances (and gradients) of ``field`` at ``points``, ``batch_size`` points at a time.

    Parameters
    ----------
    field: a :class:`~nir_core.field.Field`, asked through its ``query_np`` (ground-truth fields answer in
        numpy with analytic gradients; networks through :class:`~nir_core.field.TorchField`, on their device).
    points: (M, 3) query points, unit-cube coordinates (numpy array or tensor).
    grad: also return the spatial gradients.
    batch_size: points per field call; bounds peak memory.
    counter: incremented by the number of queries made.

    Returns
    -------
    d: (M,) float32 unsigned distances.
    g: (M, 3) float32 gradients as the field returns them (unit length for ground-truth fields, raw for
        networks), or None when ``grad`` is False.

    Raises
    ------
    FieldError: the field returned arrays of the wrong shape, or NaN/Inf at more points than
    :func:`repair_degenerate` repairs (fewer are repaired and counted in ``counter.degenerate``).
    """
    points = _as_points(points)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    m = len(points)
    d_out = np.empty(m, dtype=np.float32)
    g_out = np.empty((m, 3), dtype=np.float32) if grad else None
    for lo in range(0, m, batch_size):
        q = points[lo:lo + batch_size]
        d, g, _ = field.query_np(q, grad=grad, labels=False)
        d, g = _to_numpy(d), (_to_numpy(g) if grad else None)
        d_out[lo:lo + len(q)] = _check_shape(d, (len(q),), "distances")
        if grad:
            g_out[lo:lo + len(q)] = _check_shape(g, (len(q), 3), "gradients")
        degenerate = repair_degenerate(d_out[lo:lo + len(q)], g_out[lo:lo + len(q)] if grad else None, q)
        if counter is not None:
            counter.add(len(q), grad=grad, degenerate=degenerate)
    return d_out, g_out


# ------------------------------------------------------------------------------------------- dense grids


def grid_axis(resolution: int, bounds: Bounds = (-0.5, 0.5)) -> np.ndarray:
    """(R,) float64 sample positions along one axis: ``resolution`` points from ``lo`` to ``hi`` inclusive.

    The voxel size is ``(hi - lo) / (resolution - 1)``; marching-cubes vertex ``i`` maps to ``lo + i * voxel``.
    """
    if resolution < 2:
        raise ValueError(f"grid resolution must be >= 2, got {resolution}")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not hi > lo:
        raise ValueError(f"bounds must satisfy lo < hi, got {bounds}")
    return np.linspace(lo, hi, int(resolution))


def voxel_size(resolution: int, bounds: Bounds = (-0.5, 0.5)) -> float:
    """Spacing of the grid of :func:`grid_axis`."""
    return (float(bounds[1]) - float(bounds[0])) / (int(resolution) - 1)


def grid_points(resolution: int, bounds: Bounds, start: int, stop: int) -> np.ndarray:
    """(stop - start, 3) float32 coordinates of flat (C-order, x slowest) grid indices ``[start, stop)``."""
    axis = grid_axis(resolution, bounds)
    flat = np.arange(start, stop, dtype=np.int64)
    i, rem = np.divmod(flat, resolution * resolution)
    j, k = np.divmod(rem, resolution)
    return np.stack([axis[i], axis[j], axis[k]], axis=1).astype(np.float32)


def evaluate_values(values_fn: Callable[[np.ndarray], np.ndarray], points: np.ndarray, *,
                    batch_size: int = DEFAULT_BATCH_SIZE, counter: QueryCounter | None = None) -> np.ndarray:
    """(M,) float32 values of a plain ``values_fn`` (signed distance, occupancy) at (M, 3) ``points``, in batches,
    checked for shape and NaN/Inf like :func:`query_field`."""
    out = np.empty(len(points), dtype=np.float32)
    for lo in range(0, len(points), batch_size):
        q = points[lo:lo + batch_size]
        v = _check_shape(_to_numpy(values_fn(q)), (len(q),), "values")
        _check_finite(v, q, "values")
        out[lo:lo + len(q)] = v
        if counter is not None:
            counter.add(len(q), grad=False)
    return out


def sample_grid(values_fn: Callable[[np.ndarray], np.ndarray], resolution: int, bounds: Bounds = (-0.5, 0.5),
                *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Values of ``values_fn`` on the dense ``resolution^3`` grid of :func:`grid_axis`.

    Parameters
    ----------
    values_fn: ``(m, 3) float32 numpy -> (m,)`` values (numpy or tensor), called on batches of grid points.
    resolution: samples per axis (R).
    bounds: (lo, hi) of the cube, the same on every axis.
    batch_size: grid points per call; coordinates are generated per batch, so memory is the (R, R, R)
        float32 volume plus one batch.

    Returns
    -------
    (R, R, R) float32 volume indexed ``[x, y, z]``.

    Raises
    ------
    FieldError: ``values_fn`` returned NaN/Inf or the wrong number of values.
    """
    r = int(resolution)
    total = r ** 3
    out = np.empty(total, dtype=np.float32)
    for lo in range(0, total, batch_size):
        hi = min(lo + batch_size, total)
        q = grid_points(r, bounds, lo, hi)
        v = _check_shape(_to_numpy(values_fn(q)), (hi - lo,), "values")
        _check_finite(v, q, "values")
        out[lo:hi] = v
    return out.reshape(r, r, r)


def field_grid(field, resolution: int, bounds: Bounds = (-0.5, 0.5), *, batch_size: int = DEFAULT_BATCH_SIZE,
               counter: QueryCounter | None = None) -> np.ndarray:
    """(R, R, R) float32 unsigned distances of ``field`` on the dense grid (see :func:`sample_grid`)."""
    return sample_grid(lambda q: query_field(field, q, grad=False, batch_size=batch_size, counter=counter)[0],
                       resolution, bounds, batch_size=batch_size)
