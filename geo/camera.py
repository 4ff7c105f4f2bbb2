"""Pinhole camera model and the earth-frame camera axes of architecture.md.

Example:
    >>> from hardware.profiles import load_camera_profile
    >>> cam = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    >>> round(cam.fx)
    1364
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from geo.errors import GeoError
from hardware.profiles import CameraMount, CameraProfile


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics ``K`` for ``width`` x ``height`` frames, optional lens distortion and fixed mount.

    ``mount`` is set for cameras fixed to a vehicle body: the camera then looks
    along the vehicle heading plus the mount yaw, at the mount pitch/roll and
    height. Without a mount the pose's earth-frame gimbal angles apply.
    """

    K: np.ndarray
    width: int
    height: int
    mount: CameraMount | None = None
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(5))

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise GeoError(f"CameraModel.K: expected a 3x3 pinhole matrix with fx, fy > 0, got {self.K!r}")
        if self.width <= 0 or self.height <= 0:
            raise GeoError(f"CameraModel: width/height must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "distortion", np.asarray(self.distortion, dtype=np.float64).ravel())

    @classmethod
    def from_profile(cls, profile: CameraProfile, width: int, height: int) -> CameraModel:
        """The camera of ``profile`` for frames of ``width`` x ``height`` pixels."""
        return cls(
            K=profile.intrinsics(width, height),
            width=width,
            height=height,
            mount=profile.mount,
            distortion=np.asarray(profile.distortion, dtype=np.float64),
        )

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    def normalized(
        self,
        u: np.ndarray,
        v: np.ndarray,
        scale_x: np.ndarray | float = 1.0,
        scale_y: np.ndarray | float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalised image coordinates ``((u - cx)/fx, (v - cy)/fy)``, undistorted.

        ``scale_x``/``scale_y`` map frame pixels to this model's pixels when a
        frame was resized (model width / frame width).
        """
        u = np.asarray(u, np.float64) * scale_x
        v = np.asarray(v, np.float64) * scale_y
        if np.any(self.distortion != 0.0) and u.size:
            pts = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
            und = cv2.undistortPoints(pts, self.K, self.distortion).reshape(-1, 2)
            return und[:, 0], und[:, 1]
        return (u - self.K[0, 2]) / self.K[0, 0], (v - self.K[1, 2]) / self.K[1, 1]


def camera_axes(
    yaw_deg: np.ndarray, pitch_deg: np.ndarray, roll_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, right and down unit vectors in local ENU, shape ``(N, 3)`` each.

    Exactly the formulas of ``docs/architecture.md``::

        f  = (sin(yaw) cos(pitch), cos(yaw) cos(pitch), sin(pitch))
        r0 = (cos(yaw), -sin(yaw), 0);   d0 = f x r0
        r  = cos(roll) r0 + sin(roll) d0;   d = -sin(roll) r0 + cos(roll) d0
    """
    yaw = np.radians(np.asarray(yaw_deg, np.float64))
    pitch = np.radians(np.asarray(pitch_deg, np.float64))
    roll = np.radians(np.asarray(roll_deg, np.float64))
    f = np.stack([np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), np.sin(pitch)], axis=-1)
    r0 = np.stack([np.cos(yaw), -np.sin(yaw), np.zeros_like(yaw)], axis=-1)
    d0 = np.cross(f, r0)
    cr, sr = np.cos(roll)[..., None], np.sin(roll)[..., None]
    return f, cr * r0 + sr * d0, -sr * r0 + cr * d0
