"""What the browser can show: point clouds as small meshes in a GLB, class legends as HTML."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import trimesh

from nir_core.atomic import atomic_write_bytes

# An octahedron: 6 corners, 8 faces — the cheapest closed shape gr.Model3D shades like a point.
_CORNERS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32)
_FACES = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])


def points_glb(points: np.ndarray, colors: np.ndarray | None, path: Path, max_points: int = 30_000,
               seed: int = 0) -> Path:
    """Writes up to ``max_points`` of (N, 3) ``points`` as tiny octahedra (sized from the cloud's extent) with
    their (N, 3) uint8 ``colors`` (grey when None) to a GLB at ``path``."""
    points = np.asarray(points, np.float32)
    if len(points) > max_points:
        pick = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points = points[pick]
        colors = None if colors is None else np.asarray(colors)[pick]
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    radius = 0.002 * extent
    vertices = (points[:, None, :] + radius * _CORNERS[None]).reshape(-1, 3)
    faces = (np.arange(len(points))[:, None, None] * 6 + _FACES[None]).reshape(-1, 3)
    rgb = np.full((len(points), 3), 160, np.uint8) if colors is None else np.asarray(colors, np.uint8)[:, :3]
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=np.repeat(rgb, 6, axis=0), process=False)
    return atomic_write_bytes(path, mesh.export(file_type="glb"))


def display_glb(mesh: trimesh.Trimesh, path: Path, max_faces: int) -> tuple[Path, int]:
    """Writes ``mesh`` (with its vertex colours) to a GLB at ``path`` for the browser, with at most ``max_faces``
    faces; returns the path and the number of faces shown. A mesh within the
    budget is shown as it is; a larger one is decimated by vertex clustering (Open3D; the vertices of a cell merge
    into their mean, colours too), which takes about a second where quadric decimation takes minutes on a CPU, on a
    grid whose cell is sized from the area so that about ``max_faces`` faces remain."""
    import open3d as o3d

    from nir_core.data.io import save_scan
    from nir_core.data.scan import Scan

    if len(mesh.faces) > max_faces:
        legacy = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, np.float64)),
                                           o3d.utility.Vector3iVector(np.asarray(mesh.faces, np.int32)))
        colours = getattr(mesh.visual, "vertex_colors", None)
        if colours is not None and len(colours) == len(mesh.vertices):
            legacy.vertex_colors = o3d.utility.Vector3dVector(np.asarray(colours)[:, :3] / 255.0)
        # A surface of area A meshed by cells of side c has about 2 A / c² faces; a coarser grid when over.
        cell = np.sqrt(2.0 * mesh.area / max_faces)
        for _ in range(8):
            small = legacy.simplify_vertex_clustering(
                voxel_size=cell, contraction=o3d.geometry.SimplificationContraction.Average)
            if len(small.triangles) <= max_faces:
                break
            cell *= 1.15
        colours = (np.clip(np.asarray(small.vertex_colors), 0, 1) * 255).round().astype(np.uint8) \
            if small.has_vertex_colors() else None
        mesh = trimesh.Trimesh(np.asarray(small.vertices), np.asarray(small.triangles), process=False)
    else:
        colours = np.asarray(mesh.visual.vertex_colors)[:, :3] if mesh.visual.kind == "vertex" else None
    save_scan(Scan(points=np.asarray(mesh.vertices, np.float32), mesh=mesh, colors=colours), path)
    return path, int(len(mesh.faces))


def legend_html(legend: dict[str, str], histogram: dict[str, int] | None = None) -> str:
    """Colour chips for ``{class name: "#rrggbb"}``, with each class's share of ``histogram`` when given."""
    if not legend:
        return "<p>No labels: the model has no trained semantic head, or labels are off.</p>"
    total = sum((histogram or {}).values()) or 1
    items = []
    for name, colour in legend.items():
        share = f" {100 * (histogram or {}).get(name, 0) / total:.1f}%" if histogram else ""
        items.append(f'<span style="display:inline-flex;align-items:center;margin:2px 10px 2px 0">'
                     f'<span style="width:14px;height:14px;border-radius:3px;background:{html.escape(colour)};'
                     f'display:inline-block;margin-right:5px;border:1px solid #0003"></span>'
                     f"{html.escape(name)}{share}</span>")
    return "<div>" + "".join(items) + "</div>"
