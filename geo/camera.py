"""Pinhole camera model with Brown-Conrady lens distortion, and the camera axes of architecture.md.

Angles: earth-frame camera angles (a stabilised gimbal reporting in the earth
frame) give the axes directly (:func:`camera_axes`); a camera fixed to the body
(a vehicle mount, a fixed drone camera) composes the body attitude with the
mount angles (:func:`mounted_axes`).

Example:
    >>> from hardware.profiles import load_camera_profile
    >>> cam = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    >>> round(cam.fx)
    1364
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geo.errors import GeoError
from geo.homography import GroundHomography
from hardware.profiles import CameraMount, CameraProfile

# Undistortion: iterate until a step moves a normalised point by < 1e-12, at most 100 steps; a point
# whose re-distortion misses its pixel by more than 1e-6 (a thousandth of a pixel) is outside the
# lens model's valid range and is not cast at all.
_UNDISTORT_STEP_TOL = 1e-12
_UNDISTORT_MAX_STEPS = 100
_UNDISTORT_RESIDUAL_TOL = 1e-6


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
    # Calibrated road-plane homography of a mounted camera (on undistorted pixels); replaces the
    # mount-angle rays for flat ground when set.
    ground_homography: GroundHomography | None = None

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise GeoError(f"CameraModel.K: expected a 3x3 pinhole matrix with fx, fy > 0, got {self.K!r}")
        if self.width <= 0 or self.height <= 0:
            raise GeoError(f"CameraModel: width/height must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "distortion", np.asarray(self.distortion, dtype=np.float64).ravel())

    @classmethod
    def from_profile(
        cls,
        profile: CameraProfile,
        width: int,
        height: int,
        *,
        ground_homography: GroundHomography | None = None,
    ) -> CameraModel:
        """The camera of ``profile`` for frames of ``width`` x ``height`` pixels."""
        if ground_homography is not None and profile.mount is None:
            raise GeoError(f"camera profile {profile.name}: a ground homography needs a fixed mount")
        return cls(
            K=profile.intrinsics(width, height),
            width=width,
            height=height,
            mount=profile.mount,
            distortion=np.asarray(profile.distortion, dtype=np.float64),
            ground_homography=ground_homography,
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
        xd = (u - self.K[0, 2]) / self.K[0, 0]
        yd = (v - self.K[1, 2]) / self.K[1, 1]
        if self.has_distortion and xd.size:
            return undistort_normalized(xd, yd, self.distortion)
        return xd, yd

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.distortion != 0.0))


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


def axes_matrix(yaw_deg: np.ndarray, pitch_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """Camera axes as matrices ``(N, 3, 3)`` whose columns are right, down, forward in ENU.

    A pixel's ray is ``R @ (x_norm, y_norm, 1)``.
    """
    f, r, d = camera_axes(yaw_deg, pitch_deg, roll_deg)
    return np.stack([r, d, f], axis=-1)


def mounted_axes(
    body_yaw_deg: np.ndarray,
    body_pitch_deg: np.ndarray,
    body_roll_deg: np.ndarray,
    mount: CameraMount,
) -> np.ndarray:
    """Axes ``(N, 3, 3)`` of a camera fixed to a body: body attitude composed with the mount angles.

    The body frame is (right, forward, up); the mount's yaw/pitch/roll are the
    camera's angles in it with the same formulas as :func:`camera_axes` (yaw
    from the body's forward axis towards its right, pitch from the body's
    horizontal plane). The body attitude (aviation yaw, pitch, roll) gives the
    body's right, forward and down axes by those same formulas, so the
    camera's earth axes are ``B @ M`` with ``B = [right, forward, up]``.
    A level body with heading ``yaw`` gives ``camera_axes(yaw + mount yaw,
    mount pitch, mount roll)`` exactly.
    """
    f_b, r_b, d_b = camera_axes(body_yaw_deg, body_pitch_deg, body_roll_deg)
    body = np.stack([r_b, f_b, -d_b], axis=-1)  # (N, 3, 3): body (right, forward, up) -> ENU
    mount_axes = axes_matrix(
        np.array([mount.yaw_deg]), np.array([mount.pitch_deg]), np.array([mount.roll_deg])
    )
    return np.asarray(body @ mount_axes[0])


def distort_normalized(x: np.ndarray, y: np.ndarray, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brown-Conrady (OpenCV ``k1 k2 p1 p2 k3``) distortion of normalised image coordinates."""
    k1, k2, p1, p2, k3 = (float(c) for c in np.pad(coeffs, (0, max(0, 5 - len(coeffs))))[:5])
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return (
        x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
        y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
    )


def undistort_normalized(xd: np.ndarray, yd: np.ndarray, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`distort_normalized` (vectorised fixed-point iteration, as OpenCV, to convergence).

    Points the iteration cannot invert (far outside the calibrated field) come back NaN.
    """
    k1, k2, p1, p2, k3 = (float(c) for c in np.pad(coeffs, (0, max(0, 5 - len(coeffs))))[:5])
    x, y = xd.copy(), yd.copy()
    for _ in range(_UNDISTORT_MAX_STEPS):
        r2 = x * x + y * y
        inv_radial = 1.0 / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)))
        nx = (xd - 2.0 * p1 * x * y - p2 * (r2 + 2.0 * x * x)) * inv_radial
        ny = (yd - p1 * (r2 + 2.0 * y * y) - 2.0 * p2 * x * y) * inv_radial
        step = np.nanmax(np.abs(nx - x) + np.abs(ny - y)) if nx.size else 0.0
        x, y = nx, ny
        if not step > _UNDISTORT_STEP_TOL:
            break
    rx, ry = distort_normalized(x, y, coeffs)
    bad = ~(np.abs(rx - xd) + np.abs(ry - yd) <= _UNDISTORT_RESIDUAL_TOL)
    return np.where(bad, np.nan, x), np.where(bad, np.nan, y)
