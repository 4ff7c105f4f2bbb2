"""The geo-event v1 wire schema: round trip, rejection of bad input, committed JSON Schema."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema  # comes with streamlit (altair); pinned in requirements.lock
import pytest

from geo import EvidenceRef, GeoEvent
from geo.ids import event_id_for
from stream.errors import SchemaError
from stream.schema import MAX_MESSAGE_BYTES, decode_event, encode_event, geo_event_json_schema_text
from taxonomy import load_taxonomy

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "schema" / "geo-event.v1.json"
SHA = "ab" * 32


def make_event(**changes: Any) -> GeoEvent:
    pothole = load_taxonomy().by_key["pothole"]
    event = GeoEvent(
        event_id=event_id_for("m-2026-11-23", "cam0", 42, 1),
        class_id=pothole.id,
        class_key=pothole.key,
        score=0.8731,
        lon=120.151234567,
        lat=30.271234567,
        accuracy_m=0.75,
        time_utc=datetime(2026, 11, 23, 9, 15, 30, 123456, tzinfo=UTC),
        mission_id="m-2026-11-23",
        source_id="cam0",
        frame_index=42,
        box_xyxy=(100.5, 200.0, 180.25, 260.0),
        footprint=((120.1512, 30.2712), (120.1513, 30.2712), (120.1513, 30.2713), (120.1512, 30.2712)),
        track_id=7,
        evidence=(EvidenceRef(uri="file:///evidence/m1/42.jpg", sha256=SHA),),
    )
    return replace(event, **changes)


def wire(**changes: Any) -> bytes:
    """A valid v1 message with some top-level keys replaced (or removed when the value is ...)."""
    raw = json.loads(encode_event(make_event()))
    for key, value in changes.items():
        if value is ...:
            del raw[key]
        else:
            raw[key] = value
    return json.dumps(raw).encode()


def test_round_trip_is_exact() -> None:
    event = make_event()
    assert decode_event(encode_event(event)) == event


def test_round_trip_without_optional_parts() -> None:
    event = make_event(footprint=(), track_id=None, evidence=())
    data = encode_event(event)
    raw = json.loads(data)
    assert raw["footprint"] is None and raw["track_id"] is None and raw["evidence"] == []
    assert decode_event(data) == event


def test_wire_layout_is_the_documented_one() -> None:
    raw = json.loads(encode_event(make_event()))
    assert raw["schema"] == "roadsight.geo-event"
    assert raw["version"] == 1
    assert raw["time_utc"] == "2026-11-23T09:15:30.123456Z"
    assert raw["footprint"]["type"] == "Polygon"
    assert raw["footprint"]["coordinates"][0][0] == [120.1512, 30.2712]
    assert raw["evidence"] == [
        {"uri": "file:///evidence/m1/42.jpg", "sha256": SHA, "media_type": "image/jpeg"}
    ]


def test_non_utc_time_is_normalised_to_z() -> None:
    east8 = timezone(timedelta(hours=8))
    event = make_event(time_utc=datetime(2026, 11, 23, 17, 0, 0, tzinfo=east8))
    raw = json.loads(encode_event(event))
    assert raw["time_utc"] == "2026-11-23T09:00:00Z"
    decoded = decode_event(encode_event(event))
    assert decoded.time_utc == event.time_utc and decoded.time_utc.tzinfo == UTC


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"score": 1.5}, "score"),
        ({"score": float("nan")}, "score"),
        ({"lon": 181.0}, "lon"),
        ({"lat": -90.5}, "lat"),
        ({"accuracy_m": -1.0}, "accuracy_m"),
        ({"class_key": "crack_transverse"}, "class_key"),
        ({"class_id": 999}, "class_id"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"mission_id": ""}, "mission_id"),
        ({"mission_id": "x" * 129}, "mission_id"),
        ({"frame_index": -1}, "frame_index"),
        ({"box_xyxy": (10.0, 10.0, 5.0, 20.0)}, "box_xyxy"),
        ({"track_id": -3}, "track_id"),
        ({"footprint": ((120.0, 30.0), (120.1, 30.0), (120.1, 30.1), (120.0, 30.1))}, "footprint"),
        ({"evidence": (EvidenceRef(uri="file:///a.jpg", sha256="XYZ"),)}, "evidence.0.sha256"),
        ({"time_utc": datetime(2026, 11, 23, 9, 0, 0)}, "time_utc"),
    ],
)
def test_encode_rejects_bad_events_naming_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(SchemaError, match=key.replace(".", r"\.")):
        encode_event(make_event(**changes))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (wire(schema="roadsight.other"), "key 'schema'"),
        (wire(version=2), "unsupported version 2"),
        (wire(version="1"), "unsupported version '1'"),
        (wire(version=...), "key 'version'"),
        (wire(score="0.9"), "key 'score'"),
        (wire(frame_index=4.0), "key 'frame_index'"),
        (wire(lat=True), "key 'lat'"),
        (wire(box_xyxy=[1, 2, 3]), "key 'box_xyxy"),
        (wire(time_utc="2026-11-23T09:15:30+08:00"), "key 'time_utc'"),
        (wire(time_utc="2026-13-23T09:15:30Z"), "key 'time_utc'"),
        (wire(track_id=...), "key 'track_id'"),
        (wire(extra_field=1), "key 'extra_field'"),
        (wire(footprint={"type": "Point", "coordinates": [1, 2]}), "key 'footprint"),
        (wire(evidence=[{"uri": "u", "sha256": SHA}]), "key 'evidence.0.media_type'"),
        (wire(mission_id="bad\nid"), "key 'mission_id'"),
    ],
)
def test_decode_rejects_bad_messages_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaError) as info:
        decode_event(data)
    assert reason in str(info.value)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(SchemaError, ValueError)


def test_oversized_messages_are_rejected_before_parsing() -> None:
    data = wire(mission_id="m") + b" " * MAX_MESSAGE_BYTES
    with pytest.raises(SchemaError, match="over the 65536 limit"):
        decode_event(data)


def test_length_caps_bound_the_message_size() -> None:
    """Every variable-length field is capped, so a valid message stays far below the size limit."""
    long_uri = EvidenceRef(uri="file:///" + "e" * 2048, sha256=SHA)
    with pytest.raises(SchemaError, match=r"evidence\.0\.uri"):
        encode_event(make_event(evidence=(long_uri,)))
    too_many = tuple(EvidenceRef(uri=f"file:///{i}.jpg", sha256=SHA) for i in range(17))
    with pytest.raises(SchemaError, match="'evidence'"):
        encode_event(make_event(evidence=too_many))
    ring = (*((120.0 + i * 1e-6, 30.0) for i in range(256)), (120.0, 30.0))
    with pytest.raises(SchemaError, match="footprint"):
        encode_event(make_event(footprint=ring))
    biggest = make_event(
        evidence=tuple(EvidenceRef(uri="file:///" + "e" * 2030 + f"{i:02d}", sha256=SHA) for i in range(16)),
        footprint=(
            *((-179.123456789012 + i * 1e-9, -89.123456789012) for i in range(255)),
            (-179.123456789012, -89.123456789012),
        ),
    )
    assert len(encode_event(biggest)) < MAX_MESSAGE_BYTES


def test_committed_json_schema_matches_the_model() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == geo_event_json_schema_text(), (
        "docs/schema/geo-event.v1.json is stale: run `python -m stream.schema docs/schema/geo-event.v1.json`"
    )


def test_json_schema_accepts_an_encoded_event_and_rejects_a_bad_one() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(encode_event(make_event())), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(wire(score=2)), schema)


def _stdlib_json(event: GeoEvent) -> Any:
    """What the standard library's encoder makes of ``event`` (the reference orjson must match)."""
    from stream.schema import event_to_wire

    return json.loads(json.dumps(event_to_wire(event), ensure_ascii=False, allow_nan=True))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"footprint": (), "track_id": None, "evidence": ()},
        {"lon": -179.999999999999, "lat": 1e-300, "score": 5e-324, "accuracy_m": 1e6},
        {"mission_id": "mission-é-路-ñ", "source_id": "cam\u00a0二"},
        {"frame_index": 2**63 - 1, "track_id": 0},
    ],
)
def test_fast_encoding_says_what_the_stdlib_says(changes: dict[str, Any]) -> None:
    """orjson writes the message: the same JSON values as the stdlib encoder, and a round trip."""
    event = make_event(**changes)
    data = encode_event(event)
    assert json.loads(data) == _stdlib_json(event)
    assert decode_event(data) == event


@pytest.mark.parametrize(
    ("changes", "key", "why"),
    [
        ({"score": float("nan")}, "score", "finite"),  # orjson would write null: the stdlib names it
        ({"lat": float("inf")}, "lat", "finite"),
        ({"track_id": float("nan")}, "track_id", ""),  # null would be valid here: never via orjson
        ({"frame_index": 2**64}, "frame_index", ""),  # over orjson's 64 bits: the stdlib path refuses it
    ],
)
def test_fast_encoding_never_lets_through_what_the_stdlib_refuses(
    changes: dict[str, Any], key: str, why: str
) -> None:
    with pytest.raises(SchemaError, match=f"{key}.*{why}"):
        encode_event(make_event(**changes))


def test_numpy_scalars_still_encode() -> None:
    """orjson does not know NumPy floats; the stdlib encoder writes them as plain numbers."""
    import numpy as np

    event = make_event(lon=np.float64(120.25), score=np.float64(0.5))
    assert decode_event(encode_event(event)) == replace(event, lon=120.25, score=0.5)
