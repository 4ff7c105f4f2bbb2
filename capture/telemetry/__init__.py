"""Telemetry readers (tlog, DJI SRT, NMEA, GPX, ST 0601 KLV in TS), live MAVLink and NMEA, interpolation."""

from __future__ import annotations

from capture.errors import TelemetryError
from capture.telemetry.klv import load_klv_ts
from capture.telemetry.live import LiveTelemetry
from capture.telemetry.load import load_telemetry
from capture.telemetry.nmea_live import LiveNmea
from capture.telemetry.offset import OffsetEstimate, estimate_time_offset, image_rotation_deg
from capture.telemetry.track import PoseSeries, TelemetryTrack

__all__ = [
    "LiveNmea",
    "LiveTelemetry",
    "OffsetEstimate",
    "PoseSeries",
    "TelemetryError",
    "TelemetryTrack",
    "estimate_time_offset",
    "image_rotation_deg",
    "load_klv_ts",
    "load_telemetry",
]
