"""The sink against a real Kafka broker and a real PostGIS server: nothing lost, nothing doubled,
nothing hostile stored.

The sink runs as a real process (``python -m stream.sink``, what ``roadsight sink``
runs) where a test kills or scales it, and in-process (:func:`run_sink`) otherwise.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from test_stream_kafka import mission_events

from geo import EvidenceRef, GeoEvent
from stream.errors import SchemaError
from stream.event_store import open_store
from stream.schema import MAX_MESSAGE_BYTES, decode_event, encode_event
from stream.sink import check_record, run_sink
from taxonomy import load_taxonomy

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 4


# --- helpers -----------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send ``(key, value)`` records round-robin over the partitions, and wait for acks=all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, max_request_size=2**20)
    try:
        for i, (key, value) in enumerate(records):
            producer.send(topic, key=key, value=value, partition=i % PARTITIONS)
        producer.flush(timeout=60)
    finally:
        producer.close()


def event_records(events: list[GeoEvent]) -> list[tuple[bytes | None, bytes | None]]:
    return [(f"{e.mission_id}/{e.source_id}".encode(), encode_event(e)) for e in events]


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """``expected`` records of ``topic`` from the beginning (all partitions), with headers."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not consumer.partitions_for_topic(topic):
            assert time.monotonic() < deadline, f"topic {topic} never appeared"
            time.sleep(0.2)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # Anything beyond ``expected`` is a bug too: drain what else is there.
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    finally:
        consumer.close()
    return records


