"""Coarse-to-fine narrow band: the cells of a fine grid that can contain the surface, found without a dense pass.

A distance field is 1-Lipschitz, so a cell of size h whose centre is farther than its half-diagonal
(sqrt(3)/2 h) from the surface cannot contain any of it. Starting from a coarse grid, only cells passing that
test are split into their 8 children, level after level; the field is queried at the centres of the
surviving cells only, so the work grows with the surface's area, not with the volume.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import FieldError
from ..memory import require_bytes
from .mc_table import CORNER_OFFSETS

SQRT3_2 = float(np.sqrt(3.0) / 2.0)

SEARCH_BYTES_PER_CELL = 128
"""Working memory of one cell of a search level: its int64 indices, float64 and float32 centres, distance, gradient
and the temporaries of the test, rounded up."""

MAX_BAND_FRACTION = 0.5
"""A level of 64³ or finer where more than this share of the cells may hold the surface is not a surface's band
(a surface keeps a few per cent of them): the field is near zero almost everywhere, as an untrained or collapsed
model is. Refining it would cost a dense grid's queries and memory, so the search stops with an error."""


@dataclass(frozen=True)
class Grid:
    """A cubic grid of ``resolution``³ cells spanning ``[lo, hi]³``."""

    resolution: int
    """Cells per axis."""
    lo: float = -0.5
    """Lower bound of the box on every axis (unit-cube coordinates)."""
    hi: float = 0.5
    """Upper bound of the box on every axis."""

    def __post_init__(self):
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {self.resolution}")
        if not self.hi > self.lo:
            raise ValueError(f"empty box [{self.lo}, {self.hi}]")

    @property
    def cell_size(self) -> float:
        return (self.hi - self.lo) / self.resolution

    def points(self, ijk: np.ndarray, offset: float = 0.0) -> np.ndarray:
        """(K, 3) integer corner indices (+ ``offset`` cells) -> (K, 3) float32 coordinates."""
        return (self.lo + (ijk.astype(np.float64) + offset) * self.cell_size).astype(np.float32)

    def corner_keys(self, ijk: np.ndarray) -> np.ndarray:
        """(K, 3) corner indices in ``[0, resolution]`` -> (K,) int64 linear ids, unique per corner."""
        n = self.resolution + 1
        return (ijk[:, 0] * n + ijk[:, 1]) * n + ijk[:, 2]


@dataclass
class BandStats:
    """What the coarse-to-fine search cost."""

    levels: list[dict] = field(default_factory=list)
    """Per level: resolution, cells tested, cells kept."""
    queries: int = 0
    """Field evaluations made by the search (cell centres)."""


def children(cells: np.ndarray) -> np.ndarray:
    """(K, 3) cells -> (8K, 3) cells of the next finer level."""
    return (cells[:, None, :] * 2 + CORNER_OFFSETS[None]).reshape(-1, 3)


def coarse_start(resolution: int, coarse_resolution: int) -> int:
    """The coarsest level: ``resolution`` halved while it stays >= ``coarse_resolution`` and even."""
    r = resolution
    while r % 2 == 0 and r // 2 >= coarse_resolution:
        r //= 2
    return r


def narrow_band(
    udf: Callable[[np.ndarray], np.ndarray],
    grid: Grid,
    coarse_resolution: int = 32,
    band: float = 1.0,
    offset: float = 0.0,
    udf_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray | None, BandStats, tuple[np.ndarray, np.ndarray] | None]:
    """Cells of the level just above ``grid`` (half its resolution) that may contain the surface ``udf == offset``.

    Parameters
    ----------
    udf: (M, 3) float32 points -> (M,) distances.
    grid: the target grid.
    coarse_resolution: resolution of the first, dense level (the search halves ``grid.resolution`` down to it).
    band: multiplier on the half-diagonal test; > 1 keeps more cells for fields that are not exactly
        1-Lipschitz (networks).
    offset: distance value at which the surface sits (networks often never reach 0).
    udf_and_grad: when given, used on the last level so the parents' centre values come with gradients
        (the centres are corners of the fine grid, which the extractor then need not query again).

    Raises
    ------
    FieldError: the band fills more than ``MAX_BAND_FRACTION`` of a level (no surface to refine towards).

    Returns
    -------
    parents: (K, 3) int64 cells at resolution ``grid.resolution // 2`` that passed every level's test (their
        children are the candidates at ``grid.resolution``), or None when ``grid`` is itself the coarsest level
        (then every cell is a candidate).
    stats: queries and per-level counts.
    centres: distances (K,) and gradients (K, 3) at the parents' centres when ``udf_and_grad`` was given.
    """
    stats = BandStats()
    r = coarse_start(grid.resolution, coarse_resolution)
    if r == grid.resolution:
        return None, stats, None
    check_cells(r**3, r, grid.resolution)
    cells = all_cells(r)
    while True:
        level = Grid(r, grid.lo, grid.hi)
        last = 2 * r == grid.resolution
        centres = level.points(cells, offset=0.5)
        if last and udf_and_grad is not None:
            d, g = udf_and_grad(centres)
        else:
            d, g = np.asarray(udf(centres)), None
        stats.queries += len(cells)
        keep = d <= SQRT3_2 * level.cell_size * band + offset
        stats.levels.append({"resolution": r, "tested": int(len(cells)), "kept": int(keep.sum())})
        if r >= 64 and not last and keep.sum() > MAX_BAND_FRACTION * r**3:
            raise FieldError(f"the field is within a cell of its surface in {keep.sum() / r**3:.0%} of the volume at "
                             f"{r}³: it does not describe a surface (an untrained or collapsed model?)")
        cells = cells[keep]
        if last:
            return cells, stats, (None if g is None else (d[keep], g[keep]))
        check_cells(8 * len(cells), 2 * r, grid.resolution)
        cells = children(cells)
        r *= 2


def check_cells(count: int, level: int, resolution: int, bytes_per_cell: float = SEARCH_BYTES_PER_CELL) -> None:
    """Raises :class:`~nir_core.errors.OutOfMemoryError` before ``count`` cells of the ``level``³ grid are allocated
    when they would not fit in the memory available (``resolution``: the extraction's, for the message)."""
    require_bytes(count * bytes_per_cell, f"meshing at {resolution}³ ({count:,} cells to test at {level}³)",
                  "choose a lower resolution")


def all_cells(resolution: int) -> np.ndarray:
    """(resolution³, 3) int64 indices of every cell."""
    axis = np.arange(resolution, dtype=np.int64)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
