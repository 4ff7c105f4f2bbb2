"""The server-side sink: Kafka consumer group -> schema check -> event store, exactly-once in effect.

:class:`EventSink` reads a topic in a consumer group, one poll at a time:

1. every record is decoded and validated (:func:`stream.schema.decode_event`);
   empty, oversized, malformed, wrong-version and invalid records become dead
   letters (the original bytes, with the reason and origin in headers) and never
   reach the store;
2. the valid events are written to the store in one transaction (idempotent by
   ``event_id``);
3. the dead letters are sent and their acknowledgement (``acks=all``) awaited;
4. only then are the offsets committed.

A crash anywhere before step 4 means the batch is read again, by this sink
after a restart or by another member of the group; the store skips the events
it has, so delivery is at least once and the effect exactly once. A failed
store write (server down) rewinds the batch and retries with back-off; the
offsets never move past an event that is not stored.

Example:
    >>> counters = run_sink("127.0.0.1:9092", "roadsight.geo-events", "postgresql://db/roadsight",
    ...                     "roadsight-sink", "roadsight.dead-letter")  # doctest: +SKIP

Command line (the ``roadsight sink`` command calls :func:`run_sink` the same way)::

    python -m stream.sink --kafka 127.0.0.1:9092 --topic roadsight.geo-events \\
        --store postgresql://roadsight@db/roadsight --group roadsight-sink \\
        --dlq roadsight.dead-letter --metrics-port 9465
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from geo import GeoEvent
from stream.errors import (
    MalformedMessageError,
    OversizedMessageError,
    SchemaError,
    StoreError,
    StreamError,
    UnsupportedVersionError,
)
from stream.event_store import EventStore, open_store
from stream.kafka import KafkaSecurity, _known_to
from stream.metrics import MetricsRegistry, MetricsServer
from stream.schema import MAX_MESSAGE_BYTES, decode_event

DEFAULT_DEAD_LETTER_TOPIC = "roadsight.dead-letter"
MAX_REASON_BYTES = 1000

log = logging.getLogger(__name__)


@dataclass
class SinkCounters:
    """What a sink has done since it started (also exposed on the metrics endpoint)."""

    consumed: int = 0  # records read from the topic (valid or not), repeats after a rewind included
    written: int = 0  # events the store did not have yet
    duplicates: int = 0  # valid events the store already had (replays, redeliveries)
    dead_lettered: int = 0  # records sent to the dead-letter topic
    batches: int = 0  # polls whose offsets were committed
    store_retries: int = 0  # batches rewound because the store write failed
    commit_failures: int = 0  # commits refused (the group rebalanced; the batch is read again)
    lag: dict[int, int] = field(default_factory=dict)  # partition -> records behind the end offset
    assigned: list[int] = field(default_factory=list)  # partitions this member owns now

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lag"] = {str(p): n for p, n in sorted(self.lag.items())}
        out["total_lag"] = self.total_lag
        return out


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a record was refused, and where it came from."""

    error: str  # oversized | malformed | unsupported-version | invalid | empty
    reason: str
    record: Any  # kafka ConsumerRecord


def classify(exc: SchemaError) -> str:
    """The ``dlq-error`` value of a decode failure."""
    if isinstance(exc, OversizedMessageError):
        return "oversized"
    if isinstance(exc, MalformedMessageError):
        return "malformed"
    if isinstance(exc, UnsupportedVersionError):
        return "unsupported-version"
    return "invalid"


def check_record(value: bytes | None, max_bytes: int) -> GeoEvent | tuple[str, str]:
    """The event in a record value, or ``(error, reason)`` for a dead letter."""
    if not value:
        return "empty", "record has no value (a tombstone or an empty message)"
    if len(value) > max_bytes:
        return "oversized", f"message is {len(value)} bytes, over the sink's {max_bytes} limit"
    try:
        return decode_event(value)
    except SchemaError as exc:
        return classify(exc), str(exc)


