"""Telemetry readers (MAVLink tlog, DJI SRT, NMEA, GPX), live MAVLink, pose interpolation."""

from __future__ import annotations

from capture.errors import TelemetryError
from capture.telemetry.live import LiveTelemetry
from capture.telemetry.load import load_telemetry
from capture.telemetry.track import PoseSeries, TelemetryTrack

__all__ = ["LiveTelemetry", "PoseSeries", "TelemetryError", "TelemetryTrack", "load_telemetry"]
