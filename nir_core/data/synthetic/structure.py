"""The shell of a room and what hangs on it: floor, walls with real openings, doors, windows, curtains,
pictures, and an optional ceiling.

The room's interior is ``[0, width] x [0, depth]`` with the floor at z = 0 (like ScanNet: z up, metres).
Each wall has a local frame ``(u, v, z)``: ``u`` runs along the wall from its start corner, ``v`` points
into the room from the wall's inner face (the wall itself occupies ``-thickness <= v <= 0``), z is up.
Walls are built as boxes *around* their openings, so a doorway or a window is a hole in the wall geometry
and rays through it pass the wall plane.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .primitives import MeshData, Piece, block, draw, pick, pleated_sheet, quad_grid, rod


@dataclass(frozen=True)
class Wall:
    """One straight wall of the rectangular room."""

    index: int
    """0..3, counter-clockwise from the wall along y = 0."""
    origin: tuple[float, float]
    """Interior corner where the wall starts (u = 0), world xy."""
    direction: tuple[float, float]
    """Unit vector along the wall (+u), world xy."""
    length: float
    """Interior length of the wall in metres."""

    @property
    def normal(self) -> np.ndarray:
        """(2,) unit normal pointing into the room (+v)."""
        return np.array([-self.direction[1], self.direction[0]])

    def matrix(self) -> np.ndarray:
        """(4, 4) rigid transform from wall-local ``(u, v, z)`` to world coordinates."""
        m = np.eye(4)
        m[:2, 0] = self.direction
        m[:2, 1] = self.normal
        m[:2, 3] = self.origin
        return m

    def point(self, u: float, v: float = 0.0) -> np.ndarray:
        """(2,) world xy of wall-local ``(u, v)``."""
        return np.asarray(self.origin) + u * np.asarray(self.direction) + v * self.normal

    @property
    def angle(self) -> float:
        """Heading (radians about z) of the wall's +u axis in the world."""
        return float(np.arctan2(self.direction[1], self.direction[0]))


def room_walls(width: float, depth: float) -> list[Wall]:
    """The four walls of the interior ``[0, width] x [0, depth]``, counter-clockwise."""
    return [Wall(0, (0.0, 0.0), (1.0, 0.0), width), Wall(1, (width, 0.0), (0.0, 1.0), depth),
            Wall(2, (width, depth), (-1.0, 0.0), width), Wall(3, (0.0, depth), (0.0, -1.0), depth)]


@dataclass(frozen=True)
class Opening:
    """A rectangular hole in a wall, in that wall's local coordinates."""

    wall: int
    """Index of the wall."""
    kind: str
    """``"door"`` or ``"window"``."""
    u0: float
    """Start of the hole along the wall (metres from the wall's start corner)."""
    u1: float
    """End of the hole along the wall."""
    z0: float
    """Bottom of the hole (0 for doors, the sill height for windows)."""
    z1: float
    """Top of the hole."""

    @property
    def center(self) -> tuple[float, float]:
        """``(u, z)`` of the middle of the hole."""
        return (self.u0 + self.u1) / 2, (self.z0 + self.z1) / 2

    @property
    def width(self) -> float:
        return self.u1 - self.u0


def wall_mesh(wall: Wall, height: float, thickness: float, openings: list[Opening]) -> MeshData:
    """Boxes filling the wall around its ``openings`` (world coordinates).

    Each wall extends by ``thickness`` beyond its start corner, so the four walls close the corners
    without overlapping.
    """
    holes = sorted((o for o in openings if o.wall == wall.index), key=lambda o: o.u0)
    boxes, u = [], -thickness
    for o in holes:
        if o.u0 > u:
            boxes.append(block(u, o.u0, -thickness, 0.0, 0.0, height))
        if o.z0 > 0:
            boxes.append(block(o.u0, o.u1, -thickness, 0.0, 0.0, o.z0))
        if o.z1 < height:
            boxes.append(block(o.u0, o.u1, -thickness, 0.0, o.z1, height))
        u = o.u1
    boxes.append(block(u, wall.length, -thickness, 0.0, 0.0, height))
    return MeshData.concat(boxes).transformed(wall.matrix())


