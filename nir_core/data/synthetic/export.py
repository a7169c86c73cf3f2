"""Writing a synthetic room and its simulated scan as files the project's loaders read."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

from ...atomic import atomic_write_bytes
from ..io import save_scan
from ..labels import SCANNET20
from ..scan import Scan
from .scanner import ScannerConfig
from .scene import SyntheticRoom


def mesh_scan(room: SyntheticRoom) -> Scan:
    """The ground-truth mesh as a :class:`Scan` with exact per-vertex labels: every face gets its own three
    vertices (``3 F`` points), carrying that face's label, colour and normal."""
    faces = np.asarray(room.mesh.faces)
    points = np.asarray(room.mesh.vertices, dtype=np.float32)[faces].reshape(-1, 3)
    tri = np.arange(len(points), dtype=np.int64).reshape(-1, 3)
    normals = np.repeat(np.asarray(room.mesh.face_normals, dtype=np.float32), 3, axis=0)
    return Scan(points=points, colors=np.repeat(room.face_colors, 3, axis=0), normals=normals,
                labels=np.repeat(room.face_labels, 3), label_set=SCANNET20,
                mesh=trimesh.Trimesh(points, tri, process=False),
                extra={"instances": np.repeat(room.face_instances, 3)})


def write_room(room: SyntheticRoom, scan: Scan, out_dir: str | Path, name: str,
               scanner_config: ScannerConfig | None = None) -> dict[str, Path]:
    """Write ``<name>_scan.ply``, ``<name>_mesh.ply`` and ``<name>.json`` into ``out_dir`` (created if needed).

    The PLYs (written by :func:`nir_core.data.io.save_scan`, atomically) carry x, y, z, normals, colours
    and an int ``label`` per vertex, and the label set in a header comment; the mesh PLY has unshared
    vertices so labels are exact per face. The JSON holds the seeds, the configs, the room size and type,
    the openings, the object records (instance id, class, footprint, pose, bounds) and the scan's camera
    poses. Instance ids per point are not in the PLYs; they are ``scan.extra["instances"]`` in memory.

    Returns
    -------
    ``{"scan": path, "mesh": path, "json": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scan": out / f"{name}_scan.ply", "mesh": out / f"{name}_mesh.ply", "json": out / f"{name}.json"}
    save_scan(scan, paths["scan"])
    save_scan(mesh_scan(room), paths["mesh"])
    meta = room.to_json()
    poses = scan.extra.get("camera_poses")
    meta["scan"] = {
        "points": int(len(scan)), "seed": scan.extra.get("seed"), "fov": scan.extra.get("fov"),
        "camera_poses": None if poses is None else np.round(np.asarray(poses), 6).tolist(),
        "config": scanner_config.to_json() if scanner_config is not None else None,
        "label_histogram": scan.label_histogram(),
    }
    meta["files"] = {k: p.name for k, p in paths.items() if k != "json"}
    atomic_write_bytes(paths["json"], json.dumps(meta, indent=1).encode("utf-8"))
    return paths
