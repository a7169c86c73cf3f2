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

from ..labels import LabelSet, palette
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
    mesh, _, index = generate_object_parts(class_name, seed)
    return mesh, index


MATERIAL_PARTS = LabelSet(
    name="materials8",
    names=("wood", "metal", "fabric", "leather", "ceramic or stone", "glass", "plastic", "other"),
    colors=palette(8, seed=3),
)
"""Per-point labels of generated objects: the material group of each part (legs, frames, seats and shades differ
in material), the per-point task of the ch. 5 hold-out experiments on these objects."""

_MATERIAL_GROUP = {
    "wood": "wood", "dark_wood": "wood", "laminate": "wood", "door_wood": "wood", "floor_wood": "wood",
    "metal": "metal", "chrome": "metal", "fabric": "fabric", "bedding": "fabric", "curtain": "fabric",
    "carpet": "fabric", "leather": "leather", "ceramic": "ceramic or stone", "enamel": "ceramic or stone",
    "stone": "ceramic or stone", "floor_tile": "ceramic or stone", "glass": "glass", "plastic_dark": "plastic",
}


def material_part(material: str) -> int:
    """:data:`MATERIAL_PARTS` id of a material name (``"other"`` for the rest: paint, paper, shades...)."""
    return MATERIAL_PARTS.index(_MATERIAL_GROUP.get(material, "other"))


def generate_object_parts(class_name: str, seed: int) -> tuple[trimesh.Trimesh, np.ndarray, int]:
    """Like :func:`generate_object`, plus (F,) int64 :data:`MATERIAL_PARTS` labels of the mesh's faces."""
    if class_name not in _BUILDERS:
        raise ValueError(f"unknown object class {class_name!r}; known: {list(OBJECT_CLASSES)}")
    rng = np.random.default_rng([OBJECT_CLASSES.index(class_name), seed])
    made = _BUILDERS[class_name](rng)
    labels = np.concatenate([np.full(len(p.mesh.faces), material_part(p.material), dtype=np.int64)
                             for p in made.pieces])
    return made.to_trimesh(), labels, OBJECT_CLASSES.index(class_name)
