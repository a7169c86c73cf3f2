"""Camera rays of posed images: one ray per pixel centre, through an OpenCV-distorted pinhole when the camera has
distortion, and the normalised device coordinates of forward-facing (LLFF) scenes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data.views import PosedViews

UNDISTORT_ITERATIONS = 10
"""Fixed-point iterations that invert the distortion (pixel offsets of typical lenses settle well within them)."""


@dataclass
class Rays:
    """A batch of rays (and the colours they should render, when known)."""

    origins: Tensor
    """(M, 3) float32 ray origins."""
    directions: Tensor
    """(M, 3) float32 directions (not unit length: unit depth along the camera's axis, or NDC directions)."""
    view_directions: Tensor
    """(M, 3) float32 unit world directions, what the colour head reads (world rays even in NDC)."""
    colours: Tensor | None = None
    """(M, 3) float32 target colours, or None."""

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, index) -> Rays:
        pick = lambda t: None if t is None else t[index]
        return Rays(self.origins[index], self.directions[index], self.view_directions[index], pick(self.colours))


def undistort(x: np.ndarray, y: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image coordinates of distorted pixels -> undistorted ones, by fixed-point iteration of the OpenCV
    model (k1, k2 radial; p1, p2 tangential)."""
    k1, k2, p1, p2 = (float(v) for v in k)
    ux, uy = x.copy(), y.copy()
    for _ in range(UNDISTORT_ITERATIONS):
        r2 = ux * ux + uy * uy
        radial = 1 + k1 * r2 + k2 * r2 * r2
        dx = 2 * p1 * ux * uy + p2 * (r2 + 2 * ux * ux)
        dy = p1 * (r2 + 2 * uy * uy) + 2 * p2 * ux * uy
        ux, uy = (x - dx) / radial, (y - dy) / radial
    return ux, uy


def distort(x: np.ndarray, y: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The OpenCV distortion of normalised coordinates (the inverse of :func:`undistort`)."""
    k1, k2, p1, p2 = (float(v) for v in k)
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


def camera_directions(intrinsics: np.ndarray, height: int, width: int,
                      distortion: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float32 directions through each pixel centre in camera axes (x right, y up, -z forward), at unit
    depth. ``intrinsics``: fx, fy, cx, cy."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5, np.arange(height, dtype=np.float64) + 0.5)
    x, y = (u - cx) / fx, (v - cy) / fy
    if distortion is not None:
        x, y = undistort(x, y, distortion)
    return np.stack([x, -y, -np.ones_like(x)], -1).astype(np.float32)


def camera_rays(pose: np.ndarray, intrinsics: np.ndarray, height: int, width: int,
                distortion: np.ndarray | None = None, ndc: bool = False) -> Rays:
    """The H*W rays of a camera (pose (4, 4) camera-to-world; fx, fy, cx, cy) in row-major pixel order."""
    dirs_cam = torch.from_numpy(camera_directions(intrinsics, height, width, distortion)).reshape(-1, 3)
    pose = torch.as_tensor(np.asarray(pose, np.float32))
    directions = dirs_cam @ pose[:3, :3].T
    origins = pose[:3, 3].expand_as(directions).contiguous()
    unit = torch.nn.functional.normalize(directions, dim=-1)
    if ndc:
        origins, directions = to_ndc(origins, directions, height, width, float(intrinsics[0]))
    return Rays(origins, directions, unit)


def view_rays(views: PosedViews, index: int) -> Rays:
    """The H*W rays of view ``index`` in row-major pixel order, with its pixels as the target colours."""
    rays = camera_rays(views.poses[index], views.intrinsics[index], views.height, views.width, views.distortion,
                       views.ndc)
    rays.colours = torch.from_numpy(views.images[index]).reshape(-1, 3)
    return rays


def all_rays(views: PosedViews) -> Rays:
    """Every pixel of every view, concatenated view after view."""
    parts = [view_rays(views, i) for i in range(len(views))]
    cat = lambda name: torch.cat([getattr(p, name) for p in parts])
    return Rays(cat("origins"), cat("directions"), cat("view_directions"), cat("colours"))


def to_ndc(origins: Tensor, directions: Tensor, height: int, width: int, focal: float,
           near: float = 1.0) -> tuple[Tensor, Tensor]:
    """Rays of a forward-facing scene in normalised device coordinates (NeRF appendix C): the space from the near
    plane ``near`` to infinity becomes depth [0, 1] along each ray."""
    t = -(near + origins[:, 2]) / directions[:, 2]
    o = origins + t[:, None] * directions
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = directions.unbind(-1)
    a, b = -2 * focal / width, -2 * focal / height
    o_ndc = torch.stack([a * ox / oz, b * oy / oz, 1 + 2 * near / oz], -1)
    d_ndc = torch.stack([a * (dx / dz - ox / oz), b * (dy / dz - oy / oz), -2 * near / oz], -1)
    return o_ndc, d_ndc
