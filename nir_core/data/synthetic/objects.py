"""Single procedural objects for shape classification: ``generate_object(class_name, seed)``.

The classes use ModelNet40's names (so results can be set beside ModelNet experiments), and each is drawn
from the same parametric builders as the rooms, with all their variants (dining / office / arm chairs,
round / rectangular / coffee tables, L-shaped desks, two- to four-seat sofas...), so the seed changes the
shape, not only its size.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from . import fixtures, furniture, props
from .primitives import Furniture, pick

OBJECT_CLASSES: tuple[str, ...] = (
    "bathtub", "bed", "bookshelf", "chair", "desk", "dresser", "lamp", "monitor", "night_stand", "sink", "sofa",
    "stool", "table", "toilet", "wardrobe",
)
"""Classes of :func:`generate_object`, alphabetical; the class index is the position in this tuple."""

_BUILDERS: dict[str, Callable[[np.random.Generator], Furniture]] = {
    "bathtub": lambda rng: fixtures.bathtub(rng, shower_curtain=False),
    "bed": furniture.bed,
    "bookshelf": furniture.bookshelf,
    "chair": furniture.chair,
    "desk": furniture.desk,
    "dresser": lambda rng: furniture.cabinet(rng, "drawers"),
    "lamp": lambda rng: pick(rng, [furniture.floor_lamp, props.table_lamp])(rng),
    "monitor": props.monitor,
    "night_stand": lambda rng: furniture.cabinet(rng, "small"),
    "sink": fixtures.sink,
    "sofa": furniture.sofa,
    "stool": lambda rng: furniture.other_furniture(rng, pick(rng, ["stool", "bar_stool"])),
    "table": furniture.table,
    "toilet": fixtures.toilet,
    "wardrobe": lambda rng: furniture.cabinet(rng, "wardrobe"),
}


def generate_object(class_name: str, seed: int) -> tuple[trimesh.Trimesh, int]:
    """One object of ``class_name`` drawn from ``seed``.

    Returns
    -------
    mesh: the object in metres, footprint centred on the origin, standing on z = 0, front towards -y
        (unprocessed: parts keep their own vertices; not necessarily watertight).
    class_index: position of ``class_name`` in :data:`OBJECT_CLASSES`.
    """
    if class_name not in _BUILDERS:
        raise ValueError(f"unknown object class {class_name!r}; known: {list(OBJECT_CLASSES)}")
    rng = np.random.default_rng([OBJECT_CLASSES.index(class_name), seed])
    return _BUILDERS[class_name](rng).to_trimesh(), OBJECT_CLASSES.index(class_name)
