"""Loading scans and meshes: one :func:`load` for every format and dataset layout the project reads.

>>> from nir_core.data.io import load
>>> scan = load("room.ply")          # doctest: +SKIP
>>> scan.points.shape, scan.label_set.name

Every failure a user can cause raises a :class:`~nir_core.errors.ScanLoadError` subclass naming the file
and the reason. Limits on file size and point counts: :class:`LoadLimits`.
"""
from __future__ import annotations

import io as _io
import json
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_bytes
from ...errors import CorruptFileError, MissingFileError, NIRStudioError, UnsupportedFormatError
from ..scan import Scan
from .arrays import read_npy, read_npz, read_txt
from .datasets import annotate_by_name, layout_reader, scan_units
from .limits import DEFAULT_LIMITS, LoadLimits, check_file_size, validate_scan
from .meshes import glb_bytes, read_off, read_ply_scan, read_with_trimesh
from .ply import label_set_comment, write_ply

__all__ = ["SUPPORTED_EXTENSIONS", "LoadLimits", "find_scans", "glb_bytes", "load", "save_scan", "write_ply"]

_READERS = {
    ".ply": read_ply_scan,
    ".off": read_off,
    ".obj": read_with_trimesh,
    ".stl": read_with_trimesh,
    ".glb": read_with_trimesh,
    ".gltf": read_with_trimesh,
    ".npy": read_npy,
    ".npz": read_npz,
    ".txt": read_txt,
    ".xyz": read_txt,
    ".csv": read_txt,
}
SUPPORTED_EXTENSIONS = frozenset(_READERS) | {".bin"}
"""File extensions :func:`load` reads (``.bin`` only in the S3DIS layout)."""


def load(path: str | Path, *, limits: LoadLimits = DEFAULT_LIMITS, require_faces: bool = False) -> Scan:
    """Reads a scan or mesh file, or a folder holding exactly one scan.

    Parameters
    ----------
    path: a file of a supported format (see :data:`SUPPORTED_EXTENSIONS`) or a dataset file whose siblings
        complete it (ScanNet ``*_vert.npy`` + ``*_sem_label.npy``, S3DIS ``*_points.bin`` + masks).
    limits: size limits checked before data is read.
    require_faces: raise :class:`~nir_core.errors.MeshRequiredError` unless the input is a mesh with faces.

    Returns
    -------
    Scan in the file's own coordinates (``scan.normalised()`` moves it into the unit cube).
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "no such file or folder")
    if path.is_dir():
        units = scan_units(path, set(_READERS))
        if not units:
            raise UnsupportedFormatError(path, "folder holds no scan or mesh file of a supported format")
        if len(units) > 1:
            names = ", ".join(u.name for u in units[:4]) + (", ..." if len(units) > 4 else "")
            raise UnsupportedFormatError(path, f"folder holds {len(units)} scans ({names}); pass one of them")
        path = units[0]
    if check_file_size(path, limits) == 0:
        raise CorruptFileError(path, "file is empty")
    reader = layout_reader(path) or _READERS.get(path.suffix.lower())
    if reader is None:
        supported = " ".join(sorted(SUPPORTED_EXTENSIONS))
        raise UnsupportedFormatError(path, f"unknown file type {path.suffix or '(no extension)'!r}; "
                                           f"supported: {supported}")
    try:
        scan = reader(path, limits)
    except NIRStudioError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a parser's own error: report it as this file's problem, not a crash
        raise CorruptFileError(path, f"cannot read ({type(exc).__name__}: {exc})") from exc
    scan = annotate_by_name(scan, path)
    scan.source = path
    return validate_scan(scan, path, limits, require_faces=require_faces)


def find_scans(path: str | Path) -> list[Path]:
    """The scans a path stands for: itself when it is a file, each loadable scan under it when a folder."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "no such file or folder")
    return scan_units(path, set(_READERS)) if path.is_dir() else [path]


def save_scan(scan: Scan, path: str | Path) -> Path:
    """Writes ``scan`` atomically; the format follows the extension.

    ``.ply``: points (or the mesh with faces) with colours, normals and a ``label`` property, the label set in
    a header comment; ``.npz``: arrays ``points``, ``colors``, ``normals``, ``labels`` and ``label_set`` (JSON);
    ``.obj`` / ``.off`` / ``.stl`` / ``.glb``: the mesh (requires faces), with ``colors`` as vertex colours
    where the format has them (GLB: what web viewers show; with vertex normals and a double-sided material, see
    :func:`~nir_core.data.io.meshes.glb_bytes`).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".ply":
        comments = [label_set_comment(scan.label_set)] if scan.label_set is not None and scan.labels is not None else []
        faces = scan.mesh.faces if scan.has_faces else None
        if faces is not None and len(scan.mesh.vertices) != len(scan.points):
            raise ValueError("scan.points must be the mesh vertices to write a mesh PLY")
        return write_ply(path, scan.points, colors=scan.colors, normals=scan.normals, labels=scan.labels,
                         faces=faces, comments=comments)
    if ext == ".npz":
        arrays = {"points": np.asarray(scan.points, np.float32)}
        for name in ("colors", "normals", "labels"):
            if getattr(scan, name) is not None:
                arrays[name] = np.asarray(getattr(scan, name))
        if scan.label_set is not None:
            arrays["label_set"] = np.array(json.dumps(scan.label_set.to_json()))
        buf = _io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path
    if ext in (".obj", ".off", ".stl", ".glb"):
        if not scan.has_faces:
            raise ValueError(f"{path}: {ext} needs a mesh with faces")
        mesh = scan.mesh.copy()
        mesh.vertex_attributes = {}  # e.g. int64 labels: not a glTF / OBJ vertex attribute (the PLY keeps them)
        if scan.colors is not None and len(scan.colors) == len(mesh.vertices):
            mesh.visual.vertex_colors = np.asarray(scan.colors, np.uint8)  # RGB; trimesh adds the alpha
        data = glb_bytes(mesh) if ext == ".glb" else mesh.export(file_type=ext[1:])
        atomic_write_bytes(path, data.encode() if isinstance(data, str) else data)
        return path
    raise ValueError(f"{path}: cannot write {ext!r}; use .ply, .npz, .obj, .off, .stl or .glb")
