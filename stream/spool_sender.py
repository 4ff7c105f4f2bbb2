"""The thread that sends a :class:`stream.spool.Spool` to Kafka in order, deleting only acknowledged rows.

Delivery is at least once. Duplicates on the topic can only come from two
rare paths: a process that dies between the broker's acknowledgement and the
row's deletion (the row is sent again on restart), and a producer error after
kafka-python's own retries (the sender rewinds to the oldest unacknowledged row
and sends everything from there again, in order, so the *last* copy of each
message per key is still in the original order). Consumers upsert by event id.

Example:
    >>> spool = Spool("edge.spool")                                       # doctest: +SKIP
    >>> sender = SpoolSender(spool, lambda: KafkaProducer(...)).start()   # doctest: +SKIP
    >>> spool.append(messages); sender.flush(30.0)                        # doctest: +SKIP
    >>> sender.close(); spool.close()                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from stream.errors import StreamError
from stream.spool import Headers, Spool

log = logging.getLogger(__name__)

# Errors that concern one record, never the connection: retrying cannot help,
# so the row moves to the quarantine table (kept, counted) instead of blocking the queue.
_RECORD_ERRORS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
)


class SpoolSender:
    """The thread that sends a :class:`Spool` to Kafka, in ``seq`` order.

    Up to ``window`` rows are handed to kafka-python at a time (its own retries,
    idempotence and batching do the rest). The thread watches the futures in
    ``seq`` order and removes the acknowledged prefix from the spool, so the
    spool always holds a suffix of what was appended. The producer is created
    in the thread, so an edge device that starts offline just spools; creation
    is retried with backoff. When a delivery fails after kafka-python's retries,
    the producer is closed and a new one resends from the oldest
    unacknowledged row (counted as ``resent``); record-level errors (too large,
    invalid) quarantine that row instead.

    Args:
        spool: the spool to drain.
        producer_factory: makes a configured ``kafka.KafkaProducer``; may raise ``KafkaError``.
        window: rows in flight at most (bounds kafka-python's memory during an outage).
        read_batch: rows read from SQLite at a time.
        retry_backoff_s: pause after a failed producer creation or delivery error.
    """

    def __init__(
        self,
        spool: Spool,
        producer_factory: Callable[[], Any],
        *,
        window: int = 20_000,
        read_batch: int = 2_000,
        retry_backoff_s: float = 1.0,
        name: str = "roadsight-spool-sender",
    ) -> None:
        self.spool = spool
        self._factory = producer_factory
        self.window = window
        self.read_batch = read_batch
        self.retry_backoff_s = retry_backoff_s
        self._producer: Any = None
        self._cursor = 0  # seq of the last row handed to the producer
        self._inflight: deque[tuple[int, Any]] = deque()  # (seq, kafka future), in seq order
        self._headers: dict[Headers, list[tuple[str, bytes]]] = {}  # kafka-python wants lists
        self._stop = threading.Event()
        self.connected = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> SpoolSender:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except StreamError:
                if self._stop.is_set():
                    break  # the spool was closed under us during shutdown
                raise
            except Exception as err:  # keep sending whatever happens; say so loudly
                log.exception("spool sender: unexpected error, retrying in %.1f s", self.retry_backoff_s)
                self.last_error = f"{type(err).__name__}: {err}"
                self._stop.wait(self.retry_backoff_s)

    def _step(self) -> None:
        self._reap()
        if self._producer is None and not self._connect():
            return
        room = self.window - len(self._inflight)
        if room <= 0:
            self._stop.wait(0.01)  # futures complete in kafka-python's I/O thread
            return
        rows = self.spool.rows_after(self._cursor, min(room, self.read_batch))
        if rows:
            self._dispatch(rows)
        elif self._inflight:
            self._stop.wait(0.005)
        else:
            self.spool.wait_for_rows_after(self._cursor, 0.05)

    def _connect(self) -> bool:
        try:
            self._producer = self._factory()
        except KafkaError as err:
            self.last_error = f"{type(err).__name__}: {err}"
            log.warning("spool sender: no producer yet (%s); retrying in %.1f s", err, self.retry_backoff_s)
            self._stop.wait(self.retry_backoff_s)
            return False
        if self._stop.is_set():  # closed while the producer was bootstrapping
            self._producer.close(timeout=0)
            self._producer = None
            return False
        self.connected = True
        return True

    def _dispatch(self, rows: list[tuple[int, str, bytes | None, bytes, Headers]]) -> None:
        send, inflight, cache = self._producer.send, self._inflight, self._headers
        for seq, topic, key, value, headers in rows:
            listed = cache.get(headers)
            if listed is None:
                listed = cache[headers] = list(headers)
            try:
                future = send(topic, value=value, key=key, headers=listed)
            except _RECORD_ERRORS as err:
                self.spool.quarantine(seq, f"{type(err).__name__}: {err}")
                self._cursor = seq
                continue
            except KafkaError as err:
                # Not enqueued (metadata unknown, buffer full): try the same row again later.
                self.last_error = f"{type(err).__name__}: {err}"
                log.debug("spool sender: send of %d deferred: %s", seq, err)
                self._stop.wait(min(self.retry_backoff_s, 0.5))
                return
            inflight.append((seq, future))
            self._cursor = seq

    def _reap(self) -> None:
        """Remove the acknowledged prefix of what is in flight; handle the first failure."""
        inflight, last_ok = self._inflight, 0
        while inflight:
            seq, future = inflight[0]
            if not future.is_done:
                break
            if future.failed():
                if last_ok:
                    self.spool.remove_through(last_ok)
                    last_ok = 0
                if not self._failed(seq, future.exception):
                    return
                continue
            inflight.popleft()
            last_ok = seq
        if last_ok:
            self.spool.remove_through(last_ok)

    def _failed(self, seq: int, error: BaseException) -> bool:
        """Handle the failure of the row at the head; True to keep reaping."""
        if isinstance(error, _RECORD_ERRORS):
            self._inflight.popleft()
            self.spool.quarantine(seq, f"{type(error).__name__}: {error}")
            return True
        # Anything else outlived kafka-python's retries: start over from this row
        # with a new producer, in order (the rows after it may be sent twice).
        self.last_error = f"{type(error).__name__}: {error}"
        resend = len(self._inflight)
        log.warning(
            "spool sender: delivery failed (%s); resending %d messages from the spool in order",
            self.last_error, resend,
        )  # fmt: skip
        producer, self._producer = self._producer, None
        self.connected = False
        self._inflight.clear()
        self._cursor = seq - 1  # every row before it has left the spool
        if producer is not None:
            producer.close(timeout=5)
        self.spool.note_send_error(resend)
        self._stop.wait(self.retry_backoff_s)
        return False

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until everything spooled before this call was acknowledged.

        Raises :class:`StreamError` with the counts (and the last error) on timeout;
        the messages stay in the spool and keep being sent.
        """
        target = self.spool.last_seq
        if not self.spool.wait_drained(target, timeout_s):
            stats = self.spool.stats()
            raise StreamError(
                f"spool {self.spool.path}: {stats.pending} messages still waiting for the broker after "
                f"{timeout_s} s (oldest {stats.oldest_age_s:.0f} s; last error: {self.last_error})"
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and the producer. Unacknowledged rows stay in the spool."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=timeout_s)
        self._reap()  # what was acknowledged while closing
