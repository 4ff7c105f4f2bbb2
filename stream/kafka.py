"""Kafka transport for geo events: a producer-side sink and a consumer helper.

Messages are ``roadsight.geo-event`` v1 JSON (see :mod:`stream.schema`). The
record key is ``<mission_id>/<source_id>``, so all events of one camera stream
land in one partition and keep their order.

Example:
    >>> sink = KafkaEventSink("127.0.0.1:9092")          # doctest: +SKIP
    >>> sink.send(events); sink.flush(); sink.close()   # doctest: +SKIP
    >>> read_events("127.0.0.1:9092", DEFAULT_TOPIC, expected=len(events))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from geo import GeoEvent
from stream.errors import SchemaError, StreamError
from stream.schema import SCHEMA_NAME, SCHEMA_VERSION, decode_event, encode_event

DEFAULT_TOPIC = "roadsight.geo-events"
_HEADERS = [
    ("content-type", b"application/json"),
    ("schema", SCHEMA_NAME.encode()),
    ("schema-version", str(SCHEMA_VERSION).encode()),
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How a client authenticates and encrypts (kafka-python's own setting names).

    The default is PLAINTEXT (a broker on a trusted network or loopback). For a
    broker behind SASL/SCRAM over TLS, for example::

        KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                      sasl_plain_username="edge-17", sasl_plain_password=secret,
                      ssl_cafile="/etc/roadsight/ca.pem")
    """

    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    ssl_check_hostname: bool = True

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``KafkaProducer``/``KafkaConsumer`` (unset ones left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __repr__(self) -> str:  # never print the password
        shown = {k: ("***" if "password" in k else v) for k, v in self.client_settings().items()}
        return f"KafkaSecurity({shown})"


def event_key(event: GeoEvent) -> bytes:
    """Partition key: one camera stream of one mission -> one partition -> ordered."""
    return f"{event.mission_id}/{event.source_id}".encode()


def _producer_defaults(client_id: str, connect_timeout_s: float) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "client_id": client_id,
        "acks": "all",
        # lz4 (a dependency): about a hundredth of gzip's CPU per record, at about half its ratio.
        "compression_type": "lz4",
        "linger_ms": 20,  # batch a frame's detections into one request
        "batch_size": 64 * 1024,
        "retries": 2**31 - 1,  # bounded by delivery_timeout_ms instead
        "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
        "api_version_auto_timeout_ms": int(connect_timeout_s * 1000),
        # No duplicates or reordering from retries within a partition (kafka-python >= 2.1).
        "enable_idempotence": True,
    }
    return _known_to(KafkaProducer, defaults)


def _known_to(client: type, config: dict[str, Any]) -> dict[str, Any]:
    """Keep only the settings this kafka-python knows: 2.x and 3.x name the
    connect timeout differently (api_version_auto_timeout_ms / bootstrap_timeout_ms)."""
    known: dict[str, Any] = client.DEFAULT_CONFIG  # type: ignore[attr-defined]
    return {k: v for k, v in config.items() if k in known}


