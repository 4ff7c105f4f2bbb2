"""A durable store-and-forward spool for Kafka messages (SQLite in WAL mode).

Every outbound message is first committed to a local SQLite file and only then
sent. :class:`Spool` is the file: an ordered queue of rows (``seq`` never
reused), bounded in bytes and messages. :class:`stream.spool_sender.SpoolSender`
is the thread that sends rows in ``seq`` order with kafka-python and deletes a
row only after the broker acknowledged it (``acks=all``). So a broker outage,
a network drop or a process restart loses nothing: the spool grows while the
broker is away, drains when it returns, and a new process resumes with
whatever is left.

When the spool is full, :meth:`Spool.append` blocks the caller (backpressure)
until the sender makes room, and raises :class:`SpoolFullError` after its
timeout; the refused messages are counted, never dropped silently.

Example:
    >>> with Spool("edge.spool", max_bytes=64 * 2**20) as spool:  # doctest: +SKIP
    ...     spool.append([OutboundMessage("roadsight.geo-events", b"{...}", b"key")])
    ...     rows = spool.read_after(0, 100)
    ...     spool.remove([r.seq for r in rows])                    # acknowledged
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from stream.errors import StreamError

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]

_DDL = """
CREATE TABLE IF NOT EXISTS spool (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  key BLOB,
  value BLOB NOT NULL,
  headers TEXT NOT NULL,
  size INTEGER NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  key BLOB,
  value BLOB NOT NULL,
  headers TEXT NOT NULL,
  size INTEGER NOT NULL,
  created REAL NOT NULL,
  error TEXT NOT NULL,
  failed REAL NOT NULL
);
"""


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (the connections are in autocommit mode otherwise)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SpoolFullError(StreamError):
    """The spool stayed full for the whole wait: the messages were refused (and counted)."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One Kafka record to send: topic, value bytes, optional key and headers."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()

    @property
    def size(self) -> int:
        """Bytes counted against the spool bound (key + value + headers)."""
        return (
            len(self.value)
            + (len(self.key) if self.key else 0)
            + sum(len(k) + len(v) for k, v in self.headers)
        )


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A message as stored: its position in the spool and when it was spooled (Unix s)."""

    seq: int
    message: OutboundMessage
    created_s: float


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Counters of one spool. ``spooled``/``sent``/``rejected``... count since this
    process opened the spool; ``pending``/``bytes``/``oldest_age_s`` describe the file now."""

    spooled: int
    sent: int
    pending: int
    bytes: int
    oldest_age_s: float
    max_bytes: int
    max_messages: int | None
    full_waits: int
    rejected: int
    quarantined: int
    resent: int
    send_errors: int

    @property
    def fill_fraction(self) -> float:
        """How full the spool is, 0..1, by whichever bound is tighter."""
        by_bytes = self.bytes / self.max_bytes
        by_count = self.pending / self.max_messages if self.max_messages else 0.0
        return max(by_bytes, by_count)


class _HeaderCodec:
    """Headers as JSON text, cached both ways: a stream repeats the same few header sets."""

    def __init__(self) -> None:
        self._encoded: dict[Headers, str] = {}
        self._decoded: dict[str, Headers] = {}

    def encode(self, headers: Headers) -> str:
        text = self._encoded.get(headers)
        if text is None:
            text = json.dumps([[k, v.hex()] for k, v in headers])
            self._encoded[headers] = text
        return text

    def decode(self, text: str) -> Headers:
        headers = self._decoded.get(text)
        if headers is None:
            headers = tuple((k, bytes.fromhex(v)) for k, v in json.loads(text))
            self._decoded[text] = headers
        return headers


