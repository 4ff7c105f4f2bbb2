"""Detect: frames in, taxonomy-labelled pixel boxes out.

Public surface: :class:`Detections` (a batch of boxes for one frame, as NumPy
arrays) and :class:`DetectedFrame` (a frame with its detections).
"""

from __future__ import annotations

from detect.types import DetectedFrame, Detections

__all__ = ["DetectedFrame", "Detections"]
