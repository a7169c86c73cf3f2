"""Label sets: class names, colour palettes and the maps between the datasets' label spaces.

The project's working label space for rooms is the ScanNet-20 benchmark subset of NYU40. Labels are
integer arrays with ``IGNORE_LABEL`` (-1) for "unlabelled / not one of the classes".
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IGNORE_LABEL = -1
"""Label of points that belong to no class of the label set (NYU40 0, classes outside ScanNet-20)."""

NYU40_NAMES: tuple[str, ...] = (
    "unannotated", "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow",
    "mirror", "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper",
    "towel", "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)
"""NYU40 class names indexed by NYU40 id (0 = unannotated)."""

SCANNET20_NYU40_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
"""NYU40 ids of the 20 ScanNet benchmark classes, in benchmark order (ScanNet-20 label i = this tuple's i-th id)."""

# The ScanNet benchmark palette (ScanNet's util.create_color_palette), in ScanNet-20 order.
_SCANNET20_COLORS = (
    (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34), (140, 86, 75),
    (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189), (196, 156, 148), (23, 190, 207),
    (247, 182, 210), (219, 219, 141), (255, 127, 14), (158, 218, 229), (44, 160, 44), (112, 128, 144),
    (227, 119, 194), (82, 84, 163),
)

UNLABELLED_COLOR = (0, 0, 0)
"""Colour given to ``IGNORE_LABEL`` points."""


@dataclass(frozen=True)
class LabelSet:
    """A named list of classes with one display colour each."""

    name: str
    """Identifier of the label space, e.g. ``"scannet20"``; stored in files and bundles."""
    names: tuple[str, ...]
    """Class names; label ``i`` means ``names[i]``."""
    colors: np.ndarray = field(compare=False)
    """(C, 3) uint8 display colour per class."""

    def __post_init__(self):
        colors = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
        if len(colors) != len(self.names):
            raise ValueError(f"label set {self.name!r}: {len(self.names)} names but {len(colors)} colours")
        object.__setattr__(self, "colors", colors)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Label id of the class called ``name`` (ValueError when absent)."""
        return self.names.index(name)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """(N,) int labels -> (N, 3) uint8 colours; ``IGNORE_LABEL`` and out-of-range ids are black."""
        labels = np.asarray(labels)
        out = np.tile(np.asarray(UNLABELLED_COLOR, dtype=np.uint8), (len(labels), 1))
        valid = (labels >= 0) & (labels < len(self.names))
        out[valid] = self.colors[labels[valid]]
        return out

    def histogram(self, labels: np.ndarray) -> dict[str, int]:
        """Count of points per class name (classes absent from ``labels`` omitted; unlabelled as "unlabelled")."""
        labels = np.asarray(labels)
        counts = np.bincount(labels[labels >= 0], minlength=len(self.names)) if len(labels) else []
        hist = {self.names[i]: int(c) for i, c in enumerate(counts) if c > 0 and i < len(self.names)}
        unlabelled = int(np.sum((labels < 0) | (labels >= len(self.names))))
        if unlabelled:
            hist["unlabelled"] = unlabelled
        return hist

    def to_json(self) -> dict:
        return {"name": self.name, "names": list(self.names), "colors": self.colors.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> LabelSet:
        return cls(name=str(d["name"]), names=tuple(d["names"]), colors=np.asarray(d["colors"], dtype=np.uint8))


SCANNET20 = LabelSet(
    name="scannet20",
    names=tuple(NYU40_NAMES[i] for i in SCANNET20_NYU40_IDS),
    colors=np.asarray(_SCANNET20_COLORS, dtype=np.uint8),
)
"""The 20 ScanNet benchmark classes with the benchmark's palette."""

S3DIS13 = LabelSet(
    name="s3dis13",
    names=("ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa",
           "bookcase", "board", "clutter"),
    colors=np.asarray([(241, 255, 82), (102, 168, 226), (0, 255, 0), (0, 0, 255), (197, 86, 36),
                       (255, 0, 255), (255, 124, 0), (255, 0, 0), (0, 255, 255), (145, 30, 180),
                       (50, 205, 50), (128, 128, 128), (60, 60, 60)], dtype=np.uint8),
)
"""S3DIS's 13 classes (Area/room annotation ids 0..12)."""

SHAPENETPART_CATEGORIES: dict[str, tuple[int, ...]] = {
    "Airplane": (0, 1, 2, 3), "Bag": (4, 5), "Cap": (6, 7), "Car": (8, 9, 10, 11), "Chair": (12, 13, 14, 15),
    "Earphone": (16, 17, 18), "Guitar": (19, 20, 21), "Knife": (22, 23), "Lamp": (24, 25, 26, 27),
    "Laptop": (28, 29), "Motorbike": (30, 31, 32, 33, 34, 35), "Mug": (36, 37), "Pistol": (38, 39, 40),
    "Rocket": (41, 42, 43), "Skateboard": (44, 45, 46), "Table": (47, 48, 49),
}
"""ShapeNetPart categories and their global part ids (0..49)."""


def palette(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) uint8 distinct, reasonably saturated colours for label sets without an official palette."""
    golden = 0.618033988749895
    hues = (np.arange(n) * golden + 0.1 * seed) % 1.0
    sat, val = 0.65, 0.92
    i = np.floor(hues * 6).astype(int) % 6
    f = hues * 6 - np.floor(hues * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    table = np.stack([
        np.stack([np.full(n, val), t, np.full(n, p)], 1), np.stack([q, np.full(n, val), np.full(n, p)], 1),
        np.stack([np.full(n, p), np.full(n, val), t], 1), np.stack([np.full(n, p), q, np.full(n, val)], 1),
        np.stack([t, np.full(n, p), np.full(n, val)], 1), np.stack([np.full(n, val), np.full(n, p), q], 1),
    ])
    rgb = table[i, np.arange(n)]
    return np.round(rgb * 255).astype(np.uint8)


SHAPENETPART50 = LabelSet(
    name="shapenetpart50",
    names=tuple(f"{cat.lower()}_part{k}" for cat, ids in SHAPENETPART_CATEGORIES.items() for k in range(len(ids))),
    colors=palette(50),
)
"""The 50 global ShapeNetPart part ids, named ``<category>_part<k>``."""

MODELNET40_NAMES: tuple[str, ...] = (
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone", "cup",
    "curtain", "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard", "lamp", "laptop",
    "mantel", "monitor", "night_stand", "person", "piano", "plant", "radio", "range_hood", "sink", "sofa",
    "stairs", "stool", "table", "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox",
)
"""ModelNet40 classes in the dataset's alphabetical id order."""


def read_nyu40_names_from_tsv(tsv: str | Path) -> dict[int, str]:
    """NYU40 id -> class name as written in ScanNet's ``scannetv2-labels.combined.tsv`` (columns nyu40id, nyu40class)."""
    names: dict[int, str] = {}
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                nid = int(row["nyu40id"])
            except (KeyError, TypeError, ValueError):
                continue
            names.setdefault(nid, row.get("nyu40class", "").strip())
    return names


def nyu40_to_scannet20(nyu40: np.ndarray, tsv: str | Path | None = None) -> np.ndarray:
    """Map NYU40 ids to ScanNet-20 labels (``IGNORE_LABEL`` for every id outside the benchmark subset).

    Parameters
    ----------
    nyu40: (N,) integer NYU40 ids, 0 = unannotated.
    tsv: ScanNet's official ``scannetv2-labels.combined.tsv``. When given, it is checked that every benchmark
        id occurs there (guards against a table of another label space). Class names come from
        :data:`SCANNET20`, which spells "refrigerator" where the tsv has ScanNet's "refridgerator".

    Returns
    -------
    (N,) int64 ScanNet-20 labels in ``[0, 20)`` or ``IGNORE_LABEL``.
    """
    if tsv is not None:
        missing = set(SCANNET20_NYU40_IDS) - set(read_nyu40_names_from_tsv(tsv))
        if missing:
            raise ValueError(f"{tsv}: not a ScanNet NYU40 label table (no rows for NYU40 ids {sorted(missing)})")
    lut = np.full(256, IGNORE_LABEL, dtype=np.int64)
    lut[list(SCANNET20_NYU40_IDS)] = np.arange(len(SCANNET20_NYU40_IDS))
    nyu40 = np.asarray(nyu40).astype(np.int64)
    out = np.full(nyu40.shape, IGNORE_LABEL, dtype=np.int64)
    inside = (nyu40 >= 0) & (nyu40 < 256)
    out[inside] = lut[nyu40[inside]]
    return out


def require_label_set(expected: LabelSet | None, actual: LabelSet | None, where: str | Path) -> None:
    """Raises when data labelled in ``actual``'s label space meets a model that predicts ``expected``'s
    (either side None: nothing to compare)."""
    from ..errors import NIRStudioError

    if expected is not None and actual is not None and actual.name != expected.name:
        raise NIRStudioError(f"{where}: labels are {actual.name}, the model predicts {expected.name}")


def generic_label_set(n: int, name: str = "labels") -> LabelSet:
    """A label set ``class_0 .. class_{n-1}`` for files that carry labels but no class names."""
    return LabelSet(name=name, names=tuple(f"class_{i}" for i in range(n)), colors=palette(n))