class Spool:
    """The spool file: an ordered, bounded, durable queue of outbound messages.

    Thread-safe: producers append from their threads, one :class:`stream.spool_sender.SpoolSender`
    reads and removes, each side on its own SQLite connection (WAL: the sender
    reads while an append commits). Each :meth:`append` is one transaction,
    committed (``synchronous=FULL``: on disk, power loss included) before it
    returns; deleting acknowledged rows skips the fsync (a delete lost to a
    power cut only means that row is sent again).

    Args:
        path: the SQLite file (created with its folder).
        max_bytes: bound on the pending bytes (keys + values + headers).
        max_messages: optional bound on the pending message count.
        warn_fraction: log a warning when the spool fills past this fraction.
        block_timeout_s: how long :meth:`append` waits for room by default (None: forever).
        max_record_bytes: larger messages are refused at append (a broker would
            refuse them anyway; default below kafka-python's 1 MiB request cap).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 256 * 2**20,
        max_messages: int | None = None,
        warn_fraction: float = 0.8,
        block_timeout_s: float | None = 60.0,
        max_record_bytes: int = 1_000_000,
    ) -> None:
        if max_bytes <= 0 or (max_messages is not None and max_messages <= 0):
            raise ValueError(
                f"spool bounds must be positive: max_bytes={max_bytes}, max_messages={max_messages}"
            )
        if not 0.0 < warn_fraction <= 1.0:
            raise ValueError(f"warn_fraction must be in (0, 1], got {warn_fraction}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.warn_fraction = warn_fraction
        self.block_timeout_s = block_timeout_s
        self.max_record_bytes = max_record_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect("FULL")  # appends
            self._db.executescript(_DDL)
            # Deletes: a lost one only means a resend (the sink dedupes); a lost append
            # would be a lost event. So only appends wait for the fsync.
            self._out = self._connect("NORMAL")
            count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool").fetchone()
        except sqlite3.DatabaseError as err:
            raise StreamError(f"spool {self.path}: cannot open: {err}") from err
        self._lock = threading.Lock()  # the counters; never held across SQLite I/O
        self._changed = threading.Condition(self._lock)  # appends and removals both notify
        self._append_lock = threading.Lock()  # one appender at a time: room check + insert
        self._out_lock = threading.Lock()  # the sender-side connection
        self._codec = _HeaderCodec()
        self._pending = int(count)
        self._bytes = int(size)
        self._oldest_seq, self._oldest_created = self._oldest(self._db)
        self._last_seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM spool").fetchone()[0]
        self._warned = False
        self._closed = False
        self._counts = dict.fromkeys(
            ("spooled", "sent", "full_waits", "rejected", "quarantined", "resent", "send_errors"), 0
        )
        if self._pending:
            log.info("spool %s: resuming with %d messages (%d bytes) left", self.path, count, size)

    # --- producer side --------------------------------------------------------

    def append(self, messages: Sequence[OutboundMessage], *, timeout_s: float | None = None) -> int:
        """Commit ``messages`` (all or none) and return how many were spooled.

        Blocks while the spool has no room for the whole batch; after
        ``timeout_s`` (default :attr:`block_timeout_s`; ``None`` there means
        forever) raises :class:`SpoolFullError`. A batch larger than the whole
        bound, or a message over ``max_record_bytes``, is refused at once
        (``ValueError`` / :class:`SpoolFullError`). Refused messages are counted.
        """
        if not messages:
            return 0
        sizes = [m.size for m in messages]
        too_big = next((i for i, s in enumerate(sizes) if s > self.max_record_bytes), None)
        if too_big is not None:
            self._count("rejected", len(messages))
            raise ValueError(
                f"spool {self.path}: message {too_big} of the batch (topic {messages[too_big].topic}) is "
                f"{sizes[too_big]} bytes, over the {self.max_record_bytes}-byte record limit"
            )
        need, n = sum(sizes), len(messages)
        wait = self.block_timeout_s if timeout_s is None else timeout_s
        now = time.time()
        rows = [
            (m.topic, m.key, m.value, self._codec.encode(m.headers), s, now)
            for m, s in zip(messages, sizes, strict=True)
        ]
        with self._append_lock:
            self._wait_for_room(need, n, wait)
            try:
                with _transaction(self._db):
                    self._db.executemany(
                        "INSERT INTO spool (topic, key, value, headers, size, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    last = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            except sqlite3.DatabaseError as err:
                raise StreamError(f"spool {self.path}: cannot write: {err}") from err
            with self._changed:
                if self._pending <= 0:
                    self._oldest_seq, self._oldest_created = last - n + 1, now
                self._last_seq = last
                self._pending += n
                self._bytes += need
                self._counts["spooled"] += n
                self._maybe_warn()
                self._changed.notify_all()
        return n

    def _wait_for_room(self, need: int, n: int, wait: float | None) -> None:
        """Backpressure: block until the batch fits; count and raise if it never does."""
        with self._changed:
            self._check_open()
            if need > self.max_bytes or (self.max_messages is not None and n > self.max_messages):
                self._counts["rejected"] += n
                raise SpoolFullError(
                    f"spool {self.path}: a batch of {n} messages ({need} bytes) exceeds the bound"
                )
            if self._has_room(need, n):
                return
            self._counts["full_waits"] += 1
            log.warning("spool %s is full (%s); blocking the producer", self.path, self._usage())
            deadline = None if wait is None else time.monotonic() + wait
            while not self._has_room(need, n):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._counts["rejected"] += n
                    raise SpoolFullError(
                        f"spool {self.path} stayed full for {wait} s ({self._usage()}); "
                        f"refused {n} messages (the broker is unreachable or too slow)"
                    )
                self._changed.wait(left)
                self._check_open()

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        return db

    def _has_room(self, need: int, n: int) -> bool:
        if self._bytes + need > self.max_bytes:
            return False
        return self.max_messages is None or self._pending + n <= self.max_messages

    def _usage(self) -> str:
        cap = f", {self._pending}/{self.max_messages} messages" if self.max_messages else ""
        return f"{self._bytes}/{self.max_bytes} bytes, {self._pending} messages{cap}"

    def _fill(self) -> float:
        by_count = self._pending / self.max_messages if self.max_messages else 0.0
        return max(self._bytes / self.max_bytes, by_count)

    def _maybe_warn(self) -> None:
        if not self._warned and self._fill() >= self.warn_fraction:
            self._warned = True
            log.warning(
                "spool %s is %.0f%% full (%s): the broker is not keeping up or unreachable",
                self.path, 100 * self._fill(), self._usage(),
            )  # fmt: skip

    # --- sender side ------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[SpooledMessage]:
        """Up to ``limit`` rows with ``seq`` greater than ``seq``, in order."""
        rows = self._select_after("seq, topic, key, value, headers, created", seq, limit)
        decode = self._codec.decode
        return [SpooledMessage(s, OutboundMessage(t, v, k, decode(h)), c) for s, t, k, v, h, c in rows]

    def rows_after(self, seq: int, limit: int) -> list[tuple[int, str, bytes | None, bytes, Headers]]:
        """:meth:`read_after` as ``(seq, topic, key, value, headers)`` tuples (the sender's hot path)."""
        rows = self._select_after("seq, topic, key, value, headers", seq, limit)
        decode = self._codec.decode
        return [(s, t, k, v, decode(h)) for s, t, k, v, h in rows]

    def _select_after(self, columns: str, seq: int, limit: int) -> list[Any]:
        with self._lock:
            self._check_open()
            counted = self._last_seq  # not rows of an append that is still updating the counters
        with self._out_lock:
            query = f"SELECT {columns} FROM spool WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            return self._out.execute(query, (seq, counted, limit)).fetchall()

    def wait_for_rows_after(self, seq: int, timeout_s: float) -> bool:
        """Block until a row after ``seq`` exists (True) or ``timeout_s`` passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._closed or self._last_seq > seq, timeout_s)

    def remove(self, seqs: Sequence[int]) -> None:
        """Delete acknowledged rows (counted as ``sent``) and wake blocked producers."""
        if seqs:
            self._delete(seqs, counter="sent")

    def remove_through(self, seq: int) -> None:
        """Delete every row up to ``seq`` (all acknowledged: the sender acks a prefix)."""
        self._check_open_now()
        with self._out_lock, _transaction(self._out):
            count, freed = self._out.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool WHERE seq <= ?", (seq,)
            ).fetchone()
            self._out.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self._removed(count, freed, "sent")

    def _delete(self, seqs: Sequence[int], *, counter: str, quarantine_error: str | None = None) -> None:
        self._check_open_now()
        freed = deleted = 0
        with self._out_lock, _transaction(self._out):
            if quarantine_error is not None:
                self._out.executemany(
                    "INSERT OR REPLACE INTO quarantine "
                    "SELECT seq, topic, key, value, headers, size, created, ?, ? FROM spool WHERE seq = ?",
                    [(quarantine_error, time.time(), s) for s in seqs],
                )
            for start in range(0, len(seqs), 500):  # SQLite's bound-parameter limit
                part = list(seqs[start : start + 500])
                marks = ",".join("?" * len(part))
                sizes = self._out.execute(f"DELETE FROM spool WHERE seq IN ({marks}) RETURNING size", part)
                for (size,) in sizes.fetchall():
                    freed += size
                    deleted += 1
        self._removed(deleted, freed, counter)

    def _removed(self, count: int, freed: int, counter: str) -> None:
        with self._out_lock:
            oldest = self._oldest(self._out)
        with self._changed:
            self._counts[counter] += count
            self._pending -= count
            self._bytes -= freed
            self._oldest_seq, self._oldest_created = oldest
            if self._warned and self._fill() < self.warn_fraction:
                self._warned = False
                log.info(
                    "spool %s back under %.0f%% (%s)", self.path, 100 * self.warn_fraction, self._usage()
                )
            self._changed.notify_all()

    def apply_removed(self, count: int, freed: int, counter: str) -> None:
        """Account for rows another process's sender removed (``counter``: sent or quarantined)."""
        self._removed(count, freed, counter)

    def apply_count(self, name: str, n: int) -> None:
        """Add to a counter on behalf of another process's sender (send_errors, resent, ...)."""
        self._count(name, n)

    def quarantine(self, seq: int, error: str) -> None:
        """Move a row the broker refused for good into the ``quarantine`` table (kept, counted)."""
        self._delete([seq], counter="quarantined", quarantine_error=error)
        log.error("spool %s: message %d quarantined (kept in table 'quarantine'): %s", self.path, seq, error)

    def quarantined(self) -> list[tuple[SpooledMessage, str]]:
        """The quarantined rows with the error that put them there."""
        with self._out_lock:
            rows = self._out.execute(
                "SELECT seq, topic, key, value, headers, created, error FROM quarantine ORDER BY seq"
            ).fetchall()
        return [
            (SpooledMessage(s, OutboundMessage(t, bytes(v), k, self._codec.decode(h)), c), e)
            for s, t, k, v, h, c, e in rows
        ]

    def note_send_error(self, resent: int) -> None:
        """Count a producer failure and the rows sent again because of it."""
        self._count("send_errors", 1)
        self._count("resent", resent)

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n

    # --- state ------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest row ever appended (0 for a new spool)."""
        with self._lock:
            return int(self._last_seq)

    def wait_drained(self, upto_seq: int, timeout_s: float | None) -> bool:
        """Block until every row up to ``upto_seq`` left the spool (sent or quarantined)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._closed or self._pending == 0 or self._oldest_seq > upto_seq, timeout_s
            )

    def stats(self) -> SpoolStats:
        with self._lock:
            age = max(0.0, time.time() - self._oldest_created) if self._pending else 0.0
            return SpoolStats(
                pending=self._pending,
                bytes=self._bytes,
                oldest_age_s=age,
                max_bytes=self.max_bytes,
                max_messages=self.max_messages,
                **self._counts,
            )

    @staticmethod
    def _oldest(db: sqlite3.Connection) -> tuple[int, float]:
        row = db.execute("SELECT seq, created FROM spool ORDER BY seq LIMIT 1").fetchone()
        return (int(row[0]), float(row[1])) if row else (0, 0.0)

    def _check_open(self) -> None:
        """Raise if closed; call with ``self._lock`` held."""
        if self._closed:
            raise StreamError(f"spool {self.path} is closed")

    def _check_open_now(self) -> None:
        with self._lock:
            self._check_open()

    def close(self) -> None:
        """Close the file; what is left stays for the next process. Wakes any waiter."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        with self._append_lock:  # an append in progress finishes first
            self._db.close()
        with self._out_lock:
            self._out.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
