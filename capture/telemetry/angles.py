"""Angle helpers: quaternion to aerospace Euler angles, interpolation on the circle.

Example:
    >>> import numpy as np
    >>> float(interp_angle_deg(np.array([0.0, 1.0]), np.array([359.0, 1.0]), np.array([0.5]))[0])
    0.0
"""

from __future__ import annotations

import numpy as np


def wrap_180(deg: np.ndarray) -> np.ndarray:
    """Angles mapped to ``[-180, 180)``."""
    return (np.asarray(deg, dtype=float) + 180.0) % 360.0 - 180.0


def wrap_360(deg: np.ndarray) -> np.ndarray:
    """Angles mapped to ``[0, 360)``."""
    return np.asarray(deg, dtype=float) % 360.0


def quaternion_to_euler_deg(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(roll, pitch, yaw) in degrees from ``N x 4`` quaternions ``w, x, y, z`` (ZYX, aerospace).

    The quaternion rotates the reference frame (NED) into the body frame, as
    MAVLink defines it; yaw is returned in ``[0, 360)``.
    """
    q = np.atleast_2d(np.asarray(q, dtype=float))
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = (q / np.where(norm > 0, norm, 1.0)).T
    roll = np.degrees(np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
    pitch = np.degrees(np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0)))
    yaw = np.degrees(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    return roll, pitch, wrap_360(yaw)


def euler_deg_to_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """Quaternion ``(w, x, y, z)`` for ZYX Euler angles in degrees (inverse of the above)."""
    cr, sr = np.cos(np.radians(roll) / 2), np.sin(np.radians(roll) / 2)
    cp, sp = np.cos(np.radians(pitch) / 2), np.sin(np.radians(pitch) / 2)
    cy, sy = np.cos(np.radians(yaw) / 2), np.sin(np.radians(yaw) / 2)
    return (
        float(cr * cp * cy + sr * sp * sy),
        float(sr * cp * cy - cr * sp * sy),
        float(cr * sp * cy + sr * cp * sy),
        float(cr * cp * sy - sr * sp * cy),
    )


def interp_angle_deg(t: np.ndarray, deg: np.ndarray, at: np.ndarray, *, signed: bool = False) -> np.ndarray:
    """Interpolate angles (degrees) along the shortest arc; clamps outside ``t``.

    For a rotation about one axis this is exactly spherical linear
    interpolation, so 359 -> 1 passes through 0 and never through 180. NaN
    samples (unknown angles) make the instants next to them NaN. The result is
    in ``[0, 360)``, or ``[-180, 180)`` with ``signed`` (pitch, roll).
    """
    t = np.asarray(t, dtype=float)
    deg = np.asarray(deg, dtype=float)
    at = np.asarray(at, dtype=float)
    known = np.isfinite(deg)
    unwrapped = np.full(deg.shape, np.nan)
    if known.any():
        # Unwrap the known samples so neighbours differ by less than 180 degrees.
        values = deg[known]
        steps = wrap_180(np.diff(values))
        unwrapped[known] = values[0] + np.concatenate(([0.0], np.cumsum(steps)))
    out = np.interp(at, t, unwrapped) if len(t) > 1 else np.full(at.shape, unwrapped[0])
    return np.asarray(wrap_180(out) if signed else wrap_360(out))
