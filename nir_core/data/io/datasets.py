"""The dataset layouts in ``../shared/data``: files whose meaning comes from their name and siblings.

- ScanNet, votenet export: ``sceneXXXX_XX_vert.npy`` ((N, 6) xyz rgb) + ``_sem_label.npy`` (NYU40 ids) +
  ``_ins_label.npy``; the full-resolution export uses ``_vert_all.npy`` / ``_sem_label_all.npy``. Labels are
  mapped NYU40 -> ScanNet-20 with the ``scannetv2-labels.combined.tsv`` found beside the files.
- S3DIS (mmdetection3d binary export): ``<room>_points.bin`` (float32 (N, 6)) + ``_semantic_mask.bin``
  (int64 13-class ids) + ``_instance_mask.bin``.
- ShapeNetPart: ``<Category>.npz`` (points, part_label, category) or ``<Category>.txt`` (x y z part_label),
  global part ids 0..49.
- ModelNet40: ``<class>/<class>_NNNN.off``; the folder name gives the object class.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, InvalidScanError
from ..labels import (
    MODELNET40_NAMES,
    S3DIS13,
    SCANNET20,
    SHAPENETPART50,
    SHAPENETPART_CATEGORIES,
    nyu40_to_scannet20,
)
from ..scan import Scan
from .limits import LoadLimits, check_counts

SCANNET_RE = re.compile(r"^(scene\d{4}_\d{2})_(vert|sem_label|ins_label|bbox)(_all)?\.npy$")
S3DIS_RE = re.compile(r"^(.+)_(points|semantic_mask|instance_mask)\.bin$")
SCANNET_TSV = "scannetv2-labels.combined.tsv"


def layout_reader(path: Path) -> Callable[[Path, LoadLimits], Scan] | None:
    """The dataset-specific reader for ``path``, or None when the file is read by its extension alone."""
    name = path.name
    if SCANNET_RE.match(name):
        return read_scannet
    if S3DIS_RE.match(name):
        return read_s3dis
    return None


def read_scannet(path: Path, limits: LoadLimits) -> Scan:
    """Any file of a ScanNet scene -> the scene with ScanNet-20 labels (NYU40 ids kept in ``extra``)."""
    scene, _, full = SCANNET_RE.match(path.name).groups()
    folder = path.parent
    # The full-resolution export names its arrays *_all but its boxes not, so try both spellings.
    suffixes = [full or "", "_all" if not full else ""]
    suffix = next((s for s in suffixes if (folder / f"{scene}_vert{s}.npy").exists()), None)
    if suffix is None:
        raise CorruptFileError(path, f"ScanNet scene {scene}: {scene}_vert.npy is missing beside it")
    vert_path = folder / f"{scene}_vert{suffix}.npy"
    try:
        vert = np.load(vert_path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(vert_path, f"cannot read ScanNet vertices ({exc})") from None
    if vert.ndim != 2 or vert.shape[1] < 3:
        raise InvalidScanError(vert_path, f"ScanNet vertices must be (N, 6) xyz rgb, got shape {vert.shape}")
    check_counts(vert_path, limits, len(vert))
    vert = np.asarray(vert)
    scan = Scan(points=vert[:, :3].astype(np.float32), colors=vert[:, 3:6] if vert.shape[1] >= 6 else None,
                source=vert_path)
    scan.extra["scene"] = scene
    sem_path = folder / f"{scene}_sem_label{suffix}.npy"
    if sem_path.exists():
        nyu40 = _load_side_array(sem_path)
        if len(nyu40) != len(vert):
            raise InvalidScanError(sem_path, f"{len(nyu40)} labels for {len(vert)} points of {vert_path.name}")
        tsv = folder / SCANNET_TSV
        scan.labels = nyu40_to_scannet20(nyu40, tsv if tsv.exists() else None)
        scan.label_set = SCANNET20
        scan.extra["nyu40"] = nyu40.astype(np.int64)
    ins_path = folder / f"{scene}_ins_label{suffix}.npy"
    if ins_path.exists():
        scan.extra["instances"] = _load_side_array(ins_path).astype(np.int64)
    return scan


def read_s3dis(path: Path, limits: LoadLimits) -> Scan:
    """Any file of an S3DIS room export -> the room with S3DIS 13-class labels."""
    room = S3DIS_RE.match(path.name).group(1)
    pts_path = path.parent / f"{room}_points.bin"
    if not pts_path.exists():
        raise CorruptFileError(path, f"S3DIS room {room}: {pts_path.name} is missing beside it")
    raw = np.fromfile(pts_path, dtype=np.float32)
    if raw.size == 0 or raw.size % 6:
        raise CorruptFileError(pts_path, f"S3DIS points must be float32 (N, 6); {raw.size} values is not a multiple of 6")
    check_counts(pts_path, limits, raw.size // 6)
    table = raw.reshape(-1, 6)
    scan = Scan(points=table[:, :3].copy(), colors=table[:, 3:6], source=pts_path)
    scan.extra["room"] = room
    sem_path = path.parent / f"{room}_semantic_mask.bin"
    if sem_path.exists():
        labels = np.fromfile(sem_path, dtype=np.int64)
        if len(labels) != len(table):
            raise InvalidScanError(sem_path, f"{len(labels)} labels for {len(table)} points of {pts_path.name}")
        labels = np.where((labels >= 0) & (labels < len(S3DIS13)), labels, -1)
        scan.labels, scan.label_set = labels, S3DIS13
    ins_path = path.parent / f"{room}_instance_mask.bin"
    if ins_path.exists():
        scan.extra["instances"] = np.fromfile(ins_path, dtype=np.int64)
    return scan


def _load_side_array(path: Path) -> np.ndarray:
    try:
        return np.asarray(np.load(path, allow_pickle=False)).reshape(-1)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(path, f"cannot read label array ({exc})") from None


def annotate_by_name(scan: Scan, path: Path) -> Scan:
    """Meaning a file takes from its name: ShapeNetPart category files and ModelNet40 class folders."""
    stem = path.stem
    categories = {c.lower(): c for c in SHAPENETPART_CATEGORIES}
    if path.suffix.lower() in (".txt", ".npz") and stem.lower() in categories and scan.labels is not None:
        category = categories[stem.lower()]
        scan.extra.setdefault("category", category)
        if scan.labels.min() >= 0 and scan.labels.max() < len(SHAPENETPART50):
            scan.label_set = SHAPENETPART50
    parent = path.parent.name.lower()
    if path.suffix.lower() == ".off" and parent in MODELNET40_NAMES and stem.lower().startswith(parent):
        scan.extra["category"] = parent
        scan.extra["class_id"] = MODELNET40_NAMES.index(parent)
    return scan


def scan_units(folder: Path, extensions: set[str]) -> list[Path]:
    """The loadable scans under ``folder`` (recursive), one path per scan.

    ScanNet scenes and S3DIS rooms count once (their vertex / points file); label side-files, bounding boxes and
    files of other kinds (images, json, markdown) are left out.
    """
    units: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        m = SCANNET_RE.match(p.name)
        if m:
            scene, kind, full = m.groups()
            if kind == "vert":
                units[f"{p.parent}/{scene}{full or ''}"] = p
            continue
        m = S3DIS_RE.match(p.name)
        if m:
            if m.group(2) == "points":
                units[f"{p.parent}/{m.group(1)}"] = p
            continue
        if p.suffix.lower() in extensions and not _is_non_scan_array(p):
            units[str(p)] = p
    return list(units.values())


def _is_non_scan_array(p: Path) -> bool:
    """NeRF camera files and image archives share the .npy/.npz extensions but hold no points."""
    return p.name in ("poses_bounds.npy", "tiny_nerf_data.npz")
