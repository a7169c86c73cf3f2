"""Point arrays in ``.npy`` / ``.npz`` / ``.txt`` files.

Column layout of a plain (N, k) array: ``xyz`` (3), ``xyz label`` (4), ``xyz rgb`` (6), ``xyz rgb label`` (7),
``xyz rgb normals`` (9) and ``xyz rgb normals label`` (10). A 7-column array is read as rgb + label only
when the last column holds integers; colours may be 0..255 or 0..1.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, InvalidScanError
from ..labels import SHAPENETPART50, generic_label_set
from ..scan import Scan
from .limits import LoadLimits, check_counts

_POINT_KEYS = ("points", "xyz", "vertices", "pos", "coords", "point_cloud", "pc")
_COLOR_KEYS = ("colors", "colours", "rgb", "color")
_NORMAL_KEYS = ("normals", "normal", "norm")
_LABEL_KEYS = ("labels", "label", "part_label", "sem_label", "semantic_labels", "seg", "segmentation")


def read_npy(path: Path, limits: LoadLimits) -> Scan:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CorruptFileError(path, f"not a numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise CorruptFileError(path, f"cannot read .npy ({exc})") from None
    check_counts(path, limits, arr.shape[0] if arr.ndim else 0)
    try:
        arr = np.asarray(arr)
    except ValueError as exc:  # a header promising more data than the file holds
        raise CorruptFileError(path, f"truncated .npy ({exc})") from None
    return _scan_from_table(path, arr)


def read_txt(path: Path, limits: LoadLimits) -> Scan:
    try:
        arr = np.loadtxt(path, dtype=np.float64, ndmin=2, comments=("#", "//"),
                         delimiter="," if _looks_comma_separated(path) else None)
    except ValueError as exc:
        raise CorruptFileError(path, f"not a numeric point table ({exc})") from None
    check_counts(path, limits, len(arr))
    return _scan_from_table(path, arr)


def _looks_comma_separated(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"," in head


def read_npz(path: Path, limits: LoadLimits) -> Scan:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            point_key = next((k for k in _POINT_KEYS if k in keys), None)
            if point_key is None:
                raise InvalidScanError(path, f"no point array in .npz (looked for {', '.join(_POINT_KEYS)}; "
                                             f"found {', '.join(sorted(keys)) or 'nothing'})")
            pts = z[point_key]
            check_counts(path, limits, pts.shape[0] if pts.ndim else 0)
            get = lambda names: next((z[k] for k in names if k in keys), None)
            colors, normals, labels = get(_COLOR_KEYS), get(_NORMAL_KEYS), get(_LABEL_KEYS)
            category = str(z["category"]) if "category" in keys else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CorruptFileError(path, f"not a readable .npz archive ({exc})") from None
    except ValueError as exc:
        raise CorruptFileError(path, f"cannot read .npz ({exc})") from None
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise InvalidScanError(path, f"'{point_key}' must be (N, 3), got shape {pts.shape}")
    scan = Scan(points=np.asarray(pts[:, :3], np.float32), colors=colors, normals=normals, source=path)
    if pts.shape[1] >= 6 and colors is None:
        scan.colors = pts[:, 3:6]
    if labels is not None:
        scan.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        scan.label_set = SHAPENETPART50 if category is not None else _generic(scan.labels)
    if category is not None:
        scan.extra["category"] = category
    return scan


def _scan_from_table(path: Path, arr: np.ndarray) -> Scan:
    if arr.ndim == 1 and arr.size % 3 == 0 and arr.dtype.kind == "f":
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] not in (3, 4, 6, 7, 9, 10):
        raise InvalidScanError(path, f"expected an (N, 3|4|6|7|9|10) point table (xyz[, rgb][, normals][, label]), "
                                     f"got shape {arr.shape}")
    k = arr.shape[1]
    scan = Scan(points=np.asarray(arr[:, :3], np.float32), source=path)
    has_label = k in (4, 7, 10) and _is_integral(arr[:, -1])
    if k in (6, 7, 9, 10):
        scan.colors = np.asarray(arr[:, 3:6], np.float64)
    if k in (9, 10):
        scan.normals = np.asarray(arr[:, 6:9], np.float32)
    if k in (4, 7, 10):
        if not has_label:
            raise InvalidScanError(path, f"column {k} should hold integer labels but has fractional values")
        scan.labels = arr[:, -1].astype(np.int64)
        scan.label_set = _generic(scan.labels)
    return scan


def _is_integral(col: np.ndarray) -> bool:
    col = np.asarray(col, dtype=np.float64)
    return bool(np.all(np.isfinite(col)) and np.all(col == np.round(col)))


def _generic(labels: np.ndarray):
    top = int(labels.max()) if labels.size else -1
    return generic_label_set(top + 1)
