"""Mesh building blocks of the procedural scenes: boxes, cylinders, surfaces of revolution, sheets.

Builders work on plain arrays (:class:`MeshData`) rather than ``trimesh.Trimesh`` objects: a room is a few
hundred pieces, and skipping trimesh's per-object caches keeps building one cheap. The
templates themselves come from ``trimesh.creation`` (consistent outward winding), and
:meth:`Furniture.to_trimesh` turns an assembly back into one trimesh.

Conventions: metres, z up. A piece of furniture is built in its own frame with the footprint centred on
the origin, the base at z = 0 and the front facing -y (its back, +y, goes against a wall).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import trimesh

from ..labels import IGNORE_LABEL, SCANNET20


def class_label(class_name: str | None) -> int:
    """ScanNet-20 id of ``class_name``; ``IGNORE_LABEL`` for None (parts outside the label set)."""
    return IGNORE_LABEL if class_name is None else SCANNET20.index(class_name)


@dataclass
class MeshData:
    """A triangle soup piece: no caches, no processing, cheap to transform and stack."""

    vertices: np.ndarray
    """(V, 3) float64 coordinates in metres."""
    faces: np.ndarray
    """(F, 3) int64 vertex indices, counter-clockwise seen from outside."""

    def transformed(self, matrix: np.ndarray) -> MeshData:
        """A copy moved by the (4, 4) rigid transform ``matrix``."""
        m = np.asarray(matrix, dtype=np.float64)
        return MeshData(self.vertices @ m[:3, :3].T + m[:3, 3], self.faces.copy())

    def translated(self, offset) -> MeshData:
        return MeshData(self.vertices + np.asarray(offset, dtype=np.float64), self.faces.copy())

    @staticmethod
    def concat(meshes: list[MeshData]) -> MeshData:
        """One piece holding all of ``meshes`` (vertices are not merged)."""
        if not meshes:
            return MeshData(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        return MeshData(np.concatenate([m.vertices for m in meshes]),
                        np.concatenate([m.faces + o for m, o in zip(meshes, offsets, strict=True)]))

    def to_trimesh(self) -> trimesh.Trimesh:
        return trimesh.Trimesh(self.vertices, self.faces, process=False)


@dataclass
class Piece:
    """A part of an object made of one material and belonging to one semantic class."""

    mesh: MeshData
    """The geometry, in the owner's frame."""
    class_name: str | None
    """ScanNet-20 class of the part; None for things outside the label set (pillows, books, lamps, props)."""
    material: str
    """Key into :data:`~nir_core.data.synthetic.materials.MATERIALS` that decides its colour."""
    shade: float | np.ndarray = 1.0
    """Brightness multiplier on the material colour: one value, or (F,) per face (floor planks)."""
    colors: np.ndarray | None = None
    """(F, 3) explicit face colours (sRGB 0..255) replacing the material's, e.g. a row of differently bound
    books built as one piece; None to use the material."""


@dataclass
class Furniture:
    """A parametric object in its own frame (footprint centred on the origin, base on z = 0, front -y)."""

    kind: str
    """Builder name, e.g. ``"office_chair"``."""
    pieces: list[Piece]
    """The parts; parts with different ``class_name`` become different instances when placed."""
    placement: str = "free"
    """Where it goes: ``"wall"`` (back against a wall), ``"corner"`` (against a wall at one end) or ``"free"``."""
    size: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """(3,) width (x), depth (y) and height (z) of the local bounding box; set by :func:`make_furniture`."""
    top: tuple[float, float, float, float, float] | None = None
    """``(z, cx, cy, half_x, half_y)``: a free horizontal rectangle (a table top) that can carry small props."""
    round_footprint: bool = False
    """Whether the footprint is the disc inscribed in the bounding square (round tables, stools, lamps)."""

    @property
    def class_name(self) -> str | None:
        """The main class: that of the first labelled part."""
        return next((p.class_name for p in self.pieces if p.class_name is not None), None)

    @property
    def label(self) -> int:
        """ScanNet-20 id of :attr:`class_name`."""
        return class_label(self.class_name)

    def face_labels(self) -> np.ndarray:
        """(F,) int64 ScanNet-20 ids of the faces of :meth:`to_trimesh` (``IGNORE_LABEL`` for unlabelled parts)."""
        return np.concatenate([np.full(len(p.mesh.faces), class_label(p.class_name), dtype=np.int64)
                               for p in self.pieces])

    def to_trimesh(self) -> trimesh.Trimesh:
        """All parts as one unprocessed trimesh (faces in part order, matching :meth:`face_labels`)."""
        return MeshData.concat([p.mesh for p in self.pieces]).to_trimesh()


