"""The geo stage's error type."""

from __future__ import annotations


class GeoError(ValueError):
    """Input the geo stage cannot use; the message names the file, key or record."""
