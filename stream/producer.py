"""The edge's Kafka publisher: geo events -> durable spool -> Kafka, nothing lost.

:class:`EventPublisher` validates and encodes each :class:`geo.GeoEvent`
(``roadsight.geo-event`` v1), commits it to a :class:`stream.spool.Spool`
(SQLite WAL) and returns; a :class:`stream.spool_sender.SpoolSender` thread sends
the spool in order with an idempotent kafka-python producer (``acks=all``,
lz4, batched) and deletes rows only once the broker acknowledged them. The
edge may start offline, lose the broker for minutes or be restarted: what
was published is sent when the broker is back.

Keys (``key_by``) choose what keeps its order (one key -> one partition):

* ``"cell"`` (default): the geohash cell of the event position
  (:mod:`stream.cells`, ``cell_precision`` characters, 6 = about 1.2 x 0.6 km):
  per-area order whichever vehicle saw it, and areas spread over partitions;
* ``"source"``: ``<mission_id>/<source_id>``, one camera stream in order
  (what :class:`stream.kafka.KafkaEventSink` does);
* a callable ``GeoEvent -> bytes``, e.g. a road-segment id from a map matcher.

An event that breaks the schema is not sent to the events topic: it goes to
the dead-letter topic (``dlq-error: invalid``, the reason in ``dlq-reason``,
``dlq-origin: edge``) and is counted (``invalid``), so nothing disappears.

Example:
    >>> with EventPublisher("edge.spool", "broker:9092") as publisher:  # doctest: +SKIP
    ...     publisher.publish(events)
    ...     publisher.flush(30.0)
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from kafka import KafkaProducer

from geo import GeoEvent
from stream.cells import geohash_cells
from stream.errors import SchemaError
from stream.kafka import KafkaSecurity, _known_to, event_key
from stream.metrics import MetricsRegistry
from stream.partitioner import CachedKeyPartitioner
from stream.schema import SCHEMA_NAME, SCHEMA_VERSION, encode_event, event_to_wire
from stream.spool import Headers, OutboundMessage, Spool, SpoolStats
from stream.spool_sender import SpoolSender
from stream.spool_sender_process import SpoolSenderProcess

log = logging.getLogger(__name__)

EVENT_HEADERS: Headers = (
    ("content-type", b"application/json"),
    ("schema", SCHEMA_NAME.encode()),
    ("schema-version", str(SCHEMA_VERSION).encode()),
)

_SPOOL_COUNTERS = {
    "spooled": "Messages committed to the spool",
    "sent": "Messages acknowledged by the broker and removed from the spool",
    "rejected": "Messages refused because the spool was full (or too large)",
    "quarantined": "Messages the broker refused for good (kept in the spool's quarantine table)",
    "resent": "Messages sent again after a producer error",
    "send_errors": "Producer delivery errors after kafka-python's retries",
}
_SPOOL_GAUGES = {
    "pending": "Messages in the spool, not yet acknowledged",
    "bytes": "Bytes in the spool, not yet acknowledged",
    "oldest_age_s": "Age in seconds of the oldest message in the spool",
    "fill_fraction": "How full the spool is (1 = producers blocked)",
}

KeyBy = Literal["cell", "source"] | Callable[[GeoEvent], bytes]


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The edge's topics: detections, case updates, telemetry tracks, frame footprints, dead letters."""

    detections: str = "roadsight.geo-events"
    cases: str = "roadsight.cases"
    tracks: str = "roadsight.tracks"
    footprints: str = "roadsight.footprints"
    dead_letter: str = "roadsight.dead-letter"


@dataclass(frozen=True, slots=True)
class ProducerTuning:
    """kafka-python producer settings for the spool sender (throughput with no loss).

    ``delivery_timeout_ms`` is long on purpose: kafka-python keeps retrying a
    batch through an outage with the same producer id and sequence numbers, so
    the broker drops a retried batch it already has (no duplicates) and order
    holds; the spool bounds how much is in flight (``window``).
    """

    # lz4: about 0.1 us of CPU a record where gzip takes ~12 (256 KiB batches of events),
    # at about half gzip's ratio; the edge is CPU-bound. "gzip" where link bytes cost most.
    compression_type: str = "lz4"
    linger_ms: int = 20
    batch_size: int = 256 * 1024
    max_in_flight_requests_per_connection: int = 5  # the most idempotence allows
    delivery_timeout_ms: int = 24 * 3600 * 1000
    request_timeout_ms: int = 30_000
    reconnect_backoff_max_ms: int = 1_000  # find a returning broker within a second
    max_block_ms: int = 2_000  # send() waits this long for metadata, then the row is retried
    window: int = 20_000  # rows handed to kafka-python and not yet acknowledged, at most

    def producer_settings(self) -> dict[str, Any]:
        settings = asdict(self)
        settings.pop("window")
        return settings


