"""Records owned by the capture stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Pose:
    """Platform and camera pose at one instant.

    Angles are degrees. Aircraft attitude follows aviation (NED) conventions:
    ``yaw`` clockwise from true north, ``pitch`` nose up positive, ``roll``
    right wing down positive. The camera orientation is given in the earth
    frame (as DJI gimbals and MAVLink gimbal status in earth frame report it):
    ``camera_pitch`` -90 looks straight down, 0 at the horizon;
    ``camera_yaw`` clockwise from true north; ``camera_roll`` about the optical
    axis. Where the camera orientation is unknown (a fixed vehicle camera) it is
    ``None`` and the camera profile's mount angles apply.

    Example:
        >>> Pose(time_utc=1.7e9, lat=30.27, lon=120.15, alt_agl=30.0).alt_agl
        30.0
    """

    time_utc: float  # POSIX seconds, UTC
    lat: float
    lon: float
    alt_msl: float | None = None  # metres above mean sea level
    alt_agl: float | None = None  # metres above the ground (take-off point)
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    camera_pitch: float | None = None
    camera_yaw: float | None = None
    camera_roll: float | None = None
    speed_mps: float | None = None
    horizontal_accuracy_m: float = 0.5
    vertical_accuracy_m: float = 1.0


@dataclass(slots=True)
class Frame:
    """One decoded video frame.

    ``image`` is an ``H x W x 3`` ``uint8`` BGR array; sources hand out views
    on the decoder's buffer where they can, so treat it as read-only.
    ``pose`` is ``None`` when no telemetry was close enough in time (the frame
    is *unlocated*: still counted, never silently dropped).
    """

    source_id: str
    index: int  # 0-based frame number within the source
    pts_ns: int  # presentation timestamp within the stream
    time_utc: float  # capture time, POSIX seconds UTC
    image: np.ndarray = field(repr=False)
    pose: Pose | None = None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
