"""Parametric kitchen and bathroom fixtures: counters (with or without a sink), sinks, toilets, bathtubs with
shower curtains, refrigerators.

Same conventions as :mod:`~nir_core.data.synthetic.furniture`: one ``numpy.random.Generator`` in, a
:class:`~nir_core.data.synthetic.primitives.Furniture` out, footprint centred on the origin, front -y.
Labelling follows how ScanNet annotates these things: a kitchen counter is a ``counter`` top on ``cabinet``
bodies with a ``sink`` set into it, so one builder may return parts of several classes.
"""
from __future__ import annotations

import numpy as np

from .primitives import (
    Furniture,
    Piece,
    block,
    box,
    cylinder,
    draw,
    make_furniture,
    pick,
    pleated_sheet,
    revolve,
    ring,
    rod,
    slab_with_hole,
    tray,
)


def _faucet(x: float, y_back: float, z: float, reach: float, cls: str) -> list[Piece]:
    """A chrome spout rising from ``(x, y_back, z)`` and bending forward (towards -y) by ``reach``."""
    top = z + 0.14
    return [Piece(rod([x, y_back, z], [x, y_back, top], 0.014, 8), cls, "chrome"),
            Piece(rod([x, y_back, top], [x, y_back - reach, top - 0.02], 0.011, 8), cls, "chrome"),
            Piece(cylinder(0.028, 0.02, x, y_back, z, sections=10), cls, "chrome")]


