"""Small unlabelled clutter: boxes, book stacks, monitors and table lamps.

ScanNet scenes are full of objects outside the 20 benchmark classes (``otherprop``, books, lamps, monitors);
their points carry ``IGNORE_LABEL``. A few of these on tables and floors make the synthetic scans as
cluttered, and the ignore label as frequent, as real ones. Conventions as in
:mod:`~nir_core.data.synthetic.furniture`.
"""
from __future__ import annotations

import numpy as np

from .primitives import Furniture, Piece, blocks, box, cylinder, draw, make_furniture, pick, revolve, rod

PROP_KINDS: tuple[str, ...] = ("box", "books", "monitor", "table_lamp")
"""Names accepted by :func:`prop`."""


def prop(rng: np.random.Generator, kind: str | None = None) -> Furniture:
    """One unlabelled prop of ``kind`` (one of :data:`PROP_KINDS`; random when None)."""
    kind = kind or pick(rng, PROP_KINDS)
    if kind == "box":
        return make_furniture("box", [Piece(box(draw(rng, 0.2, 0.6), draw(rng, 0.2, 0.45), draw(rng, 0.12, 0.45)),
                                            None, "cardboard")], "free")
    if kind == "books":
        n = int(rng.integers(2, 7))
        sizes = np.stack([rng.uniform(0.15, 0.3, n), rng.uniform(0.12, 0.22, n), rng.uniform(0.015, 0.05, n)], 1)
        z = np.concatenate([[0.0], np.cumsum(sizes[:-1, 2])])
        offs = rng.normal(0.0, 0.01, (n, 2))
        lo = np.concatenate([offs - sizes[:, :2] / 2, z[:, None]], 1)
        hi = np.concatenate([offs + sizes[:, :2] / 2, (z + sizes[:, 2])[:, None]], 1)
        cols = np.clip(rng.uniform(30, 230, (n, 3)), 0, 255)
        return make_furniture("books", [Piece(blocks(lo, hi), None, "paper", colors=np.repeat(cols, 12, 0))], "free")
    if kind == "monitor":
        return monitor(rng)
    return table_lamp(rng)


def monitor(rng: np.random.Generator) -> Furniture:
    """Flat screen on a neck and a foot plate (front -y)."""
    w = draw(rng, 0.45, 0.75)
    h = w * draw(rng, 0.55, 0.65)
    lift = draw(rng, 0.08, 0.16)
    pieces = [Piece(box(draw(rng, 0.18, 0.25), draw(rng, 0.15, 0.2), 0.015), None, "plastic_dark"),
              Piece(box(0.04, 0.025, lift + h / 2, 0.0, 0.03, 0.015), None, "plastic_dark"),
              Piece(box(w, draw(rng, 0.02, 0.05), h, 0.0, 0.0, lift), None, "plastic_dark")]
    return make_furniture("monitor", pieces, "free")


def table_lamp(rng: np.random.Generator) -> Furniture:
    """Desk or bedside lamp: foot, stem, open shade."""
    h = draw(rng, 0.3, 0.55)
    r0, r1, sh = draw(rng, 0.1, 0.16), draw(rng, 0.06, 0.11), draw(rng, 0.12, 0.2)
    mat = pick(rng, ["metal", "chrome", "ceramic"])
    pieces = [Piece(cylinder(draw(rng, 0.06, 0.09), 0.03, sections=12), None, mat),
              Piece(rod([0, 0, 0.03], [0, 0, h - 0.6 * sh], 0.01, 6), None, mat),
              Piece(revolve([(r0, 0.0), (r1, sh)], 16, z0=h - sh), None, "lampshade")]
    return make_furniture("table_lamp", pieces, "free")
