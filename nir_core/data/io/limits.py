"""Size limits and the checks every loaded scan passes before it reaches the rest of the pipeline."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InvalidScanError, MeshRequiredError, ScanTooLargeError
from ..scan import Scan

MIN_POINTS = 4
"""Fewer points than this cannot span a surface (and break normalisation / neighbour search)."""


@dataclass(frozen=True)
class LoadLimits:
    """Upper bounds that protect a batch job or the web server from absurd inputs.

    The defaults fit a 24 GiB machine with room to spare: 20 M points of xyz + rgb + normals + labels is
    about 0.8 GB in memory, and a 2 GiB file is larger than any single ScanNet room mesh (~100 MB).
    """

    max_file_bytes: int = 2 * 1024**3
    """Largest file accepted, in bytes (checked before reading)."""
    max_points: int = 20_000_000
    """Largest number of points / vertices accepted (checked from headers before reading when possible)."""
    max_faces: int = 40_000_000
    """Largest number of mesh faces accepted."""


DEFAULT_LIMITS = LoadLimits()


def check_file_size(path: Path, limits: LoadLimits) -> int:
    """Size of ``path`` in bytes; raises when it is above the limit."""
    size = os.path.getsize(path)
    if size > limits.max_file_bytes:
        raise ScanTooLargeError(
            path, f"file is {size / 1024**3:.2f} GiB, above the limit of {limits.max_file_bytes / 1024**3:.2f} GiB"
        )
    return size


def check_counts(path: Path, limits: LoadLimits, points: int, faces: int = 0) -> None:
    """Raises when a header announces more points or faces than the limits allow."""
    if points > limits.max_points:
        raise ScanTooLargeError(path, f"{points:,} points, above the limit of {limits.max_points:,}")
    if faces > limits.max_faces:
        raise ScanTooLargeError(path, f"{faces:,} faces, above the limit of {limits.max_faces:,}")


def validate_scan(scan: Scan, path: Path, limits: LoadLimits, require_faces: bool = False) -> Scan:
    """Checks shapes, finiteness, counts and per-point attribute lengths; returns the scan with canonical dtypes."""
    pts = np.asarray(scan.points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InvalidScanError(path, f"points must be (N, 3), got shape {pts.shape}")
    n = len(pts)
    check_counts(path, limits, n, 0 if scan.mesh is None else len(scan.mesh.faces))
    if n < MIN_POINTS:
        raise InvalidScanError(path, f"only {n} point(s); at least {MIN_POINTS} are needed")
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        bad = int((~finite).sum())
        raise InvalidScanError(path, f"{bad} of {n} points have NaN or infinite coordinates")
    scan.points = pts.astype(np.float32, copy=False)
    for name in ("colors", "normals", "labels"):
        value = getattr(scan, name)
        if value is not None and len(value) != n:
            raise InvalidScanError(path, f"{len(value)} {name} for {n} points")
    if scan.colors is not None:
        scan.colors = _as_uint8_colors(scan.colors)
    if scan.normals is not None:
        scan.normals = np.asarray(scan.normals, dtype=np.float32)
    if scan.labels is not None:
        scan.labels = np.asarray(scan.labels).astype(np.int64, copy=False)
    if require_faces and not scan.has_faces:
        raise MeshRequiredError(path, "a mesh with faces is required, but the file has points only")
    if scan.mesh is not None and len(scan.mesh.faces):
        faces = np.asarray(scan.mesh.faces)
        if faces.min() < 0 or faces.max() >= len(scan.mesh.vertices):
            raise InvalidScanError(path, "faces index vertices that do not exist")
    return scan


def _as_uint8_colors(colors: np.ndarray) -> np.ndarray:
    """Float colours in [0, 1] are scaled to 0..255; alpha is dropped."""
    colors = np.asarray(colors)[:, :3]
    if colors.dtype.kind == "f":
        top = float(np.nanmax(colors)) if colors.size else 0.0
        colors = colors * 255.0 if top <= 1.0 else colors
        colors = np.clip(np.nan_to_num(colors), 0, 255).round()
    return colors.astype(np.uint8)
