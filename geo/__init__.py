"""Geo: pixel boxes and poses in, WGS84 events out.

Public surface: :class:`GeoEvent` (one geo-referenced detection) and
:class:`EvidenceRef` (a pointer to evidence media by URI and SHA-256).
"""

from __future__ import annotations

from geo.types import EvidenceRef, GeoEvent

__all__ = ["EvidenceRef", "GeoEvent"]
