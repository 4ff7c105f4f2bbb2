"""Attitude interpolation: quaternion slerp between the samples around each instant (vectorised).

Roll, pitch and yaw are one rotation; interpolating them column by column is
wrong wherever they are coupled (a banked turn, a camera near nadir, where
yaw and roll swing about almost the same axis). Here each sample becomes a
quaternion, the two samples around an instant are joined along the shortest
great arc (spherical linear interpolation), and the result goes back to
Euler angles. Instants outside the samples hold the end sample.

Example:
    >>> import numpy as np
    >>> t = np.array([0.0, 1.0])
    >>> roll, pitch, yaw = interp_attitude_deg(
    ...     t, np.zeros(2), np.zeros(2), np.array([350.0, 10.0]), np.array([0.25, 0.5]))
    >>> [round(float(v), 6) for v in yaw]
    [355.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from capture.telemetry.angles import (
    euler_deg_to_quaternions,
    interp_angle_deg,
    quaternion_to_euler_deg,
)

_SMALL_ARC = 1e-9  # below this sin(angle) slerp and linear interpolation agree to rounding


def slerp(q0: np.ndarray, q1: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Unit quaternions ``N x 4`` a fraction ``f`` of the way from ``q0`` to ``q1`` (shortest arc)."""
    f = np.asarray(f, dtype=float)[:, None]
    dot = np.sum(q0 * q1, axis=1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # q and -q are the same rotation: take the near one
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    angle = np.arccos(dot)
    sin_angle = np.sin(angle)
    small = sin_angle < _SMALL_ARC
    safe = np.where(small, 1.0, sin_angle)
    w0 = np.where(small, 1.0 - f, np.sin((1.0 - f) * angle) / safe)
    w1 = np.where(small, f, np.sin(f * angle) / safe)
    out = w0 * q0 + w1 * q1
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True))


def interp_attitude_deg(
    t: np.ndarray, roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(roll, pitch, yaw) at instants ``at`` from samples at sorted times ``t``, degrees.

    Where both neighbouring samples know all three angles the rotation is
    slerped; elsewhere (an angle is NaN: unknown) each angle is interpolated
    on its own along the shortest arc, and unknown stays NaN. Roll and pitch
    come back in ``[-180, 180)``, yaw in ``[0, 360)``.
    """
    t = np.asarray(t, dtype=float)
    at = np.atleast_1d(np.asarray(at, dtype=float))
    angles = [np.asarray(a, dtype=float) for a in (roll, pitch, yaw)]
    per_column = [
        interp_angle_deg(t, a, at, signed=signed)
        for a, signed in zip(angles, (True, True, False), strict=True)
    ]
    known = np.isfinite(angles[0]) & np.isfinite(angles[1]) & np.isfinite(angles[2])
    if len(t) < 2 or not known.any():
        return per_column[0], per_column[1], per_column[2]
    left = np.clip(np.searchsorted(t, at, side="right") - 1, 0, len(t) - 2)
    right = left + 1
    step = t[right] - t[left]
    f = np.clip((at - t[left]) / np.where(step > 0, step, 1.0), 0.0, 1.0)
    f = np.where(step > 0, f, 1.0)  # duplicate instants: take the later sample
    both = known[left] & known[right]
    q = euler_deg_to_quaternions(*(np.nan_to_num(a) for a in angles))
    r, p, y = quaternion_to_euler_deg(slerp(q[left], q[right], f), roll_at_lock=per_column[0])
    return (
        np.where(both, r, per_column[0]),
        np.where(both, p, per_column[1]),
        np.where(both, y, per_column[2]),
    )
