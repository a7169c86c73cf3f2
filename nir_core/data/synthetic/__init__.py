"""Procedural labelled indoor rooms and objects, and simulated RGB-D scans of them (ScanNet-20 labels).

>>> from nir_core.data.synthetic import generate_room, simulate_scan, write_room
>>> room = generate_room(seed=3)                  # labelled ground-truth mesh, metres, z up
>>> scan = simulate_scan(room, seed=3)            # partial, noisy 10k-point scan with labels
>>> write_room(room, scan, "out/synthetic", "room3")  # doctest: +SKIP

Modules: :mod:`.primitives` (mesh building blocks), :mod:`.materials` (colours), :mod:`.furniture`,
:mod:`.fixtures`, :mod:`.props` (parametric objects), :mod:`.catalog` (kinds -> builders),
:mod:`.structure` (floor, walls with openings, doors, windows, curtains, pictures), :mod:`.layout`
(footprints and placement), :mod:`.scene` (the room's arrays and records), :mod:`.room` (the generator),
:mod:`.scanner` (simulated capture), :mod:`.objects` (single objects for classification), :mod:`.export`.
"""
from .catalog import BUILDERS, KIND_CLASSES, build_furniture
from .export import mesh_scan, write_room
from .layout import Footprint
from .objects import OBJECT_CLASSES, generate_object
from .primitives import Furniture, Piece
from .room import ROOM_TYPES, RoomConfig, generate_room
from .scanner import ScannerConfig, simulate_scan
from .scene import RoomObject, SyntheticRoom
from .structure import Opening

__all__ = [
    "BUILDERS", "KIND_CLASSES", "OBJECT_CLASSES", "ROOM_TYPES", "Footprint", "Furniture", "Opening", "Piece",
    "RoomConfig", "RoomObject", "ScannerConfig", "SyntheticRoom", "build_furniture", "generate_object",
    "generate_room", "mesh_scan", "simulate_scan", "write_room",
]