def producer_config(
    bootstrap: str,
    *,
    client_id: str = "roadsight-edge",
    security: KafkaSecurity | None = None,
    tuning: ProducerTuning | None = None,
    connect_timeout_s: float = 10.0,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``KafkaProducer`` settings of the spool sender: idempotent, ``acks=all``, tuned.

    Raises ``ValueError`` naming settings kafka-python does not know.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "partitioner": CachedKeyPartitioner(),  # the default mapping, hashed once per key
        "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
        "api_version_auto_timeout_ms": int(connect_timeout_s * 1000),
        **(tuning or ProducerTuning()).producer_settings(),
    }
    # Only our defaults are trimmed to what this kafka-python knows (2.x and 3.x name the
    # connect timeout differently); a misspelt security setting or override must fail loudly.
    config = _known_to(KafkaProducer, config) | (security or KafkaSecurity()).client_settings()
    config |= overrides or {}
    unknown = sorted(set(config) - set(KafkaProducer.DEFAULT_CONFIG))
    if unknown:  # the producer is made later, in the sender thread: say it now
        raise ValueError(
            f"unknown Kafka producer settings {unknown} (kafka-python's names, e.g. sasl_mechanism)"
        )
    return config


@dataclass
class PublisherStats:
    """Spool counters plus what the publisher itself counted."""

    spool: SpoolStats
    published: int = 0
    invalid: int = 0
    connected: bool = False
    last_error: str | None = None


