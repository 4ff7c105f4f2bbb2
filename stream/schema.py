"""The versioned wire schema of a :class:`geo.GeoEvent` (``roadsight.geo-event`` v1).

A Kafka message is one UTF-8 JSON object, at most :data:`MAX_MESSAGE_BYTES`
long, described in ``docs/schema.md`` and exported as JSON Schema to
``docs/schema/geo-event.v1.json``. :func:`encode_event` and
:func:`decode_event` both validate against the same pydantic model, so a
producer can never emit what a consumer would reject.

Example:
    >>> from stream.schema import decode_event, encode_event
    >>> decode_event(encode_event(event)) == event  # doctest: +SKIP
    True

Regenerate the committed JSON Schema after changing the model::

    python -m stream.schema docs/schema/geo-event.v1.json
"""

from __future__ import annotations

import functools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geo import EvidenceRef, GeoEvent
from stream.errors import (
    MalformedMessageError,
    OversizedMessageError,
    SchemaError,
    UnsupportedVersionError,
)
from taxonomy import TaxonomyClass, load_taxonomy

SCHEMA_NAME = "roadsight.geo-event"
SCHEMA_VERSION = 1
# Kafka's default max.message.bytes is 1 MiB; an event is a few hundred bytes,
# so anything near this cap is a bug or an attack, not a detection.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_ID_CHARS = 128
MAX_URI_CHARS = 2048
MAX_EVIDENCE = 16
MAX_FOOTPRINT_POINTS = 256
# Integers must fit the stores' 64-bit columns (SQLite INTEGER, PostgreSQL bigint):
# JSON allows any size, and one huge frame_index would fail every write of its batch.
MAX_INT64 = 2**63 - 1
MAX_CLASS_ID = 2**31 - 1
# Capture times outside this window are clock faults or forgeries; it also keeps
# every stored time inside what pandas (nanoseconds since 1970, up to 2262) can read.
EARLIEST_TIME_UTC = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME_UTC = datetime(2200, 1, 1, tzinfo=UTC)
JSON_SCHEMA_ID = "https://roadsight.invalid/schema/geo-event.v1.json"

_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# ISO 8601 in UTC with a literal Z; at most microseconds, which is what datetime holds.
_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
# Ids are names. They end up in file names, log lines, SQL consoles, shell
# commands and HTML map labels, so they may not hold control characters (C0, DEL,
# C1), Unicode line separators or bidi overrides (which forge lines or reverse
# what an operator reads), nor the quoting and statement characters of SQL, HTML
# and shells (' " ` \ ; < >): a name never needs them, an injection always does.
# Stores use parameterised SQL regardless; this is the second line of defence.
_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069'\"`;<>\\]+$"
# RFC 3986 characters only (non-ASCII and spaces percent-encoded, as Path.as_uri() does).
_URI_PATTERN = r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$"
_MEDIA_TYPE_PATTERN = r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$"

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=_ID_PATTERN)]
Position = tuple[Longitude, Latitude]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EvidenceV1(_Strict):
    """One piece of evidence media, named by content hash."""

    uri: str = Field(min_length=1, max_length=MAX_URI_CHARS, pattern=_URI_PATTERN, description="RFC 3986 URI")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex SHA-256 of the media bytes")
    media_type: str = Field(max_length=127, pattern=_MEDIA_TYPE_PATTERN, description="e.g. image/jpeg")


class PolygonV1(_Strict):
    """A GeoJSON Polygon with exactly one (exterior) ring in WGS84 lon/lat."""

    type: Literal["Polygon"]
    coordinates: list[list[Position]] = Field(min_length=1, max_length=1)

    @field_validator("coordinates")
    @classmethod
    def _closed_ring(cls, rings: list[list[Position]]) -> list[list[Position]]:
        ring = rings[0]
        if not 4 <= len(ring) <= MAX_FOOTPRINT_POINTS:
            raise ValueError(f"ring must have 4 to {MAX_FOOTPRINT_POINTS} positions, got {len(ring)}")
        if ring[0] != ring[-1]:
            raise ValueError("ring must be closed (first position equal to the last)")
        return rings


