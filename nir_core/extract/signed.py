"""Marching cubes for signed fields (occupancy probabilities, signed distances) on a dense grid.

Signed fields change sign across the surface, so plain marching cubes applies. Values come from one
batched call, :func:`~nir_core.extract.query.sample_grid`; a coarse-to-fine driver only has to replace that
call by a sparse evaluation around the surface.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from .baselines import index_to_world
from .query import DEFAULT_BATCH_SIZE, Bounds, sample_grid


def signed_marching_cubes(values_fn: Callable[[np.ndarray], np.ndarray], resolution: int, level: float = 0.0,
                          bounds: Bounds = (-0.5, 0.5), *, inside_below: bool = True,
                          batch_size: int = DEFAULT_BATCH_SIZE) -> trimesh.Trimesh:
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
    batch_size: grid points per call.

    Returns
    -------
    The surface in unit-cube coordinates (empty when the values never cross ``level``).

    Raises
    ------
    FieldError: ``values_fn`` returned NaN/Inf or the wrong number of values.
    """
    import mcubes

    volume = sample_grid(values_fn, resolution, bounds, batch_size=batch_size)
    vertices, faces = mcubes.marching_cubes(volume, float(level))
    faces = np.asarray(faces, dtype=np.int64)
    # PyMCubes winds normals towards decreasing values: outwards when inside is above the level.
    if inside_below:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(index_to_world(vertices, resolution, bounds), np.ascontiguousarray(faces),
                           process=False)
