"""Stream: geo-events on the wire (Kafka, versioned JSON) and into stores.

Public surface: :func:`encode_event` / :func:`decode_event` (schema
``roadsight.geo-event`` v1, validated on both ends, :class:`SchemaError` on bad
input), :class:`KafkaEventSink` and :func:`read_events` (the Kafka transport,
:class:`StreamError` when the broker cannot be reached), and
:class:`GeoPackageStore` (the embedded, idempotent GeoPackage store),
:class:`PostGISStore` (the production store), both behind :class:`EventStore`
and picked by URI with :func:`open_store`.
"""

from __future__ import annotations

from stream.errors import SchemaError, StoreUnavailableError, StreamError
from stream.event_store import EventStore, open_store
from stream.kafka import KafkaEventSink, read_events
from stream.postgis import PostGISStore
from stream.schema import decode_event, encode_event, geo_event_json_schema
from stream.store import GeoPackageStore, StoreError

__all__ = [
    "EventStore",
    "GeoPackageStore",
    "KafkaEventSink",
    "PostGISStore",
    "SchemaError",
    "StoreError",
    "StoreUnavailableError",
    "StreamError",
    "decode_event",
    "encode_event",
    "geo_event_json_schema",
    "open_store",
    "read_events",
]
