"""Plain-dict summaries of scans and of the camera datasets beside them, for ``nir-studio info`` and reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, UnsupportedFormatError
from .scan import Scan


def scan_summary(scan: Scan) -> dict:
    """Counts, bounds and attribute presence of a scan, JSON-serialisable."""
    lo, hi = scan.bounds()
    out = {
        "kind": "mesh" if scan.has_faces else "points",
        "source": str(scan.source) if scan.source else None,
        "points": len(scan),
        "bounds_min": [round(float(v), 6) for v in lo],
        "bounds_max": [round(float(v), 6) for v in hi],
        "extent": [round(float(v), 6) for v in hi - lo],
        "colors": scan.colors is not None,
        "normals": scan.normals is not None,
        "labels": scan.labels is not None,
    }
    if scan.has_faces:
        out["faces"] = len(scan.mesh.faces)
        out["watertight"] = bool(scan.mesh.is_watertight)
    if scan.labels is not None and scan.label_set is not None:
        out["label_set"] = scan.label_set.name
        out["num_classes"] = len(scan.label_set)
        out["label_histogram"] = scan.label_histogram()
    for key in ("scene", "room", "category", "class_id"):
        if key in scan.extra:
            out[key] = scan.extra[key]
    return out


def camera_dataset_summary(path: Path) -> dict:
    """Summary of a NeRF dataset file: Blender ``transforms_*.json``, LLFF ``poses_bounds.npy``,
    a tiny-NeRF ``.npz`` of images + poses, or a single image. Raises for any other file."""
    path = Path(path)
    name, ext = path.name, path.suffix.lower()
    if ext == ".json" and name.startswith("transforms"):
        try:
            meta = json.loads(path.read_text())
            frames = meta["frames"]
        except (ValueError, KeyError) as exc:
            raise CorruptFileError(path, f"not a Blender transforms file ({exc})") from None
        return {"kind": "nerf-blender", "frames": len(frames), "camera_angle_x": meta.get("camera_angle_x")}
    if name == "poses_bounds.npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] != 17:
            raise CorruptFileError(path, f"LLFF poses_bounds must be (N, 17), got {arr.shape}")
        h, w, f = arr[0, :15].reshape(3, 5)[:, 4]
        return {"kind": "nerf-llff", "images": len(arr), "full_res_hw": [int(h), int(w)], "focal": float(f),
                "near_far": [float(arr[:, 15].min()), float(arr[:, 16].max())]}
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if {"images", "poses", "focal"} <= set(z.files):
                return {"kind": "nerf-tiny", "images": list(z["images"].shape), "focal": float(z["focal"])}
    if ext in (".png", ".jpg", ".jpeg"):
        from PIL import Image

        with Image.open(path) as im:
            return {"kind": "image", "size": list(im.size), "mode": im.mode}
    raise UnsupportedFormatError(path, "not a scan, mesh or camera dataset file")
