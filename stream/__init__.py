"""Stream: geo-events on the wire (Kafka, versioned JSON) and into stores.

Public surface: :func:`encode_event` / :func:`decode_event` (schema
``roadsight.geo-event`` v1, validated on both ends, :class:`SchemaError` on bad
input), :class:`KafkaEventSink` and :func:`read_events` (the Kafka transport,
:class:`StreamError` when the broker cannot be reached), and
:class:`GeoPackageStore` (the embedded, idempotent GeoPackage store),
:class:`PostGISStore` (the production store), both behind :class:`EventStore`
and picked by URI with :func:`open_store`.

Edge side: :class:`EventPublisher` (events -> durable SQLite spool -> Kafka,
nothing lost through outages or restarts; :class:`Spool`/:class:`SpoolSender`
underneath), :func:`open_evidence_store` (content-addressed evidence media) and
:class:`MetricsRegistry`/:class:`MetricsServer` (Prometheus ``/metrics``).
"""

from __future__ import annotations

from stream.errors import SchemaError, StoreUnavailableError, StreamError
from stream.event_store import EventStore, open_store
from stream.evidence import (
    EvidenceError,
    EvidenceStore,
    LocalEvidenceStore,
    S3EvidenceStore,
    open_evidence_store,
)
from stream.kafka import KafkaEventSink, KafkaSecurity, read_events
from stream.metrics import MetricsRegistry, MetricsServer
from stream.postgis import PostGISStore
from stream.producer import EventPublisher, ProducerTuning, TopicNames
from stream.schema import decode_event, encode_event, geo_event_json_schema
from stream.spool import OutboundMessage, Spool, SpoolFullError, SpoolStats
from stream.spool_sender import SpoolSender
from stream.store import GeoPackageStore, StoreError

__all__ = [
    "EventPublisher",
    "EventStore",
    "EvidenceError",
    "EvidenceStore",
    "GeoPackageStore",
    "KafkaEventSink",
    "KafkaSecurity",
    "LocalEvidenceStore",
    "MetricsRegistry",
    "MetricsServer",
    "OutboundMessage",
    "PostGISStore",
    "ProducerTuning",
    "S3EvidenceStore",
    "SchemaError",
    "Spool",
    "SpoolFullError",
    "SpoolSender",
    "SpoolStats",
    "StoreError",
    "StoreUnavailableError",
    "StreamError",
    "TopicNames",
    "decode_event",
    "encode_event",
    "geo_event_json_schema",
    "open_evidence_store",
    "open_store",
    "read_events",
]
