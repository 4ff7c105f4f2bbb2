"""Errors raised by the capture stage.

Both are ``ValueError`` subclasses so the CLI can turn them into one red line.
"""

from __future__ import annotations


class CaptureError(ValueError):
    """A video source that cannot be opened or decoded; the message names the URI."""


class TelemetryError(ValueError):
    """Telemetry that cannot be read; the message names the file and the line or byte offset."""
