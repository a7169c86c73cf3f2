"""Parametric living-space furniture: beds, chairs, sofas, tables, desks, cabinets, bookshelves, other furniture.

Every builder takes a ``numpy.random.Generator`` (and sometimes a variant name) and returns a
:class:`~nir_core.data.synthetic.primitives.Furniture` in its own frame: footprint centred on the origin,
base at z = 0, front towards -y. Dimensions are drawn from ranges typical of real furniture (metres), and
the variant (legs or panels, arms or not, rectangular or round...) from the same generator, so a seed
fixes the object. Parts that ScanNet-20 does not label (pillows, books) get ``class_name=None``.
"""
from __future__ import annotations

import numpy as np

from .materials import MATERIALS
from .primitives import (
    Furniture,
    MeshData,
    Piece,
    blocks,
    box,
    cylinder,
    draw,
    make_furniture,
    pick,
    revolve,
    ring,
    rod,
)


def legs(w: float, d: float, h: float, inset: float, size: float, rng: np.random.Generator,
         z0: float = 0.0) -> list[MeshData]:
    """Four square or round legs of height ``h`` under a ``w x d`` rectangle, ``inset`` from its edges."""
    round_legs = bool(rng.random() < 0.4)
    out = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = sx * (w / 2 - inset - size / 2), sy * (d / 2 - inset - size / 2)
            out.append(cylinder(size / 2, h, cx, cy, z0, sections=8) if round_legs
                       else box(size, size, h, cx, cy, z0))
    return out


# --------------------------------------------------------------------------------------------- beds
def bed(rng: np.random.Generator) -> Furniture:
    """Single, double or king bed: base (platform or legs), mattress, blanket, pillows, optional head/footboard."""
    w = pick(rng, [(0.9, 1.0), (1.35, 1.6), (1.75, 2.0)])
    w = draw(rng, *w)
    length = draw(rng, 1.95, 2.15)
    frame_mat = pick(rng, ["wood", "dark_wood", "fabric", "laminate"])
    base_h = draw(rng, 0.22, 0.4)
    pieces = []
    if rng.random() < 0.5:
        pieces.append(Piece(box(w, length, base_h), "bed", frame_mat))
    else:
        leg_h = draw(rng, 0.08, 0.2)
        pieces += [Piece(m, "bed", frame_mat) for m in legs(w, length, leg_h, 0.03, 0.06, rng)]
        pieces.append(Piece(box(w, length, base_h - leg_h, z0=leg_h), "bed", frame_mat))
    mat_h = draw(rng, 0.16, 0.28)
    top = base_h + mat_h
    pieces.append(Piece(box(w - 0.04, length - 0.04, mat_h, z0=base_h), "bed", "bedding"))
    cover = length * draw(rng, 0.55, 0.75)
    pieces.append(Piece(box(w + 0.02, cover, 0.04, cy=-length / 2 + cover / 2 - 0.01, z0=top - 0.02),
                        "bed", "bedding"))
    n_pillows = 1 if w < 1.2 else 2
    pw = (w - 0.1) / n_pillows - 0.04
    for i in range(n_pillows):
        cx = -w / 2 + 0.05 + (i + 0.5) * (w - 0.1) / n_pillows
        pieces.append(Piece(box(pw, 0.4, 0.12, cx, length / 2 - 0.28, top), None, "bedding"))
    if rng.random() < 0.75:
        hb_h = draw(rng, 0.85, 1.3)
        hb_t = draw(rng, 0.04, 0.1)
        pieces.append(Piece(box(w + 0.04, hb_t, hb_h, cy=length / 2 + hb_t / 2), "bed", frame_mat))
    if rng.random() < 0.25:
        fb_t = draw(rng, 0.04, 0.06)
        pieces.append(Piece(box(w + 0.04, fb_t, top + draw(rng, 0.05, 0.25), cy=-length / 2 - fb_t / 2),
                            "bed", frame_mat))
    return make_furniture("bed", pieces, "wall")


