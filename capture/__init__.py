"""Capture: video and telemetry in, timed and posed frames out.

Public surface: :class:`Frame` (pixels, UTC capture time, source id, pose) and
:class:`Pose` (where the aircraft or vehicle and its camera were at an instant).
Everything else in this package is an implementation detail of the stage.
"""

from __future__ import annotations

from capture.types import Frame, Pose

__all__ = ["Frame", "Pose"]
