"""Hardware: device and camera profiles (data), and the test range simulator.

Public surface: :class:`CameraProfile` and :func:`load_camera_profile`; drone, vehicle rig and
edge profiles through :func:`load_profile` / :func:`list_profiles`; the
simulator lives in :mod:`hardware.sim`.
"""

from __future__ import annotations

from hardware.device_profiles import (
    DroneProfile,
    EdgeProfile,
    VehicleRigProfile,
    list_profiles,
    load_profile,
)
from hardware.profiles import (
    CameraMount,
    CameraProfile,
    ProfileError,
    list_camera_profiles,
    load_camera_profile,
)

__all__ = [
    "CameraMount",
    "CameraProfile",
    "DroneProfile",
    "EdgeProfile",
    "ProfileError",
    "VehicleRigProfile",
    "list_camera_profiles",
    "list_profiles",
    "load_camera_profile",
    "load_profile",
]
