"""Angle helpers: aerospace Euler angles <-> quaternions (vectorised), interpolation on the circle.

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
    out = np.asarray(deg, dtype=float) % 360.0
    # -1e-15 % 360 rounds to 360.0 in float64: fold it back onto 0.
    return np.where(out >= 360.0, 0.0, out)


# Beyond this |sin(pitch)| (pitch within ~0.0008 degrees of +-90) only yaw -+ roll is defined.
_GIMBAL_LOCK_SIN = 1.0 - 1e-10


def quaternion_to_euler_deg(
    q: np.ndarray, *, roll_at_lock: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(roll, pitch, yaw) in degrees from ``N x 4`` quaternions ``w, x, y, z`` (ZYX, aerospace).

    The quaternion rotates the reference frame (NED) into the body frame, as
    MAVLink defines it; yaw is returned in ``[0, 360)``. At pitch +-90 degrees
    (a nadir camera) yaw and roll turn about the same axis and only their
    sum (pitch -90) or difference (pitch +90) is defined: there roll is taken
    from ``roll_at_lock`` (default 0) and yaw carries the rest, so the angles
    still describe the same rotation.
    """
    q = np.atleast_2d(np.asarray(q, dtype=float))
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = (q / np.where(norm > 0, norm, 1.0)).T
    sin_pitch = np.clip(2 * (w * y - z * x), -1.0, 1.0)
    roll = np.degrees(np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
    pitch = np.degrees(np.arcsin(sin_pitch))
    yaw = np.degrees(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    lock = np.abs(sin_pitch) > _GIMBAL_LOCK_SIN
    if lock.any():
        hint = np.zeros(len(q)) if roll_at_lock is None else np.nan_to_num(np.asarray(roll_at_lock, float))
        hint = np.broadcast_to(hint, roll.shape)
        # pitch -90: q = sqrt(1/2) (cos h, sin h, -cos h, sin h) with h = (roll + yaw) / 2;
        # pitch +90: q = sqrt(1/2) (cos h, -sin h, sin h, sin h) with h = (yaw - roll) / 2.
        down = sin_pitch < 0
        combined = np.degrees(2 * np.arctan2(np.where(down, x, z), w))
        roll = np.where(lock, hint, roll)
        yaw = np.where(lock, np.where(down, combined - hint, combined + hint), yaw)
        pitch = np.where(lock, np.where(down, -90.0, 90.0), pitch)
    return wrap_180(roll), pitch, wrap_360(yaw)


def euler_deg_to_quaternions(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """``N x 4`` quaternions ``(w, x, y, z)`` for ZYX Euler angles in degrees (inverse of the above)."""
    r, p, y = (np.radians(np.asarray(a, dtype=float)) / 2 for a in (roll, pitch, yaw))
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.stack(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ],
        axis=-1,
    )


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products ``a * b`` of ``N x 4`` quaternions: rotation ``b`` then ``a`` (``R_a @ R_b``)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=float), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=float), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def euler_deg_to_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """Quaternion ``(w, x, y, z)`` for one set of ZYX Euler angles in degrees."""
    w, x, y, z = euler_deg_to_quaternions(np.array(roll), np.array(pitch), np.array(yaw))
    return float(w), float(x), float(y), float(z)


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
