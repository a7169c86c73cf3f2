"""``nir-studio view``: the Open3D desktop viewer, and its headless screenshots.

Each file becomes named geometries: a labelled mesh or point set is split by class (one geometry per class, named
``file: class`` and coloured from the palette), so the viewer's geometry list is also the class legend, with a
visibility checkbox per class; an unlabelled one keeps its own colours. ``--compare`` places a second result beside
the first (offset along x by the first's width), so two reconstructions are seen side by side. The window opens at
once and the files load on a worker thread; ``--screenshot`` renders the same scene offscreen to a PNG instead.
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nir_core.atomic import atomic_write_bytes
from nir_core.errors import NIRStudioError


@dataclass
class Item:
    """One named geometry of the scene."""

    name: str
    geometry: object
    """An ``open3d.geometry.TriangleMesh`` or ``PointCloud``."""
    is_mesh: bool


def _open3d_geometry(points: np.ndarray, faces: np.ndarray | None, colors: np.ndarray | None):
    import open3d as o3d

    if faces is not None and len(faces):
        g = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(points.astype(np.float64)),
                                      o3d.utility.Vector3iVector(faces.astype(np.int32)))
        g.compute_vertex_normals()
        if colors is not None:
            g.vertex_colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64)[:, :3] / 255.0)
        return g
    g = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    if colors is not None:
        g.colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64)[:, :3] / 255.0)
    return g


def file_items(path: Path, offset: np.ndarray | None = None) -> list[Item]:
    """The geometries of one file: per class when it is labelled, else one. ``offset`` (3,) moves them."""
    from nir_core.data.io import load

    scan = load(path)
    points = np.asarray(scan.points, np.float64) + (0 if offset is None else offset)
    faces = np.asarray(scan.mesh.faces) if scan.has_faces else None
    label = path.name
    if scan.labels is None or scan.label_set is None:
        return [Item(label, _open3d_geometry(points, faces, scan.colors), faces is not None)]
    labels = np.asarray(scan.labels)
    colors = scan.label_set.colorize(labels)
    items = []
    for cls in np.unique(labels):
        name = scan.label_set.names[cls] if 0 <= cls < len(scan.label_set) else "unlabelled"
        if faces is None:
            keep = np.nonzero(labels == cls)[0]
            items.append(Item(f"{label}: {name}", _open3d_geometry(points[keep], None, colors[keep]), False))
            continue
        own = faces[labels[faces[:, 0]] == cls]  # a face belongs to the class of its first vertex
        if len(own):
            mesh = _open3d_geometry(points, own, colors)
            mesh.remove_unreferenced_vertices()
            items.append(Item(f"{label}: {name}", mesh, True))
    return items


def scene_items(paths: list[Path], compare: Path | None = None) -> list[Item]:
    """Every file's items; the ``compare`` file's moved beside the others."""
    items = [item for path in paths for item in file_items(path)]
    if compare is not None:
        lo, hi = _bounds(items)
        items += file_items(compare, offset=np.array([1.1 * (hi[0] - lo[0]), 0.0, 0.0]))
    return items


def is_model(path: Path) -> bool:
    """A compressed model file or a bundle folder (rather than a result to show)."""
    path = Path(path)
    return path.suffix.lower() == ".nirz" or (path.is_dir() and (path / "config.json").is_file())


def reconstructed(paths: list[Path], model_path: Path, out_dir: Path, pipeline=None) -> list[Path]:
    """Each scan reconstructed (and labelled, when the model can) by the bundle or ``.nirz`` at ``model_path``;
    returns the PLY results in ``out_dir``, named after the model so the geometry list tells them apart.
    ``pipeline``: the :class:`~nir_core.pipeline.PipelineConfig` (its defaults when None)."""
    from app.batch import reconstruct_file
    from nir_core.pipeline import load_model

    model = load_model(Path(model_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        name = f"{Path(path).stem} ({Path(model_path).name})"
        outputs, _, _ = reconstruct_file(Path(path), out_dir, name, model, pipeline, formats=("ply",))
        results.append(Path(outputs[0]))
    return results


def _bounds(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.min([np.asarray(i.geometry.get_min_bound()) for i in items], axis=0)
    hi = np.max([np.asarray(i.geometry.get_max_bound()) for i in items], axis=0)
    return lo, hi


def _material(item: Item):
    import open3d as o3d

    mat = o3d.visualization.rendering.MaterialRecord()
    mat.shader = "defaultLit" if item.is_mesh else "defaultUnlit"
    mat.point_size = 3.0
    return mat


def _merged_arrays(items: list[Item]) -> list[dict]:
    """The scene as at most two plain-array records (all meshes as one, all point sets as one), to hand to the render
    process. One geometry per kind because Open3D's renderer pays seconds per geometry on a software Vulkan driver,
    and a screenshot needs no per-class names. Uncoloured parts of a partly coloured record turn white, the colour an
    uncoloured geometry is drawn in anyway."""
    records = []
    for is_mesh in (True, False):
        parts = [i.geometry for i in items if i.is_mesh == is_mesh]
        if not parts:
            continue
        points = [np.asarray(g.vertices if is_mesh else g.points) for g in parts]
        colored = [g.has_vertex_colors() if is_mesh else g.has_colors() for g in parts]
        colors = None
        if any(colored):
            colors = np.concatenate([np.asarray(g.vertex_colors if is_mesh else g.colors) if c else np.ones_like(p)
                                     for g, c, p in zip(parts, colored, points)])
        faces = None
        if is_mesh:
            starts = np.cumsum([0] + [len(p) for p in points[:-1]])
            faces = np.concatenate([np.asarray(g.triangles) + start for g, start in zip(parts, starts)])
        records.append({"is_mesh": is_mesh, "points": np.concatenate(points), "faces": faces, "colors": colors})
    return records


def _render(arrays: list[dict], width: int, height: int) -> np.ndarray:
    """Runs in the render process: the scene from ``_merged_arrays`` records, rendered to an (height, width, 3) uint8
    image."""
    import open3d as o3d

    items = [Item(f"part {k}", _open3d_geometry(a["points"], a["faces"],
                                               None if a["colors"] is None else 255.0 * a["colors"]), a["is_mesh"])
             for k, a in enumerate(arrays)]
    renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
    renderer.scene.set_background([1.0, 1.0, 1.0, 1.0])
    for item in items:
        renderer.scene.add_geometry(item.name, item.geometry, _material(item))
    lo, hi = _bounds(items)
    centre, size = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
    renderer.setup_camera(50.0, centre, centre + size * np.array([0.6, -0.9, 0.8]), [0.0, 0.0, 1.0])
    return np.asarray(renderer.render_to_image())


def _render_to_pipe(send, arrays: list[dict], width: int, height: int) -> None:
    """The render process: sends ``("image", array)`` or ``("error", message)`` back."""
    try:
        send.send(("image", _render(arrays, width, height)))
    except Exception as exc:  # noqa: BLE001 - reported by the caller as one line
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def screenshot(items: list[Item], path: Path, width: int = 1280, height: int = 800, deadline: float = 60.0,
               attempts: int = 3) -> Path:
    """Renders the scene offscreen (no display needed) from a three-quarter view and writes a PNG atomically.

    The render runs in a child process of its own, for two reasons: Open3D's offscreen renderer cannot be started
    twice in one process (the second deadlocks), and on a software Vulkan driver (llvmpipe) a render now and then
    spins forever instead of taking its usual second or two. A render still running after ``deadline`` seconds is killed
    and tried again, up to ``attempts`` times; then a ``NIRStudioError`` says so.
    """
    import multiprocessing

    from PIL import Image

    if not items:
        raise ValueError("nothing to render")
    arrays = _merged_arrays(items)
    context = multiprocessing.get_context("spawn")
    for _ in range(attempts):
        # One bare process per attempt, killed when late: a process pool's terminate can hang joining its helper
        # threads when a worker is killed while it is still starting.
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_render_to_pipe, args=(send, arrays, width, height), daemon=True)
        process.start()
        send.close()
        try:
            outcome = receive.recv() if receive.poll(deadline) else None
        except EOFError:  # the render process died without a word: try again
            outcome = None
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            receive.close()
        if outcome is None:
            continue
        if outcome[0] == "error":
            raise NIRStudioError(f"{path}: the offscreen render failed: {outcome[1]}")
        buf = io.BytesIO()
        Image.fromarray(outcome[1]).save(buf, format="PNG")
        return atomic_write_bytes(path, buf.getvalue())
    raise NIRStudioError(f"{path}: the offscreen render did not finish within {deadline:.0f} s, {attempts} times")


def grab_display(path: Path) -> None:
    import os

    from PIL import ImageGrab

    buf = io.BytesIO()
    ImageGrab.grab(xdisplay=os.environ.get("DISPLAY")).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def show(paths: list[Path], compare: Path | None = None, close_after: float | None = None,
         grab: Path | None = None) -> None:
    """Opens the O3DVisualizer window; geometries arrive from a loader thread as they are read.

    ``close_after``: close the window after that many seconds; ``grab``: before closing, save a PNG of the whole
    display (window, geometry list and all) — for scripted checks under a virtual display."""
    import open3d as o3d

    gui = o3d.visualization.gui
    app = gui.Application.instance
    app.initialize()
    window = o3d.visualization.O3DVisualizer("NIR Studio — " + ", ".join(p.name for p in paths), 1280, 800)
    window.show_settings = True
    app.add_window(window)

    def load() -> None:
        try:
            items = scene_items(paths, compare)
        except Exception as exc:  # noqa: BLE001 - shown in the window, not a crash
            message = str(exc)
            app.post_to_main_thread(window, lambda: window.show_message_box("Cannot open", message))
            return

        def add() -> None:
            for item in items:
                window.add_geometry(item.name, item.geometry, _material(item))
            window.reset_camera_to_default()

        app.post_to_main_thread(window, add)
        if grab is not None:
            threading.Timer(0.7 * (close_after or 5.0), lambda: grab_display(grab)).start()
        if close_after is not None:
            threading.Timer(close_after, lambda: app.post_to_main_thread(window, window.close)).start()

    threading.Thread(target=load, daemon=True).start()
    app.run()
