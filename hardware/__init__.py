"""Hardware: device and camera profiles (data), and the test range simulator.

Public surface: :class:`CameraProfile` and :func:`load_camera_profile`; the
simulator lives in :mod:`hardware.sim`.
"""

from __future__ import annotations

from hardware.profiles import (
    CameraMount,
    CameraProfile,
    ProfileError,
    list_camera_profiles,
    load_camera_profile,
)

__all__ = ["CameraMount", "CameraProfile", "ProfileError", "list_camera_profiles", "load_camera_profile"]
