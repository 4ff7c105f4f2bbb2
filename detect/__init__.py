"""Detect: frames in, taxonomy-labelled pixel boxes out.

Public surface: :class:`Detections` (a batch of boxes for one frame, as NumPy
arrays), :class:`DetectedFrame` (a frame with its detections),
:class:`OnnxDetector` (Ultralytics YOLO ONNX exports run with ONNX Runtime),
:func:`export_onnx` (weights -> ONNX with metadata; needs the ``train`` extra)
and :class:`DetectError`. Backends share the :class:`Detector` interface:
:class:`OnnxDetector`, :class:`TensorRTDetector` (engines on an NVIDIA GPU) and
:class:`UltralyticsDetector` (the reference); :func:`load_detector` picks one by
file type. :func:`export_model` writes ONNX, INT8 ONNX, OpenVINO or TensorRT;
:func:`quantize_onnx_int8` and :func:`evaluate_map50` are the INT8 tools.
:class:`DetectorEnsemble` runs several models (:class:`ModelSpec`) per stream,
:class:`TiledDetector` runs one on overlapping tiles of large frames, and
:mod:`detect.convert` turns RDD VOC XML or COCO JSON into YOLO data sets.

Example:
    >>> from detect import OnnxDetector  # doctest: +SKIP
    >>> detector = OnnxDetector("road.onnx", conf={"default": 0.3, "pothole": 0.4})  # doctest: +SKIP
    >>> detections = detector.detect([frame.image])  # doctest: +SKIP
"""

from __future__ import annotations

# ONNX Runtime must load before GStreamer (which `capture`, imported by the detector modules, starts):
# with GStreamer's libunwind loaded first, any C++ exception inside ONNX Runtime aborts the process.
import onnxruntime  # noqa: F401

from detect.detector import Detector, StagedDetector
from detect.ensemble import DetectorEnsemble, ModelSpec
from detect.errors import DetectError
from detect.evaluate import evaluate_map50
from detect.export import export_onnx
from detect.export_formats import export_model
from detect.factory import load_detector
from detect.onnx_backend import OnnxDetector, resolve_providers
from detect.quantize import quantize_onnx_int8
from detect.tensorrt_backend import TensorRTDetector
from detect.tiling import TiledDetector
from detect.timings import DetectTimings
from detect.types import DetectedFrame, Detections, PreparedBatch
from detect.ultralytics_backend import UltralyticsDetector

__all__ = [
    "DetectError",
    "DetectTimings",
    "DetectedFrame",
    "Detections",
    "Detector",
    "DetectorEnsemble",
    "ModelSpec",
    "OnnxDetector",
    "PreparedBatch",
    "StagedDetector",
    "TensorRTDetector",
    "TiledDetector",
    "UltralyticsDetector",
    "evaluate_map50",
    "export_model",
    "export_onnx",
    "load_detector",
    "quantize_onnx_int8",
    "resolve_providers",
]