def wait_until(what: str, predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(every_s)


def pg_count(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM geo_events").fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.UndefinedTable:
        return 0


def table_digest(url: str) -> str:
    """One hash of every row and column (stored_at included): any change to the table changes it."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT md5(string_agg(t::text, '|' ORDER BY fid)) FROM geo_events t").fetchone()
    assert row is not None and row[0]
    return str(row[0])


@dataclass
class SinkProcess:
    """``python -m stream.sink`` in a subprocess; stderr (its log) goes to a file."""

    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def assigned(self) -> list[int] | None:
        """Partitions of the latest assignment in the log, or None before the first."""
        found = re.findall(r"partitions assigned: \[([0-9, ]*)\]", self.log())
        return [int(p) for p in found[-1].split(",") if p.strip()] if found else None

    def metrics_url(self) -> str:
        found = re.search(r"metrics on (http://\S+/metrics)", self.log())
        assert found, self.log()
        return found.group(1)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60.0) -> dict[str, Any] | None:
        """Send ``sig`` and wait; the final counters it printed (None when killed)."""
        self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout_s)
        if sig == signal.SIGKILL:
            return None
        assert self.process.returncode == 0, self.log()[-3000:]
        return dict(json.loads(out.strip().splitlines()[-1]))

    def wait(self, timeout_s: float) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=timeout_s)
        assert self.process.returncode == 0, self.log()[-3000:]
        return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[Callable[..., SinkProcess]]:
    """Starts sink processes; kills any still running at the end of the test."""
    started: list[SinkProcess] = []

    def start(bootstrap: str, topic: str, store: str, group: str, dlq: str, *extra: str) -> SinkProcess:
        log_path = tmp_path / f"sink-{len(started)}.log"
        cmd = [
            sys.executable, "-m", "stream.sink", "--kafka", bootstrap, "--topic", topic, "--store", store,
            "--group", group, "--dlq", dlq, *extra,
        ]  # fmt: skip
        with log_path.open("w") as log:
            process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        sink = SinkProcess(process, log_path)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        if sink.process.poll() is None:
            sink.process.kill()
            sink.process.communicate(timeout=30)


def many_events(mission: str, n_sources: int, frames: int) -> list[GeoEvent]:
    return mission_events(mission, [f"cam{i}" for i in range(n_sources)], frames)


# --- the sink process survives SIGKILL -----------------------------------------------


def test_sigkilled_sink_restarts_and_the_store_holds_each_event_once(
    kafka_bootstrap: str, kafka_topic: str, postgis_url: str, sinks: Callable[..., SinkProcess]
) -> None:
    create_topic(kafka_bootstrap, kafka_topic)
    events = many_events("m-kill", 8, 2500)  # 20,000 events
    ids = {e.event_id for e in events}
    records = event_records(events)
    produce(kafka_bootstrap, kafka_topic, records[:10_000])
    args = (kafka_bootstrap, kafka_topic, postgis_url, "sink-kill", f"{kafka_topic}.dlq")

    first = sinks(*args, "--batch-size", "250")
    feeder = threading.Thread(target=produce, args=(kafka_bootstrap, kafka_topic, records[10_000:]))
    feeder.start()  # more events arrive while the sink works and when it dies
    wait_until("the sink to store 3,000 events", lambda: pg_count(postgis_url) >= 3000, 120, 0.05)
    first.stop(signal.SIGKILL)
    time.sleep(1.0)  # a COMMIT sent just before the kill may still be in the server's hands
    at_kill = pg_count(postgis_url)
    feeder.join()
    assert at_kill < len(events), "the sink finished before it was killed: the test proved nothing"

    second = sinks(*args, "--batch-size", "250", "--idle-exit-s", "8")
    counters = second.wait(timeout_s=300)
    with open_store(postgis_url) as store:
        assert store.count() == len(events)
        assert store.event_ids() == ids
    with psycopg.connect(postgis_url) as conn:
        row = conn.execute("SELECT count(DISTINCT event_id), count(*) FROM geo_events").fetchone()
    assert row == (len(events), len(events))
    # The restart resumed from committed offsets: it consumed far fewer than everything,
    # and every event it stored was one the killed sink had not.
    assert counters["written"] == len(events) - at_kill
    assert counters["consumed"] < len(events)
    assert counters["dead_lettered"] == 0


# --- two sinks share the partitions --------------------------------------------------


def test_two_sinks_in_one_group_share_partitions_and_write_each_event_once(
    kafka_bootstrap: str, kafka_topic: str, postgis_url: str, sinks: Callable[..., SinkProcess]
) -> None:
    create_topic(kafka_bootstrap, kafka_topic)
    args = (kafka_bootstrap, kafka_topic, postgis_url, "sink-pair", f"{kafka_topic}.dlq")
    a = sinks(*args, "--batch-size", "200", "--metrics-port", "0")
    b = sinks(*args, "--batch-size", "200", "--metrics-port", "0")

    def both_assigned() -> bool:
        pa, pb = a.assigned(), b.assigned()
        return pa is not None and pb is not None and len(pa) == len(pb) == 2 and set(pa).isdisjoint(pb)

    wait_until("both sinks to own two partitions each", both_assigned, 120, 0.2)
    events = many_events("m-pair", 8, 1000)  # 8,000 events over 4 partitions
    produce(kafka_bootstrap, kafka_topic, event_records(events))
    wait_until("every event stored", lambda: pg_count(postgis_url) >= len(events), 180, 0.2)

    scraped = urllib.request.urlopen(a.metrics_url(), timeout=10).read().decode()
    a.process.send_signal(signal.SIGTERM)  # both at once: neither takes over the other's partitions
    counts_a, counts_b = a.stop(signal.SIGTERM), b.stop(signal.SIGTERM)
    assert counts_a is not None and counts_b is not None
    assert counts_a["written"] > 0 and counts_b["written"] > 0
    assert counts_a["written"] + counts_b["written"] == len(events)  # new rows: each event once
    with open_store(postgis_url) as store:
        assert store.count() == len(events)
        assert store.event_ids() == {e.event_id for e in events}
    written = re.search(r"^roadsight_sink_written_total (\S+)$", scraped, re.MULTILINE)
    assert written and 0 < float(written.group(1)) <= counts_a["written"]
    assert re.search(r"^roadsight_sink_consumer_lag \S+$", scraped, re.MULTILINE)


# --- hostile input goes to the dead-letter topic -------------------------------------

TAXONOMY = load_taxonomy()
VALID_TEMPLATE = json.loads(encode_event(mission_events("m-hostile", ["cam0"], 1)[0]))


def hostile(n: int, **changes: Any) -> bytes:
    """A message that differs from a valid one in ``changes`` (a fresh event id, never stored)."""
    raw = dict(VALID_TEMPLATE, event_id=f"00000000-0000-5000-8000-{n:012d}")
    raw.update(changes)
    return json.dumps(raw, allow_nan=True).encode()


def with_evidence_uri(n: int, uri: str) -> bytes:
    evidence = [{"uri": uri, "sha256": "ab" * 32, "media_type": "image/jpeg"}]
    return hostile(n, evidence=evidence)


INJECTION = "x'); DROP TABLE geo_events;--"
HOSTILE: list[tuple[str, bytes | None, str]] = [
    ("truncated-json", hostile(1)[:80], "malformed"),
    ("not-json", b"\x00\x01\x02 binary junk", "malformed"),
    ("not-utf8", b'{"schema": "\xff\xfe"}', "malformed"),
    ("deep-nesting", b"[" * 60_000, "malformed"),
    ("json-array", b"[1, 2, 3]", "malformed"),
    ("lone-surrogate", hostile(2, mission_id="\ud800"), "malformed"),
    ("version-2", hostile(3, version=2), "unsupported-version"),
    ("version-string", hostile(4, version="1"), "unsupported-version"),
    ("other-schema", hostile(5, schema="roadsight.case"), "unsupported-version"),
    ("oversized", hostile(6) + b" " * MAX_MESSAGE_BYTES, "oversized"),
    ("huge-string-over-limit", hostile(7, mission_id="m" * 100_000), "oversized"),
    ("huge-string", hostile(8, mission_id="m" * 60_000), "invalid"),
    ("score-as-string", hostile(9, score="0.9"), "invalid"),
    ("frame-as-float", hostile(10, frame_index=4.0), "invalid"),
    ("lat-as-bool", hostile(11, lat=True), "invalid"),
    ("evidence-as-string", hostile(12, evidence="file:///x.jpg"), "invalid"),
    ("box-as-object", hostile(13, box_xyxy={"x1": 1}), "invalid"),
    ("sql-in-mission", hostile(14, mission_id=INJECTION), "invalid"),
    ("sql-in-source", hostile(15, source_id="cam0; DELETE FROM geo_events"), "invalid"),
    ("sql-in-class-key", hostile(16, class_key="pothole' OR '1'='1"), "invalid"),
    ("sql-in-uri", with_evidence_uri(17, f"file:///{INJECTION}"), "invalid"),
    ("html-in-source", hostile(18, source_id="<script>alert(1)</script>"), "invalid"),
    ("nan-lon", hostile(19, lon=math.nan), "invalid"),
    ("infinite-lat", hostile(20, lat=math.inf), "invalid"),
    ("overflow-number", hostile(21).replace(b'"accuracy_m": 1.5', b'"accuracy_m": 1e999'), "invalid"),
    ("nul-in-mission", hostile(22, mission_id="m\x00id"), "invalid"),
    ("escape-sequence", hostile(23, source_id="cam\x1b[31mred"), "invalid"),
    ("bidi-override", hostile(24, mission_id="m\u202etxt.exe"), "invalid"),
    ("c1-control", hostile(25, mission_id="m\x85next"), "invalid"),
    ("int-overflow", hostile(26, frame_index=10**30), "invalid"),
    ("far-future", hostile(27, time_utc="9999-12-31T23:59:59Z"), "invalid"),
    ("unknown-key", hostile(28, note="hello"), "invalid"),
    (
        "class-mismatch",
        hostile(29, class_key="pothole", class_id=TAXONOMY.by_key["road_debris"].id),
        "invalid",
    ),
    ("empty-value", b"", "empty"),
    ("tombstone", None, "empty"),
]


def test_hostile_catalogue_is_refused_by_the_decoder_with_its_kind() -> None:
    assert b'"accuracy_m": 1.5' in hostile(21)  # the overflow-number case really changes the message
    for name, value, kind in HOSTILE:
        checked = check_record(value, MAX_MESSAGE_BYTES)
        assert isinstance(checked, tuple), f"{name} was accepted"
        assert checked[0] == kind, (name, checked)
        if value and kind != "oversized":
            with pytest.raises(SchemaError):
                decode_event(value)


def test_hostile_payloads_go_to_the_dead_letter_topic_and_never_to_the_store(
    kafka_bootstrap: str, kafka_topic: str, postgis_url: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic)
    dlq = f"{kafka_topic}.dlq"
    valid = many_events("m-hostile", 2, 40)
    # A valid event with odd but legal text: URI quotes and semicolons are RFC 3986 characters.
    valid[0] = replace(valid[0], evidence=(EvidenceRef("file:///ev/it's;(1).jpg", "cd" * 32),))
    records: list[tuple[bytes | None, bytes | None]] = []
    valid_records = event_records(valid)
    for i, (name, value, _) in enumerate(HOSTILE):  # valid events before, between and after
        records += valid_records[2 * i : 2 * i + 2]
        records.append((f"hostile/{name}".encode(), value))
    records += valid_records[2 * len(HOSTILE) :]
    produce(kafka_bootstrap, kafka_topic, records)

    counters = run_sink(kafka_bootstrap, kafka_topic, postgis_url, "sink-hostile", dlq, idle_exit_s=5)

    assert counters.consumed == len(records)
    assert counters.written == len(valid) and counters.dead_lettered == len(HOSTILE)
    with open_store(postgis_url) as store:
        assert store.event_ids() == {e.event_id for e in valid}
        gdf = store.read()
    assert set(gdf["mission_id"]) == {"m-hostile"} and set(gdf["source_id"]) == {"cam0", "cam1"}
    assert any("file:///ev/it's;(1).jpg" in text for text in gdf["evidence"].dropna())
    dead = read_all(kafka_bootstrap, dlq, expected=len(HOSTILE))
    assert len(dead) == len(HOSTILE)
    sent = {f"hostile/{name}".encode(): (value, kind) for name, value, kind in HOSTILE}
    offsets = {r.key: r.offset for r in read_all(kafka_bootstrap, kafka_topic, len(records)) if r.key in sent}
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        value, kind = sent[record.key]
        assert headers["dlq-error"] == kind, (record.key, headers)
        assert headers["dlq-reason"], record.key
        assert headers["dlq-topic"] == kafka_topic and headers["dlq-group"] == "sink-hostile"
        assert int(headers["dlq-offset"]) == offsets[record.key]
        assert int(headers["dlq-original-bytes"]) == len(value or b"")
        assert record.value == (value or b"")[:MAX_MESSAGE_BYTES]  # the evidence, cut only when oversized
    reasons = {r.key: dict(r.headers)["dlq-reason"].decode() for r in dead}
    assert "key 'lon'" in reasons[b"hostile/nan-lon"] and "finite" in reasons[b"hostile/nan-lon"]
    assert "unsupported version 2" in reasons[b"hostile/version-2"]
    assert "key 'mission_id'" in reasons[b"hostile/sql-in-mission"]


# --- replay changes nothing ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgis", "gpkg"])
def test_replaying_the_topic_into_the_same_store_changes_nothing(
    kafka_bootstrap: str, kafka_topic: str, request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    store_uri = (
        request.getfixturevalue("postgis_url") if kind == "postgis" else f"sqlite:///{tmp_path}/e.gpkg"
    )
    create_topic(kafka_bootstrap, kafka_topic)
    events = many_events("m-replay", 4, 500)
    produce(kafka_bootstrap, kafka_topic, [*event_records(events), (b"bad", b"{not json")])
    dlq = f"{kafka_topic}.dlq"

    first = run_sink(kafka_bootstrap, kafka_topic, store_uri, "sink-first", dlq, idle_exit_s=4)
    assert (first.written, first.duplicates, first.dead_lettered) == (len(events), 0, 1)
    with open_store(store_uri) as store:
        before = store.read()
    digest = table_digest(store_uri) if kind == "postgis" else None

    # A new group starts at the beginning of the topic: a full replay.
    replay = run_sink(kafka_bootstrap, kafka_topic, store_uri, "sink-replay", dlq, idle_exit_s=4)
    assert (replay.consumed, replay.written, replay.duplicates) == (len(events) + 1, 0, len(events))
    with open_store(store_uri) as store:
        after = store.read()
    assert after.equals(before)
    if digest is not None:
        assert table_digest(store_uri) == digest  # not even stored_at moved
    # The first group resumes at its committed offsets: nothing to do.
    again = run_sink(kafka_bootstrap, kafka_topic, store_uri, "sink-first", dlq, idle_exit_s=3)
    assert (again.consumed, again.written) == (0, 0)


# --- offsets move only after the store committed ---------------------------------------


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions (asked without joining)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS))
    finally:
        consumer.close(autocommit=False)


def test_offsets_wait_for_the_store_while_it_is_down(
    kafka_bootstrap: str, kafka_topic: str, postgis_url: str
) -> None:
    create_topic(kafka_bootstrap, kafka_topic)
    database = postgis_url.rsplit("/", 1)[1]
    admin_url = postgis_url.rsplit("/", 1)[0] + "/postgres"
    events = many_events("m-outage", 4, 250)
    produce(kafka_bootstrap, kafka_topic, event_records(events[:500]))
    stop = threading.Event()
    result: dict[str, Any] = {}

    def sink() -> None:
        result["counters"] = run_sink(
            kafka_bootstrap, kafka_topic, postgis_url, "sink-outage", f"{kafka_topic}.dlq", stop_event=stop
        )

    thread = threading.Thread(target=sink)
    thread.start()
    try:
        wait_until("the first 500 events stored", lambda: pg_count(postgis_url) == 500, 120)
        wait_until(
            "their offsets committed",
            lambda: _committed(kafka_bootstrap, "sink-outage", kafka_topic) == 500,
            60,
        )
        with psycopg.connect(admin_url, autocommit=True) as conn:  # the store goes away
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            )
        produce(kafka_bootstrap, kafka_topic, event_records(events[500:]))
        time.sleep(6)  # the sink reads the new events, fails to store them, rewinds, retries
        assert _committed(kafka_bootstrap, "sink-outage", kafka_topic) == 500
        with psycopg.connect(admin_url, autocommit=True) as conn:  # the store comes back
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        wait_until("every event stored", lambda: pg_count(postgis_url) == len(events), 120)
        wait_until(
            "every offset committed",
            lambda: _committed(kafka_bootstrap, "sink-outage", kafka_topic) == len(events),
            60,
        )
    finally:
        stop.set()
        thread.join(60)
    counters = result["counters"]
    assert counters.store_retries >= 1
    assert counters.written == len(events)
    with open_store(postgis_url) as store:
        assert store.event_ids() == {e.event_id for e in events}


def test_sink_refuses_a_bad_start_naming_the_problem(tmp_path: Path) -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "stream.sink", "--kafka", "127.0.0.1:9", "--topic", "t", "--store",
         "mysql://db/x", "--group", "g"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "mysql:// is not a store URI" in out.stderr


def test_size_limit_and_message_budget_are_configurable(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    create_topic(kafka_bootstrap, kafka_topic)
    events = many_events("m-limits", 2, 30)
    refs = tuple(EvidenceRef(f"file:///ev/{i}.jpg", f"{i:02d}" * 32) for i in range(12))
    events[5] = replace(events[5], evidence=refs)  # valid, but about 2.5 KB
    records = event_records(events)
    assert len(records[5][1] or b"") > 2000 > max(len(v or b"") for i, (_, v) in enumerate(records) if i != 5)
    produce(kafka_bootstrap, kafka_topic, records)
    store = f"sqlite:///{tmp_path / 'limits.gpkg'}"
    dlq = f"{kafka_topic}.dlq"

    budget = run_sink(
        kafka_bootstrap, kafka_topic, store, "sink-limits", dlq, max_messages=20, max_message_bytes=2000
    )
    assert 20 <= budget.consumed < len(records)  # stops after the batch that reached the budget
    rest = run_sink(
        kafka_bootstrap, kafka_topic, store, "sink-limits", dlq, idle_exit_s=4, max_message_bytes=2000
    )
    assert budget.consumed + rest.consumed == len(records)
    assert rest.dead_lettered + budget.dead_lettered == 1
    with open_store(store) as s:
        assert s.event_ids() == {e.event_id for i, e in enumerate(events) if i != 5}
    (dead,) = read_all(kafka_bootstrap, dlq, expected=1)
    assert dict(dead.headers)["dlq-error"] == b"oversized"
    assert b"over the sink's 2000 limit" in dict(dead.headers)["dlq-reason"]


def test_roadsight_sink_command_writes_the_topic_into_a_postgis_store(
    kafka_bootstrap: str, kafka_topic: str, postgis_url: str
) -> None:
    """The CLI front of the sink: `roadsight sink` with a PostGIS store URI, stopping when idle."""
    import json as _json
    import subprocess
    import sys

    from fixtures_geo import small_events

    from stream import KafkaEventSink, open_store

    events = small_events(4, 3)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as producer:
        producer.send(events)
    run = subprocess.run(
        [
            sys.executable, "-m", "roadsight", "sink", "--kafka", kafka_bootstrap, "--topic", kafka_topic,
            "--store", postgis_url, "--group", f"g-{kafka_topic}", "--dlq", f"{kafka_topic}.dlq",
            "--idle-exit-s", "5",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    counters = _json.loads(run.stdout)
    assert counters["written"] == len(events) and counters["dead_lettered"] == 0
    with open_store(postgis_url, readonly=True) as store:
        assert store.event_ids() == {e.event_id for e in events}


def test_settle_heap_freezes_the_start_up_heap() -> None:
    import gc

    from stream.sink import settle_heap

    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000  # modules, classes, the test session
    finally:
        gc.unfreeze()
