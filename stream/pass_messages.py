"""A finished pass as Kafka messages beside the geo events: case updates, frame footprints, tracks.

Each message is versioned JSON with a ``schema`` name and ``version`` 1, keyed so that
one case's updates, or one camera's footprints and track, stay in order on one partition.
They go through the edge's durable spool like the events (``EventPublisher.publish_message``).

* ``roadsight.case-update``: what the pass did to a case (new, updated, possibly fixed),
  with the case's state after it; key: the case id.
* ``roadsight.frame-footprint``: the ground polygon one processed frame covered (GeoJSON,
  EPSG:4326), which tells a consumer where the pass looked and found nothing; key:
  ``mission/source``.
* ``roadsight.track``: the platform's path over the processed frames of one camera, as a
  GeoJSON LineString with a time per vertex; key: ``mission/source``.

Example:
    >>> msg = track_messages("m1", ["cam0", "cam0"], [1.7e9, 1.7e9 + 1], [120.1, 120.2], [30.1, 30.2], [None, None])[0]
    >>> msg.kind, msg.key
    ('tracks', b'm1/cam0')
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import geopandas as gpd
import orjson
import shapely

from geo.cases import CaseUpdate

CASE_UPDATE_SCHEMA = "roadsight.case-update"
FOOTPRINT_SCHEMA = "roadsight.frame-footprint"
TRACK_SCHEMA = "roadsight.track"
VERSION = 1

MessageKind = Literal["cases", "footprints", "tracks"]


@dataclass(frozen=True, slots=True)
class PassMessage:
    """One message: which of the publisher's topics (``TopicNames`` field), key and JSON value."""

    kind: MessageKind
    key: bytes
    value: bytes


def _encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def _iso(value: datetime | float) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def case_update_message(update: CaseUpdate, pass_id: str) -> PassMessage:
    """The message for one case touched by pass ``pass_id``."""
    case = update.case
    body = {
        "schema": CASE_UPDATE_SCHEMA,
        "version": VERSION,
        "pass_id": pass_id,
        "action": update.action.value,
        "event_ids": list(update.event_ids),
        "case_id": case.case_id,
        "class_key": case.class_key,
        "category": case.category,
        "kind": case.kind,
        "status": case.status.value,
        "lon": case.lon,
        "lat": case.lat,
        "accuracy_m": case.accuracy_m,
        "first_seen_utc": _iso(case.first_seen_utc),
        "last_seen_utc": _iso(case.last_seen_utc),
        "times_seen": case.times_seen,
        "missed_passes": case.missed_passes,
        "size_m": case.size_m,
        "area_m2": case.area_m2,
        "length_m": case.length_m,
    }
    return PassMessage("cases", case.case_id.encode(), _encode(body))


def footprint_messages(coverage: gpd.GeoDataFrame) -> list[PassMessage]:
    """One message per covered frame (columns mission_id, source_id, frame_index, time_utc, geometry)."""
    if coverage.empty:
        return []
    if coverage.crs is None or coverage.crs.to_epsg() != 4326:
        raise ValueError(f"footprints must be EPSG:4326, got {coverage.crs}")
    geometries = shapely.to_geojson(coverage.geometry.to_numpy())
    messages = []
    for row, geometry in zip(coverage.itertuples(index=False), geometries, strict=True):
        body = {
            "schema": FOOTPRINT_SCHEMA,
            "version": VERSION,
            "mission_id": row.mission_id,
            "source_id": row.source_id,
            "frame_index": int(row.frame_index),
            "time_utc": row.time_utc,
            "footprint": orjson.loads(geometry),
        }
        messages.append(
            PassMessage("footprints", f"{row.mission_id}/{row.source_id}".encode(), _encode(body))
        )
    return messages


def track_messages(
    mission_id: str,
    source_ids: Sequence[str],
    times_utc: Sequence[float],
    lons: Sequence[float],
    lats: Sequence[float],
    alts_msl: Sequence[float | None],
) -> list[PassMessage]:
    """One LineString per source over its positions in time order (a source with one position
    gives a single-vertex line: still where it was)."""
    by_source: dict[str, list[tuple[float, float, float, float | None]]] = {}
    for source, t, lon, lat, alt in zip(source_ids, times_utc, lons, lats, alts_msl, strict=True):
        by_source.setdefault(source, []).append((t, lon, lat, alt))
    messages = []
    for source, points in by_source.items():
        points.sort(key=lambda p: p[0])
        body = {
            "schema": TRACK_SCHEMA,
            "version": VERSION,
            "mission_id": mission_id,
            "source_id": source,
            "track": {
                "type": "LineString",
                "coordinates": [
                    [lon, lat] if alt is None else [lon, lat, alt] for _, lon, lat, alt in points
                ],
            },
            "times_utc": [_iso(t) for t, *_ in points],
        }
        messages.append(PassMessage("tracks", f"{mission_id}/{source}".encode(), _encode(body)))
    return messages