def make_furniture(kind: str, pieces: list[Piece], placement: str = "free",
                   top: tuple[float, float, float, float, float] | None = None,
                   round_footprint: bool = False) -> Furniture:
    """Wrap ``pieces``, re-centring them so the footprint is centred on the origin.

    Heights are kept as built (builders put the floor at z = 0), so wall-hung things stay off the floor;
    ``size`` spans from the floor (or the lowest point, if below it) to the top.
    """
    allv = np.concatenate([p.mesh.vertices for p in pieces])
    lo, hi = allv.min(axis=0), allv.max(axis=0)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, 0.0])
    for p in pieces:
        p.mesh = p.mesh.translated(shift)
    size = hi - np.minimum(lo, [lo[0], lo[1], 0.0])
    if top is not None:
        top = (top[0], top[1] + shift[0], top[2] + shift[1], top[3], top[4])
    return Furniture(kind=kind, pieces=pieces, placement=placement, size=size, top=top,
                     round_footprint=round_footprint)


# --------------------------------------------------------------------------------------------- random draws
def draw(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One uniform draw from ``[lo, hi)`` as a Python float."""
    return float(rng.uniform(lo, hi))


def pick(rng: np.random.Generator, options):
    """One element of the sequence ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------------------------- transforms
def rot_z(angle: float) -> np.ndarray:
    """(4, 4) rotation by ``angle`` radians about +z."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    return m


def rot_x(angle: float) -> np.ndarray:
    """(4, 4) rotation by ``angle`` radians about +x."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.eye(4)
    m[1:3, 1:3] = [[c, -s], [s, c]]
    return m


def translate(x: float, y: float, z: float = 0.0) -> np.ndarray:
    """(4, 4) translation."""
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def pose(x: float, y: float, angle: float, z: float = 0.0) -> np.ndarray:
    """(4, 4) rotation about z by ``angle`` followed by a translation to ``(x, y, z)``."""
    return translate(x, y, z) @ rot_z(angle)


# --------------------------------------------------------------------------------------------- solids
@cache
def _unit_box() -> tuple[np.ndarray, np.ndarray]:
    b = trimesh.creation.box()
    return np.asarray(b.vertices, dtype=np.float64), np.asarray(b.faces, dtype=np.int64)


@cache
def _unit_cylinder(sections: int) -> tuple[np.ndarray, np.ndarray]:
    c = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=sections)
    v = np.asarray(c.vertices, dtype=np.float64) + [0.0, 0.0, 0.5]
    return v, np.asarray(c.faces, dtype=np.int64)


