"""Marching cubes for signed fields (occupancy probabilities, signed distances), coarse to fine.

Signed fields change sign across the surface, so plain marching cubes (PyMCubes) applies. As for unsigned
fields, the dense fine grid is never evaluated: a coarse grid is evaluated everywhere, cells whose corners
straddle the level (and their neighbours) are split, level after level, and only the corners of split cells are
evaluated. The fine volume handed to PyMCubes takes those exact values where they exist and the trilinear
interpolation of the coarse grid elsewhere, which has no zero crossing away from the refined cells.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh
from scipy.ndimage import binary_dilation

from .baselines import index_to_world
from .query import DEFAULT_BATCH_SIZE, Bounds, QueryCounter, evaluate_values, grid_axis, sample_grid


def signed_marching_cubes(values_fn: Callable[[np.ndarray], np.ndarray], resolution: int, level: float = 0.0,
                          bounds: Bounds = (-0.5, 0.5), *, inside_below: bool = True,
                          coarse_resolution: int | None = 33, batch_size: int = DEFAULT_BATCH_SIZE,
                          counter: QueryCounter | None = None) -> trimesh.Trimesh:
    """The ``values_fn = level`` surface, by PyMCubes on the dense ``resolution^3`` grid.

    Parameters
    ----------
    values_fn: ``(m, 3) float32 numpy -> (m,)`` values (numpy or tensor), called on batches of grid points.
        A torch model is wrapped by the caller, e.g.
        ``lambda q: model(torch.from_numpy(q)).detach().cpu().numpy()`` under ``torch.no_grad()``.
    resolution: grid samples per axis (R).
    level: the iso value: 0 for a signed distance, 0.5 for occupancy probabilities (0 for their logits).
    bounds: (lo, hi) of the cube on every axis.
    inside_below: values below ``level`` are inside (signed distances: True; occupancies: False). Sets the
        winding so that face normals point outwards.
    coarse_resolution: samples per axis of the first, dense level; ``resolution - 1`` must be its cells times a
        power of two (e.g. 33 -> 65 -> 129 -> 257), otherwise (or with None) the fine grid is evaluated densely.
    batch_size: grid points per call.
    counter: counts the values asked for.

    Returns
    -------
    The surface in unit-cube coordinates (empty when the values never cross ``level``).

    Raises
    ------
    FieldError: ``values_fn`` returned NaN/Inf or the wrong number of values.
    """
    import mcubes

    levels = _levels(resolution, coarse_resolution)
    if levels is None:
        volume = sample_grid(values_fn, resolution, bounds, batch_size=batch_size)
        if counter is not None:
            counter.add(volume.size, grad=False)
    else:
        volume = _coarse_to_fine_volume(values_fn, levels, float(level), bounds, batch_size, counter)
    vertices, faces = mcubes.marching_cubes(volume, float(level))
    faces = np.asarray(faces, dtype=np.int64)
    # PyMCubes winds normals towards decreasing values: outwards when inside is above the level.
    if inside_below:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(index_to_world(vertices, resolution, bounds), np.ascontiguousarray(faces),
                           process=False)


def _levels(resolution: int, coarse: int | None) -> list[int] | None:
    """Samples per axis of each level, coarse to fine, or None when the fine grid is not a refinement."""
    if coarse is None or coarse >= resolution:
        return None
    levels = [resolution]
    while levels[-1] > coarse:
        if (levels[-1] - 1) % 2:
            return None
        levels.append((levels[-1] - 1) // 2 + 1)
    return levels[::-1] if levels[-1] == coarse else None


def _upsample(volume: np.ndarray, size: int) -> np.ndarray:
    """Trilinear upsampling of a (n, n, n) corner grid to (size, size, size) with the same end points."""
    n = volume.shape[0]
    position = np.linspace(0, n - 1, size)
    low = np.minimum(np.floor(position).astype(np.int64), n - 2)
    frac = position - low
    weights = np.zeros((size, n))
    weights[np.arange(size), low] = 1 - frac
    weights[np.arange(size), low + 1] += frac
    out = np.tensordot(weights, volume, axes=(1, 0))  # (size, n, n)
    out = np.tensordot(weights, out, axes=(1, 1)).transpose(1, 0, 2)  # (size, size, n)
    return np.tensordot(out, weights, axes=(2, 1)).astype(np.float32)  # (size, size, size)


def _coarse_to_fine_volume(values_fn, levels: list[int], level: float, bounds: Bounds, batch_size: int,
                           counter: QueryCounter | None) -> np.ndarray:
    def values(points: np.ndarray) -> np.ndarray:
        return evaluate_values(values_fn, points, batch_size=batch_size, counter=counter)

    fine = levels[-1]
    axis = grid_axis(fine, bounds).astype(np.float32)
    coarse = sample_grid(values, levels[0], bounds, batch_size=batch_size)
    volume = _upsample(coarse, fine)
    known = np.zeros((fine,) * 3, dtype=bool)
    step = (fine - 1) // (levels[0] - 1)
    volume[::step, ::step, ::step] = coarse
    known[::step, ::step, ::step] = True
    for n in levels[1:]:
        # Cells of the previous level (stride 2 * new step in fine indices) whose corners straddle the level.
        new_step = (fine - 1) // (n - 1)
        prev = volume[::2 * new_step, ::2 * new_step, ::2 * new_step] > level
        straddle = np.zeros(tuple(s - 1 for s in prev.shape), dtype=bool)
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    corner = prev[dx:dx + straddle.shape[0], dy:dy + straddle.shape[1], dz:dz + straddle.shape[2]]
                    straddle |= corner != prev[:-1, :-1, :-1]
        # Neighbours too: a surface that bulges into a cell without crossing its corners is caught next door.
        active = binary_dilation(straddle, iterations=1)
        cells = np.argwhere(active)
        offsets = np.argwhere(np.ones((3, 3, 3), dtype=bool))  # the 27 corners of the split cell
        corners = np.unique(((cells * 2)[:, None, :] + offsets[None]).reshape(-1, 3), axis=0) * new_step
        todo = corners[~known[corners[:, 0], corners[:, 1], corners[:, 2]]]
        if len(todo):
            pts = np.stack([axis[todo[:, 0]], axis[todo[:, 1]], axis[todo[:, 2]]], axis=1)
            v = values(pts)
            # Refine the interpolation inside each split cell from its new corners before the next level.
            volume[todo[:, 0], todo[:, 1], todo[:, 2]] = v
            known[todo[:, 0], todo[:, 1], todo[:, 2]] = True
        if new_step > 1:
            sub = volume[::new_step, ::new_step, ::new_step]
            refined = _upsample(sub, fine)
            volume = np.where(known, volume, refined)
    return volume
