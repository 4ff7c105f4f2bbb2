"""Estimate the video-to-telemetry clock offset by cross-correlating image rotation with yaw rate.

When a camera and its aircraft keep separate clocks, the frames' times are
off by a constant. The camera's turn rate shows in both streams: in the
video as the rotation of the picture between consecutive frames, in the
telemetry as the change of ``camera_yaw`` (the aircraft ``yaw`` when the
camera's is unknown). This holds for a camera looking down (a drone's
survey gimbal): turning its heading clockwise turns the ground in the picture
anticlockwise by the same angle. (A forward-looking vehicle camera turns the
picture about its optical axis only when the vehicle rolls: use a measured
offset there.) The offset is the time shift
that best aligns the two, found by normalised cross-correlation over a range
of shifts and refined between grid steps by a parabola through the peak.

The result is what ``time_offset_s`` in the configuration means: add it to
every frame time to get the telemetry clock.

Example:
    >>> rotation = image_rotation_deg(frames)  # doctest: +SKIP
    >>> estimate = estimate_time_offset(track, frame_times, rotation)  # doctest: +SKIP
    >>> estimate.offset_s, estimate.correlation  # doctest: +SKIP
    (0.37, 0.93)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.angles import interp_angle_deg, wrap_180
from capture.telemetry.track import TelemetryTrack

_MAX_FEATURES = 400
_MIN_TRACKED = 12  # fewer tracked corners than this: no rotation estimate for the pair


@dataclass(frozen=True)
class OffsetEstimate:
    """``offset_s``: add to frame times; ``correlation``: normalised, at the peak (-1..1)."""

    offset_s: float
    correlation: float
    pairs_used: int


def image_rotation_deg(images: Iterable[np.ndarray]) -> np.ndarray:
    """Rotation of the picture from each frame to the next, degrees (``n - 1`` values, NaN if untracked).

    Corners are tracked by pyramidal Lucas-Kanade and a similarity transform
    is fitted with RANSAC; positive is clockwise on screen (y axis down).
    """
    out: list[float] = []
    previous: np.ndarray | None = None
    for image in images:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if previous is not None:
            out.append(_pair_rotation(previous, grey))
        previous = grey
    return np.array(out, dtype=float)


def _pair_rotation(a: np.ndarray, b: np.ndarray) -> float:
    corners = cv2.goodFeaturesToTrack(a, _MAX_FEATURES, 0.01, 8)
    if corners is None or len(corners) < _MIN_TRACKED:
        return float("nan")
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, corners.copy())
    ok = status.ravel() == 1
    if ok.sum() < _MIN_TRACKED:
        return float("nan")
    matrix, _ = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC)
    if matrix is None:
        return float("nan")
    return float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))


def telemetry_yaw_rate(track: TelemetryTrack, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Heading change (degrees) of the camera (else the aircraft) between instants ``start`` and ``end``."""
    s = track.samples
    yaw = s.camera_yaw if np.isfinite(s.camera_yaw).any() else s.yaw
    a = interp_angle_deg(s.time_utc, yaw, np.asarray(start, dtype=float))
    b = interp_angle_deg(s.time_utc, yaw, np.asarray(end, dtype=float))
    return np.asarray(wrap_180(b - a))


def estimate_time_offset(
    track: TelemetryTrack,
    frame_times: np.ndarray,
    rotation_deg: np.ndarray,
    *,
    max_offset_s: float = 2.0,
    step_s: float = 0.01,
) -> OffsetEstimate:
    """The shift of ``frame_times`` that best aligns image rotation with the telemetry's heading change.

    ``rotation_deg[i]`` is the picture's rotation from frame ``i`` to ``i + 1``
    (:func:`image_rotation_deg`, clockwise on screen positive), which for a
    camera looking down is minus the heading change. ``correlation`` near 1
    means a clear match; below ~0.5 the estimate should not be trusted.
    Raises :class:`TelemetryError` when the streams do not overlap or the
    yaw never changes (no signal to align).
    """
    t = np.asarray(frame_times, dtype=float)
    rot = np.asarray(rotation_deg, dtype=float)
    if len(rot) != len(t) - 1:
        raise ValueError(f"need one rotation per frame pair: {len(t)} frames, {len(rot)} rotations")
    shifts = np.arange(-max_offset_s, max_offset_s + step_s / 2, step_s)
    s = track.samples
    # Only pairs whose every shifted instant stays inside the telemetry (no held end samples).
    inside = (t[:-1] - max_offset_s >= s.time_utc[0]) & (t[1:] + max_offset_s <= s.time_utc[-1])
    use = inside & np.isfinite(rot)
    if use.sum() < 8:
        raise TelemetryError(
            f"{track.source}: too few frame pairs overlap the telemetry to estimate an offset"
        )
    t0, t1, image = t[:-1][use], t[1:][use], rot[use]
    grid0 = (t0[None, :] + shifts[:, None]).ravel()
    grid1 = (t1[None, :] + shifts[:, None]).ravel()
    yaw = telemetry_yaw_rate(track, grid0, grid1).reshape(len(shifts), -1)
    ncc = _normalised_correlation(yaw, -image)  # the picture turns against the heading
    if not np.isfinite(ncc).any():
        raise TelemetryError(f"{track.source}: the heading never changes: no signal to align the clocks")
    k = int(np.nanargmax(ncc))
    offset = float(shifts[k])
    if 0 < k < len(shifts) - 1:
        # Parabola through the peak and its neighbours: the offset between grid steps.
        y0, y1, y2 = ncc[k - 1 : k + 2]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            offset += float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5)) * step_s
    return OffsetEstimate(offset_s=offset, correlation=float(ncc[k]), pairs_used=int(use.sum()))


def _normalised_correlation(rows: np.ndarray, signal: np.ndarray) -> np.ndarray:
    a = rows - rows.mean(axis=1, keepdims=True)
    b = signal - signal.mean()
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(denom > 0, a @ b / denom, np.nan))