def block(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> MeshData:
    """Axis-aligned box spanning ``[x0, x1] x [y0, y1] x [z0, z1]``."""
    v, f = _unit_box()
    lo = np.array([x0, y0, z0], dtype=np.float64)
    hi = np.array([x1, y1, z1], dtype=np.float64)
    return MeshData((v + 0.5) * (hi - lo) + lo, f.copy())


def blocks(lo: np.ndarray, hi: np.ndarray) -> MeshData:
    """``n`` axis-aligned boxes at once: ``lo``, ``hi`` (n, 3) corners; faces come 12 per box, box by box."""
    v, f = _unit_box()
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    verts = (v[None] + 0.5) * (hi - lo)[:, None] + lo[:, None]
    faces = (np.arange(len(lo))[:, None, None] * 8 + f[None]).reshape(-1, 3)
    return MeshData(verts.reshape(-1, 3), faces)


def box(sx: float, sy: float, sz: float, cx: float = 0.0, cy: float = 0.0, z0: float = 0.0) -> MeshData:
    """Box of size ``(sx, sy, sz)`` centred on ``(cx, cy)`` in the plane, its base at ``z0``."""
    return block(cx - sx / 2, cx + sx / 2, cy - sy / 2, cy + sy / 2, z0, z0 + sz)


def cylinder(radius: float, height: float, cx: float = 0.0, cy: float = 0.0, z0: float = 0.0,
             sections: int = 16, radius_y: float | None = None) -> MeshData:
    """Vertical closed cylinder (elliptic when ``radius_y`` differs from ``radius``), base at ``z0``."""
    v, f = _unit_cylinder(sections)
    scale = np.array([radius, radius if radius_y is None else radius_y, height])
    return MeshData(v * scale + [cx, cy, z0], f.copy())


def rod(p0, p1, radius: float, sections: int = 8) -> MeshData:
    """Closed cylinder of ``radius`` from point ``p0`` to point ``p1`` (legs, rails, handles)."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    v, f = _unit_cylinder(sections)
    v = v * [radius, radius, length]
    z = axis / max(length, 1e-12)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return MeshData(v @ np.stack([x, y, z]) + p0, f.copy())


def revolve(profile, sections: int = 16, cx: float = 0.0, cy: float = 0.0, z0: float = 0.0,
            scale_y: float = 1.0) -> MeshData:
    """Surface of revolution about the vertical axis through ``(cx, cy)``.

    Parameters
    ----------
    profile: (K, 2) ``(radius, z)`` polyline; it is closed (a solid) when it starts and ends on the axis,
        an open surface (a lampshade, a basin wall) otherwise.
    scale_y: squash factor along y, for oval shapes (toilet bowls).
    """
    m = trimesh.creation.revolve(np.asarray(profile, dtype=np.float64), sections=sections)
    v = np.asarray(m.vertices, dtype=np.float64) * [1.0, scale_y, 1.0] + [cx, cy, z0]
    return MeshData(v, np.asarray(m.faces, dtype=np.int64))


def ring(r_in: float, r_out: float, height: float, cx: float = 0.0, cy: float = 0.0, z0: float = 0.0,
         sections: int = 16, scale_y: float = 1.0) -> MeshData:
    """Closed annulus (toilet seat, basin rim), base at ``z0``."""
    prof = [(r_in, 0.0), (r_out, 0.0), (r_out, height), (r_in, height), (r_in, 0.0)]
    return revolve(prof, sections, cx, cy, z0, scale_y)


def tray(sx: float, sy: float, sz: float, wall: float, cx: float = 0.0, cy: float = 0.0,
         z0: float = 0.0) -> list[MeshData]:
    """Open-topped box (basin, bathtub, drawer) as a bottom plate and four walls of thickness ``wall``."""
    x0, x1, y0, y1, z1 = cx - sx / 2, cx + sx / 2, cy - sy / 2, cy + sy / 2, z0 + sz
    return [block(x0, x1, y0, y1, z0, z0 + wall),
            block(x0, x0 + wall, y0, y1, z0 + wall, z1), block(x1 - wall, x1, y0, y1, z0 + wall, z1),
            block(x0 + wall, x1 - wall, y0, y0 + wall, z0 + wall, z1),
            block(x0 + wall, x1 - wall, y1 - wall, y1, z0 + wall, z1)]


def slab_with_hole(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
                   hole: tuple[float, float, float, float]) -> list[MeshData]:
    """Plate ``[x0, x1] x [y0, y1] x [z0, z1]`` with the rectangular hole ``(hx0, hx1, hy0, hy1)`` cut out."""
    hx0, hx1, hy0, hy1 = hole
    out = [block(x0, hx0, y0, y1, z0, z1), block(hx1, x1, y0, y1, z0, z1),
           block(hx0, hx1, y0, hy0, z0, z1), block(hx0, hx1, hy1, y1, z0, z1)]
    return [b for b in out if np.all(b.vertices.max(axis=0) - b.vertices.min(axis=0) > 1e-6)]


def pleated_sheet(width: float, height: float, amplitude: float, pleats: int, z0: float = 0.0,
                  steps_per_pleat: int = 4) -> MeshData:
    """Open vertical curtain surface in the x-z plane, wavy along y; spans ``x in [-w/2, w/2]``."""
    n = max(pleats, 1) * steps_per_pleat + 1
    x = np.linspace(-width / 2, width / 2, n)
    y = amplitude * np.sin(np.linspace(0.0, 2 * np.pi * max(pleats, 1), n))
    bottom = np.stack([x, y, np.full(n, z0)], axis=1)
    top = np.stack([x, y, np.full(n, z0 + height)], axis=1)
    i = np.arange(n - 1)
    faces = np.concatenate([np.stack([i, i + 1, n + i + 1], 1), np.stack([i, n + i + 1, n + i], 1)])
    return MeshData(np.concatenate([bottom, top]), faces.astype(np.int64))


def quad_grid(x0: float, x1: float, y0: float, y1: float, z: float, nx: int, ny: int,
              up: bool = True) -> MeshData:
    """``nx * ny`` horizontal rectangles tiling ``[x0, x1] x [y0, y1]`` at height ``z`` (floor planks).

    Faces come in pairs, rectangle by rectangle (x-major), so a per-rectangle value repeats twice per face.
    ``up`` chooses the side the faces look at (+z for a floor, -z for a ceiling).
    """
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = np.stack([np.stack([xs[i], ys[j]], 1), np.stack([xs[i + 1], ys[j]], 1),
                        np.stack([xs[i + 1], ys[j + 1]], 1), np.stack([xs[i], ys[j + 1]], 1)], 1)
    v = np.concatenate([corners.reshape(-1, 2), np.full((len(i) * 4, 1), z)], axis=1)
    tri = np.array([[0, 1, 2], [0, 2, 3]] if up else [[0, 2, 1], [0, 3, 2]], dtype=np.int64)
    faces = (np.arange(len(i))[:, None, None] * 4 + tri[None]).reshape(-1, 3)
    return MeshData(v, faces)
