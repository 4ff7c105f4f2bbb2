"""Simulated pinhole camera: pose in the local ENU frame and exact ground projection.

The orientation convention is the one of ``docs/architecture.md`` (earth frame,
degrees): ``yaw`` clockwise from true north, ``pitch`` 0 at the horizon and -90
straight down, ``roll`` about the optical axis, positive when the image's right
side tips down. Pixel ``(u, v)`` sees the ray ``((u-cx)/fx) r + ((v-cy)/fy) d + f``.

Example:
    >>> import numpy as np
    >>> K = np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]])
    >>> pose = CameraPose(x=0.0, y=0.0, height=30.0, yaw_deg=0.0, pitch_deg=-90.0)
    >>> uv, ok = project_ground_points(K, pose, np.array([[0.0, 3.0], [3.0, 0.0]]))
    >>> uv.round(1).tolist()  # north is up, east is right
    [[960.0, 440.0], [1060.0, 540.0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Camera position (local metres, ``height`` above the ground plane z=0) and earth-frame angles."""

    x: float
    y: float
    height: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float = 0.0


def camera_axes(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """3x3 matrix whose columns are the camera's right, down and forward unit vectors in ENU."""
    yaw, pitch, roll = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    f = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    r0 = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    d0 = np.cross(f, r0)
    r = math.cos(roll) * r0 + math.sin(roll) * d0
    d = -math.sin(roll) * r0 + math.cos(roll) * d0
    return np.stack([r, d, f], axis=1)


def ground_to_image_homography(K: np.ndarray, pose: CameraPose) -> np.ndarray:
    """3x3 homography taking ground-plane points ``(x, y, 1)`` (local metres) to pixels.

    Only points in front of the camera (positive third coordinate) are real images.
    """
    R_t = camera_axes(pose.yaw_deg, pose.pitch_deg, pose.roll_deg).T
    # (x, y, 0) - C  ==  M @ (x, y, 1)
    M = np.array([[1.0, 0.0, -pose.x], [0.0, 1.0, -pose.y], [0.0, 0.0, -pose.height]])
    return np.asarray(K @ R_t @ M, dtype=np.float64)


def project_ground_points(K: np.ndarray, pose: CameraPose, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project ground points ``(N, 2)`` to pixels ``(N, 2)``; also return the in-front mask ``(N,)``."""
    H = ground_to_image_homography(K, pose)
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    hom = np.column_stack([pts, np.ones(len(pts))]) @ H.T
    in_front = hom[:, 2] > 1e-9
    w = np.where(in_front, hom[:, 2], 1.0)
    return hom[:, :2] / w[:, None], in_front


def pixel_rays(K: np.ndarray, pose: CameraPose, uv: np.ndarray) -> np.ndarray:
    """ENU ray directions ``(N, 3)`` (not normalised) for pixels ``(N, 2)``."""
    pts = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    a = (pts[:, 0] - K[0, 2]) / K[0, 0]
    b = (pts[:, 1] - K[1, 2]) / K[1, 1]
    axes = camera_axes(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    return np.asarray(np.column_stack([a, b, np.ones_like(a)]) @ axes.T)


def image_to_ground(K: np.ndarray, pose: CameraPose, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersect pixel rays with the ground plane; returns ``(N, 2)`` points and the hits-ground mask."""
    rays = pixel_rays(K, pose, uv)
    hits = rays[:, 2] < -1e-9
    t = np.where(hits, -pose.height / np.where(hits, rays[:, 2], -1.0), np.nan)
    return np.column_stack([pose.x + t * rays[:, 0], pose.y + t * rays[:, 1]]), hits