def counter(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Kitchen counter or bathroom vanity: ``cabinet`` bodies with door fronts under a ``counter`` top, and with
    ``variant`` ``"sink"`` or ``"vanity"`` a ``sink`` basin set into a hole of the top plus a faucet.

    ``variant`` in ``("plain", "sink", "vanity")``.
    """
    variant = variant or pick(rng, ["plain", "sink", "vanity"])
    if variant == "vanity":
        w, d, h = draw(rng, 0.6, 1.3), draw(rng, 0.45, 0.55), draw(rng, 0.8, 0.86)
    else:
        w, d, h = draw(rng, 1.2, 3.0), draw(rng, 0.58, 0.66), draw(rng, 0.86, 0.92)
    top_t = draw(rng, 0.025, 0.045)
    body_mat = pick(rng, ["laminate", "wood", "white_paint", "dark_wood"])
    top_mat = pick(rng, ["stone", "stone", "laminate", "wood"])
    plinth, t = draw(rng, 0.08, 0.12), 0.018
    zb = h - top_t
    y0, y1 = -d / 2 + 0.02, d / 2
    # A hollow body (front, sides, back, bottom) so a basin can hang inside it.
    pieces = [Piece(block(-w / 2, -w / 2 + t, y0, y1, plinth, zb), "cabinet", body_mat),
              Piece(block(w / 2 - t, w / 2, y0, y1, plinth, zb), "cabinet", body_mat),
              Piece(block(-w / 2 + t, w / 2 - t, y1 - t, y1, plinth, zb), "cabinet", body_mat),
              Piece(block(-w / 2 + t, w / 2 - t, y0, y1 - t, plinth, plinth + t), "cabinet", body_mat),
              Piece(block(-w / 2 + 0.02, w / 2 - 0.02, y0 + 0.06, y1 - 0.02, 0.0, plinth), "cabinet", "plastic_dark")]
    n = max(1, int(round(w / draw(rng, 0.4, 0.6))))
    dw = w / n
    for k in range(n):
        cx = -w / 2 + (k + 0.5) * dw
        pieces.append(Piece(block(cx - dw / 2 + 0.003, cx + dw / 2 - 0.003, y0 - 0.018, y0, plinth + 0.003,
                                  zb - 0.003), "cabinet", body_mat))
        pieces.append(Piece(box(0.12, 0.02, 0.02, cx, y0 - 0.028, zb - 0.08), "cabinet", "metal"))
    ty0 = -d / 2 - 0.02
    if variant == "plain":
        pieces.insert(0, Piece(block(-w / 2, w / 2, ty0, y1, zb, h), "counter", top_mat))
        return make_furniture("counter", pieces, "wall", top=(h, 0.0, 0.0, w / 2 - 0.05, d / 2 - 0.05))
    sw, sd = min(draw(rng, 0.42, 0.8), w - 0.2), draw(rng, 0.36, 0.42)
    sdepth = draw(rng, 0.14, 0.2)
    slack = max(0.0, w / 2 - sw / 2 - 0.1)
    sx = draw(rng, -slack, slack)
    sy = (ty0 + y1) / 2 - 0.02
    hole = (sx - sw / 2, sx + sw / 2, sy - sd / 2, sy + sd / 2)
    pieces[:0] = [Piece(m, "counter", top_mat) for m in slab_with_hole(-w / 2, w / 2, ty0, y1, zb, h, hole)]
    basin_mat = pick(rng, ["chrome", "ceramic"])
    pieces += [Piece(m, "sink", basin_mat) for m in tray(sw, sd, sdepth, 0.012, sx, sy, h - sdepth)]
    pieces += [Piece(m, "sink", basin_mat) for m in
               slab_with_hole(hole[0] - 0.015, hole[1] + 0.015, hole[2] - 0.015, hole[3] + 0.015, h, h + 0.006,
                              (hole[0] + 0.012, hole[1] - 0.012, hole[2] + 0.012, hole[3] - 0.012))]
    pieces += _faucet(sx, hole[3] + 0.04, h, draw(rng, 0.12, 0.2), "sink")
    return make_furniture("vanity" if variant == "vanity" else "counter_sink", pieces, "wall")


def sink(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Free-standing washbasin: rectangular or round basin on a pedestal, or wall-hung on a bracket;
    ``variant`` in ``("pedestal", "wall_hung")``."""
    variant = variant or pick(rng, ["pedestal", "pedestal", "wall_hung"])
    top = draw(rng, 0.8, 0.88)
    mat = pick(rng, ["ceramic", "enamel"])
    pieces = []
    if rng.random() < 0.5:
        w, d, depth = draw(rng, 0.45, 0.62), draw(rng, 0.36, 0.48), draw(rng, 0.13, 0.2)
        pieces += [Piece(m, "sink", mat) for m in tray(w, d, depth, 0.025, 0.0, 0.0, top - depth)]
        back = d / 2
    else:
        r, depth = draw(rng, 0.2, 0.28), draw(rng, 0.12, 0.18)
        pieces.append(Piece(revolve([(0.0, 0.0), (0.55 * r, 0.0), (r, depth)], 20, z0=top - depth), "sink", mat))
        pieces.append(Piece(ring(r, r + 0.03, 0.02, z0=top - 0.02, sections=20), "sink", mat))
        pieces.append(Piece(box(0.22, 0.1, 0.03, 0.0, r + 0.02, top - 0.03), "sink", mat))
        back = r + 0.07
    bottom = top - depth
    if variant == "pedestal":
        pieces.append(Piece(revolve([(0.0, 0.0), (0.13, 0.0), (0.075, 0.12), (0.07, bottom - 0.06),
                                     (0.11, bottom), (0.0, bottom)], 16, cy=0.04), "sink", mat))
    else:
        pieces.append(Piece(block(-0.15, 0.15, back - 0.05, back, bottom - 0.25, bottom), "sink", "chrome"))
    pieces += _faucet(0.0, back - 0.04, top, draw(rng, 0.1, 0.16), "sink")
    return make_furniture(f"{variant}_sink", pieces, "wall")


def toilet(rng: np.random.Generator) -> Furniture:
    """Floor toilet: oval pedestal and bowl, seat ring, lid up or down, cistern of varying size."""
    mat = pick(rng, ["ceramic", "enamel"])
    seat_mat = pick(rng, [mat, "white_paint", "plastic_dark"])
    r, elong = draw(rng, 0.17, 0.2), draw(rng, 1.25, 1.45)
    rim = draw(rng, 0.37, 0.41)
    tw, td, th = draw(rng, 0.34, 0.5), draw(rng, 0.14, 0.22), draw(rng, 0.28, 0.42)
    by = 0.0
    back = by + r * elong + draw(rng, 0.0, 0.08) + td
    pieces = [Piece(revolve([(0.0, 0.0), (0.68 * r, 0.0), (0.6 * r, 0.18), (r, rim - 0.02), (0.0, rim - 0.02)],
                            20, cy=by, scale_y=elong), "toilet", mat),
              Piece(block(-0.11, 0.11, by, back - td, 0.0, rim - 0.04), "toilet", mat),
              Piece(ring(0.62 * r, r, 0.025, cy=by, z0=rim - 0.02, sections=20, scale_y=elong), "toilet", seat_mat)]
    z_tank = rim + draw(rng, -0.02, 0.08)
    pieces.append(Piece(box(tw, td, th, 0.0, back - td / 2, z_tank - 0.05), "toilet", mat))
    pieces.append(Piece(box(tw + 0.02, td + 0.02, 0.025, 0.0, back - td / 2, z_tank + th - 0.05), "toilet", mat))
    if rng.random() < 0.5:  # lid down
        pieces.append(Piece(cylinder(r, 0.02, 0.0, by, rim + 0.005, sections=20, radius_y=r * elong),
                            "toilet", seat_mat))
    else:  # lid up, leaning on the cistern
        pieces.append(Piece(box(2 * r * 0.95, 0.02, 2 * r * elong * 0.8, 0.0, back - td - 0.02, rim + 0.005),
                            "toilet", seat_mat))
    return make_furniture("toilet", pieces, "wall")


def refrigerator(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Fridge: body, doors (``"top_freezer"``, ``"bottom_freezer"`` or ``"side_by_side"``) and bar handles."""
    variant = variant or pick(rng, ["top_freezer", "bottom_freezer", "side_by_side"])
    w, d, h = draw(rng, 0.58, 0.92), draw(rng, 0.6, 0.75), draw(rng, 1.55, 1.95)
    if variant == "side_by_side":
        w = max(w, 0.82)
    mat = pick(rng, ["enamel", "metal", "chrome"])
    door_t, gap = 0.05, 0.006
    y_front = -d / 2 + door_t
    pieces = [Piece(block(-w / 2, w / 2, y_front, d / 2, 0.0, h), "refrigerator", mat)]
    if variant == "side_by_side":
        doors = [(-w / 2, -gap / 2, 0.05, h), (gap / 2, w / 2, 0.05, h)]
    else:
        split = h * (draw(rng, 0.62, 0.72) if variant == "top_freezer" else draw(rng, 0.32, 0.4))
        doors = [(-w / 2, w / 2, 0.05, split - gap / 2), (-w / 2, w / 2, split + gap / 2, h)]
    for i, (x0, x1, z0, z1) in enumerate(doors):
        pieces.append(Piece(block(x0, x1, -d / 2, y_front, z0, z1), "refrigerator", mat))
        hx = (w / 2 - 0.06) if variant != "side_by_side" else (-0.06 if i == 0 else 0.06)
        zl, zh = z0 + 0.15 * (z1 - z0), z1 - 0.15 * (z1 - z0)
        pieces.append(Piece(rod([hx, -d / 2 - 0.04, zl], [hx, -d / 2 - 0.04, zh], 0.012, 8), "refrigerator", "chrome"))
        for z in (zl, zh):
            pieces.append(Piece(block(hx - 0.01, hx + 0.01, -d / 2 - 0.04, -d / 2, z - 0.01, z + 0.01),
                                "refrigerator", "chrome"))
    pieces.append(Piece(block(-w / 2 + 0.02, w / 2 - 0.02, -d / 2 + 0.01, y_front, 0.0, 0.05), "refrigerator",
                        "plastic_dark"))
    return make_furniture(f"{variant}_refrigerator", pieces, "wall")


def bathtub(rng: np.random.Generator, shower_curtain: bool | None = None) -> Furniture:
    """Built-in bathtub (hollow, walls and floor of the tub as separate faces), a faucet, and (by default with
    probability 0.65) a ``shower curtain`` on a rod along the open side, drawn partly or fully."""
    length, width, h = draw(rng, 1.45, 1.8), draw(rng, 0.68, 0.85), draw(rng, 0.48, 0.6)
    wall = draw(rng, 0.06, 0.1)
    mat = pick(rng, ["enamel", "ceramic"])
    pieces = [Piece(m, "bathtub", mat) for m in tray(length, width, h, wall)]
    end = pick(rng, [-1, 1])
    pieces += _faucet(end * (length / 2 - wall / 2), width / 2 - wall / 2 + 0.02, h, 0.0, "bathtub")[:1]
    pieces.append(Piece(rod([end * (length / 2 - wall / 2), width / 2 - wall, h + 0.1],
                            [end * (length / 2 - wall - 0.1), width / 2 - wall, h + 0.1], 0.012, 8), "bathtub",
                        "chrome"))
    if shower_curtain is None:
        shower_curtain = bool(rng.random() < 0.65)
    if shower_curtain:
        z_rod = draw(rng, 1.9, 2.05)
        y = -width / 2 + wall + 0.05
        pieces.append(Piece(rod([-length / 2, y, z_rod], [length / 2, y, z_rod], 0.012, 8), None, "chrome"))
        frac = draw(rng, 0.35, 1.0)
        cw = (length - 2 * wall) * frac
        side = pick(rng, [-1, 1])
        cx = side * (length / 2 - wall - cw / 2)
        z0 = h - draw(rng, 0.1, 0.2)
        sheet = pleated_sheet(cw, z_rod - 0.03 - z0, draw(rng, 0.015, 0.035), max(2, int(cw / 0.12)), z0)
        pieces.append(Piece(sheet.translated([cx, y, 0.0]), "shower curtain", "shower"))
    return make_furniture("bathtub", pieces, "corner")
