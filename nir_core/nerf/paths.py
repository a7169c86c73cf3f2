"""Camera paths for turntable renders: a circle around the scene at the training cameras' height and distance, or
(forward-facing scenes) a small circle of the camera in its image plane."""
from __future__ import annotations

import numpy as np


def orbit_of(poses: np.ndarray, ndc: bool) -> dict:
    """The circle a turntable follows, from the training poses (N, 4, 4): ``radius`` and ``height`` of the cameras
    around the origin (z up), or, forward-facing, the radius of the cameras' spread in their image plane."""
    centres = poses[:, :3, 3].astype(np.float64)
    if ndc:
        return {"radius": float(np.percentile(np.linalg.norm(centres[:, :2], axis=1), 90)), "height": 0.0}
    return {"radius": float(np.linalg.norm(centres[:, :2], axis=1).mean()), "height": float(centres[:, 2].mean())}


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """(4, 4) camera-to-world (OpenGL axes: the camera looks down -z) at ``eye`` looking at ``target``."""
    back = eye - target
    back = back / np.linalg.norm(back)
    right = np.cross(up, back)
    right = right / np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, np.cross(back, right), back], 1)
    pose[:3, 3] = eye
    return pose.astype(np.float32)


def turntable(orbit: dict, frames: int, ndc: bool) -> np.ndarray:
    """(frames, 4, 4) poses once around ``orbit`` (:func:`orbit_of`)."""
    angles = np.linspace(0, 2 * np.pi, frames, endpoint=False)
    r, h = orbit["radius"], orbit["height"]
    if ndc:
        poses = np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1))
        poses[:, 0, 3], poses[:, 1, 3] = r * np.cos(angles), r * np.sin(angles)
        return poses
    return np.stack([look_at(np.array([r * np.cos(a), r * np.sin(a), h]), np.zeros(3)) for a in angles])
