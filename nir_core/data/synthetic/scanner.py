"""Simulated handheld RGB-D capture of a synthetic room: incomplete, noisy, density varying like ScanNet.

A sweep of 4-8 camera positions along a loop inside the room (1.2-1.8 m high, clear of furniture), two
views per position (one towards the nearer walls, one back across the room), tilted down, with a
Kinect-like field of view. Rays are
cast against the room mesh with Open3D's ``RaycastingScene``; a hit becomes a point only if the sensor would
have measured it:

- depth (along the optical axis) within ``[min_range, max_range]``, returns thinning out over the last
  ``range_falloff`` metres;
- not at a grazing angle (the return probability ramps up with the cosine between ray and surface);
- not inside one of a few random "missing blobs" (dark, shiny or transparent spots that give no depth);
- displaced along its ray by the Kinect axial noise ``sigma(z) = a + b * (z - c)^2`` (Khoshelham & Elberink).

Points seen from near are dense and far ones sparse, occluded surfaces (under and behind furniture, outer
faces of walls) are missing: the result is a partial, non-uniform scan, not a surface sample. Colours are the
face colours under a simple overhead light with per-view exposure and sensor noise; normals are face normals
turned towards the camera; labels and instance ids come from the hit faces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from ...config import Config
from ..labels import SCANNET20
from ..scan import Scan
from .scene import SyntheticRoom


@dataclass
class ScannerConfig(Config):
    """Virtual RGB-D sweep. Lengths in metres, angles in degrees; ranges are ``(min, max)``."""

    positions: tuple[int, int] = (4, 8)
    """Number of camera positions along the sweep (inclusive range)."""
    views_per_position: int = 2
    """Viewing directions per position (the operator turns around)."""
    image_size: tuple[int, int] = (96, 72)
    """Rays per view, ``(columns, rows)``; 6 positions x 2 views x 96 x 72 is about 83k rays."""
    fov: tuple[float, float] = (58.0, 45.0)
    """Horizontal and vertical field of view (a Kinect v1 / Structure sensor)."""
    camera_height: tuple[float, float] = (1.2, 1.8)
    """Height of the camera above the floor."""
    pitch: tuple[float, float] = (-45.0, -10.0)
    """Tilt of the optical axis below the horizon (negative looks down)."""
    clearance: float = 0.35
    """Minimum horizontal distance of a camera from walls and from furniture footprints."""
    min_range: float = 0.4
    """No depth closer than this (sensor minimum)."""
    max_range: float = 4.5
    """No depth beyond this."""
    range_falloff: float = 1.0
    """Over the last this-many metres before ``max_range`` the return probability falls linearly to 0."""
    noise: tuple[float, float, float] = (0.0012, 0.0019, 0.4)
    """``(a, b, c)`` of the axial depth noise ``sigma(z) = a + b * (z - c)^2`` in metres."""
    grazing_cos: tuple[float, float] = (0.1, 0.35)
    """Return probability ramps from 0 to 1 as ``|cos(ray, normal)|`` goes from the first value to the second."""
    holes: tuple[int, int] = (3, 8)
    """Number of random missing blobs (inclusive range)."""
    hole_radius: tuple[float, float] = (0.1, 0.35)
    """Radius of a missing blob."""
    exposure: tuple[float, float] = (0.9, 1.1)
    """Per-view brightness gain."""
    color_noise: float = 4.0
    """Standard deviation of per-point colour noise (sRGB units)."""
    n_points: int | None = 10_000
    """Points kept: a uniform random subset of all returns (so density still follows the sweep); None keeps all."""


def simulate_scan(room: SyntheticRoom, cfg: ScannerConfig | None = None, seed: int = 0) -> Scan:
    """Scan ``room`` with a simulated handheld RGB-D sweep.

    Parameters
    ----------
    room: the ground truth; it is not modified and not attached to the result.
    cfg: sensor and sweep settings (:class:`ScannerConfig` defaults when None).
    seed: seeds the sweep, the dropouts and the noise; same room, config and seed give identical arrays.

    Returns
    -------
    Scan with ``points`` (N, 3) float32 (N = ``cfg.n_points`` or fewer when fewer returns), ``colors`` (N, 3)
    uint8, ``normals`` (N, 3) float32 facing the camera, ``labels`` (N,) int64 ScanNet-20, ``label_set``
    SCANNET20, ``mesh`` None, and in ``extra``: ``instances`` (N,), ``view_ids`` (N,), ``camera_poses``
    (V, 4, 4) camera-to-room transforms (OpenCV axes: x right, y down, z forward), ``fov``, ``seed``,
    ``room_seed``.
    """
    cfg = cfg or ScannerConfig()
    rng = np.random.default_rng(seed)
    poses = camera_poses(room, cfg, rng)
    origins, dirs, view_ids = _rays(poses, cfg, rng)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(room.mesh.vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(room.mesh.faces, dtype=np.uint32)))
    ans = scene.cast_rays(o3d.core.Tensor(np.concatenate([origins, dirs], axis=1).astype(np.float32)))
    t = ans["t_hit"].numpy().astype(np.float64)
    hit = np.isfinite(t)
    prim = ans["primitive_ids"].numpy()[hit].astype(np.int64)
    t, origins, dirs, view_ids = t[hit], origins[hit], dirs[hit], view_ids[hit]

    forward = poses[view_ids, :3, 2]
    cos_axis = np.einsum("ij,ij->i", dirs, forward)
    z = t * cos_axis
    normals = np.asarray(room.mesh.face_normals, dtype=np.float64)[prim]
    cos_in = np.einsum("ij,ij->i", normals, dirs)
    normals[cos_in > 0] *= -1.0  # face the camera (open sheets, backs of thin parts)
    keep = (z >= cfg.min_range) & (z <= cfg.max_range)
    p_range = np.clip((cfg.max_range - z) / max(cfg.range_falloff, 1e-9), 0.0, 1.0)
    g0, g1 = cfg.grazing_cos
    p_angle = np.clip((np.abs(cos_in) - g0) / max(g1 - g0, 1e-9), 0.0, 1.0)
    keep &= rng.random(len(t)) < p_range * p_angle

    surface = origins + dirs * t[:, None]
    n_holes = int(rng.integers(cfg.holes[0], cfg.holes[1] + 1))
    if n_holes and keep.any():
        centres = surface[rng.choice(np.flatnonzero(keep), n_holes)]
        radii = rng.uniform(*cfg.hole_radius, n_holes)
        for c, r in zip(centres, radii, strict=True):
            keep &= np.sum((surface - c) ** 2, axis=1) > r * r

    a, b, c = cfg.noise
    sigma = a + b * (z - c) ** 2
    t_noisy = t + rng.normal(0.0, 1.0, len(t)) * sigma / np.maximum(cos_axis, 1e-3)
    points = origins + dirs * t_noisy[:, None]

    light = np.array([0.25, 0.35, 0.9]) / np.linalg.norm([0.25, 0.35, 0.9])
    shading = 0.72 + 0.28 * np.abs(normals @ light)
    gain = rng.uniform(*cfg.exposure, len(poses))[view_ids]
    colors = room.face_colors[prim].astype(np.float64) * (shading * gain)[:, None]
    colors += rng.normal(0.0, cfg.color_noise, colors.shape)

    idx = np.flatnonzero(keep)
    if cfg.n_points is not None and len(idx) > cfg.n_points:
        idx = np.sort(rng.choice(idx, cfg.n_points, replace=False))
    return Scan(points=points[idx].astype(np.float32),
                colors=np.clip(np.round(colors[idx]), 0, 255).astype(np.uint8),
                normals=normals[idx].astype(np.float32), labels=room.face_labels[prim[idx]].astype(np.int64),
                label_set=SCANNET20, mesh=None,
                extra={"instances": room.face_instances[prim[idx]].astype(np.int64),
                       "view_ids": view_ids[idx].astype(np.int64), "camera_poses": poses,
                       "fov": list(cfg.fov), "seed": int(seed), "room_seed": int(room.seed), "synthetic": True})


def camera_poses(room: SyntheticRoom, cfg: ScannerConfig, rng: np.random.Generator) -> np.ndarray:
    """(V, 4, 4) camera-to-room poses of the sweep (OpenCV axes: columns x right, y down, z forward, origin).

    Positions follow an ellipse around the room centre (radius 25-60 % of the half extents), are pulled
    towards the centre when they would stand in furniture, and stay ``cfg.clearance`` from the walls.
    """
    width, depth, _ = room.size
    centre = np.array([width / 2, depth / 2])
    fps = {o.group: o.footprint for o in room.objects if o.mount == "floor" and o.footprint is not None}
    n = int(rng.integers(cfg.positions[0], cfg.positions[1] + 1))
    radius = rng.uniform(0.25, 0.6, 2) * centre
    phase = rng.uniform(0.0, 2 * np.pi)
    poses = []
    for k in range(n):
        phi = phase + 2 * np.pi * k / n + rng.normal(0.0, 0.15)
        ring_pt = centre + radius * [np.cos(phi), np.sin(phi)]
        xy = _free_spot(ring_pt, centre, fps.values(), width, depth, cfg.clearance, rng)
        eye = np.array([xy[0], xy[1], rng.uniform(*cfg.camera_height)])
        outward = np.arctan2(*(xy - centre)[::-1]) if np.linalg.norm(xy - centre) > 1e-3 else phi
        yaw = outward + rng.normal(0.0, np.deg2rad(25.0))
        for v in range(cfg.views_per_position):
            if v == 1:  # turn round and look across the room
                yaw = outward + np.pi + rng.normal(0.0, np.deg2rad(35.0))
            elif v > 1:
                yaw += rng.choice([-1, 1]) * np.deg2rad(rng.uniform(60.0, 120.0))
            pitch = np.deg2rad(rng.uniform(*cfg.pitch))
            roll = rng.normal(0.0, np.deg2rad(3.0))
            poses.append(_look(eye, yaw, pitch, roll))
    return np.stack(poses)


def _free_spot(start: np.ndarray, centre: np.ndarray, footprints, width: float, depth: float,
               clearance: float, rng: np.random.Generator) -> np.ndarray:
    """The point on the segment from ``start`` to ``centre`` nearest to ``start`` that is clear of walls and
    footprints; if there is none, the clearest of a few random spots."""
    footprints = list(footprints)

    def slack(p):
        wall = min(p[0], width - p[0], p[1], depth - p[1])
        objs = min((f.distance_to_point(p) for f in footprints), default=np.inf)
        return min(wall, objs)

    for s in np.linspace(0.0, 1.0, 11):
        p = start + s * (centre - start)
        if slack(p) >= clearance:
            return p
    candidates = rng.uniform([0.0, 0.0], [width, depth], (32, 2))
    return candidates[int(np.argmax([slack(p) for p in candidates]))]


def _look(eye: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    right, up = np.cos(roll) * right + np.sin(roll) * up, np.cos(roll) * up - np.sin(roll) * right
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, -up, forward, eye
    return m


def _rays(poses: np.ndarray, cfg: ScannerConfig, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit rays through jittered pixel centres of every view: origins (R, 3), directions (R, 3), view ids (R,)."""
    cols, rows = cfg.image_size
    tx, ty = np.tan(np.deg2rad(cfg.fov[0]) / 2), np.tan(np.deg2rad(cfg.fov[1]) / 2)
    u, v = np.meshgrid(np.arange(cols), np.arange(rows))
    per_view = cols * rows
    n_views = len(poses)
    x = ((u.ravel()[None] + rng.random((n_views, per_view))) / cols * 2 - 1) * tx
    y = ((v.ravel()[None] + rng.random((n_views, per_view))) / rows * 2 - 1) * ty
    cam = np.stack([x, y, np.ones_like(x)], axis=-1)
    dirs = np.einsum("vij,vnj->vni", poses[:, :3, :3], cam).reshape(-1, 3)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origins = np.repeat(poses[:, :3, 3], per_view, axis=0)
    return origins, dirs, np.repeat(np.arange(n_views), per_view)
