"""Records owned by the geo stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """Evidence media named by content: the URI says where, the hash what."""

    uri: str
    sha256: str
    media_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class GeoEvent:
    """One detection placed on the earth.

    Coordinates are WGS84 (EPSG:4326) longitude/latitude in degrees; the
    ``footprint`` is the detection box projected onto the ground, a closed ring
    of ``(lon, lat)`` pairs. ``accuracy_m`` is the estimated horizontal
    position error (1 sigma, metres). ``event_id`` is deterministic for a given
    mission, source, frame and detection, so replaying a mission produces the
    same ids and an idempotent store ignores the duplicates.
    """

    event_id: str
    class_id: int
    class_key: str
    score: float
    lon: float
    lat: float
    accuracy_m: float
    time_utc: datetime
    mission_id: str
    source_id: str
    frame_index: int
    box_xyxy: tuple[float, float, float, float]
    footprint: tuple[tuple[float, float], ...] = ()
    track_id: int | None = None
    evidence: tuple[EvidenceRef, ...] = field(default_factory=tuple)