class GeoEventV1(_Strict):
    """The ``roadsight.geo-event`` message, version 1."""

    model_config = ConfigDict(
        title="roadsight.geo-event v1",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": JSON_SCHEMA_ID,
            "description": (
                "One geo-referenced detection on the wire (Kafka value, UTF-8 JSON, "
                f"at most {MAX_MESSAGE_BYTES} bytes). See docs/schema.md."
            ),
        },
    )

    schema_name: Literal["roadsight.geo-event"] = Field(alias="schema")
    version: Literal[1]
    event_id: str = Field(pattern=_UUID_PATTERN, description="UUIDv5 of mission/source/frame/detection")
    class_id: int = Field(ge=0, le=MAX_CLASS_ID, description="taxonomy class id; must match class_key")
    class_key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    lon: Longitude
    lat: Latitude
    accuracy_m: float = Field(ge=0.0, le=1.0e6, allow_inf_nan=False, description="1-sigma horizontal error")
    time_utc: str = Field(
        pattern=_TIME_PATTERN, description="capture time, ISO 8601 UTC with Z, from 1970 to before 2200"
    )
    mission_id: Identifier
    source_id: Identifier
    frame_index: int = Field(ge=0, le=MAX_INT64)
    box_xyxy: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] = Field(
        description="x1, y1, x2, y2 in pixels of the full frame"
    )
    footprint: PolygonV1 | None = Field(description="box projected on the ground, or null")
    track_id: int | None = Field(ge=0, le=MAX_INT64, description="tracker id, or null")
    evidence: list[EvidenceV1] = Field(max_length=MAX_EVIDENCE)

    @field_validator("time_utc")
    @classmethod
    def _parsable_time(cls, value: str) -> str:
        moment = datetime.fromisoformat(value)  # ValueError (e.g. month 13) becomes a validation error
        if not EARLIEST_TIME_UTC <= moment < LATEST_TIME_UTC:
            raise ValueError(f"time must be from {EARLIEST_TIME_UTC.year} to before {LATEST_TIME_UTC.year}")
        return value

    @field_validator("box_xyxy")
    @classmethod
    def _ordered_box(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError("box must satisfy x1 <= x2 and y1 <= y2")
        return box

    @model_validator(mode="after")
    def _known_class(self) -> GeoEventV1:
        cls = _classes_by_id().get(self.class_id)
        if cls is None:
            raise ValueError(f"class_id {self.class_id} is not in the taxonomy")
        if cls.key != self.class_key:
            raise ValueError(
                f"class_key {self.class_key!r} does not match class_id {self.class_id} ({cls.key!r})"
            )
        return self


@functools.cache
def _classes_by_id() -> dict[int, TaxonomyClass]:
    """The bundled taxonomy's classes by id (looked up once per message, so cached here)."""
    return load_taxonomy().by_id


def format_time_utc(moment: datetime) -> str:
    """``datetime`` -> ISO 8601 UTC with ``Z``; a naive datetime is refused (ambiguous)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SchemaError("geo-event v1: key 'time_utc': datetime must be timezone-aware (UTC)")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_to_wire(event: GeoEvent) -> dict[str, Any]:
    """The v1 wire object of ``event`` (not yet validated; :func:`encode_event` does that).

    Tuples stay tuples: both JSON encoders write them as arrays, so no per-point copy.
    """
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "event_id": event.event_id,
        "class_id": event.class_id,
        "class_key": event.class_key,
        "score": event.score,
        "lon": event.lon,
        "lat": event.lat,
        "accuracy_m": event.accuracy_m,
        "time_utc": format_time_utc(event.time_utc),
        "mission_id": event.mission_id,
        "source_id": event.source_id,
        "frame_index": event.frame_index,
        "box_xyxy": event.box_xyxy,
        "footprint": {"type": "Polygon", "coordinates": [event.footprint]} if event.footprint else None,
        "track_id": event.track_id,
        "evidence": [{"uri": e.uri, "sha256": e.sha256, "media_type": e.media_type} for e in event.evidence],
    }


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(message)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"geo-event v1: key {key!r}: {first['msg']}{more}"


def _schema_error(err: ValidationError) -> SchemaError:
    """The :class:`SchemaError` (subclass) for a pydantic failure: bad JSON is malformed, the rest invalid."""
    if err.errors()[0]["type"] == "json_invalid":
        return MalformedMessageError(_describe(err))
    return SchemaError(_describe(err))


def _validate(text: str | bytes) -> GeoEventV1:
    try:
        return GeoEventV1.model_validate_json(text)
    except ValidationError as err:
        raise _schema_error(err) from None


def encode_event(event: GeoEvent) -> bytes:
    """Serialise ``event`` to a v1 wire message (UTF-8 JSON bytes).

    Raises :class:`SchemaError` naming the key when the event breaks the
    schema (unknown class, NaN score, unclosed footprint ring, ...).
    """
    wire = event_to_wire(event)
    fast = _fast_json(wire)
    if fast is not None:
        try:
            return _checked(fast)
        except SchemaError:
            pass  # say why from the exact stdlib encoding (orjson writes NaN as null)
    # allow_nan: let NaN through to the validator, which names the key.
    data = json.dumps(wire, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return _checked(data.encode("utf-8"))


def _fast_json(wire: dict[str, Any]) -> bytes | None:
    """``wire`` as compact UTF-8 JSON by orjson (a tenth of the stdlib's time), or None where
    orjson cannot be exact: an integer over 64 bits, a surrogate, a type it does not know
    (NumPy scalars). orjson writes NaN and infinities as null, which the schema refuses
    everywhere but in ``track_id``; so a ``track_id`` that is not a plain int or None
    takes the stdlib path, whose NaN the validator names."""
    track = wire["track_id"]
    if track is not None and type(track) is not int:
        return None
    try:
        return orjson.dumps(wire)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def _checked(payload: bytes) -> bytes:
    """``payload`` once it is within the size limit and valid v1, else :class:`SchemaError`."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(
            f"geo-event v1: message is {len(payload)} bytes, over the {MAX_MESSAGE_BYTES} limit"
        )
    _validate(payload)
    return payload


def _check_header(raw: Any) -> None:
    """Name the schema/version problem before field validation buries it."""
    if not isinstance(raw, dict):
        raise MalformedMessageError(f"geo-event: message must be a JSON object, got {type(raw).__name__}")
    if raw.get("schema") != SCHEMA_NAME:
        raise UnsupportedVersionError(
            f"geo-event: key 'schema': expected {SCHEMA_NAME!r}, got {_clip(raw.get('schema'))}"
        )
    version = raw.get("version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UnsupportedVersionError(
            f"geo-event: key 'version': unsupported version {_clip(version)} "
            f"(this reader knows {SCHEMA_VERSION})"
        )


def _clip(value: Any, limit: int = 80) -> str:
    """``repr`` of a value from the wire, cut short: a hostile 60 KiB string must not fill the logs."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def decode_event(data: bytes) -> GeoEvent:
    """Parse and validate a v1 wire message into a :class:`geo.GeoEvent`.

    Raises :class:`SchemaError` (a ``ValueError``) naming the key and reason:
    :class:`OversizedMessageError` (over :data:`MAX_MESSAGE_BYTES`, checked
    before parsing), :class:`MalformedMessageError` (not UTF-8, malformed or
    too deeply nested JSON, not an object), :class:`UnsupportedVersionError`
    (another schema or version), or plain :class:`SchemaError` (wrong type,
    out-of-range value, class id/key not matching the taxonomy).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SchemaError(f"geo-event: message must be bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(
            f"geo-event: message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES} limit"
        )
    try:
        # Fast path: one parse for a valid message (the sink decodes tens of thousands a second).
        msg = GeoEventV1.model_validate_json(data)
    except ValidationError as err:
        raise _diagnose(bytes(data), err) from None
    return _to_event(msg)


def _diagnose(data: bytes, err: ValidationError) -> SchemaError:
    """The most useful error for a message that failed validation: encoding, JSON
    syntax and schema/version first, then the first field error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return MalformedMessageError(f"geo-event: message is not UTF-8 (byte offset {exc.start})")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return MalformedMessageError(
            f"geo-event: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        )
    except RecursionError:
        return MalformedMessageError("geo-event: malformed JSON: nested too deeply")
    try:
        _check_header(raw)
    except SchemaError as exc:
        return exc
    return _schema_error(err)


def _to_event(msg: GeoEventV1) -> GeoEvent:
    footprint = tuple(msg.footprint.coordinates[0]) if msg.footprint else ()  # already (lon, lat) tuples
    return GeoEvent(
        event_id=msg.event_id,
        class_id=msg.class_id,
        class_key=msg.class_key,
        score=msg.score,
        lon=msg.lon,
        lat=msg.lat,
        accuracy_m=msg.accuracy_m,
        time_utc=datetime.fromisoformat(msg.time_utc).astimezone(UTC),
        mission_id=msg.mission_id,
        source_id=msg.source_id,
        frame_index=msg.frame_index,
        box_xyxy=msg.box_xyxy,
        footprint=footprint,
        track_id=msg.track_id,
        evidence=tuple(EvidenceRef(uri=e.uri, sha256=e.sha256, media_type=e.media_type) for e in msg.evidence)
        if msg.evidence
        else (),  # most events have none: no generator for them
    )


def geo_event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the v1 message, as committed in docs/schema/."""
    return GeoEventV1.model_json_schema(by_alias=True, mode="validation")


def geo_event_json_schema_text() -> str:
    """:func:`geo_event_json_schema` as the exact text of ``docs/schema/geo-event.v1.json``."""
    return json.dumps(geo_event_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _main(argv: list[str]) -> int:
    """``python -m stream.schema [PATH]``: print the JSON Schema, or write it to PATH."""
    text = geo_event_json_schema_text()
    if not argv:
        sys.stdout.write(text)
    else:
        Path(argv[0]).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
