"""Marching-cubes tables built from first principles, with a crack-free rule for ambiguous faces.

Corner ``i`` of a cell sits at offset ``(i & 1, i >> 1 & 1, i >> 2 & 1)``. Edge ``4 * axis + k`` joins the k-th
corner whose ``axis`` bit is 0 to its neighbour along ``axis``.

Why not the classic lookup table: pseudo-signs from gradients are defined per cell, up to a global flip, so two
cells sharing a face may see its four corners with opposite signs. The classic table resolves a face with four
crossings by the sign of its corners, so the two cells could connect the crossings differently and leave a
crack. Here an ambiguous face is always cut around its lowest corner (smallest coordinates) and the diagonally
opposite one: a rule both cells evaluate on the same global corners, whatever their signs.
Each case's polygon loops are traced on the cube's faces and fan-triangulated.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

CORNER_OFFSETS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.int64)
"""(8, 3) integer offsets of a cell's corners."""


def _edges() -> np.ndarray:
    edges = []
    for axis in range(3):
        for c in range(8):
            if not (c >> axis) & 1:
                edges.append((c, c | (1 << axis)))
    return np.array(edges, dtype=np.int64)


EDGE_CORNERS = _edges()
"""(12, 2) corner pair (low, high) of each edge."""
EDGE_AXIS = np.repeat(np.arange(3), 4)
"""(12,) axis along which each edge runs."""


def _faces() -> list[tuple[int, int, list[int], list[int]]]:
    """(axis, side, corners, edges) of the six faces."""
    faces = []
    for axis in range(3):
        for side in (0, 1):
            corners = [c for c in range(8) if ((c >> axis) & 1) == side]
            edges = [e for e, (a, b) in enumerate(EDGE_CORNERS) if a in corners and b in corners]
            faces.append((axis, side, corners, edges))
    return faces


FACES = _faces()

MAX_TRIANGLES = 12
"""Room reserved per case while building; :func:`triangle_table` trims to the largest case (6)."""


def _case_loops(case: int) -> list[list[int]]:
    """Closed loops of crossed edges for sign pattern ``case`` (bit i set = corner i positive)."""
    positive = [(case >> i) & 1 for i in range(8)]
    crossed = {e for e, (a, b) in enumerate(EDGE_CORNERS) if positive[a] != positive[b]}
    if not crossed:
        return []
    mid = {e: (CORNER_OFFSETS[a] + CORNER_OFFSETS[b]) / 2.0 for e, (a, b) in enumerate(EDGE_CORNERS)}
    nxt: dict[int, int] = {}
    for axis, side, corners, edges in FACES:
        on_face = [e for e in edges if e in crossed]
        if not on_face:
            continue
        if len(on_face) == 2:
            segments = [tuple(on_face)]
        else:  # ambiguous: cut around the face's lowest corner and its diagonal, whatever the signs
            low = min(corners)
            high = max(corners)
            segments = [tuple(e for e in on_face if low in EDGE_CORNERS[e]),
                        tuple(e for e in on_face if high in EDGE_CORNERS[e])]
        outward = np.zeros(3)
        outward[axis] = 1.0 if side else -1.0
        for e1, e2 in segments:
            a, b = EDGE_CORNERS[e1]
            plus = CORNER_OFFSETS[a] if positive[a] else CORNER_OFFSETS[b]
            # Orient so the positive corner is on the left seen from outside: loops then chain head to tail.
            turn = np.cross(mid[e2] - mid[e1], plus - mid[e1]) @ outward
            start, end = (e1, e2) if turn > 0 else (e2, e1)
            if start in nxt:
                raise AssertionError(f"case {case}: edge {start} starts two segments")
            nxt[start] = end
    loops, seen = [], set()
    for e in sorted(nxt):
        if e in seen:
            continue
        loop = [e]
        seen.add(e)
        while nxt[loop[-1]] != e:
            loop.append(nxt[loop[-1]])
            seen.add(loop[-1])
        loops.append(loop)
    return loops


@lru_cache(maxsize=1)
def triangle_table() -> tuple[np.ndarray, np.ndarray]:
    """Triangles of every sign pattern.

    Returns
    -------
    table: (256, T, 3) int64 edge indices, padded with -1 (T = the largest case's triangle count).
    count: (256,) int64 number of triangles per case.
    """
    table = np.full((256, MAX_TRIANGLES, 3), -1, dtype=np.int64)
    count = np.zeros(256, dtype=np.int64)
    for case in range(256):
        tris = [(loop[0], loop[i], loop[i + 1]) for loop in _case_loops(case) for i in range(1, len(loop) - 1)]
        if tris:
            table[case, : len(tris)] = tris
        count[case] = len(tris)
    return table[:, : count.max()].copy(), count
