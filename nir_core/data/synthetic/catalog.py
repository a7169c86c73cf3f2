"""The furniture catalogue: builder names, the ScanNet-20 class each builds, and one entry point.

Room layouts (:mod:`~nir_core.data.synthetic.room`) and the object generator
(:mod:`~nir_core.data.synthetic.objects`) ask for furniture by kind through :func:`build_furniture`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from . import fixtures, furniture, props
from .primitives import Furniture

BUILDERS: dict[str, Callable[[np.random.Generator], Furniture]] = {
    "bed": furniture.bed,
    "chair": partial(furniture.chair, variant="dining"),
    "office_chair": partial(furniture.chair, variant="office"),
    "armchair": partial(furniture.chair, variant="armchair"),
    "sofa": furniture.sofa,
    "dining_table": partial(furniture.table, variant="dining"),
    "round_table": partial(furniture.table, variant="round"),
    "coffee_table": partial(furniture.table, variant="coffee"),
    "side_table": partial(furniture.table, variant="side"),
    "desk": furniture.desk,
    "cabinet": furniture.cabinet,
    "wardrobe": partial(furniture.cabinet, variant="wardrobe"),
    "small_cabinet": partial(furniture.cabinet, variant="small"),
    "bookshelf": furniture.bookshelf,
    "otherfurniture": furniture.other_furniture,
    "counter": partial(fixtures.counter, variant="plain"),
    "counter_sink": partial(fixtures.counter, variant="sink"),
    "vanity": partial(fixtures.counter, variant="vanity"),
    "sink": fixtures.sink,
    "toilet": fixtures.toilet,
    "refrigerator": fixtures.refrigerator,
    "bathtub": fixtures.bathtub,
    "floor_lamp": furniture.floor_lamp,
    "prop": props.prop,
}
"""Furniture kind -> builder taking a ``numpy.random.Generator``."""

KIND_CLASSES: dict[str, tuple[str | None, ...]] = {
    "bed": ("bed", None), "chair": ("chair",), "office_chair": ("chair",), "armchair": ("chair",), "sofa": ("sofa",),
    "dining_table": ("table",), "round_table": ("table",), "coffee_table": ("table",), "side_table": ("table",),
    "desk": ("desk",), "cabinet": ("cabinet",), "wardrobe": ("cabinet",), "small_cabinet": ("cabinet",),
    "bookshelf": ("bookshelf", None), "otherfurniture": ("otherfurniture",), "counter": ("counter", "cabinet"),
    "counter_sink": ("counter", "cabinet", "sink"), "vanity": ("counter", "cabinet", "sink"),
    "sink": ("sink",), "toilet": ("toilet",), "refrigerator": ("refrigerator",),
    "bathtub": ("bathtub", "shower curtain", None), "floor_lamp": (None,), "prop": (None,),
}
"""Furniture kind -> the classes its parts can carry (main class first; None = unlabelled parts)."""


def build_furniture(kind: str, rng: np.random.Generator) -> Furniture:
    """Build one piece of furniture of ``kind`` (a key of :data:`BUILDERS`) from ``rng``."""
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown furniture kind {kind!r}; known: {sorted(BUILDERS)}") from None
    return builder(rng)