def floor_piece(width: float, depth: float, rng: np.random.Generator, thresholds: list[tuple[Wall, Opening]],
                thickness: float) -> Piece:
    """Floor of wooden planks, tiles or carpet squares (per-element brightness variation), plus the floor
    patches inside doorways."""
    material = pick(rng, ["floor_wood", "floor_wood", "floor_tile", "carpet"])
    if material == "floor_wood":
        plank_w, plank_l = draw(rng, 0.12, 0.22), draw(rng, 0.8, 1.6)
        along_x = bool(rng.random() < 0.5)
        sx, sy = (plank_l, plank_w) if along_x else (plank_w, plank_l)
        spread = 0.07
    elif material == "floor_tile":
        sx = sy = draw(rng, 0.3, 0.6)
        spread = 0.03
    else:
        sx = sy = 1.0
        spread = 0.01
    nx, ny = max(1, int(round(width / sx))), max(1, int(round(depth / sy)))
    parts = [quad_grid(0.0, width, 0.0, depth, 0.0, nx, ny)]
    shade = [np.repeat(1.0 + rng.normal(0.0, spread, nx * ny), 2)]
    for wall, o in thresholds:
        parts.append(quad_grid(o.u0, o.u1, -thickness, 0.0, 0.0, 1, 1).transformed(wall.matrix()))
        shade.append(np.ones(2))
    return Piece(MeshData.concat(parts), "floor", material, shade=np.concatenate(shade))


def ceiling_piece(width: float, depth: float, height: float) -> Piece:
    """Flat ceiling facing down. Ceiling is not a ScanNet-20 class, so it is unlabelled."""
    return Piece(quad_grid(0.0, width, 0.0, depth, height, 1, 1, up=False), None, "white_paint")


def door_pieces(wall: Wall, o: Opening, rng: np.random.Generator, open_deg: float) -> list[Piece]:
    """Casing around the doorway, and a panel with handles hinged on one jamb, swung ``open_deg`` degrees
    into the room (world coordinates)."""
    t_panel, trim, proud = 0.04, draw(rng, 0.05, 0.09), 0.015
    w, h = o.width - 0.01, o.z1 - 0.01
    hinge_left = bool(rng.random() < 0.5)
    a = np.deg2rad(open_deg)
    # Panel built with the hinge at the origin, closed position flush with the inner wall face.
    x0, x1 = (0.0, w) if hinge_left else (-w, 0.0)
    free_x = x1 - 0.07 if hinge_left else x0 + 0.07
    local = [block(x0, x1, -t_panel, 0.0, 0.005, h),
             rod([free_x, 0.0, 1.0], [free_x, 0.06, 1.0], 0.01, 6), rod([free_x, -t_panel, 1.0],
                                                                       [free_x, -t_panel - 0.06, 1.0], 0.01, 6)]
    c, s = np.cos(a if hinge_left else -a), np.sin(a if hinge_left else -a)
    swing = np.array([[c, -s, 0, o.u0 + 0.005 if hinge_left else o.u1 - 0.005], [s, c, 0, 0.0],
                      [0, 0, 1, 0], [0, 0, 0, 1.0]])
    to_world = wall.matrix() @ swing
    panel = [Piece(m.transformed(to_world), "door", "door_wood" if i == 0 else "chrome")
             for i, m in enumerate(local)]
    casing = [block(o.u0 - trim, o.u0, 0.0, proud, 0.0, o.z1 + trim),
              block(o.u1, o.u1 + trim, 0.0, proud, 0.0, o.z1 + trim),
              block(o.u0, o.u1, 0.0, proud, o.z1, o.z1 + trim)]
    return panel + [Piece(MeshData.concat(casing).transformed(wall.matrix()), "door", "white_paint")]


def window_pieces(wall: Wall, o: Opening, thickness: float, rng: np.random.Generator) -> list[Piece]:
    """Frame, optional mullions, a glass pane in the middle of the wall thickness, and a sill."""
    bar, v0, v1 = draw(rng, 0.04, 0.07), -thickness / 2 - 0.03, -thickness / 2 + 0.03
    frame = [block(o.u0, o.u0 + bar, v0, v1, o.z0, o.z1), block(o.u1 - bar, o.u1, v0, v1, o.z0, o.z1),
             block(o.u0 + bar, o.u1 - bar, v0, v1, o.z0, o.z0 + bar),
             block(o.u0 + bar, o.u1 - bar, v0, v1, o.z1 - bar, o.z1)]
    n_split = int(rng.integers(0, 3)) if o.width > 0.9 else 0
    for u in np.linspace(o.u0, o.u1, n_split + 2)[1:-1]:
        frame.append(block(u - bar / 3, u + bar / 3, v0, v1, o.z0 + bar, o.z1 - bar))
    if rng.random() < 0.4:
        zm = o.z0 + draw(rng, 0.55, 0.75) * (o.z1 - o.z0)
        frame.append(block(o.u0 + bar, o.u1 - bar, v0, v1, zm - bar / 3, zm + bar / 3))
    m = wall.matrix()
    pane = block(o.u0 + bar, o.u1 - bar, -thickness / 2 - 0.004, -thickness / 2 + 0.004, o.z0 + bar, o.z1 - bar)
    sill = block(o.u0 - 0.05, o.u1 + 0.05, -thickness / 2, draw(rng, 0.02, 0.06), o.z0 - 0.03, o.z0)
    return [Piece(MeshData.concat(frame + [sill]).transformed(m), "window", "white_paint"),
            Piece(pane.transformed(m), "window", "glass")]


