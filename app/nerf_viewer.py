"""The desktop viewer for radiance fields: a NeRF (run folder, bundle or ``.nirz``) or a render folder (PNGs written by
``nir-studio nerf render``) plays as a turntable beside its compressed variant, in an Open3D window; or, offscreen,
the frames as one contact-sheet PNG.

Every model is rendered along the first model's turntable, so the frames beside each other show the same view.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from nir_core.atomic import atomic_write_bytes
from nir_core.errors import NIRStudioError

GAP = 4
"""White pixels between images."""


def _render_folder_frames(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        raise NIRStudioError(f"{folder}: neither a NeRF (bundle, run folder, .nirz) nor a folder of rendered PNGs")
    return [np.asarray(Image.open(p).convert("RGB")) for p in pngs]


def frames_of(paths: list[Path], count: int) -> list[list[np.ndarray]]:
    """Per path its frames ((H, W, 3) uint8): a model rendered along the first model's turntable (``count`` frames),
    a render folder's PNGs in name order."""
    from compress.nerf import load_nerf
    from nir_core.nerf.render import RenderConfig, render_turntable

    scene = None
    result = []
    for path in paths:
        if path.is_dir() and not (path / "config.json").exists() and not (path / "bundle").is_dir():
            result.append(_render_folder_frames(path))
            continue
        model, bundle = load_nerf(path)
        scene = scene or bundle.extra.get("scene")
        if not scene:
            raise NIRStudioError(f"{path}: the file does not say how to render it (no scene cameras)")
        result.append(render_turntable(model, scene, RenderConfig.from_json(bundle.extra.get("render") or {}), count))
    return result


def side_by_side(frames: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Frame k of every sequence in one row (the shortest sequence sets the length; heights padded with white)."""
    height = max(f[0].shape[0] for f in frames)
    rows = []
    for k in range(min(len(f) for f in frames)):
        tiles = []
        for seq in frames:
            img = seq[k]
            pad = np.full((height, img.shape[1] + GAP, 3), 255, np.uint8)
            pad[: img.shape[0], : img.shape[1]] = img
            tiles.append(pad)
        rows.append(np.concatenate(tiles, axis=1)[:, :-GAP])
    return rows


def contact_sheet(rows: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """The rows of :func:`side_by_side` tiled ``columns`` across (for ``--screenshot``)."""
    h, w = rows[0].shape[:2]
    grid = -(-len(rows) // columns)
    sheet = np.full((grid * (h + GAP) - GAP, min(columns, len(rows)) * (w + GAP * 4) - GAP * 4, 3), 255, np.uint8)
    for k, row in enumerate(rows):
        r, c = divmod(k, columns)
        sheet[r * (h + GAP): r * (h + GAP) + h, c * (w + GAP * 4): c * (w + GAP * 4) + w] = row
    return sheet


def write_sheet(paths: list[Path], out: Path, count: int, columns: int = 4) -> Path:
    """Renders and writes the contact sheet of ``paths`` to ``out`` (PNG, written whole or not at all)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(contact_sheet(side_by_side(frames_of(paths, count)), columns)).save(buf, format="PNG")
    return atomic_write_bytes(out, buf.getvalue())


def show(paths: list[Path], count: int, close_after: float | None = None, grab: Path | None = None,
         seconds_per_frame: float = 0.12) -> None:
    """Opens a window that plays the turntables side by side; the frames are rendered on a thread first."""
    import open3d as o3d

    gui = o3d.visualization.gui
    app = gui.Application.instance
    app.initialize()
    window = app.create_window("NIR Studio — " + " | ".join(p.name for p in paths), 1024, 420)
    layout = gui.Vert(8, gui.Margins(8, 8, 8, 8))
    caption = gui.Label("rendering " + ", ".join(p.name for p in paths) + " …")
    image = gui.ImageWidget()
    layout.add_child(caption)
    layout.add_child(image)
    window.add_child(layout)
    closed = threading.Event()
    window.set_on_close(lambda: (closed.set(), True)[1])

    def play() -> None:
        try:
            rows = side_by_side(frames_of(paths, count))
        except Exception as exc:  # noqa: BLE001 - shown in the window, not a crash
            message = str(exc)
            app.post_to_main_thread(window, lambda: window.show_message_box("Cannot open", message))
            return
        app.post_to_main_thread(window, lambda: setattr(caption, "text", "   |   ".join(p.name for p in paths)))
        if grab is not None:
            from app.viewer import grab_display

            threading.Timer(0.7 * (close_after or 5.0), lambda: grab_display(grab)).start()
        if close_after is not None:
            threading.Timer(close_after, lambda: app.post_to_main_thread(window, window.close)).start()
        k = 0
        while not closed.wait(seconds_per_frame):
            frame = o3d.geometry.Image(np.ascontiguousarray(rows[k % len(rows)]))
            app.post_to_main_thread(window, lambda f=frame: image.update_image(f))
            k += 1

    threading.Thread(target=play, daemon=True).start()
    app.run()
    closed.set()
