"""The error a data set converter raises for input it cannot read."""

from __future__ import annotations

from detect.errors import DetectError


class ConversionError(DetectError):
    """A malformed annotation file or data set layout; the message names the file (and line or key)."""
