"""PLY reading and writing (ascii and binary, little/big endian), with the properties scans carry.

Written here rather than through trimesh so that: header counts are checked against the size limits
before any data is read, truncated files fail with a clear reason, and extra vertex properties
(``label``, normals, colours) are kept.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_bytes
from ...errors import CorruptFileError
from .limits import LoadLimits, check_counts

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_MAX_HEADER_BYTES = 64 * 1024


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str]] = field(default_factory=list)
    """(name, numpy type) of scalar properties."""
    lists: list[tuple[str, str, str]] = field(default_factory=list)
    """(name, count type, item type) of list properties."""


@dataclass
class PlyData:
    """Parsed PLY: per element, a dict of property name -> array (list properties -> (count, k) arrays)."""

    elements: dict[str, dict[str, np.ndarray]]
    comments: list[str]


def _parse_header(path: Path, f) -> tuple[str, list[PlyElement], list[str]]:
    magic = f.readline()
    if magic.strip() != b"ply":
        raise CorruptFileError(path, "not a PLY file (missing 'ply' magic line)")
    fmt, elements, comments, read = None, [], [], len(magic)
    while True:
        line = f.readline()
        read += len(line)
        if not line:
            raise CorruptFileError(path, "PLY header ends before 'end_header'")
        if read > _MAX_HEADER_BYTES:
            raise CorruptFileError(path, "PLY header is larger than 64 KiB")
        words = line.decode("ascii", errors="replace").split()
        if not words:
            continue
        key = words[0]
        if key == "end_header":
            break
        if key == "format":
            fmt = words[1] if len(words) > 1 else None
        elif key in ("comment", "obj_info"):
            comments.append(line.decode("utf-8", errors="replace")[len(key):].strip())
        elif key == "element":
            try:
                elements.append(PlyElement(words[1], int(words[2])))
            except (IndexError, ValueError):
                raise CorruptFileError(path, f"bad PLY element line: {line.strip()!r}") from None
        elif key == "property":
            if not elements:
                raise CorruptFileError(path, "PLY property before any element")
            try:
                if words[1] == "list":
                    elements[-1].lists.append((words[4], _PLY_TYPES[words[2]], _PLY_TYPES[words[3]]))
                else:
                    elements[-1].properties.append((words[2], _PLY_TYPES[words[1]]))
            except (IndexError, KeyError):
                raise CorruptFileError(path, f"bad PLY property line: {line.strip()!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise CorruptFileError(path, f"unknown PLY format {fmt!r}")
    return fmt, elements, comments


def read_ply(path: Path, limits: LoadLimits) -> PlyData:
    """Reads every element of a PLY file. Raises :class:`CorruptFileError` on malformed or truncated data."""
    with open(path, "rb") as f:
        fmt, elements, comments = _parse_header(path, f)
        counts = {e.name: e.count for e in elements}
        check_counts(path, limits, counts.get("vertex", 0), counts.get("face", 0))
        body = f.read()
    out: dict[str, dict[str, np.ndarray]] = {}
    if fmt == "ascii":
        tokens = body.split()
        pos = 0
        for el in elements:
            out[el.name], pos = _read_ascii_element(path, el, tokens, pos)
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        pos = 0
        for el in elements:
            out[el.name], pos = _read_binary_element(path, el, body, pos, endian)
    return PlyData(out, comments)


def _read_binary_element(path, el: PlyElement, body: bytes, pos: int, endian: str):
    scalar = np.dtype([(n, endian + t) for n, t in el.properties])
    if not el.lists:
        nbytes = scalar.itemsize * el.count
        if pos + nbytes > len(body):
            raise CorruptFileError(path, f"PLY is truncated in element '{el.name}' ({el.count} expected)")
        arr = np.frombuffer(body, dtype=scalar, count=el.count, offset=pos)
        return {n: arr[n] for n, _ in el.properties}, pos + nbytes
    if el.count == 0:
        return {n: np.zeros((0, 3), dtype=t) for n, _, t in el.lists}, pos
    # Fast path: every list has the same length as the first one (triangle or quad meshes).
    lengths, p = [], pos + scalar.itemsize
    for _, ct, it in el.lists:
        if p + np.dtype(ct).itemsize > len(body):
            raise CorruptFileError(path, f"PLY is truncated in element '{el.name}'")
        k = int(np.frombuffer(body, dtype=endian + ct, count=1, offset=p)[0])
        lengths.append(k)
        p += np.dtype(ct).itemsize + k * np.dtype(it).itemsize
    fields = [(n, endian + t) for n, t in el.properties]
    for (n, ct, it), k in zip(el.lists, lengths):
        fields += [(f"__n_{n}", endian + ct), (n, endian + it, (k,))]
    fixed = np.dtype(fields)
    nbytes = fixed.itemsize * el.count
    if pos + nbytes <= len(body):
        arr = np.frombuffer(body, dtype=fixed, count=el.count, offset=pos)
        if all((arr[f"__n_{n}"] == k).all() for (n, _, _), k in zip(el.lists, lengths)):
            data = {n: arr[n] for n, _ in el.properties}
            data.update({n: np.asarray(arr[n]) for n, _, _ in el.lists})
            return data, pos + nbytes
    return _read_binary_ragged(path, el, body, pos, endian)


def _read_binary_ragged(path, el: PlyElement, body: bytes, pos: int, endian: str):
    """Mixed polygon sizes: walk the records; polygons are fan-triangulated into (T, 3)."""
    scalar_fields = [(n, np.dtype(endian + t)) for n, t in el.properties]
    values = {n: np.empty(el.count, dtype=dt) for n, dt in scalar_fields}
    lists = {n: [] for n, _, _ in el.lists}
    try:
        for i in range(el.count):
            for n, dt in scalar_fields:
                values[n][i] = np.frombuffer(body, dtype=dt, count=1, offset=pos)[0]
                pos += dt.itemsize
            for n, ct, it in el.lists:
                k = int(np.frombuffer(body, dtype=endian + ct, count=1, offset=pos)[0])
                pos += np.dtype(ct).itemsize
                lists[n].append(np.frombuffer(body, dtype=endian + it, count=k, offset=pos))
                pos += k * np.dtype(it).itemsize
    except ValueError:
        raise CorruptFileError(path, f"PLY is truncated in element '{el.name}' ({el.count} expected)") from None
    values.update({n: _fan_triangulate(polys) for n, polys in lists.items()})
    return values, pos


def _read_ascii_element(path, el: PlyElement, tokens: list[bytes], pos: int):
    if not el.lists:
        width = len(el.properties)
        end = pos + width * el.count
        if end > len(tokens):
            raise CorruptFileError(path, f"PLY is truncated in element '{el.name}' ({el.count} expected)")
        try:
            table = np.array(tokens[pos:end], dtype=np.float64).reshape(el.count, width)
        except ValueError:
            raise CorruptFileError(path, f"non-numeric value in PLY element '{el.name}'") from None
        return {n: table[:, j].astype(t) for j, (n, t) in enumerate(el.properties)}, end
    values = {n: np.empty(el.count, dtype=t) for n, t in el.properties}
    lists = {n: [] for n, _, _ in el.lists}
    try:
        for i in range(el.count):
            for n, _ in el.properties:
                values[n][i] = float(tokens[pos])
                pos += 1
            for n, _, it in el.lists:
                k = int(tokens[pos])
                lists[n].append(np.array(tokens[pos + 1: pos + 1 + k], dtype=np.float64).astype(it))
                if len(lists[n][-1]) != k:
                    raise IndexError
                pos += 1 + k
    except (IndexError, ValueError):
        raise CorruptFileError(path, f"PLY is truncated or malformed in element '{el.name}'") from None
    values.update({n: _fan_triangulate(polys) for n, polys in lists.items()})
    return values, pos


def _fan_triangulate(polys: list[np.ndarray]) -> np.ndarray:
    tris = [np.stack([np.full(len(p) - 2, p[0]), p[1:-1], p[2:]], axis=1) for p in polys if len(p) >= 3]
    return np.concatenate(tris).astype(np.int64) if tris else np.zeros((0, 3), dtype=np.int64)


def write_ply(
    path: str | Path,
    points: np.ndarray,
    *,
    colors: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    comments: list[str] | None = None,
) -> Path:
    """Writes a binary little-endian PLY atomically (temp file in the same folder, then rename).

    points: (N, 3) float; colors: (N, 3) uint8; normals: (N, 3) float; labels: (N,) int (``label`` property,
    int32); faces: (F, 3) int triangle indices.
    """
    path = Path(path)
    n = len(points)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if labels is not None:
        fields += [("label", "<i4")]
    vert = np.empty(n, dtype=fields)
    vert["x"], vert["y"], vert["z"] = np.asarray(points, dtype=np.float32).T
    if normals is not None:
        vert["nx"], vert["ny"], vert["nz"] = np.asarray(normals, dtype=np.float32).T
    if colors is not None:
        vert["red"], vert["green"], vert["blue"] = np.asarray(colors, dtype=np.uint8)[:, :3].T
    if labels is not None:
        vert["label"] = np.asarray(labels, dtype=np.int32)
    names = {"<f4": "float", "u1": "uchar", "<i4": "int"}
    header = ["ply", "format binary_little_endian 1.0"]
    header += [f"comment {c}" for c in (comments or [])]
    header += [f"element vertex {n}"] + [f"property {names[t]} {name}" for name, t in fields]
    face_block = b""
    if faces is not None and len(faces):
        faces = np.asarray(faces)
        rec = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
        rec["n"], rec["v"] = 3, faces
        face_block = rec.tobytes()
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    payload = ("\n".join(header) + "\n").encode("ascii") + vert.tobytes() + face_block
    atomic_write_bytes(path, payload)
    return path


def label_set_comment(label_set) -> str:
    """The header comment that carries a label set through a PLY file."""
    return "nir-studio labels " + json.dumps(label_set.to_json(), separators=(",", ":"))
