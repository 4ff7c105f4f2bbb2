"""Acceptance: the edge publisher loses nothing and doubles nothing through a 30 s
broker outage, a killed process, and a full spool (real KRaft broker, real SQLite spool)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka_broker import KafkaBroker
from test_stream_kafka import mission_events

from geo import GeoEvent
from stream.kafka import read_events
from stream.producer import EventPublisher, ProducerTuning, TopicNames
from stream.spool import SpoolFullError
from stream.store import GeoPackageStore

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parent.parent
OUTAGE_S = 30.0


def publish_steadily(
    publisher: EventPublisher, events: list[GeoEvent], rate_per_s: float, progress: list[int]
) -> None:
    """Publish in small batches at a steady rate, as a live mission does."""
    batch = 20
    started = time.monotonic()
    for start in range(0, len(events), batch):
        publisher.publish(events[start : start + batch])
        progress[0] = start + batch
        time.sleep(max(0.0, started + (start + batch) / rate_per_s - time.monotonic()))


@pytest.mark.slow
@pytest.mark.parametrize("sender_process", [False, True], ids=["sender-thread", "sender-process"])
def test_a_30_s_broker_outage_mid_mission_loses_and_doubles_nothing(
    kafka_broker: KafkaBroker, kafka_topic: str, tmp_path: Path, sender_process: bool
) -> None:
    events = mission_events("m-outage", ["cam0", "cam1", "cam2", "cam3"], 1000)  # 4000 events
    publisher = EventPublisher(
        tmp_path / "edge.spool",
        kafka_broker.bootstrap,
        topics=TopicNames(detections=kafka_topic),
        cell_precision=7,  # cells of ~150 m: the mission spans several, so several partitions
        sender_process=sender_process,
    )
    progress = [0]
    producer = threading.Thread(target=publish_steadily, args=(publisher, events, 80.0, progress))
    producer.start()  # 4000 events at 80/s: 50 s of mission
    while progress[0] < 600:
        time.sleep(0.1)
    kafka_broker.stop()
    time.sleep(OUTAGE_S)
    during = publisher.stats()
    kafka_broker.start()
    producer.join(timeout=300)
    assert not producer.is_alive()
    publisher.flush(timeout_s=180)
    after = publisher.stats()
    publisher.close()

    # Publishing went on during the outage: the spool grew and nothing was sent.
    assert during.spool.pending == during.spool.spooled - during.spool.sent > 0.8 * OUTAGE_S * 80
    assert during.spool.oldest_age_s >= OUTAGE_S - 5
    assert (after.spool.spooled, after.spool.sent, after.spool.pending) == (4000, 4000, 0)
    assert (after.spool.rejected, after.spool.quarantined) == (0, 0)

    # The topic holds every event exactly once. kafka-python's idempotent producer
    # (same producer id and sequence numbers on retry, producer state kept by the
    # broker across its restart) and the spool (rows deleted only after the ack,
    # no resend path taken here: send_errors == 0) make that hold on the topic
    # itself, not only after the sink's upserts by event id.
    got = read_events(kafka_broker.bootstrap, kafka_topic, timeout_s=120)
    assert after.spool.send_errors == 0
    ids = [e.event_id for e in got]
    assert len(ids) == len(set(ids)) == len(events), "missing or doubled events"
    assert set(ids) == {e.event_id for e in events}

    # Per-key (per-cell) order held across the outage.
    key_of = dict(zip((e.event_id for e in events), publisher.keys(events), strict=True))
    for key in set(key_of.values()):
        sent_order = [e.event_id for e in events if key_of[e.event_id] == key]
        assert [i for i in ids if key_of[i] == key] == sent_order, key


_CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_stream_kafka import mission_events
from stream.producer import EventPublisher, ProducerTuning, TopicNames
publisher = EventPublisher({spool!r}, {bootstrap!r}, topics=TopicNames(detections={topic!r}))
publisher.publish(mission_events("m-killed", ["cam0", "cam1"], 5000))
os.kill(os.getpid(), signal.SIGKILL)  # no flush, no close: like a power cut right after publishing
"""


