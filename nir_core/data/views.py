"""Posed images for radiance fields: the layouts NeRF data comes in, read into one :class:`PosedViews`.

Layouts (found from what the path holds):

- Blender (NeRF-synthetic): ``transforms_{train,val,test}.json`` with ``camera_angle_x`` and RGBA frames (composited
  on white); near 2, far 6.
- One ``transforms.json`` as nerfstudio and instant-ngp write it: ``fl_x``/``fl_y``/``cx``/``cy``/``w``/``h`` (or
  ``camera_angle_x``), optional OpenCV distortion ``k1 k2 p1 p2`` (modelled in the rays, see
  :mod:`nir_core.nerf.rays`), per-frame intrinsics allowed, file paths with or without an extension; every 8th frame
  is held out as the test split. Bounds from ``aabb_scale`` when given.
- LLFF: ``poses_bounds.npy`` with ``images_N`` (or ``images``) folders; sizes come from the images, the stored focal
  is scaled to them; poses are recentred and scaled so the nearest bound is about 1, and rays go to normalised device
  coordinates (forward-facing scenes); every 8th view is held out.
- ``*.npz`` with ``images``, ``poses``, ``focal`` (the tiny-NeRF file): frames 100 on are the test split.

Poses are camera-to-world (4, 4) in the OpenGL convention (x right, y up, the camera looks down -z). Bad input (no
images, a missing frame, an image of another size, a pose that is not a rotation) raises one
:class:`ViewsError` naming the file and the reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import NIRStudioError

SPLITS = ("train", "val", "test", "all")
HOLDOUT_EVERY = 8
"""Every this-many-th view is the test (and val) split of layouts without their own splits (LLFF's convention)."""
TINY_TRAIN_VIEWS = 100
"""The tiny-NeRF file's first 100 frames are its training views, the rest its test views."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".JPG", ".PNG", ".exr")


class ViewsError(NIRStudioError):
    """Posed images could not be read; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass
class PosedViews:
    """Images with their cameras."""

    images: np.ndarray
    """(N, H, W, 3) float32 RGB in [0, 1] (RGBA composited on the background)."""
    poses: np.ndarray
    """(N, 4, 4) float32 camera-to-world, OpenGL axes."""
    intrinsics: np.ndarray
    """(N, 4) float32 fx, fy, cx, cy in pixels of ``images``."""
    near: float
    """Nearest depth along a ray (NDC scenes: 0)."""
    far: float
    """Farthest depth along a ray (NDC scenes: 1)."""
    distortion: np.ndarray | None = None
    """(4,) OpenCV k1, k2, p1, p2, or None for a pinhole camera."""
    ndc: bool = False
    """Forward-facing scene: rays are mapped to normalised device coordinates (``ndc_focal`` and the first image's
    size define the map)."""
    white_background: bool = False
    """Transparent pixels were composited on white; rendering composites the remaining transmittance on white too."""
    names: list[str] = field(default_factory=list)
    """The image of each view (file name or frame index)."""
    source: Path | None = None
    """What was read."""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    def subset(self, index) -> PosedViews:
        index = np.asarray(index, dtype=np.int64)
        return replace(self, images=self.images[index], poses=self.poses[index], intrinsics=self.intrinsics[index],
                       names=[self.names[i] for i in index])


def load_views(path: str | Path, split: str = "train", downscale: int = 1) -> PosedViews:
    """The ``split`` (:data:`SPLITS`) of the posed images at ``path`` (a folder or a ``.npz``), each image shrunk by
    the integer factor ``downscale`` (box filter; intrinsics scaled alike)."""
    path = Path(path)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if int(downscale) != downscale or downscale < 1:
        raise ValueError(f"downscale must be a whole number >= 1, got {downscale}")
    if not path.exists():
        raise ViewsError(path, "does not exist")
    if path.is_file() and path.suffix == ".npz":
        views = _tiny(path, split, int(downscale))
    elif (path / "transforms_train.json").exists():
        views = _blender(path, split, int(downscale))
    elif (path / "transforms.json").exists():
        views = _transforms(path / "transforms.json", split, int(downscale))
    elif path.is_file() and path.name.startswith("transforms") and path.suffix == ".json":
        views = _transforms(path, split, int(downscale))
    elif (path / "poses_bounds.npy").exists():
        views = _llff(path, split, int(downscale))
    else:
        raise ViewsError(path, "is not a NeRF dataset: expected transforms_train.json (Blender), transforms.json "
                               "(nerfstudio / instant-ngp), poses_bounds.npy (LLFF) or a .npz with images, poses "
                               "and focal")
    if len(views) == 0:
        raise ViewsError(path, f"has no images in the {split!r} split")
    _check_poses(views)
    return views


# --- layouts ---------------------------------------------------------------------------------------------------


def _blender(folder: Path, split: str, downscale: int) -> PosedViews:
    splits = ("train", "val", "test") if split == "all" else (split,)
    images, poses, names, focal = [], [], [], None
    for name in splits:
        meta = _read_json(folder / f"transforms_{name}.json")
        if "camera_angle_x" not in meta or not meta.get("frames"):
            raise ViewsError(folder / f"transforms_{name}.json", "needs camera_angle_x and a list of frames")
        for frame in meta["frames"]:
            file = _frame_file(folder, frame.get("file_path"), folder / f"transforms_{name}.json")
            images.append(_read_image(file, white=True, downscale=downscale))
            poses.append(_pose(frame, file))
            names.append(file.name)
        angle = float(meta["camera_angle_x"])
    _same_size(images, names, folder)
    h, w = images[0].shape[:2]
    focal = 0.5 * w / np.tan(0.5 * angle)
    intr = np.tile(np.array([focal, focal, w / 2, h / 2], np.float32), (len(images), 1))
    return PosedViews(np.stack(images), np.stack(poses), intr, near=2.0, far=6.0, white_background=True, names=names,
                      source=folder)


def _transforms(file: Path, split: str, downscale: int) -> PosedViews:
    meta = _read_json(file)
    frames = meta.get("frames") or []
    if not frames:
        raise ViewsError(file, "has no frames")
    images, poses, intr, names = [], [], [], []
    keep = _split_index(len(frames), split)
    for i in keep:
        frame = frames[i]
        image_file = _frame_file(file.parent, frame.get("file_path"), file)
        rgba = _read_image(image_file, white=True, downscale=1, keep_alpha=True)
        h, w = rgba.shape[:2]
        cam = {**meta, **frame}
        fx, fy, cx, cy = _intrinsics(cam, w, h, image_file)
        if "w" in cam and "h" in cam and (int(cam["w"]), int(cam["h"])) != (w, h):
            raise ViewsError(image_file, f"is {w}x{h} but the cameras say {int(cam['w'])}x{int(cam['h'])}")
        image = _shrink(rgba[..., :3], downscale)
        images.append(image)
        intr.append(np.array([fx, fy, cx, cy], np.float32) / downscale)
        poses.append(_pose(frame, image_file))
        names.append(image_file.name)
    _same_size(images, names, file)
    distortion = np.array([float(meta.get(k, 0.0)) for k in ("k1", "k2", "p1", "p2")], np.float32)
    poses_arr = np.stack(poses)
    # Bounds: instant-ngp's aabb_scale (the scene fits in a cube of that side around the origin), else from how far
    # the cameras are from the origin.
    reach = float(np.linalg.norm(poses_arr[:, :3, 3], axis=1).max())
    far = reach + float(meta.get("aabb_scale", 1.0)) * 1.5
    return PosedViews(np.stack(images), poses_arr, np.stack(intr), near=0.05, far=far,
                      distortion=distortion if distortion.any() else None, white_background=True, names=names,
                      source=file)


def _llff(folder: Path, split: str, downscale: int) -> PosedViews:
    raw = np.load(folder / "poses_bounds.npy", allow_pickle=False)
    if raw.ndim != 2 or raw.shape[1] != 17:
        raise ViewsError(folder / "poses_bounds.npy", f"must be (N, 17) (3x5 pose + 2 bounds per view), got {raw.shape}")
    image_dir = _llff_images(folder)
    files = sorted(p for p in image_dir.iterdir() if p.suffix in IMAGE_SUFFIXES)
    if len(files) != len(raw):
        raise ViewsError(image_dir, f"holds {len(files)} images but poses_bounds.npy has {len(raw)} views")
    hwf = raw[:, :15].reshape(-1, 3, 5)
    bounds = raw[:, 15:]
    # LLFF stores [down, right, back]; NeRF's [right, up, back]: swap and negate the first two axes.
    c2w = np.concatenate([hwf[:, :, 1:2], -hwf[:, :, 0:1], hwf[:, :, 2:4]], axis=2)
    # Scale so the nearest bound is about 1 (NeRF's bd_factor 0.75), then recentre on the average camera.
    scale = 1.0 / (bounds.min() * 0.75)
    c2w[:, :, 3] *= scale
    c2w = _recentre(c2w)
    keep = _split_index(len(raw), split)
    images = [_read_image(files[i], white=False, downscale=downscale) for i in keep]
    names = [files[i].name for i in keep]
    _same_size(images, names, image_dir)
    h, w = images[0].shape[:2]
    # The stored focal is for the full-size images (height hwf[0, 0, 4]): scale it to these.
    focal = float(hwf[0, 2, 4]) * h / float(hwf[0, 0, 4])
    poses = np.tile(np.eye(4, dtype=np.float32), (len(keep), 1, 1))
    poses[:, :3, :4] = c2w[keep]
    intr = np.tile(np.array([focal, focal, w / 2, h / 2], np.float32), (len(keep), 1))
    return PosedViews(np.stack(images), poses, intr, near=0.0, far=1.0, ndc=True, names=names, source=folder)


def _tiny(file: Path, split: str, downscale: int) -> PosedViews:
    try:
        with np.load(file, allow_pickle=False) as data:
            images, poses, focal = data["images"], data["poses"], float(data["focal"])
    except (KeyError, ValueError, OSError) as exc:
        raise ViewsError(file, f"is not a tiny-NeRF file (images, poses, focal): {exc}") from None
    if images.ndim != 4 or images.shape[-1] != 3 or poses.shape != (len(images), 4, 4):
        raise ViewsError(file, f"needs images (N, H, W, 3) and poses (N, 4, 4), got {images.shape} and {poses.shape}")
    keep = {"train": np.arange(min(TINY_TRAIN_VIEWS, len(images))), "all": np.arange(len(images))}.get(
        split, np.arange(TINY_TRAIN_VIEWS, len(images)))
    imgs = np.stack([_shrink(images[i].astype(np.float32), downscale) for i in keep]) if len(keep) else images[:0]
    h, w = imgs.shape[1:3] if len(keep) else images.shape[1:3]
    f = focal / downscale
    intr = np.tile(np.array([f, f, w / 2, h / 2], np.float32), (len(keep), 1))
    # Composited on black in the file; no alpha is left to composite otherwise.
    return PosedViews(imgs, poses[keep].astype(np.float32), intr, near=2.0, far=6.0, names=[f"frame {i}" for i in keep],
                      source=file)


# --- helpers ---------------------------------------------------------------------------------------------------


def _split_index(n: int, split: str) -> np.ndarray:
    held = np.arange(n) % HOLDOUT_EVERY == 0
    return {"train": np.flatnonzero(~held), "all": np.arange(n)}.get(split, np.flatnonzero(held))


def _read_json(file: Path) -> dict:
    if not file.exists():
        raise ViewsError(file, "does not exist")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ViewsError(file, f"is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ViewsError(file, "must hold a JSON object")
    return meta


def _frame_file(folder: Path, file_path, listed_in: Path) -> Path:
    """A frame's image: its path as written, or with the first image suffix that exists (Blender omits it)."""
    if not file_path:
        raise ViewsError(listed_in, "has a frame without file_path")
    base = (folder / str(file_path)).resolve()
    for candidate in (base, *(base.with_name(base.name + s) for s in IMAGE_SUFFIXES)):
        if candidate.is_file():
            return candidate
    raise ViewsError(listed_in, f"lists the frame {file_path!r}, but no such image exists")


def _read_image(file: Path, white: bool, downscale: int, keep_alpha: bool = False) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] (RGBA composited on white when ``white``, else on black), or (H, W, 4) with
    ``keep_alpha`` (composited colour plus the alpha)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            im.load()
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ViewsError(file, f"is not a readable image ({exc})") from None
    alpha = rgba[..., 3:]
    rgb = rgba[..., :3] * alpha + (1.0 - alpha) * (1.0 if white else 0.0)
    out = np.concatenate([rgb, alpha], -1) if keep_alpha else rgb
    return _shrink(out, downscale)


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downscale by an integer factor (rows and columns beyond a multiple of it are dropped)."""
    if factor == 1:
        return np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    if h == 0 or w == 0:
        raise ValueError(f"downscale {factor} leaves no pixels of a {image.shape[1]}x{image.shape[0]} image")
    c = image.shape[2]
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3)).astype(np.float32)


def _same_size(images: list[np.ndarray], names: list[str], where: Path) -> None:
    if not images:
        return
    size = images[0].shape[:2]
    for image, name in zip(images, names):
        if image.shape[:2] != size:
            raise ViewsError(where, f"image {name} is {image.shape[1]}x{image.shape[0]}, the first is "
                                    f"{size[1]}x{size[0]}")


def _pose(frame: dict, file: Path) -> np.ndarray:
    try:
        pose = np.asarray(frame["transform_matrix"], dtype=np.float32)
    except (KeyError, ValueError, TypeError):
        raise ViewsError(file, "its frame has no 4x4 transform_matrix") from None
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise ViewsError(file, f"its transform_matrix must be 4x4 finite numbers, got shape {pose.shape}")
    return pose


def _intrinsics(cam: dict, w: int, h: int, file: Path) -> tuple[float, float, float, float]:
    if "fl_x" in cam:
        fx = float(cam["fl_x"])
        fy = float(cam.get("fl_y", fx))
    elif "camera_angle_x" in cam:
        fx = 0.5 * w / np.tan(0.5 * float(cam["camera_angle_x"]))
        fy = 0.5 * h / np.tan(0.5 * float(cam["camera_angle_y"])) if "camera_angle_y" in cam else fx
    else:
        raise ViewsError(file, "has no focal length (fl_x, or camera_angle_x) in transforms.json")
    # Intrinsics written for another image size (e.g. a full-size capture with downscaled images) scale with it.
    sx = w / float(cam["w"]) if "w" in cam else 1.0
    sy = h / float(cam["h"]) if "h" in cam else 1.0
    return fx * sx, fy * sy, float(cam.get("cx", w / 2)) * sx, float(cam.get("cy", h / 2)) * sy


def _llff_images(folder: Path) -> Path:
    candidates = sorted((p for p in folder.iterdir() if p.is_dir() and p.name.startswith("images")),
                        key=lambda p: (p.name != "images", p.name))
    if not candidates:
        raise ViewsError(folder, "has poses_bounds.npy but no images or images_N folder")
    return candidates[0]


def _recentre(c2w: np.ndarray) -> np.ndarray:
    """Poses (N, 3, 4) expressed relative to their average camera (NeRF's ``recenter_poses``)."""
    centre = c2w[:, :, 3].mean(0)
    z = _normalise(c2w[:, :, 2].sum(0))
    up = c2w[:, :, 1].sum(0)
    x = _normalise(np.cross(up, z))
    y = np.cross(z, x)
    average = np.eye(4)
    average[:3, :4] = np.stack([x, y, z, centre], 1)
    full = np.tile(np.eye(4), (len(c2w), 1, 1))
    full[:, :3, :4] = c2w
    return (np.linalg.inv(average) @ full)[:, :3, :4].astype(np.float32)


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _check_poses(views: PosedViews) -> None:
    rotations = views.poses[:, :3, :3].astype(np.float64)
    gram = np.einsum("nij,nik->njk", rotations, rotations)
    off = np.abs(gram - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rotations)
    bad = np.flatnonzero((off > 1e-3) | (np.abs(det - 1) > 1e-3) | ~np.isfinite(views.poses).all(axis=(1, 2)))
    if len(bad):
        i = int(bad[0])
        raise ViewsError(views.source, f"the pose of {views.names[i]} is not a rigid camera (its 3x3 part is not a "
                                       f"rotation: |R^T R - I| = {off[i]:.3g}, det {det[i]:.3g})")