class KafkaEventSink:
    """Publishes :class:`geo.GeoEvent` records to a Kafka topic.

    Args:
        bootstrap: ``host:port[,host:port...]`` of the brokers.
        topic: destination topic.
        client_id: shown in broker logs and metrics.
        connect_timeout_s: how long the constructor tries to reach a broker
            before raising :class:`StreamError`.
        producer_overrides: extra ``kafka.KafkaProducer`` settings, applied last.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = DEFAULT_TOPIC,
        *,
        client_id: str = "roadsight-edge",
        connect_timeout_s: float = 10.0,
        **producer_overrides: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        config = _producer_defaults(client_id, connect_timeout_s) | producer_overrides
        try:
            self._producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
        except KafkaError as err:
            raise StreamError(f"cannot reach Kafka at {bootstrap} (topic {topic}): {err}") from err
        self._pending: list[FutureRecordMetadata] = []

    def send(self, events: Iterable[GeoEvent]) -> int:
        """Queue ``events`` for delivery; returns how many were queued.

        Every event is encoded first, so a :class:`SchemaError` queues nothing.
        Delivery is asynchronous: call :meth:`flush` to wait for acknowledgement.
        """
        records = [(event_key(e), encode_event(e)) for e in events]
        for key, value in records:
            try:
                future = self._producer.send(self.topic, value=value, key=key, headers=_HEADERS)
            except KafkaError as err:
                raise StreamError(
                    f"cannot send to Kafka at {self.bootstrap} (topic {self.topic}): {err}"
                ) from err
            self._pending.append(future)
        return len(records)

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every queued event is acknowledged by the broker (acks=all).

        Raises :class:`StreamError` if delivery failed or did not finish in time.
        """
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as err:
            raise StreamError(
                f"Kafka at {self.bootstrap} did not acknowledge {len(self._pending)} events "
                f"within {timeout} s (topic {self.topic}): {err}"
            ) from err
        pending, self._pending = self._pending, []
        failed = [f.exception for f in pending if f.failed()]
        if failed:
            raise StreamError(
                f"{len(failed)} of {len(pending)} events were not delivered to {self.bootstrap} "
                f"(topic {self.topic}): {failed[0]}"
            )

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (best effort) and release the connection."""
        self._producer.close(timeout=timeout)

    def __enter__(self) -> KafkaEventSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.flush()
        finally:
            self.close()


def read_events(
    bootstrap: str,
    topic: str = DEFAULT_TOPIC,
    *,
    expected: int | None = None,
    timeout_s: float = 30.0,
    group_id: str | None = None,
    skip_invalid: bool = False,
) -> list[GeoEvent]:
    """Read geo events from the beginning of ``topic``.

    With ``expected``, return as soon as that many events have been read and
    raise :class:`StreamError` if fewer arrive within ``timeout_s``. Without it,
    read everything the topic holds now (up to the end offsets seen at the
    start) and return. With ``group_id``, join that consumer group and commit
    offsets, so a second call reads only what is new; without it, read every
    partition and commit nothing.

    A message that breaks the schema raises :class:`SchemaError` naming the
    partition and offset, unless ``skip_invalid`` (then it is logged and skipped).
    """
    deadline = time.monotonic() + timeout_s
    consumer = _open_consumer(bootstrap, topic, group_id, timeout_s)
    events: list[GeoEvent] = []
    try:
        partitions = _partitions(consumer, topic, deadline, wait=expected is not None)
        if not partitions:
            if expected:
                raise StreamError(f"topic {topic} did not appear at {bootstrap} within {timeout_s} s")
            return []
        if group_id is None:
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.subscribe([topic])
        end_offsets = consumer.end_offsets(partitions) if expected is None else {}
        while not _done(consumer, events, expected, end_offsets):
            if time.monotonic() >= deadline:
                if expected is not None:
                    raise StreamError(
                        f"read {len(events)} of {expected} expected events from {topic} "
                        f"at {bootstrap} in {timeout_s} s"
                    )
                log.warning("read_events(%s): timed out before reaching the end offsets", topic)
                break
            for records in consumer.poll(timeout_ms=200).values():
                events.extend(e for e in (_decode_record(r, skip_invalid) for r in records) if e is not None)
        if group_id is not None:
            consumer.commit()
    except KafkaError as err:
        raise StreamError(f"reading {topic} from Kafka at {bootstrap} failed: {err}") from err
    finally:
        consumer.close()
    return events


def _done(
    consumer: KafkaConsumer,
    events: list[GeoEvent],
    expected: int | None,
    end_offsets: dict[TopicPartition, int],
) -> bool:
    if expected is not None:
        return len(events) >= expected
    assigned = consumer.assignment()
    return all(tp in assigned and consumer.position(tp) >= end for tp, end in end_offsets.items())


def _open_consumer(bootstrap: str, topic: str, group_id: str | None, timeout_s: float) -> KafkaConsumer:
    try:
        connect_ms = int(min(timeout_s, 10.0) * 1000)
        config = {
            "group_id": group_id,
            "client_id": "roadsight-reader",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "bootstrap_timeout_ms": connect_ms,
            "api_version_auto_timeout_ms": connect_ms,
        }
        return KafkaConsumer(bootstrap_servers=bootstrap, **_known_to(KafkaConsumer, config))
    except KafkaError as err:
        raise StreamError(f"cannot reach Kafka at {bootstrap} (topic {topic}): {err}") from err


def _partitions(consumer: KafkaConsumer, topic: str, deadline: float, *, wait: bool) -> list[TopicPartition]:
    """The topic's partitions; when ``wait``, keep asking until the topic exists."""
    while True:
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return [TopicPartition(topic, p) for p in sorted(ids)]
        if not wait or time.monotonic() >= deadline:
            return []
        time.sleep(0.2)


def _decode_record(record: Any, skip_invalid: bool) -> GeoEvent | None:
    try:
        return decode_event(record.value)
    except SchemaError as err:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if skip_invalid:
            log.warning("skipping invalid message %s: %s", where, err)
            return None
        raise SchemaError(f"{where}: {err}") from None