def curtain_panels(wall: Wall, o: Opening, rng: np.random.Generator, room_height: float, to_floor: bool,
                   limits: tuple[float, float] | None = None
                   ) -> tuple[list[list[Piece]], list[tuple[float, float, float, float]]]:
    """Pleated curtains on a rod over a window: one or two panels (each its own instance).

    The rod reaches up to 0.25 m past each side of the window, within ``limits`` (wall ``u`` interval;
    default the whole wall less 5 cm at each end).

    Returns
    -------
    panels: per panel, its pieces (world coordinates; the rod goes with the first panel, unlabelled).
    extents: ``(u0, u1, v_max, z_low)`` in wall coordinates of each panel and of the rod, for keeping
        furniture and pictures out of their way.
    """
    z_rod = min(o.z1 + draw(rng, 0.08, 0.25), room_height - 0.05)
    z_bottom = 0.02 if to_floor else max(0.05, o.z0 - draw(rng, 0.05, 0.2))
    v = draw(rng, 0.1, 0.15)  # in front of the window sill (which projects up to 6 cm)
    amp = draw(rng, 0.015, 0.035)
    lo, hi = limits if limits is not None else (0.05, wall.length - 0.05)
    ru0, ru1 = min(o.u0, max(lo, o.u0 - 0.25)), max(o.u1, min(hi, o.u1 + 0.25))
    m = wall.matrix()
    rod_piece = Piece(rod([ru0, v, z_rod], [ru1, v, z_rod], 0.012, 8).transformed(m), None, "metal")
    sides = [-1, 1] if rng.random() < 0.75 else [pick(rng, [-1, 1])]
    panels, extents = [], []
    for side in sides:
        pw = draw(rng, 0.25, 0.5) * (ru1 - ru0) if len(sides) == 2 else draw(rng, 0.3, 0.9) * (ru1 - ru0)
        u0, u1 = (ru0, ru0 + pw) if side < 0 else (ru1 - pw, ru1)
        sheet = pleated_sheet(pw, z_rod - 0.02 - z_bottom, amp, max(2, int(pw / 0.1)), z_bottom)
        piece = Piece(sheet.translated([(u0 + u1) / 2, v, 0.0]).transformed(m), "curtain", "curtain")
        panels.append([piece] + ([rod_piece] if not panels else []))
        extents.append((u0, u1, v + amp + 0.01, z_bottom))
    extents.append((ru0, ru1, v + 0.02, z_rod - 0.02))
    return panels, extents


def picture_pieces(wall: Wall, u: float, zc: float, w: float, h: float, rng: np.random.Generator
                   ) -> list[Piece]:
    """A framed picture (frame and canvas, both ``picture``) hung flat on the wall, centred at ``(u, zc)``."""
    depth, fw = draw(rng, 0.015, 0.04), draw(rng, 0.0, 0.05)
    u0, u1, z0, z1 = u - w / 2, u + w / 2, zc - h / 2, zc + h / 2
    m = wall.matrix()
    canvas = block(u0 + fw, u1 - fw, 0.0, depth * 0.7, z0 + fw, z1 - fw)
    pieces = [Piece(canvas.transformed(m), "picture", "art")]
    if fw > 0.01:
        frame = [block(u0, u1, 0.0, depth, z0, z0 + fw), block(u0, u1, 0.0, depth, z1 - fw, z1),
                 block(u0, u0 + fw, 0.0, depth, z0 + fw, z1 - fw), block(u1 - fw, u1, 0.0, depth, z0 + fw, z1 - fw)]
        pieces.append(Piece(MeshData.concat(frame).transformed(m), "picture",
                            pick(rng, ["dark_wood", "wood", "metal", "white_paint"])))
    return pieces
