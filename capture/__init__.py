"""Capture: video and telemetry in, timed and posed frames out.

Public surface: :class:`Frame` (pixels, UTC capture time, source id, pose),
:class:`Pose` (where the aircraft or vehicle and its camera were at an instant),
:class:`VideoSource` (decoded frames from a file or a live stream;
:func:`choose_decoder` picks its decoder), :func:`load_telemetry`
and :class:`TelemetryTrack` (recorded telemetry, vectorised pose lookup),
:class:`LiveTelemetry` (MAVLink link), :class:`LiveNmea` (NMEA 0183 over TCP or
serial), :class:`PhotoFolderSource` and :func:`load_photo_telemetry` (DJI survey
stills posed by their EXIF/XMP), :class:`DistanceSelector` (which frames
to process: one per advance of the ground footprint), and the errors
:class:`CaptureError` and :class:`TelemetryError`.
"""

from __future__ import annotations

from capture.decoders import DecoderChoice, choose_decoder
from capture.errors import CaptureError, TelemetryError
from capture.photos import PhotoFolderSource, load_photo_telemetry
from capture.selection import DistanceSelector, FootprintDepth, SelectionCounts, footprint_depth_m
from capture.telemetry import LiveNmea, LiveTelemetry, PoseSeries, TelemetryTrack, load_telemetry
from capture.types import Frame, Pose
from capture.video import VideoSource
from capture.video_pipeline import parse_video_uri

__all__ = [
    "CaptureError",
    "DecoderChoice",
    "DistanceSelector",
    "FootprintDepth",
    "Frame",
    "LiveNmea",
    "LiveTelemetry",
    "PhotoFolderSource",
    "Pose",
    "PoseSeries",
    "SelectionCounts",
    "TelemetryError",
    "TelemetryTrack",
    "VideoSource",
    "choose_decoder",
    "footprint_depth_m",
    "load_photo_telemetry",
    "load_telemetry",
    "parse_video_uri",
]
