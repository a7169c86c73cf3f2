"""The ε-level-set baseline: plain marching cubes on ``udf - ε``.

Marching cubes needs a sign change, and an unsigned distance has none at its zero level set. The common
workaround extracts the level set ``udf = ε`` instead. It is what the UDF-aware extractor
(:mod:`nir_core.extract.udf_mc`) is compared against, and it fails in a documented way:

- a closed surface comes back as *two* sheets, at ``+ε`` outside and ``-ε`` inside (an offset shell);
- an open surface comes back as a closed "pillow" around it: both faces of the sheet plus a rounded rim,
  about twice the true area;
- features thinner than ``2ε`` merge, and the whole surface is displaced by ``ε``.

Metrics that compare against the ground truth (Chamfer, F1) therefore measure at least ``ε`` of error.
"""
from __future__ import annotations

import numpy as np
import trimesh

from .query import DEFAULT_BATCH_SIZE, Bounds, QueryCounter, field_grid, grid_axis, voxel_size


def index_to_world(vertices: np.ndarray, resolution: int, bounds: Bounds = (-0.5, 0.5)) -> np.ndarray:
    """(V, 3) marching-cubes vertices in grid-index units -> unit-cube coordinates (float64)."""
    grid_axis(resolution, bounds)  # validates resolution and bounds
    return float(bounds[0]) + np.asarray(vertices, dtype=np.float64) * voxel_size(resolution, bounds)


def epsilon_level_set(field, resolution: int, epsilon: float | None = None, bounds: Bounds = (-0.5, 0.5), *,
                      batch_size: int = DEFAULT_BATCH_SIZE, counter: QueryCounter | None = None
                      ) -> trimesh.Trimesh:
    """Marching cubes (PyMCubes) on the dense grid of ``udf - epsilon``.

    Parameters
    ----------
    field: any :class:`~nir_core.field.Field`; evaluated on ``resolution^3`` grid points in batches.
    resolution: grid samples per axis (R); voxel size ``(hi - lo) / (R - 1)``.
    epsilon: the level extracted; default one voxel size, the smallest level the grid resolves everywhere
        (below it, thin parts of the ``udf < ε`` shell fall between samples and the surface breaks up).
    bounds: (lo, hi) of the cube on every axis.
    batch_size, counter: see :func:`~nir_core.extract.query.query_field`.

    Returns
    -------
    The ``udf = ε`` surface in unit-cube coordinates, wound so its normals point away from the true surface
    (out of the ``udf < ε`` shell). Empty (no faces) when the field never comes within ``ε``.
    """
    import mcubes

    eps = voxel_size(resolution, bounds) if epsilon is None else float(epsilon)
    if eps <= 0:
        raise ValueError(f"epsilon must be > 0 (an unsigned distance has no sign change at 0), got {eps}")
    volume = field_grid(field, resolution, bounds, batch_size=batch_size, counter=counter)
    vertices, faces = mcubes.marching_cubes(volume, eps)
    # PyMCubes winds triangles with normals towards decreasing values; the shell's inside is udf < ε, so
    # its triangles face inwards: flip them to face away from the surface.
    faces = np.ascontiguousarray(np.asarray(faces, dtype=np.int64)[:, ::-1])
    return trimesh.Trimesh(index_to_world(vertices, resolution, bounds), faces, process=False)
