"""The SQLite spool on its own (no broker), the geohash keys, and the publisher against a real broker."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from test_stream_kafka import mission_events

from stream.cells import geohash_cells
from stream.errors import StreamError
from stream.kafka import KafkaSecurity, read_events
from stream.producer import EventPublisher, TopicNames
from stream.schema import decode_event
from stream.spool import OutboundMessage, Spool, SpoolFullError


def messages(n: int, size: int = 100, topic: str = "t") -> list[OutboundMessage]:
    return [
        OutboundMessage(topic, f"{i:08d}".encode().ljust(size, b"."), f"k{i % 3}".encode(), (("h", b"v"),))
        for i in range(n)
    ]


def drain(spool: Spool, batch: int = 7) -> list[OutboundMessage]:
    """Read and remove everything, in order, like the sender does."""
    out: list[OutboundMessage] = []
    seq = 0
    while rows := spool.read_after(seq, batch):
        out.extend(r.message for r in rows)
        seq = rows[-1].seq
        spool.remove([r.seq for r in rows])
    return out


def test_messages_come_out_in_order_with_key_and_headers(tmp_path: Path) -> None:
    sent = messages(50)
    with Spool(tmp_path / "s.spool") as spool:
        assert spool.append(sent[:20]) == 20
        assert spool.append(sent[20:]) == 30
        stats = spool.stats()
        assert (stats.spooled, stats.pending, stats.bytes) == (50, 50, sum(m.size for m in sent))
        assert drain(spool) == sent
        stats = spool.stats()
        assert (stats.sent, stats.pending, stats.bytes, stats.oldest_age_s) == (50, 0, 0, 0.0)


def test_a_reopened_spool_resumes_with_what_was_left(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    sent = messages(30)
    spool = Spool(path)
    spool.append(sent)
    rows = spool.read_after(0, 10)
    spool.remove([r.seq for r in rows])
    last = spool.last_seq
    spool.close()  # like a process that stops with 20 messages unsent
    with Spool(path) as again:
        assert again.stats().pending == 20
        assert again.stats().bytes == sum(m.size for m in sent[10:])
        assert drain(again) == sent[10:]
        again.append(messages(1))
        assert again.last_seq == last + 1  # sequence numbers are never reused


def test_the_spool_is_a_wal_database_readable_by_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    with Spool(path) as spool:
        spool.append(messages(3))
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 3
        finally:
            db.close()


def test_oldest_age_grows_while_messages_wait(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.spool") as spool:
        spool.append(messages(2))
        time.sleep(0.2)
        assert spool.stats().oldest_age_s >= 0.2


def test_full_spool_blocks_then_refuses_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Spool(tmp_path / "s.spool", max_messages=10, warn_fraction=0.8) as spool:
        with caplog.at_level(logging.WARNING, logger="stream.spool"):
            spool.append(messages(8))
        assert "80% full" in caplog.text
        started = time.monotonic()
        with pytest.raises(SpoolFullError, match=r"stayed full for 0.3 s.*refused 3 messages"):
            spool.append(messages(3), timeout_s=0.3)
        assert time.monotonic() - started >= 0.3
        stats = spool.stats()
        assert (stats.pending, stats.rejected, stats.full_waits) == (8, 3, 1)
        assert len(drain(spool)) == 8  # what was accepted is all there


def test_backpressure_releases_the_producer_when_the_sender_makes_room(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.spool", max_bytes=1000) as spool:
        spool.append(messages(9))  # 900 bytes
        done = threading.Event()

        def produce() -> None:
            spool.append(messages(5), timeout_s=10)
            done.set()

        producer = threading.Thread(target=produce)
        producer.start()
        assert not done.wait(0.3)  # blocked: no room for 500 more bytes
        rows = spool.read_after(0, 5)
        spool.remove([r.seq for r in rows])
        assert done.wait(5)
        producer.join()
        assert spool.stats().pending == 9
        assert spool.stats().rejected == 0


def test_a_batch_larger_than_the_whole_bound_is_refused_at_once(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.spool", max_bytes=500, max_record_bytes=1000) as spool:
        with pytest.raises(SpoolFullError, match="exceeds the bound"):
            spool.append(messages(6))
        with pytest.raises(ValueError, match=r"message 1 of the batch \(topic t\) is 2004 bytes"):
            spool.append([*messages(1), *messages(1, size=2000)])  # value + key + header bytes
        assert spool.stats().rejected == 8
        assert spool.stats().pending == 0


def test_quarantine_keeps_the_refused_row(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.spool") as spool:
        spool.append(messages(3))
        second = spool.read_after(0, 3)[1]
        spool.quarantine(second.seq, "MessageSizeTooLargeError: too big")
        assert spool.stats().quarantined == 1
        assert spool.stats().pending == 2
        [(row, error)] = spool.quarantined()
        assert row.message == messages(3)[1]
        assert error.startswith("MessageSizeTooLargeError")


def test_closed_spool_refuses_appends(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.spool")
    spool.close()
    with pytest.raises(StreamError, match="is closed"):
        spool.append(messages(1))


def test_misspelt_producer_settings_fail_when_the_publisher_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown Kafka producer settings \['sasl_plain_usernme'\]"):
        EventPublisher(tmp_path / "s.spool", "127.0.0.1:9", producer_overrides={"sasl_plain_usernme": "edge"})
    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_plain_password="pw")
    assert "pw" not in repr(security)
    assert security.client_settings()["sasl_mechanism"] == "PLAIN"


def test_geohash_cells_match_the_reference_encoding() -> None:
    # Reference values of the public geohash algorithm (e.g. Wikipedia's example).
    assert geohash_cells([10.40744, -5.6], [57.64911, 42.6], 11) == ["u4pruydqqvj", "ezs42e44yx9"]
    assert geohash_cells([180.0, -180.0], [90.0, -90.0], 4) == ["zzzz", "0000"]
    with pytest.raises(ValueError, match=r"position 1 is not a lon/lat"):
        geohash_cells([0.0, 200.0], [0.0, 0.0], 6)


# --- the publisher against a real broker --------------------------------------------------


@pytest.mark.kafka
@pytest.mark.parametrize("sender_process", [False, True], ids=["sender-thread", "sender-process"])
def test_publisher_delivers_keyed_by_cell_with_dead_letters(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path, sender_process: bool
) -> None:
    events = mission_events("m-publish", ["cam0", "cam1"], 40)
    bad = replace(events[3], score=7.0)
    topics = TopicNames(
        detections=kafka_topic, dead_letter=kafka_topic + ".dlq", cases=kafka_topic + ".cases"
    )
    spool = tmp_path / "edge.spool"
    with EventPublisher(spool, kafka_bootstrap, topics=topics, sender_process=sender_process) as publisher:
        assert publisher.publish([*events, bad]) == len(events)
        publisher.publish_message(topics.cases, b'{"case": 7}', b"case-7", (("schema", b"case"),))
    stats = publisher.stats()
    assert (stats.published, stats.invalid, stats.spool.sent, stats.spool.pending) == (80, 1, 82, 0)
    got = read_events(kafka_bootstrap, kafka_topic, expected=len(events), timeout_s=60)
    assert sorted(e.event_id for e in got) == sorted(e.event_id for e in events)
    records = raw_records(kafka_bootstrap, [kafka_topic, topics.dead_letter, topics.cases], len(events) + 2)
    [case] = [r for r in records if r.topic == topics.cases]
    assert (case.key, case.value, case.headers) == (b"case-7", b'{"case": 7}', [("schema", b"case")])
    [dead] = [r for r in records if r.topic == topics.dead_letter]
    assert b"score" in dict(dead.headers)["dlq-reason"]
    keyed = [r for r in records if r.topic == kafka_topic]
    cells = geohash_cells([e.lon for e in events], [e.lat for e in events], 6)
    cell_of = dict(zip((e.event_id for e in events), cells, strict=True))
    assert all(r.key == cell_of[decode_event(r.value).event_id].encode() for r in keyed)


def raw_records(bootstrap: str, topics: list[str], n: int) -> list[ConsumerRecord]:
    """The first ``n`` records of every partition of ``topics`` (keys and headers included)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    records: list[ConsumerRecord] = []
    try:
        consumer.assign([TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)])
        deadline = time.monotonic() + 30
        while len(records) < n and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records
