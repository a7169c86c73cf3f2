"""Mesh formats: PLY (mesh or points), OFF (incl. ModelNet's broken header), and OBJ / STL / GLB / GLTF via trimesh."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

from ...errors import CorruptFileError
from ..labels import S3DIS13, SCANNET20, SHAPENETPART50, LabelSet, generic_label_set
from ..scan import Scan
from .limits import LoadLimits, check_counts
from .ply import read_ply

_KNOWN_LABEL_SETS = {ls.name: ls for ls in (SCANNET20, S3DIS13, SHAPENETPART50)}
_LABEL_KEYS = ("label", "labels", "semantic", "sem_label", "class", "scalar_label")


def read_ply_scan(path: Path, limits: LoadLimits) -> Scan:
    ply = read_ply(path, limits)
    vert = ply.elements.get("vertex")
    if vert is None or not {"x", "y", "z"} <= set(vert):
        raise CorruptFileError(path, "PLY has no vertex element with x, y, z")
    points = np.stack([vert["x"], vert["y"], vert["z"]], axis=1).astype(np.float32)
    colors = _first_triplet(vert, ("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
    normals = _first_triplet(vert, ("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))
    label_key = next((k for k in _LABEL_KEYS if k in vert), None)
    labels = vert[label_key].astype(np.int64) if label_key else None
    faces = None
    face_el = ply.elements.get("face", {})
    for key in ("vertex_indices", "vertex_index"):
        if key in face_el and len(face_el[key]):
            faces = _triangulate(np.asarray(face_el[key]).astype(np.int64))
    mesh = None
    if faces is not None:
        if faces.min() < 0 or faces.max() >= len(points):
            raise CorruptFileError(path, "PLY faces index vertices that do not exist")
        mesh = trimesh.Trimesh(points, faces, vertex_normals=normals, process=False)
        if colors is not None:
            mesh.visual.vertex_colors = colors.astype(np.uint8)
    return Scan(points=points, colors=colors, normals=normals, labels=labels,
                label_set=_label_set_from_comments(ply.comments, labels) if labels is not None else None,
                mesh=mesh, source=path)


def _first_triplet(props: dict, *candidates: tuple[str, str, str]) -> np.ndarray | None:
    for names in candidates:
        if all(n in props for n in names):
            return np.stack([props[n] for n in names], axis=1)
    return None


def _triangulate(faces: np.ndarray) -> np.ndarray:
    """(F, k) polygons with k >= 3 -> (T, 3) triangles (fan)."""
    if faces.shape[1] == 3:
        return faces
    return np.concatenate([faces[:, [0, i, i + 1]] for i in range(1, faces.shape[1] - 1)])


def _label_set_from_comments(comments: list[str], labels: np.ndarray) -> LabelSet:
    for c in comments:
        if c.startswith("nir-studio labels "):
            try:
                return LabelSet.from_json(json.loads(c[len("nir-studio labels "):]))
            except (ValueError, KeyError, TypeError):
                pass
        if c.startswith("label_set "):
            known = _KNOWN_LABEL_SETS.get(c.split()[1]) if len(c.split()) > 1 else None
            if known is not None:
                return known
    return generic_label_set(int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0)


def read_off(path: Path, limits: LoadLimits) -> Scan:
    """OFF / COFF. ModelNet40 writes the counts on the magic line (``OFF3514 3546 0``); both forms are read."""
    text = path.read_bytes()
    lines = [ln for ln in (raw.split(b"#")[0].strip() for raw in text.splitlines()) if ln]
    if not lines or not lines[0].upper().startswith((b"OFF", b"COFF", b"NOFF", b"CNOFF")):
        raise CorruptFileError(path, "not an OFF file (missing 'OFF' header)")
    head = lines[0].upper()
    magic = head[: len(head) - len(head.lstrip(b"CNOF"))]
    rest = lines[0][len(magic):].split()
    body_start = 1
    if len(rest) < 2:  # the usual layout: counts on their own line
        if len(lines) < 2:
            raise CorruptFileError(path, "OFF file ends after its header")
        rest, body_start = lines[1].split(), 2
    try:
        n_vert, n_face = int(rest[0]), int(rest[1])
    except (IndexError, ValueError):
        raise CorruptFileError(path, "OFF header has no vertex/face counts") from None
    check_counts(path, limits, n_vert, n_face)
    body = lines[body_start:]
    if len(body) < n_vert + n_face:
        raise CorruptFileError(path, f"OFF is truncated: header announces {n_vert} vertices and {n_face} faces, "
                                     f"file has {len(body)} data lines")
    try:
        vert_rows = np.array(b" ".join(body[:n_vert]).split(), dtype=np.float64)
        width = len(vert_rows) // max(n_vert, 1)
        vert_rows = vert_rows.reshape(n_vert, width)
        polys = [np.array(ln.split(), dtype=np.int64) for ln in body[n_vert: n_vert + n_face]]
    except ValueError:
        raise CorruptFileError(path, "OFF has non-numeric or ragged vertex rows") from None
    points = vert_rows[:, :3].astype(np.float32)
    colors = None
    if magic.startswith(b"C") and width >= 6:
        colors = vert_rows[:, 3:6]
    tris = [np.stack([np.full(p[0] - 2, p[1]), p[2:p[0]], p[3:p[0] + 1]], 1) for p in polys if len(p) > p[0] >= 3]
    if len(tris) != len(polys):
        raise CorruptFileError(path, "OFF has malformed face rows")
    faces = np.concatenate(tris) if tris else np.zeros((0, 3), dtype=np.int64)
    if len(faces) and (faces.min() < 0 or faces.max() >= n_vert):
        raise CorruptFileError(path, "OFF faces index vertices that do not exist")
    mesh = trimesh.Trimesh(points, faces, process=False) if len(faces) else None
    return Scan(points=points, colors=colors, mesh=mesh, source=path)


def _colour_visual(mesh: trimesh.Trimesh) -> None:
    """Makes the glTF vertex colours (COLOR_0), which trimesh keeps beside a material, ``mesh``'s visual (in place),
    so that flattening a scene keeps them (a GLB this project writes has both: :data:`GLB_MATERIAL`)."""
    colours = getattr(mesh.visual, "vertex_attributes", {}).get("color") if mesh.visual.kind == "texture" else None
    if colours is not None and len(colours) == len(mesh.vertices):
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.asarray(colours))


def read_with_trimesh(path: Path, limits: LoadLimits) -> Scan:
    """OBJ, STL, GLB, GLTF: scenes are flattened into one mesh in world coordinates."""
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:  # trimesh raises many types for malformed files
        raise CorruptFileError(path, f"cannot parse {path.suffix.lower()} file ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, trimesh.Scene):
        for geometry in loaded.geometry.values():  # before dump(), whose copies drop the vertex attributes
            if isinstance(geometry, trimesh.Trimesh):
                _colour_visual(geometry)
        geoms = [g for g in loaded.dump() if isinstance(g, (trimesh.Trimesh, trimesh.PointCloud))]
        meshes = [g for g in geoms if isinstance(g, trimesh.Trimesh)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes)
        elif geoms:
            loaded = geoms[0]
        else:
            raise CorruptFileError(path, "file holds no geometry")
    if isinstance(loaded, trimesh.PointCloud):
        colors = loaded.colors if len(getattr(loaded, "colors", [])) else None
        return Scan(points=np.asarray(loaded.vertices, np.float32), colors=colors, source=path)
    if not isinstance(loaded, trimesh.Trimesh):
        raise CorruptFileError(path, f"file holds {type(loaded).__name__}, not a mesh or point cloud")
    check_counts(path, limits, len(loaded.vertices), len(loaded.faces))
    colors = None
    if loaded.visual.kind == "vertex":
        colors = np.asarray(loaded.visual.vertex_colors)[:, :3]
    # Texture seams split vertices; merge them so the surface is one connected piece (UVs are not used).
    loaded.visual = trimesh.visual.ColorVisuals(loaded, vertex_colors=colors) if colors is not None \
        else trimesh.visual.ColorVisuals(loaded)
    loaded.merge_vertices(merge_tex=True, merge_norm=True)
    colors = np.asarray(loaded.visual.vertex_colors)[:, :3] if colors is not None else None
    mesh = loaded if len(loaded.faces) else None
    return Scan(points=np.asarray(loaded.vertices, np.float32), colors=colors, mesh=mesh, source=path)


GLB_MATERIAL = {"name": "nir-studio", "doubleSided": True,
                "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
                                         "roughnessFactor": 0.9}}
"""The one material of every GLB the project writes. Double-sided: reconstructions are open surfaces (a wall seen
from behind, a table top from below), which viewers cull into holes otherwise. Not metallic: glTF's default
material is fully metallic, which renders vertex colours dark without an environment map. The white base colour
leaves the vertex colours (COLOR_0) as they are, since glTF multiplies the two."""


def glb_bytes(mesh: trimesh.Trimesh) -> bytes:
    """``mesh`` as a GLB with vertex normals (viewers shade smoothly instead of guessing flat faces) and
    :data:`GLB_MATERIAL` on every primitive."""
    def material(tree: dict) -> None:
        # trimesh writes no material for vertex-coloured meshes (glTF's default then applies, single-sided).
        tree["materials"] = [GLB_MATERIAL]
        for gltf_mesh in tree.get("meshes", []):
            for primitive in gltf_mesh["primitives"]:
                primitive["material"] = 0

    return trimesh.exchange.gltf.export_glb(mesh, include_normals=True, tree_postprocessor=material)
