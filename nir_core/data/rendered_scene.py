"""A posed-image scene of the project's own: a procedural toy (coloured primitives on a checkered base) rendered with
pyrender into the Blender layout (``transforms_{train,val,test}.json`` with ``camera_angle_x``, RGBA PNGs), so a
radiance field can be trained and compared without borrowing anyone's data.

Cameras sit on the upper hemisphere at ``radius`` from the origin, looking at it, in Blender's (OpenGL) convention:
the same frame :func:`nir_core.data.views.load_views` reads, near 2 and far 6 along each ray. The toy fits in a sphere
of radius 1.3 around the origin.

pyrender draws offscreen through EGL when ``PYOPENGL_PLATFORM=egl`` is set before it is imported (a machine without a
display); the command that calls :func:`render_scene` sets it, not this module.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config, bounded, check_ranges
from ..errors import NIRStudioError

SPLITS = ("train", "val", "test")


class SceneRenderError(NIRStudioError):
    """The scene could not be rendered (no offscreen OpenGL context, an output folder that is not empty)."""


@dataclass
class SceneRenderConfig(Config):
    """How the toy scene is photographed."""

    train_views: int = bounded(40, 1)
    """Training views, at random (seeded) points of the upper hemisphere."""
    val_views: int = bounded(4, 0)
    """Validation views."""
    test_views: int = bounded(8, 1)
    """Test views, evenly spaced around the object at a fixed elevation (a turntable's frames)."""
    size: int = bounded(64, 8, 2048)
    """Image width and height in pixels."""
    camera_angle_x: float = bounded(0.6911, 0.05, 3.0)
    """Horizontal field of view in radians (Blender's synthetic scenes: 0.6911)."""
    radius: float = bounded(4.0, 2.5, 5.5)
    """Distance of every camera from the origin (the renderer samples depths 2 to 6)."""
    seed: int = 0
    """Seed of the toy's layout and of the training cameras."""

    def __post_init__(self):
        check_ranges(self)


def toy_meshes(seed: int = 0) -> list:
    """The toy: a checkered base, a box, a sphere, a cylinder and a cone in distinct colours (``trimesh`` meshes
    with vertex colours), laid out by ``seed``; everything within 1.3 of the origin."""
    import trimesh

    rng = np.random.default_rng(seed)
    meshes = []
    tiles = 6
    side = 2.0 / tiles
    for i in range(tiles):  # the base: a checkerboard of thin tiles, so every view has high-frequency detail
        for j in range(tiles):
            tile = trimesh.creation.box(extents=(side, side, 0.08))
            tile.apply_translation((-1 + side * (i + 0.5), -1 + side * (j + 0.5), -0.54))
            tile.visual.vertex_colors = (235, 235, 225, 255) if (i + j) % 2 else (60, 70, 90, 255)
            meshes.append(tile)
    palette = [(220, 60, 50, 255), (60, 170, 80, 255), (60, 110, 220, 255), (240, 190, 40, 255)]
    slots = rng.permutation([(-0.45, -0.45), (0.45, -0.45), (-0.45, 0.45), (0.45, 0.45)])
    shapes = [trimesh.creation.box(extents=(0.5, 0.5, 0.5)), trimesh.creation.icosphere(subdivisions=3, radius=0.3),
              trimesh.creation.cylinder(radius=0.22, height=0.7, sections=32),
              trimesh.creation.cone(radius=0.3, height=0.6, sections=32)]
    for shape, colour, (x, y) in zip(shapes, palette, slots):
        lo = shape.bounds[0][2]
        shape.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0, math.pi), (0, 0, 1)))
        shape.apply_translation((x, y, -0.5 - lo))
        shape.visual.vertex_colors = colour
        meshes.append(shape)
    return meshes


def camera_pose(azimuth: float, elevation: float, radius: float) -> np.ndarray:
    """(4, 4) camera-to-world matrix of a camera at (azimuth, elevation) in radians, looking at the origin, z up,
    OpenGL axes (the camera looks down its -z)."""
    eye = radius * np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                             math.sin(elevation)])
    back = eye / np.linalg.norm(eye)
    right = np.cross((0.0, 0.0, 1.0), back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
    return pose


def scene_poses(cfg: SceneRenderConfig) -> dict[str, list[np.ndarray]]:
    """The cameras of every split: training and validation at random on the hemisphere (elevation 15° to 65°), test
    evenly around at 30°."""
    rng = np.random.default_rng(cfg.seed + 1)

    def random_views(n: int) -> list[np.ndarray]:
        return [camera_pose(rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(15, 65)), cfg.radius) for _ in range(n)]

    test = [camera_pose(2 * math.pi * k / cfg.test_views + 0.3, math.radians(30), cfg.radius) for k in range(cfg.test_views)]
    return {"train": random_views(cfg.train_views), "val": random_views(cfg.val_views), "test": test}


def render_scene(out: str | Path, cfg: SceneRenderConfig | None = None, progress=None) -> Path:
    """Renders the toy into ``out`` in the Blender layout and returns ``out``. ``out`` must not exist or be empty;
    the scene is written to a temporary folder beside it and moved into place when complete."""
    cfg = cfg or SceneRenderConfig()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SceneRenderError(f"{out}: the folder is not empty; choose a new one")
    try:
        import pyrender
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pyrender is a dependency
        raise SceneRenderError(f"rendering a scene needs pyrender ({e})") from e
    scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=(0.35, 0.35, 0.35))
    for mesh in toy_meshes(cfg.seed):
        scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
    # Square images: the vertical field of view is the horizontal one.
    camera = scene.add(pyrender.PerspectiveCamera(yfov=cfg.camera_angle_x, znear=0.5, zfar=20.0))
    light = scene.add(pyrender.DirectionalLight(intensity=2.5))
    try:
        renderer = pyrender.OffscreenRenderer(cfg.size, cfg.size)
    except Exception as e:  # no EGL / OSMesa / display: say how to get one
        raise SceneRenderError(f"no offscreen OpenGL context ({type(e).__name__}: {e}); on a machine without a display "
                               "set PYOPENGL_PLATFORM=egl and install libegl1") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        poses = scene_poses(cfg)
        done, total = 0, sum(len(p) for p in poses.values())
        for split in SPLITS:
            (work / split).mkdir()
            frames = []
            for k, pose in enumerate(poses[split]):
                scene.set_pose(camera, pose)
                scene.set_pose(light, pose)  # a headlight: every visible face is lit
                colour, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
                Image.fromarray(colour).save(work / split / f"r_{k}.png")
                frames.append({"file_path": f"./{split}/r_{k}", "transform_matrix": pose.tolist()})
                done += 1
                if progress:
                    progress(done, total)
            (work / f"transforms_{split}.json").write_text(json.dumps(
                {"camera_angle_x": cfg.camera_angle_x, "frames": frames}, indent=1))
        (work / "scene.json").write_text(json.dumps({"made_by": "nir_core.data.rendered_scene", "toy_seed": cfg.seed,
                                                     "config": cfg.to_json()}, indent=1))
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        renderer.delete()
    return out