# --------------------------------------------------------------------------------------------- seating
def chair(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Dining chair (four legs, panel or slatted backrest of varying height, optional arms), office chair
    (five-star base, optional arms) or upholstered armchair; ``variant`` in ``("dining", "office", "armchair")``.
    """
    variant = variant or pick(rng, ["dining", "dining", "office", "armchair"])
    if variant == "office":
        return _office_chair(rng)
    if variant == "armchair":
        return _armchair(rng)
    w, d = draw(rng, 0.4, 0.5), draw(rng, 0.4, 0.5)
    seat_h, seat_t = draw(rng, 0.42, 0.48), draw(rng, 0.025, 0.06)
    frame = pick(rng, ["wood", "dark_wood", "metal"])
    seat_mat = pick(rng, [frame, "fabric", "leather"])
    leg = draw(rng, 0.025, 0.045)
    pieces = [Piece(m, "chair", frame) for m in legs(w, d, seat_h - seat_t, 0.01, leg, rng)]
    pieces.append(Piece(box(w, d, seat_t, z0=seat_h - seat_t), "chair", seat_mat))
    back_h = draw(rng, 0.3, 0.6)
    back_t = draw(rng, 0.02, 0.04)
    yb = d / 2 - back_t / 2
    if rng.random() < 0.5:
        pieces.append(Piece(box(w, back_t, back_h, cy=yb, z0=seat_h), "chair", seat_mat))
    else:  # two posts, a top rail and a few vertical slats
        for sx in (-1, 1):
            pieces.append(Piece(box(leg, back_t, back_h, sx * (w / 2 - leg / 2), yb, seat_h), "chair", frame))
        rail = draw(rng, 0.06, 0.12)
        pieces.append(Piece(box(w, back_t, rail, cy=yb, z0=seat_h + back_h - rail), "chair", frame))
        n = int(rng.integers(0, 4))
        for x in np.linspace(-w / 2, w / 2, n + 2)[1:-1]:
            pieces.append(Piece(box(0.03, back_t * 0.8, back_h - rail, x, yb, seat_h), "chair", frame))
    if rng.random() < 0.3:
        arm_h = draw(rng, 0.18, 0.25)
        for sx in (-1, 1):
            x = sx * (w / 2 - leg / 2)
            pieces.append(Piece(box(leg, leg, arm_h, x, -d / 2 + 0.05, seat_h), "chair", frame))
            pieces.append(Piece(box(0.05, d, 0.03, x, 0.0, seat_h + arm_h), "chair", frame))
    return make_furniture("chair", pieces, "free")


def _office_chair(rng: np.random.Generator) -> Furniture:
    w, d = draw(rng, 0.46, 0.54), draw(rng, 0.44, 0.52)
    seat_h = draw(rng, 0.44, 0.52)
    plastic = "plastic_dark"
    cover = pick(rng, ["fabric", "leather", "plastic_dark"])
    star_r, hub_z = draw(rng, 0.3, 0.34), draw(rng, 0.07, 0.1)
    pieces = []
    phase = draw(rng, 0.0, 2 * np.pi)
    for k in range(5):
        a = phase + 2 * np.pi * k / 5
        tip = np.array([star_r * np.cos(a), star_r * np.sin(a)])
        pieces.append(Piece(rod([0, 0, hub_z], [tip[0], tip[1], hub_z - 0.02], 0.018, 6), "chair", plastic))
        pieces.append(Piece(cylinder(0.025, 0.05, tip[0], tip[1], 0.0, sections=8), "chair", plastic))
    pieces.append(Piece(cylinder(0.025, seat_h - 0.06 - hub_z, 0, 0, hub_z, sections=8), "chair", "metal"))
    pieces.append(Piece(box(w, d, 0.08, z0=seat_h - 0.08), "chair", cover))
    back_h = draw(rng, 0.4, 0.7)
    pieces.append(Piece(box(0.05, 0.03, 0.16, 0, d / 2 + 0.03, seat_h - 0.08), "chair", plastic))
    pieces.append(Piece(box(w * draw(rng, 0.85, 1.0), 0.06, back_h, cy=d / 2 + 0.05, z0=seat_h + 0.06),
                        "chair", cover))
    if rng.random() < 0.6:
        for sx in (-1, 1):
            x = sx * (w / 2 + 0.02)
            pieces.append(Piece(box(0.03, 0.03, 0.2, x, 0.0, seat_h - 0.04), "chair", plastic))
            pieces.append(Piece(box(0.06, 0.28, 0.03, x, 0.02, seat_h + 0.16), "chair", plastic))
    return make_furniture("office_chair", pieces, "free")


def _armchair(rng: np.random.Generator) -> Furniture:
    w, d = draw(rng, 0.7, 0.95), draw(rng, 0.7, 0.9)
    mat = pick(rng, ["fabric", "leather"])
    leg_h = draw(rng, 0.0, 0.12)
    base_h = draw(rng, 0.38, 0.45) - 0.12
    arm_w, arm_h = draw(rng, 0.1, 0.2), draw(rng, 0.55, 0.68)
    back_t, back_h = draw(rng, 0.12, 0.2), draw(rng, 0.75, 1.0)
    pieces = []
    if leg_h > 0.03:
        pieces += [Piece(m, "chair", "dark_wood") for m in legs(w, d, leg_h, 0.04, 0.04, rng)]
    else:
        leg_h = 0.0
    pieces.append(Piece(box(w, d, base_h, z0=leg_h), "chair", mat))
    pieces.append(Piece(box(w - 2 * arm_w, d - back_t, 0.12, cy=-back_t / 2, z0=leg_h + base_h), "chair", mat))
    pieces.append(Piece(box(w, back_t, back_h - base_h, cy=d / 2 - back_t / 2, z0=leg_h + base_h),
                        "chair", mat))
    for sx in (-1, 1):
        pieces.append(Piece(box(arm_w, d - back_t, arm_h - base_h - leg_h, sx * (w / 2 - arm_w / 2),
                                -back_t / 2, leg_h + base_h), "chair", mat))
    return make_furniture("armchair", pieces, "free")


def sofa(rng: np.random.Generator) -> Furniture:
    """Two- to four-seat sofa: base, one cushion per seat, backrest, arms on both sides or none, optional
    chaise (L shape) and short legs."""
    seats = int(rng.integers(2, 5))
    seat_w = draw(rng, 0.55, 0.7)
    arm_w = draw(rng, 0.12, 0.25) if rng.random() < 0.85 else 0.0
    d, back_t = draw(rng, 0.8, 1.0), draw(rng, 0.15, 0.25)
    w = seats * seat_w + 2 * arm_w
    mat = pick(rng, ["fabric", "fabric", "leather"])
    leg_h = draw(rng, 0.04, 0.12) if rng.random() < 0.6 else 0.0
    base_h, cush_h = draw(rng, 0.2, 0.3), draw(rng, 0.12, 0.18)
    back_h, arm_h = draw(rng, 0.75, 0.95), draw(rng, 0.55, 0.7)
    pieces = []
    if leg_h:
        pieces += [Piece(m, "sofa", "dark_wood") for m in legs(w, d, leg_h, 0.05, 0.04, rng)]
    pieces.append(Piece(box(w, d, base_h, z0=leg_h), "sofa", mat))
    z_seat = leg_h + base_h
    inner = w - 2 * arm_w
    for i in range(seats):
        cx = -inner / 2 + (i + 0.5) * inner / seats
        pieces.append(Piece(box(inner / seats - 0.01, d - back_t, cush_h, cx, -back_t / 2, z_seat), "sofa", mat))
    pieces.append(Piece(box(w, back_t, back_h - z_seat, cy=d / 2 - back_t / 2, z0=z_seat), "sofa", mat))
    if arm_w:
        for sx in (-1, 1):
            pieces.append(Piece(box(arm_w, d - back_t, arm_h - z_seat, sx * (w / 2 - arm_w / 2),
                                    -back_t / 2, z_seat), "sofa", mat))
    if seats >= 3 and rng.random() < 0.25:
        side = pick(rng, [-1, 1])
        ext = draw(rng, 0.5, 0.8)
        cx = side * (w / 2 - arm_w - seat_w / 2)
        pieces.append(Piece(box(seat_w, ext, base_h, cx, -d / 2 - ext / 2, leg_h), "sofa", mat))
        pieces.append(Piece(box(seat_w - 0.01, ext, cush_h, cx, -d / 2 - ext / 2, z_seat), "sofa", mat))
    return make_furniture("sofa", pieces, "wall")


# --------------------------------------------------------------------------------------------- tables
def table(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Rectangular or round dining table, low coffee table or small side table;
    ``variant`` in ``("dining", "round", "coffee", "side")``."""
    variant = variant or pick(rng, ["dining", "dining", "round", "coffee", "side"])
    mat = pick(rng, ["wood", "dark_wood", "laminate", "stone"])
    leg_mat = pick(rng, [mat, "metal"])
    t = draw(rng, 0.025, 0.05)
    pieces = []
    if variant == "round":
        r, h = draw(rng, 0.4, 0.65), draw(rng, 0.72, 0.76)
        pieces.append(Piece(cylinder(r, t, z0=h - t, sections=24), "table", mat))
        if rng.random() < 0.5:  # pedestal
            pieces.append(Piece(cylinder(draw(rng, 0.04, 0.07), h - t, sections=12), "table", leg_mat))
            pieces.append(Piece(cylinder(r * 0.55, 0.04, sections=16), "table", leg_mat))
        else:
            n = int(rng.integers(3, 5))
            for k in range(n):
                a = 2 * np.pi * k / n
                pieces.append(Piece(cylinder(0.02, h - t, 0.6 * r * np.cos(a), 0.6 * r * np.sin(a),
                                             sections=8), "table", leg_mat))
        return make_furniture("round_table", pieces, "free", top=(h, 0.0, 0.0, 0.6 * r, 0.6 * r),
                              round_footprint=True)
    if variant == "coffee":
        w, d, h = draw(rng, 0.8, 1.3), draw(rng, 0.45, 0.7), draw(rng, 0.36, 0.46)
    elif variant == "side":
        w = d = draw(rng, 0.4, 0.55)
        h = draw(rng, 0.5, 0.65)
    else:
        w, d, h = draw(rng, 1.1, 1.9), draw(rng, 0.75, 1.0), draw(rng, 0.72, 0.76)
    pieces.append(Piece(box(w, d, t, z0=h - t), "table", mat))
    leg = draw(rng, 0.035, 0.07)
    pieces += [Piece(m, "table", leg_mat) for m in legs(w, d, h - t, draw(rng, 0.0, 0.08), leg, rng)]
    if variant != "dining" and rng.random() < 0.5:  # lower shelf
        pieces.append(Piece(box(w - 0.04, d - 0.04, 0.02, z0=draw(rng, 0.08, 0.18)), "table", mat))
    elif variant == "dining" and rng.random() < 0.5:  # apron
        pieces.append(Piece(box(w - 0.1, d - 0.1, 0.08, z0=h - t - 0.08), "table", mat))
    return make_furniture(f"{variant}_table", pieces, "free", top=(h, 0.0, 0.0, w / 2 - 0.05, d / 2 - 0.05))


def desk(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Writing desk on four legs, two side panels or one panel and a drawer unit, or an L-shaped corner desk;
    ``variant`` in ``("legs", "panels", "drawers", "l_shape")``."""
    variant = variant or pick(rng, ["legs", "panels", "drawers", "l_shape"])
    w, d, h = draw(rng, 1.0, 1.6), draw(rng, 0.55, 0.75), draw(rng, 0.72, 0.76)
    t = draw(rng, 0.025, 0.04)
    mat = pick(rng, ["wood", "laminate", "laminate", "dark_wood"])
    frame = pick(rng, [mat, "metal"])
    pieces = [Piece(box(w, d, t, z0=h - t), "desk", mat)]
    if variant == "legs":
        pieces += [Piece(m, "desk", frame) for m in legs(w, d, h - t, 0.02, 0.05, rng)]
    else:
        pieces.append(Piece(box(0.025, d, h - t, -w / 2 + 0.0125), "desk", mat))
        if variant == "drawers":
            dw = draw(rng, 0.38, 0.45)
            pieces.append(Piece(box(dw, d - 0.02, h - t, w / 2 - dw / 2, 0.01), "desk", mat))
            n = int(rng.integers(2, 4))
            for k in range(n):
                z = (k + 0.5) * (h - t) / n
                pieces.append(Piece(box(0.12, 0.02, 0.02, w / 2 - dw / 2, -d / 2, z), "desk", "metal"))
        else:
            pieces.append(Piece(box(0.025, d, h - t, w / 2 - 0.0125), "desk", mat))
        if rng.random() < 0.6:  # modesty panel
            pieces.append(Piece(box(w - 0.05, 0.02, draw(rng, 0.3, 0.5), cy=d / 2 - 0.04, z0=h - t - 0.5),
                                "desk", mat))
    if variant == "l_shape":
        rw, rl = draw(rng, 0.5, 0.65), draw(rng, 0.8, 1.2)
        side = pick(rng, [-1, 1])
        cx = side * (w / 2 - rw / 2)
        pieces.append(Piece(box(rw, rl, t, cx, -d / 2 - rl / 2, h - t), "desk", mat))
        pieces.append(Piece(box(rw, 0.025, h - t, cx, -d / 2 - rl + 0.0125), "desk", mat))
    return make_furniture(f"{variant}_desk", pieces, "wall", top=(h, 0.0, 0.0, w / 2 - 0.1, d / 2 - 0.08))


# --------------------------------------------------------------------------------------------- storage
def cabinet(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """Low sideboard with doors, tall wardrobe, chest of drawers or small bedside cabinet;
    ``variant`` in ``("sideboard", "wardrobe", "drawers", "small")``."""
    variant = variant or pick(rng, ["sideboard", "wardrobe", "drawers", "small"])
    dims = {"sideboard": ((0.8, 1.8), (0.38, 0.5), (0.65, 0.95)), "wardrobe": ((0.8, 1.6), (0.52, 0.62), (1.8, 2.2)),
            "drawers": ((0.45, 1.2), (0.42, 0.55), (0.6, 1.3)), "small": ((0.38, 0.55), (0.35, 0.45), (0.42, 0.62))}
    (w0, w1), (d0, d1), (h0, h1) = dims[variant]
    w, d, h = draw(rng, w0, w1), draw(rng, d0, d1), draw(rng, h0, h1)
    mat = pick(rng, ["wood", "laminate", "laminate", "dark_wood", "white_paint"])
    plinth = draw(rng, 0.0, 0.1)
    pieces = []
    if plinth > 0.04 and rng.random() < 0.5:
        pieces += [Piece(m, "cabinet", "metal") for m in legs(w, d, plinth, 0.02, 0.03, rng)]
    elif plinth > 0.04:
        pieces.append(Piece(box(w - 0.04, d - 0.06, plinth, cy=0.02), "cabinet", mat))
    else:
        plinth = 0.0
    pieces.append(Piece(box(w, d - 0.02, h - plinth, cy=0.01, z0=plinth), "cabinet", mat))
    gap, front_t = 0.004, 0.02
    y_front = -d / 2 + front_t / 2
    if variant in ("drawers", "small"):
        n = int(rng.integers(2, 6)) if variant == "drawers" else int(rng.integers(1, 3))
        hs = (h - plinth) / n
        cols = 2 if variant == "drawers" and w > 0.9 and rng.random() < 0.5 else 1
        for k in range(n):
            for c in range(cols):
                cw = w / cols
                cx = -w / 2 + (c + 0.5) * cw
                pieces.append(Piece(box(cw - 2 * gap, front_t, hs - 2 * gap, cx, y_front, plinth + k * hs + gap),
                                    "cabinet", mat))
                pieces.append(Piece(box(min(0.12, cw * 0.3), 0.02, 0.02, cx, -d / 2 - 0.01,
                                        plinth + (k + 0.7) * hs), "cabinet", "metal"))
    else:
        n = max(1, int(round(w / draw(rng, 0.4, 0.6))))
        dw = w / n
        for k in range(n):
            cx = -w / 2 + (k + 0.5) * dw
            pieces.append(Piece(box(dw - 2 * gap, front_t, h - plinth - 2 * gap, cx, y_front, plinth + gap),
                                "cabinet", mat))
            hx = cx + (dw / 2 - 0.05) * (1 if k % 2 == 0 else -1)
            zh = plinth + (h - plinth) * (0.5 if variant == "wardrobe" else 0.8)
            pieces.append(Piece(box(0.02, 0.02, 0.12, hx, -d / 2 - 0.01, zh), "cabinet", "metal"))
    return make_furniture(f"{variant}_cabinet", pieces, "wall", top=(h, 0.0, 0.0, w / 2 - 0.05, d / 2 - 0.05))


def bookshelf(rng: np.random.Generator) -> Furniture:
    """Open bookshelf: sides, top, plinth, optional back panel, 2-6 shelves, rows of books on some shelves."""
    w, d, h = draw(rng, 0.6, 1.2), draw(rng, 0.25, 0.4), draw(rng, 0.8, 2.1)
    t = draw(rng, 0.018, 0.03)
    mat = pick(rng, ["wood", "dark_wood", "laminate", "white_paint"])
    pieces = [Piece(box(t, d, h, -w / 2 + t / 2), "bookshelf", mat), Piece(box(t, d, h, w / 2 - t / 2),
                                                                            "bookshelf", mat),
              Piece(box(w - 2 * t, d, t, z0=h - t), "bookshelf", mat),
              Piece(box(w - 2 * t, d, 0.06, z0=0.0), "bookshelf", mat)]
    if rng.random() < 0.8:
        pieces.append(Piece(box(w - 2 * t, 0.008, h - 0.06 - t, cy=d / 2 - 0.004, z0=0.06), "bookshelf", mat))
    n_gaps = max(2, int(round((h - 0.06) / draw(rng, 0.3, 0.38))))
    levels = 0.06 + np.arange(n_gaps + 1) * (h - 0.06 - t) / n_gaps
    for z in levels[1:-1]:
        pieces.append(Piece(box(w - 2 * t, d - 0.01, t, cy=-0.005, z0=z - t / 2), "bookshelf", mat))
    lows, highs, colors = [], [], []
    for z0, z1 in zip(levels[:-1], levels[1:], strict=True):
        if rng.random() < 0.3:
            continue
        x, x_end = -w / 2 + t + draw(rng, 0.0, 0.2) * w, w / 2 - t - draw(rng, 0.0, 0.3) * w
        clear = z1 - z0 - t - 0.02
        while x < x_end and clear > 0.1:
            bt, bh = draw(rng, 0.015, 0.05), draw(rng, 0.6, 0.95) * clear
            if x + bt > x_end:
                break
            bd = min(draw(rng, 0.14, 0.24), d - 0.03)
            lows.append([x, -d / 2 + 0.01, z0 + t / 2])
            highs.append([x + bt, -d / 2 + 0.01 + bd, z0 + t / 2 + bh])
            colors.append(_book_color(rng))
            x += bt + (0.001 if rng.random() < 0.9 else draw(rng, 0.05, 0.15))
    if lows:
        face_colors = np.repeat(np.asarray(colors), 12, axis=0)
        pieces.append(Piece(blocks(np.asarray(lows), np.asarray(highs)), None, "paper", colors=face_colors))
    return make_furniture("bookshelf", pieces, "wall")


def _book_color(rng: np.random.Generator) -> np.ndarray:
    base = np.asarray(pick(rng, MATERIALS["paper"]), dtype=np.float64)
    return np.clip(base + rng.normal(0.0, 18.0, 3), 0, 255)


# --------------------------------------------------------------------------------------------- other
def other_furniture(rng: np.random.Generator, variant: str | None = None) -> Furniture:
    """ScanNet's "otherfurniture": stool, bar stool, ottoman, coat stand, bench or trolley;
    ``variant`` in ``("stool", "bar_stool", "ottoman", "coat_stand", "bench", "trolley")``."""
    variant = variant or pick(rng, ["stool", "bar_stool", "ottoman", "coat_stand", "bench", "trolley"])
    mat = pick(rng, ["wood", "dark_wood", "metal"])
    pieces: list[Piece] = []
    placement = "free"
    if variant in ("stool", "bar_stool"):
        h = draw(rng, 0.42, 0.5) if variant == "stool" else draw(rng, 0.65, 0.8)
        r = draw(rng, 0.15, 0.2)
        pieces.append(Piece(cylinder(r, 0.04, z0=h - 0.04, sections=16), "otherfurniture",
                            pick(rng, [mat, "fabric", "leather"])))
        n = int(rng.integers(3, 5))
        for k in range(n):
            a = 2 * np.pi * k / n
            foot = [1.25 * r * np.cos(a), 1.25 * r * np.sin(a), 0.0]
            pieces.append(Piece(rod(foot, [0.7 * r * np.cos(a), 0.7 * r * np.sin(a), h - 0.04], 0.015),
                                "otherfurniture", mat))
        if variant == "bar_stool":
            pieces.append(Piece(ring(r, r + 0.015, 0.015, z0=h * 0.35, sections=16), "otherfurniture", "metal"))
    elif variant == "ottoman":
        h = draw(rng, 0.35, 0.45)
        if rng.random() < 0.5:
            pieces.append(Piece(cylinder(draw(rng, 0.22, 0.35), h, sections=20), "otherfurniture", "fabric"))
        else:
            pieces.append(Piece(box(draw(rng, 0.45, 0.8), draw(rng, 0.45, 0.6), h), "otherfurniture",
                                pick(rng, ["fabric", "leather"])))
    elif variant == "coat_stand":
        h = draw(rng, 1.65, 1.85)
        pieces.append(Piece(cylinder(draw(rng, 0.18, 0.24), 0.03, sections=16), "otherfurniture", mat))
        pieces.append(Piece(cylinder(0.018, h, sections=8), "otherfurniture", mat))
        for k in range(4):
            a = np.pi / 2 * k + 0.3
            pieces.append(Piece(rod([0, 0, h - 0.15], [0.14 * np.cos(a), 0.14 * np.sin(a), h - 0.05], 0.01, 6),
                                "otherfurniture", mat))
        placement = "corner"
    elif variant == "bench":
        w, d, h = draw(rng, 0.9, 1.5), draw(rng, 0.3, 0.42), draw(rng, 0.42, 0.48)
        pieces.append(Piece(box(w, d, 0.04, z0=h - 0.04), "otherfurniture", mat))
        pieces += [Piece(m, "otherfurniture", mat) for m in legs(w, d, h - 0.04, 0.04, 0.05, rng)]
        placement = "wall"
    else:  # trolley: two or three trays on four posts
        w, d, h = draw(rng, 0.45, 0.8), draw(rng, 0.35, 0.5), draw(rng, 0.6, 0.9)
        for z in np.linspace(0.08, h - 0.02, int(rng.integers(2, 4))):
            pieces.append(Piece(box(w, d, 0.02, z0=z), "otherfurniture", pick(rng, ["metal", "laminate"])))
        pieces += [Piece(m, "otherfurniture", "metal") for m in legs(w, d, h, 0.0, 0.02, rng)]
    return make_furniture(variant, pieces, placement, round_footprint=variant in ("stool", "bar_stool"))


def floor_lamp(rng: np.random.Generator) -> Furniture:
    """Standing lamp (base disc, pole, open shade). Lamps are not a ScanNet-20 class: the parts are unlabelled."""
    h = draw(rng, 1.4, 1.8)
    r0, r1, sh = draw(rng, 0.15, 0.25), draw(rng, 0.1, 0.18), draw(rng, 0.2, 0.35)
    mat = pick(rng, ["metal", "chrome", "dark_wood"])
    pieces = [Piece(cylinder(draw(rng, 0.12, 0.18), 0.025, sections=16), None, mat),
              Piece(cylinder(0.012, h - sh * 0.6, sections=8), None, mat),
              Piece(revolve([(r0, 0.0), (r1, sh)], sections=20, z0=h - sh), None, "lampshade")]
    return make_furniture("floor_lamp", pieces, "free", round_footprint=True)