@dataclass
class _Batch:
    """One polled batch on its way: decoded, its store write running, not yet committed."""

    records: list[Any]
    events: list[GeoEvent]
    dead: list[DeadLetter]
    write: Future[int] | None = None


class _Assignment(ConsumerRebalanceListener):
    """Keeps the counters' partition list current, logs every rebalance, and finishes
    the batch in flight before partitions go (so their new owner starts after it)."""

    def __init__(self, counters: SinkCounters, finish: Callable[[], bool]) -> None:
        self.counters = counters
        self.finish = finish
        self.changed_at = time.monotonic()
        self.joined = False  # the first assignment (possibly empty) has arrived

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        self.finish()

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.changed_at = time.monotonic()
        self.joined = True
        self.counters.assigned = sorted(tp.partition for tp in assigned)
        self.counters.lag = {p: n for p, n in self.counters.lag.items() if p in self.counters.assigned}
        log.info("partitions assigned: %s", self.counters.assigned)


class EventSink:
    """Consumes geo events from Kafka into an :class:`~stream.event_store.EventStore`.

    Args:
        bootstrap: ``host:port[,...]`` of the brokers.
        topic: the geo-event topic.
        store: where valid events go (the sink closes it in :meth:`close`).
        group_id: consumer group; sinks in one group share the partitions.
        dead_letter_topic: where refused records go.
        batch_size: most records per poll, i.e. per store transaction and commit.
        max_message_bytes: records longer than this are dead letters (at most
            the schema's 64 KiB).
        session_timeout_ms: how long the group waits for a silent member (a
            killed sink) before giving its partitions to the others.
        security: SASL/SSL settings for both consumer and dead-letter producer.
        retry_backoff_s: first wait after a failed store write (doubles, up to 30 s).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        store: EventStore,
        group_id: str,
        dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC,
        *,
        batch_size: int = 5000,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        session_timeout_ms: int = 10_000,
        security: KafkaSecurity | None = None,
        retry_backoff_s: float = 0.5,
        client_id: str = "roadsight-sink",
    ) -> None:
        if not 0 < max_message_bytes <= MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be in 1..{MAX_MESSAGE_BYTES}, got {max_message_bytes}")
        self.bootstrap = bootstrap
        self.topic = topic
        self.store = store
        self.group_id = group_id
        self.dead_letter_topic = dead_letter_topic
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.retry_backoff_s = retry_backoff_s
        self.session_timeout_s = session_timeout_ms / 1000
        self._retry_wait = retry_backoff_s
        self._stop = threading.Event()
        self.counters = SinkCounters()
        self.store_ok = True
        self._lock = threading.Lock()  # counters are read by the metrics thread
        auth = (security or KafkaSecurity()).client_settings()
        timeout_ms = 10_000
        consumer_config = {
            "group_id": group_id,
            "client_id": client_id,
            "enable_auto_commit": False,  # offsets move only after the store committed
            "auto_offset_reset": "earliest",  # a new group starts with everything the topic holds
            "max_poll_records": batch_size,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": max(1000, session_timeout_ms // 3),
            "bootstrap_timeout_ms": timeout_ms,
            "api_version_auto_timeout_ms": timeout_ms,
            **auth,
        }
        producer_config = {
            "client_id": f"{client_id}-dlq",
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "retries": 2**31 - 1,
            "bootstrap_timeout_ms": timeout_ms,
            "api_version_auto_timeout_ms": timeout_ms,
            **auth,
        }
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=bootstrap, **_known_to(KafkaConsumer, consumer_config)
            )
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap, **_known_to(KafkaProducer, producer_config)
            )
        except KafkaError as err:
            raise StreamError(f"cannot reach Kafka at {bootstrap} (topic {topic}): {err}") from err
        self._assignment = _Assignment(self.counters, self.flush)
        self._consumer.subscribe([topic], listener=self._assignment)
        self._last_lag_check = 0.0
        # Batch N is written by this thread while the main thread polls and decodes
        # batch N+1 (SQLite, libpq and GEOS release the GIL); N is committed before
        # N+1 is written, so offsets still only move past stored events.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roadsight-sink-store")
        self._inflight: _Batch | None = None

    # -- one batch ---------------------------------------------------------------------

    def poll_once(self, timeout_s: float = 0.5, max_records: int | None = None) -> int:
        """Poll and process one batch (committing the one before); returns how many records it held.

        An empty poll finishes the batch in flight, so a quiet topic is committed at once.
        """
        polled = self._consumer.poll(
            timeout_ms=int(timeout_s * 1000), max_records=min(max_records or self.batch_size, self.batch_size)
        )
        records = [r for partition_records in polled.values() for r in partition_records]
        if records:
            self.process(records)
        else:
            self.flush()
        self._maybe_update_lag()
        return len(records)

    def process(self, records: list[Any]) -> bool:
        """Decode a polled batch, finish the previous one, and start writing this one.

        Returns False when the previous batch failed to store: both are rewound to
        be read again (after a back-off).
        """
        batch = _Batch(records, [], [])
        for record in records:
            checked = check_record(record.value, self.max_message_bytes)
            if isinstance(checked, GeoEvent):
                batch.events.append(checked)
            else:
                batch.dead.append(DeadLetter(checked[0], checked[1], record))
        with self._lock:
            self.counters.consumed += len(records)
        if not self.flush(also_rewind=records):
            return False
        if batch.events:
            batch.write = self._writer.submit(self.store.write, batch.events)
        self._inflight = batch
        return True

    def flush(self, also_rewind: Sequence[Any] = ()) -> bool:
        """Finish the batch in flight: wait for its store write, send its dead letters
        (and await their acks), then commit its offsets. False (after rewinding it and
        ``also_rewind``, and backing off) when the store write or the dead letters failed."""
        batch, self._inflight = self._inflight, None
        if batch is None:
            return True
        try:
            new = batch.write.result() if batch.write is not None else 0
        except StoreError as exc:
            self._rewind([*batch.records, *also_rewind], f"store write failed: {exc}")
            return False
        self.store_ok = True
        with self._lock:
            self.counters.written += new
            self.counters.duplicates += len(batch.events) - new
        if batch.dead and not self._send_dead_letters(batch.dead):
            # The events are stored; reading the batch again only finds duplicates.
            self._rewind([*batch.records, *also_rewind], "dead-letter topic did not acknowledge")
            return False
        committed = self._commit(batch.records)
        with self._lock:
            self.counters.dead_lettered += len(batch.dead)
            self.counters.batches += int(committed)
        self._retry_wait = self.retry_backoff_s
        return True

    def _send_dead_letters(self, dead: list[DeadLetter]) -> bool:
        futures = [
            self._producer.send(
                self.dead_letter_topic,
                key=d.record.key,
                value=bytes(d.record.value or b"")[: self.max_message_bytes],
                headers=self._dead_letter_headers(d),
            )
            for d in dead
        ]
        try:
            self._producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            log.error("dead letters to %s not acknowledged: %s", self.dead_letter_topic, exc)
            return False
        for d in dead:
            r = d.record
            log.warning("dead letter %s[%d]@%d: %s: %s", r.topic, r.partition, r.offset, d.error, d.reason)
        return True

    def _dead_letter_headers(self, d: DeadLetter) -> list[tuple[str, bytes]]:
        r = d.record
        return [
            ("dlq-error", d.error.encode()),
            ("dlq-reason", d.reason.encode("utf-8", "replace")[:MAX_REASON_BYTES]),
            ("dlq-origin", b"sink"),
            ("dlq-topic", str(r.topic).encode()),
            ("dlq-partition", str(r.partition).encode()),
            ("dlq-offset", str(r.offset).encode()),
            ("dlq-timestamp-ms", str(r.timestamp).encode()),
            ("dlq-group", self.group_id.encode()),
            ("dlq-original-bytes", str(len(r.value or b"")).encode()),
        ]

    def _commit(self, records: list[Any]) -> bool:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:  # records of a partition come in offset order: the last one wins
            offsets[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance took the partitions away; their new owner reads the batch again
            # and the store skips what it has. Nothing is lost, so keep going.
            log.warning("offset commit refused (%s); the batch will be read again", exc)
            with self._lock:
                self.counters.commit_failures += 1
            return False
        return True

    def _rewind(self, records: list[Any], why: str) -> None:
        """Seek every partition of ``records`` (in poll order) back to its first record, then back off."""
        first: dict[TopicPartition, int] = {}
        for r in records:
            first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
        for tp, offset in first.items():
            if tp in self._consumer.assignment():
                self._consumer.seek(tp, offset)
        self.store_ok = False
        with self._lock:
            self.counters.store_retries += 1
        log.error("%s; batch of %d rewound, retrying in %.1f s", why, len(records), self._retry_wait)
        self._stop.wait(self._retry_wait)  # a stop request cuts the wait short
        self._retry_wait = min(self._retry_wait * 2, 30.0)

    def _maybe_update_lag(self, every_s: float = 2.0) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < every_s:
            return
        self._last_lag_check = now
        self.update_lag()

    def update_lag(self) -> dict[int, int]:
        """Records behind the end offset, per assigned partition (asks the broker)."""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        try:
            ends = self._consumer.end_offsets(assigned)
            lag = {tp.partition: max(0, ends[tp] - self._consumer.position(tp)) for tp in assigned}
        except KafkaError as exc:
            log.debug("lag not updated: %s", exc)
            return dict(self.counters.lag)
        with self._lock:
            self.counters.lag = lag
        return lag

    # -- the loop ----------------------------------------------------------------------

    def run(
        self,
        stop_event: threading.Event | None = None,
        *,
        max_messages: int | None = None,
        idle_exit_s: float | None = None,
        poll_timeout_s: float = 0.5,
    ) -> SinkCounters:
        """Consume until ``stop_event`` is set, ``max_messages`` records were consumed,
        or nothing arrived for ``idle_exit_s`` (counted from the last record or the
        last partition assignment, whichever is later); a batch in progress always
        finishes.

        Joining the group is not idleness: when a member died without leaving (a
        SIGKILL, a power cut), the coordinator holds the rebalance until that member's
        session times out, so until the first assignment arrives the wait allowed is
        ``idle_exit_s`` plus two session timeouts."""
        stop = self._stop = stop_event or self._stop
        last_record = time.monotonic()
        while not stop.is_set():
            remaining = None if max_messages is None else max_messages - self.counters.consumed
            if remaining is not None and remaining <= 0:
                break
            if self.poll_once(poll_timeout_s, remaining):
                last_record = time.monotonic()
            elif idle_exit_s is not None and self._idle_for(last_record) >= idle_exit_s:
                log.info("nothing new for %.1f s: stopping", idle_exit_s)
                break
        self.flush()
        self.update_lag()
        return self.counters

    def _idle_for(self, last_record: float) -> float:
        """Seconds of idleness, not counting a group join still within its timeouts."""
        idle = time.monotonic() - max(last_record, self._assignment.changed_at)
        return idle if self._assignment.joined else idle - 2 * self.session_timeout_s

    def register_metrics(self, registry: MetricsRegistry, prefix: str = "roadsight_sink") -> None:
        """Expose the counters, consumer lag and store health (read at every scrape)."""

        def read(name: str) -> Callable[[], float]:
            return lambda: float(getattr(self.counters, name))

        helps = {
            "consumed": "Records read from the topic",
            "written": "Events newly stored",
            "duplicates": "Valid events the store already had",
            "dead_lettered": "Records sent to the dead-letter topic",
            "batches": "Batches committed",
            "store_retries": "Batches rewound after a failed store write",
            "commit_failures": "Offset commits refused by a rebalance",
        }
        for name, help_text in helps.items():
            registry.counter_fn(f"{prefix}_{name}_total", help_text, read(name))
        registry.gauge_fn(f"{prefix}_consumer_lag", "Records behind the end offsets", read("total_lag"))
        registry.gauge_fn(
            f"{prefix}_partitions_assigned", "Partitions owned", lambda: len(self.counters.assigned)
        )
        registry.health_check(f"{prefix}_store_ok", lambda: self.store_ok)

    def close(self) -> None:
        """Leave the group (its partitions move on at once), flush dead letters, close the store.

        A batch still in flight is not committed: whoever reads its partitions next
        reads it again, and the store skips what it has.
        """
        try:
            self._writer.shutdown(wait=True)
            self._consumer.close(autocommit=False)
        finally:
            try:
                self._producer.close(timeout=10)
            finally:
                self.store.close()


def run_sink(
    bootstrap: str,
    topic: str,
    store_uri: str,
    group_id: str,
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC,
    *,
    stop_event: threading.Event | None = None,
    max_messages: int | None = None,
    idle_exit_s: float | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    batch_size: int = 5000,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    security: KafkaSecurity | None = None,
) -> SinkCounters:
    """Open the store, run an :class:`EventSink` until told to stop, close everything.

    SIGTERM and SIGINT stop it gracefully (after the batch in progress) when
    called from the main thread. With ``metrics_port``, serves ``/metrics`` and
    ``/healthz`` there while it runs. Raises :class:`StoreError` or
    :class:`StreamError` when the store or the broker cannot be reached at start.
    """
    stop = stop_event or threading.Event()
    store = open_store(store_uri)
    try:
        sink = EventSink(
            bootstrap,
            topic,
            store,
            group_id,
            dead_letter_topic,
            batch_size=batch_size,
            max_message_bytes=max_message_bytes,
            security=security,
        )
    except BaseException:
        store.close()
        raise
    server = None
    if metrics_port is not None:
        registry = MetricsRegistry()
        sink.register_metrics(registry)
        server = MetricsServer(registry, host=metrics_host, port=metrics_port).start()
        log.info("metrics on %s/metrics", server.url)
    restore = _stop_on_signals(stop)
    try:
        return sink.run(stop, max_messages=max_messages, idle_exit_s=idle_exit_s)
    finally:
        restore()
        if server is not None:
            server.close()
        sink.close()


def settle_heap() -> None:
    """Collect, then freeze what a freshly started sink process holds out of the cyclic
    garbage collector (``gc.freeze``).

    Each batch's decoded events live until they are stored, so they reach the oldest
    generation and every few batches trigger a full collection, which would rescan the
    whole start-up heap (libraries, and in the benchmark the test events): 8-15 % of the
    sink's CPU measured. Call once at process start, before :func:`run_sink`.
    """
    gc.collect()
    gc.freeze()


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop`` (main thread only); returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: object) -> None:
        log.info("%s: stopping after the batch in progress", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stream.sink", description="Consume geo events from Kafka into an event store."
    )
    parser.add_argument("--kafka", required=True, help="bootstrap host:port[,host:port]")
    parser.add_argument("--topic", required=True, help="geo-event topic")
    parser.add_argument("--store", required=True, help="postgresql://..., sqlite:///path.gpkg or a path")
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--dlq", default=DEFAULT_DEAD_LETTER_TOPIC, help="dead-letter topic")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics and /healthz here")
    parser.add_argument("--metrics-host", default="127.0.0.1")
    parser.add_argument("--batch-size", type=int, default=5000, help="records per poll/transaction/commit")
    parser.add_argument("--max-message-bytes", type=int, default=MAX_MESSAGE_BYTES)
    parser.add_argument("--max-messages", type=int, default=None, help="stop after this many records")
    parser.add_argument(
        "--idle-exit-s", type=float, default=None, help="stop after this long with nothing new"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sink; print the final counters as one JSON line on stdout. Exit 2 on a start-up error."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settle_heap()
    try:
        counters = run_sink(
            args.kafka,
            args.topic,
            args.store,
            args.group,
            args.dlq,
            max_messages=args.max_messages,
            idle_exit_s=args.idle_exit_s,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            batch_size=args.batch_size,
            max_message_bytes=args.max_message_bytes,
        )
    except (StoreError, StreamError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counters.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
