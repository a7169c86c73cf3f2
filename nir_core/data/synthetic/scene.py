"""The generated room as data: one labelled, coloured triangle mesh and the records of what is in it.

:class:`SceneAssembler` collects parts (furniture, walls, doors...) as they are placed, gives each
(part group, class) an instance id and colours from its materials, and finally stacks everything into
the arrays of a :class:`SyntheticRoom`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import trimesh

from ..labels import SCANNET20
from ..scan import Scan
from .layout import Footprint
from .materials import sample_material_color
from .primitives import MeshData, Piece, class_label
from .structure import Opening


@dataclass
class RoomObject:
    """One instance in the room (a piece of furniture's labelled part, a wall, a door, a picture...)."""

    instance_id: int
    """Id used in :attr:`SyntheticRoom.face_instances`."""
    class_name: str | None
    """ScanNet-20 class, or None for unlabelled things (props, lamps, pillows, ceiling)."""
    label: int
    """ScanNet-20 id of ``class_name`` (``IGNORE_LABEL`` when None)."""
    kind: str
    """What was built, e.g. ``"office_chair"``, ``"wall"``, ``"door"``."""
    mount: str
    """``"floor"`` (furniture standing on the floor plan), ``"wall"`` (doors, windows, curtains, pictures),
    ``"on"`` (a prop on another object's top) or ``"structure"`` (floor, walls, ceiling)."""
    group: int
    """Placement group: the parts of one placed item (a counter's top, cabinets and sink) share one."""
    anchor: int | None
    """Group of the item this one was placed relative to (the table of a chair), or None."""
    transform: np.ndarray
    """(4, 4) pose of the builder's frame in the room (identity for parts built in room coordinates)."""
    footprint: Footprint | None
    """Oriented floor rectangle reserved by the group (floor-standing things only)."""
    bounds: np.ndarray
    """(2, 3) min / max corner of this instance's faces, room coordinates."""

    def to_json(self) -> dict:
        return {"instance_id": self.instance_id, "class_name": self.class_name, "label": self.label,
                "kind": self.kind, "mount": self.mount, "group": self.group, "anchor": self.anchor,
                "transform": np.round(self.transform, 6).tolist(),
                "footprint": None if self.footprint is None else self.footprint.to_json(),
                "bounds": np.round(self.bounds, 6).tolist()}


@dataclass
class SyntheticRoom:
    """A procedurally generated, fully labelled room (ground truth)."""

    mesh: trimesh.Trimesh
    """The whole room as one mesh in metres, z up, floor at z = 0; vertices are not shared between parts."""
    face_labels: np.ndarray
    """(F,) int64 ScanNet-20 id per face (``IGNORE_LABEL`` for unlabelled parts)."""
    face_instances: np.ndarray
    """(F,) int64 instance id per face (index into :attr:`objects` by ``instance_id``)."""
    face_colors: np.ndarray
    """(F, 3) uint8 material colour per face."""
    objects: list[RoomObject]
    """One record per instance, ordered by instance id."""
    seed: int
    """Seed the room was generated from."""
    room_type: str
    """``"bedroom"``, ``"living_room"``, ``"office"``, ``"kitchen"`` or ``"bathroom"``."""
    size: tuple[float, float, float]
    """Interior width (x), depth (y) and height (z) in metres."""
    openings: list[Opening] = field(default_factory=list)
    """Door and window holes in the walls."""
    config: Any = None
    """The :class:`~nir_core.data.synthetic.room.RoomConfig` used."""

    @property
    def label_set(self):
        return SCANNET20

    def vertex_attributes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-vertex ``(labels (V,) int64, instances (V,) int64, colors (V, 3) uint8)`` taken from the faces.

        Exact, because no vertex is shared by faces of two instances.
        """
        faces = np.asarray(self.mesh.faces)
        n = len(self.mesh.vertices)
        labels = np.full(n, -1, dtype=np.int64)
        inst = np.full(n, -1, dtype=np.int64)
        colors = np.zeros((n, 3), dtype=np.uint8)
        flat = faces.ravel()
        labels[flat] = np.repeat(self.face_labels, 3)
        inst[flat] = np.repeat(self.face_instances, 3)
        colors[flat] = np.repeat(self.face_colors, 3, axis=0)
        return labels, inst, colors

    def to_scan(self) -> Scan:
        """The ground truth as a :class:`Scan`: points are the mesh vertices, per-vertex labels, colours and
        normals from the faces, the mesh attached, and instance ids in ``extra["instances"]``."""
        labels, inst, colors = self.vertex_attributes()
        return Scan(points=np.asarray(self.mesh.vertices, dtype=np.float32), colors=colors,
                    normals=np.asarray(self.mesh.vertex_normals, dtype=np.float32), labels=labels,
                    label_set=SCANNET20, mesh=self.mesh,
                    extra={"instances": inst, "seed": self.seed, "room_type": self.room_type,
                           "synthetic": True})

    def to_json(self) -> dict:
        """JSON-ready description: seed, type, size, config, openings and object records."""
        cfg = self.config.to_json() if self.config is not None else None
        return {"seed": self.seed, "room_type": self.room_type, "size": [float(s) for s in self.size],
                "config": cfg, "label_set": SCANNET20.name, "faces": int(len(self.face_labels)),
                "openings": [asdict(o) for o in self.openings], "objects": [o.to_json() for o in self.objects]}


class SceneAssembler:
    """Accumulates placed parts; each call to :meth:`add` creates one instance per class among the pieces."""

    def __init__(self, rng: np.random.Generator, face_noise: float = 2.5):
        self.rng = rng
        self.face_noise = face_noise
        self._meshes: list[MeshData] = []
        self._labels: list[np.ndarray] = []
        self._instances: list[np.ndarray] = []
        self._colors: list[np.ndarray] = []
        self._palettes: dict[tuple, np.ndarray] = {}
        self.objects: list[RoomObject] = []
        self._next_group = 0

    def new_group(self) -> int:
        self._next_group += 1
        return self._next_group - 1

    def _color(self, key: tuple) -> np.ndarray:
        if key not in self._palettes:
            self._palettes[key] = sample_material_color(key[-1], self.rng)
        return self._palettes[key]

    def add(self, pieces: list[Piece], kind: str, mount: str, group: int, transform: np.ndarray | None = None,
            footprint: Footprint | None = None, palette: object = None, anchor: int | None = None) -> list[int]:
        """Place ``pieces`` (in their builder's frame) with ``transform``; returns the new instance ids.

        ``palette`` shares material colours between calls (all walls one paint, a table's chairs one set);
        by default each instance draws its own.
        """
        transform = np.eye(4) if transform is None else np.asarray(transform, dtype=np.float64)
        classes: list[str | None] = []
        for p in pieces:
            if p.class_name not in classes:
                classes.append(p.class_name)
        ids = []
        for cls in classes:
            inst = len(self.objects)
            key = (palette,) if palette is not None else ("instance", inst)
            meshes = []
            for p in (q for q in pieces if q.class_name == cls):
                mesh = p.mesh.transformed(transform)
                nf = len(mesh.faces)
                if p.colors is not None:
                    col = np.asarray(p.colors, dtype=np.float64)
                else:
                    shade = np.broadcast_to(np.asarray(p.shade, dtype=np.float64), (nf,))
                    col = self._color(key + (p.material,))[None] * shade[:, None]
                col = col + self.rng.normal(0.0, self.face_noise, (nf, 3))
                self._meshes.append(mesh)
                self._labels.append(np.full(nf, class_label(cls), dtype=np.int64))
                self._instances.append(np.full(nf, inst, dtype=np.int64))
                self._colors.append(np.clip(np.round(col), 0, 255).astype(np.uint8))
                meshes.append(mesh)
            v = np.concatenate([m.vertices for m in meshes])
            self.objects.append(RoomObject(inst, cls, class_label(cls), kind, mount, group, anchor,
                                           transform.copy(), footprint, np.stack([v.min(axis=0), v.max(axis=0)])))
            ids.append(inst)
        return ids

    def build(self, **room_fields) -> SyntheticRoom:
        """Stack everything into a :class:`SyntheticRoom` (``room_fields``: seed, room_type, size, ...)."""
        merged = MeshData.concat(self._meshes)
        colors = np.concatenate(self._colors)
        mesh = trimesh.Trimesh(merged.vertices, merged.faces, process=False)
        mesh.visual.face_colors = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], axis=1)
        return SyntheticRoom(mesh=mesh, face_labels=np.concatenate(self._labels),
                             face_instances=np.concatenate(self._instances), face_colors=colors,
                             objects=self.objects, **room_fields)
