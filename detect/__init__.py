"""Detect: frames in, taxonomy-labelled pixel boxes out.

Public surface: :class:`Detections` (a batch of boxes for one frame, as NumPy
arrays), :class:`DetectedFrame` (a frame with its detections),
:class:`OnnxDetector` (Ultralytics YOLO ONNX exports run with ONNX Runtime),
:func:`export_onnx` (weights -> ONNX with metadata; needs the ``train`` extra)
and :class:`DetectError`.

Example:
    >>> from detect import OnnxDetector  # doctest: +SKIP
    >>> detector = OnnxDetector("road.onnx", conf={"default": 0.3, "pothole": 0.4})  # doctest: +SKIP
    >>> detections = detector.detect([frame.image])  # doctest: +SKIP
"""

from __future__ import annotations

from detect.errors import DetectError
from detect.export import export_onnx
from detect.onnx_backend import OnnxDetector
from detect.types import DetectedFrame, Detections

__all__ = ["DetectError", "DetectedFrame", "Detections", "OnnxDetector", "export_onnx"]