def test_a_killed_publisher_resumes_from_its_spool(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    spool = tmp_path / "edge.spool"
    code = _CHILD.format(
        tests=str(REPO / "tests"), spool=str(spool), bootstrap=kafka_bootstrap, topic=kafka_topic
    )
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == -9, child.stderr[-3000:]
    expected = mission_events("m-killed", ["cam0", "cam1"], 5000)

    with EventPublisher(spool, kafka_bootstrap, topics=TopicNames(detections=kafka_topic)) as publisher:
        left = publisher.stats().spool.pending
        assert left > 0  # the kill left work behind: this is the resume path
    assert publisher.stats().spool.sent == left

    # At least once: a row acknowledged just before the kill but not yet deleted is
    # sent again, so the topic may hold a few copies; the store's upsert by event
    # id makes the result exact.
    got = read_events(kafka_bootstrap, kafka_topic, timeout_s=120)
    assert {e.event_id for e in got} == {e.event_id for e in expected}
    assert len(expected) <= len(got) <= len(expected) + left
    with GeoPackageStore(tmp_path / "events.gpkg") as store:
        store.write(got)
        assert len(store.read()) == len(expected)


def test_a_full_spool_blocks_then_refuses_counts_and_keeps_what_it_took(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    events = mission_events("m-full", ["cam0"], 150)
    spool = tmp_path / "edge.spool"
    topics = TopicNames(detections=kafka_topic)
    # No broker on this port: everything stays in the spool.
    offline = EventPublisher(spool, "127.0.0.1:9", topics=topics, max_spool_messages=100, block_timeout_s=0.5)
    try:
        assert offline.publish(events[:100]) == 100
        started = time.monotonic()
        with pytest.raises(SpoolFullError, match=r"stayed full for 0.5 s .*refused 50 messages"):
            offline.publish(events[100:])
        assert time.monotonic() - started >= 0.5  # it blocked (backpressure) before refusing
        stats = offline.stats().spool
        assert (stats.pending, stats.rejected, stats.full_waits, stats.sent) == (100, 50, 1, 0)
    finally:
        offline.close(timeout_s=2)
    # The refused batch was the caller's to retry; everything accepted is delivered later.
    with EventPublisher(spool, kafka_bootstrap, topics=topics) as online:
        online.publish(events[100:])
    got = read_events(kafka_bootstrap, kafka_topic, expected=150, timeout_s=60)
    assert sorted(e.event_id for e in got) == sorted(e.event_id for e in events)


@pytest.mark.slow
def test_deliveries_that_time_out_are_resent_from_the_spool_in_order(
    kafka_broker: KafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    # A short delivery timeout makes kafka-python give up during the outage: the
    # sender must keep the rows, drop the producer and resend from the spool.
    events = mission_events("m-timeout", ["cam0", "cam1"], 300)
    tuning = ProducerTuning(delivery_timeout_ms=4_000, request_timeout_ms=2_000, linger_ms=5)
    publisher = EventPublisher(
        tmp_path / "edge.spool",
        kafka_broker.bootstrap,
        topics=TopicNames(detections=kafka_topic),
        tuning=tuning,
    )
    try:
        publisher.publish(events[:200])
        publisher.flush(60)
        kafka_broker.stop()
        publisher.publish(events[200:])
        deadline = time.monotonic() + 60
        while publisher.stats().spool.send_errors == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert publisher.stats().spool.send_errors >= 1, "kafka-python never gave up: nothing tested"
        kafka_broker.start()
        publisher.flush(180)
        stats = publisher.stats().spool
    finally:
        publisher.close()
    assert (stats.pending, stats.sent, stats.rejected, stats.quarantined) == (0, len(events), 0, 0)
    assert stats.resent >= 1
    got = [e.event_id for e in read_events(kafka_broker.bootstrap, kafka_topic, timeout_s=120)]
    assert set(got) == {e.event_id for e in events}
    # At least once here (a batch may have been written just as its request timed
    # out); per key, the order of each event's last copy is the order published.
    key_of = dict(zip((e.event_id for e in events), publisher.keys(events), strict=True))
    for key in set(key_of.values()):
        last_copies = list(dict.fromkeys(reversed([i for i in got if key_of[i] == key])))[::-1]
        assert last_copies == [e.event_id for e in events if key_of[e.event_id] == key], key