class EventPublisher:
    """Publishes geo events (and other edge messages) through a durable spool.

    Args:
        spool_path: the SQLite spool file (one per edge process; kept between runs).
        bootstrap: ``host:port[,...]`` of the brokers.
        topics: topic names.
        key_by: ``"cell"``, ``"source"`` or a function ``GeoEvent -> bytes``.
        cell_precision: geohash characters for ``key_by="cell"``.
        security: SASL/SSL settings passed to kafka-python.
        max_spool_bytes / max_spool_messages: the spool bound.
        warn_fraction: warn when the spool is this full.
        block_timeout_s: how long :meth:`publish` blocks on a full spool before
            raising :class:`stream.spool.SpoolFullError` (None: forever).
        tuning: producer batching/compression/timeouts.
        producer_overrides: raw ``KafkaProducer`` settings, applied last.
        sender_process: send from a child process (:mod:`stream.spool_sender_process`)
            instead of a thread: kafka-python's per-record Python then runs on another
            core, beside this process's validation and spooling (about 1.5x the events/s
            on two cores). Same order, acknowledgement and counters.
    """

    def __init__(
        self,
        spool_path: str | Path,
        bootstrap: str,
        *,
        topics: TopicNames | None = None,
        key_by: KeyBy = "cell",
        cell_precision: int = 6,
        security: KafkaSecurity | None = None,
        max_spool_bytes: int = 256 * 2**20,
        max_spool_messages: int | None = None,
        warn_fraction: float = 0.8,
        block_timeout_s: float | None = 60.0,
        tuning: ProducerTuning | None = None,
        client_id: str = "roadsight-edge",
        connect_timeout_s: float = 10.0,
        producer_overrides: Mapping[str, Any] | None = None,
        sender_process: bool = False,
    ) -> None:
        if not callable(key_by) and key_by not in ("cell", "source"):
            raise ValueError(f"key_by must be 'cell', 'source' or a function, got {key_by!r}")
        self.bootstrap = bootstrap
        self.topics = topics or TopicNames()
        self.key_by = key_by
        self.cell_precision = cell_precision
        tuning = tuning or ProducerTuning()
        config = producer_config(  # first: a bad setting fails before the spool is opened
            bootstrap,
            client_id=client_id,
            security=security,
            tuning=tuning,
            connect_timeout_s=connect_timeout_s,
            overrides=producer_overrides,
        )
        self.spool = Spool(
            spool_path,
            max_bytes=max_spool_bytes,
            max_messages=max_spool_messages,
            warn_fraction=warn_fraction,
            block_timeout_s=block_timeout_s,
        )
        self.sender: SpoolSender | SpoolSenderProcess
        if sender_process:
            try:
                self.sender = SpoolSenderProcess(self.spool, config, window=tuning.window).start()
            except BaseException:
                self.spool.close()
                raise
        else:
            self.sender = SpoolSender(
                self.spool, partial(KafkaProducer, **config), window=tuning.window
            ).start()
        self._lock = threading.Lock()
        self._published = 0
        self._invalid = 0

    def keys(self, events: Sequence[GeoEvent]) -> list[bytes]:
        """The record key of each event under this publisher's ``key_by``."""
        if self.key_by == "source":
            return [event_key(e) for e in events]
        if self.key_by == "cell":
            cells = geohash_cells([e.lon for e in events], [e.lat for e in events], self.cell_precision)
            return [c.encode("ascii") for c in cells]
        key_fn: Callable[[GeoEvent], bytes] = self.key_by
        return [key_fn(e) for e in events]

    def publish(self, events: Sequence[GeoEvent], *, timeout_s: float | None = None) -> int:
        """Spool ``events`` for delivery and return how many valid events were spooled.

        Returns once they are on disk (not yet on the broker: see :meth:`flush`).
        Invalid events go to the dead-letter topic instead (counted). Blocks
        while the spool is full; raises :class:`stream.spool.SpoolFullError`
        when it stays full past ``timeout_s`` (default: the publisher's
        ``block_timeout_s``) -- then nothing of this call was spooled.
        """
        if not events:
            return 0
        messages: list[OutboundMessage] = []
        valid: list[GeoEvent] = []
        payloads: list[bytes] = []
        dead: list[OutboundMessage] = []
        for event in events:
            try:
                payloads.append(encode_event(event))
                valid.append(event)
            except SchemaError as err:
                dead.append(self._dead_letter(event, str(err)))
        if valid:
            keys = self.keys(valid)  # valid events have finite, in-range positions
            topic = self.topics.detections
            messages = [
                OutboundMessage(topic, v, k, EVENT_HEADERS) for k, v in zip(keys, payloads, strict=True)
            ]
        self.spool.append(messages + dead, timeout_s=timeout_s)
        with self._lock:
            self._published += len(valid)
            self._invalid += len(dead)
        if dead:
            log.warning(
                "%d of %d events broke the schema and went to %s", len(dead), len(events), dead[0].topic
            )
        return len(valid)

    def _dead_letter(self, event: GeoEvent, reason: str) -> OutboundMessage:
        try:
            body = json.dumps(event_to_wire(event), default=str, allow_nan=True)
        except SchemaError:  # e.g. a naive datetime: keep every field as text
            body = json.dumps({k: str(getattr(event, k)) for k in event.__dataclass_fields__})
        headers: Headers = (
            ("content-type", b"application/json"),
            ("dlq-error", b"invalid"),  # the same header names as the sink's dead letters
            ("dlq-reason", reason.encode("utf-8", "replace")[:1000]),
            ("dlq-origin", b"edge"),
            ("dlq-topic", self.topics.detections.encode()),
        )
        return OutboundMessage(self.topics.dead_letter, body.encode("utf-8"), event_key(event), headers)

    def publish_message(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers = (),
        *,
        timeout_s: float | None = None,
    ) -> None:
        """Spool one message of another kind (case update, track, footprint) as is."""
        self.spool.append([OutboundMessage(topic, value, key, headers)], timeout_s=timeout_s)

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until everything published so far is acknowledged by the broker.

        Raises :class:`stream.errors.StreamError` on timeout (the messages stay
        spooled and keep being sent).
        """
        self.sender.flush(timeout_s)

    def stats(self) -> PublisherStats:
        with self._lock:
            published, invalid = self._published, self._invalid
        return PublisherStats(
            spool=self.spool.stats(),
            published=published,
            invalid=invalid,
            connected=self.sender.connected,
            last_error=self.sender.last_error,
        )

    def register_metrics(self, registry: MetricsRegistry, prefix: str = "roadsight_edge") -> None:
        """Expose the spool and publisher counters on a metrics endpoint (read at each scrape)."""

        def read(field: str) -> Callable[[], float]:
            return lambda: float(getattr(self.spool.stats(), field))

        for field, help_text in _SPOOL_COUNTERS.items():
            registry.counter_fn(f"{prefix}_spool_{field}_total", help_text, read(field))
        for field, help_text in _SPOOL_GAUGES.items():
            registry.gauge_fn(f"{prefix}_spool_{field}", help_text, read(field))
        registry.counter_fn(
            f"{prefix}_events_published_total", "Valid events spooled", lambda: self._published
        )
        registry.counter_fn(f"{prefix}_events_invalid_total", "Events sent to the DLQ", lambda: self._invalid)
        registry.gauge_fn(
            f"{prefix}_kafka_connected", "1 while a producer is up", lambda: self.sender.connected
        )
        registry.health_check(f"{prefix}_spool_not_full", lambda: self.spool.stats().fill_fraction < 1.0)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop sending and close the spool; unsent messages wait there for the next run."""
        try:
            self.sender.close(timeout_s)
        finally:
            self.spool.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()
