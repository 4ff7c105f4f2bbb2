"""The Kafka transport against a real KRaft broker (started by the session fixture)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka_broker import KafkaBroker

from geo import GeoEvent
from geo.ids import event_id_for
from stream.errors import SchemaError, StreamError
from stream.kafka import KafkaEventSink, event_key, read_events
from stream.schema import decode_event
from taxonomy import load_taxonomy

pytestmark = pytest.mark.kafka

T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def mission_events(mission: str, sources: list[str], frames: int) -> list[GeoEvent]:
    """Events interleaved across sources, frame by frame, with varied classes."""
    classes = load_taxonomy().classes
    events = []
    for frame in range(frames):
        for s, source in enumerate(sources):
            cls = classes[(frame + s) % len(classes)]
            events.append(
                GeoEvent(
                    event_id=event_id_for(mission, source, frame, 0),
                    class_id=cls.id,
                    class_key=cls.key,
                    score=0.5 + (frame % 50) / 100,
                    lon=120.15 + frame * 1e-5,
                    lat=30.27 + s * 1e-4,
                    accuracy_m=1.5,
                    time_utc=T0 + timedelta(seconds=frame / 30),
                    mission_id=mission,
                    source_id=source,
                    frame_index=frame,
                    box_xyxy=(10.0, 20.0, 110.0 + frame, 220.0),
                    footprint=((120.15, 30.27), (120.16, 30.27), (120.16, 30.28), (120.15, 30.27)),
                    track_id=frame % 5,
                )
            )
    return events


def test_round_trip_of_many_events(kafka_bootstrap: str, kafka_topic: str) -> None:
    events = mission_events("m-round-trip", ["cam0", "cam1"], 150)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        assert sink.send(events) == len(events)
    got = read_events(kafka_bootstrap, kafka_topic, expected=len(events), timeout_s=60)
    assert len(got) == len(events)
    assert sorted(got, key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)


def test_order_is_kept_per_camera_stream(kafka_bootstrap: str, kafka_topic: str) -> None:
    sources = ["cam0", "cam1", "cam2", "cam3", "cam4"]
    events = mission_events("m-order", sources, 60)
    sink = KafkaEventSink(kafka_bootstrap, kafka_topic)
    for start in range(0, len(events), 7):  # several sends and flushes, like a live mission
        sink.send(events[start : start + 7])
        sink.flush()
    sink.close()
    got = read_events(kafka_bootstrap, kafka_topic, expected=len(events), timeout_s=60)
    for source in sources:
        frames = [e.frame_index for e in got if e.source_id == source]
        assert frames == list(range(60)), source


def test_records_are_keyed_by_mission_and_source(kafka_bootstrap: str, kafka_topic: str) -> None:
    events = mission_events("m-keys", ["cam0", "cam1", "cam2"], 20)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(events)
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=15000
    )
    try:
        partitions = [TopicPartition(kafka_topic, p) for p in consumer.partitions_for_topic(kafka_topic)]
        consumer.assign(partitions)
        records = []
        for record in consumer:
            records.append(record)
            if len(records) == len(events):
                break
    finally:
        consumer.close()
    assert len(partitions) == 3
    partition_of_key: dict[bytes, set[int]] = {}
    for record in records:
        event = decode_event(record.value)
        assert record.key == event_key(event) == f"m-keys/{event.source_id}".encode()
        assert dict(record.headers)["schema"] == b"roadsight.geo-event"
        partition_of_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partition_of_key.values()), partition_of_key


def test_read_without_expected_returns_what_the_topic_holds(kafka_bootstrap: str, kafka_topic: str) -> None:
    assert read_events(kafka_bootstrap, kafka_topic, timeout_s=5) == []
    events = mission_events("m-drain", ["cam0"], 25)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(events)
    assert read_events(kafka_bootstrap, kafka_topic, timeout_s=30) == events


def test_consumer_group_reads_only_new_events(kafka_bootstrap: str, kafka_topic: str) -> None:
    first, second = mission_events("m-group", ["cam0"], 20)[:10], mission_events("m-group", ["cam0"], 20)[10:]
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(first)
    assert read_events(kafka_bootstrap, kafka_topic, expected=10, group_id="store-1") == first
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(second)
    assert read_events(kafka_bootstrap, kafka_topic, expected=10, group_id="store-1") == second


def test_malformed_message_on_the_topic_is_rejected(kafka_bootstrap: str, kafka_topic: str) -> None:
    good = mission_events("m-poison", ["cam0"], 3)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(good[:1])
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    raw.send(kafka_topic, key=b"m-poison/cam0", value=b'{"schema": "roadsight.geo-event", "version": 9}')
    raw.flush()
    raw.close()
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        sink.send(good[1:])
    with pytest.raises(SchemaError, match=r"@1: geo-event: key 'version': unsupported version 9"):
        read_events(kafka_bootstrap, kafka_topic, expected=3, timeout_s=30)
    assert read_events(kafka_bootstrap, kafka_topic, expected=3, timeout_s=30, skip_invalid=True) == good


def test_invalid_event_is_not_sent(kafka_bootstrap: str, kafka_topic: str) -> None:
    events = mission_events("m-invalid", ["cam0"], 3)
    bad = replace(events[1], score=7.0)
    with KafkaEventSink(kafka_bootstrap, kafka_topic) as sink:
        with pytest.raises(SchemaError, match="score"):
            sink.send([events[0], bad, events[2]])
        sink.send(events[2:])
    assert read_events(kafka_bootstrap, kafka_topic, timeout_s=30) == events[2:]


def test_unreachable_broker_raises_stream_error_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(StreamError, match=r"cannot reach Kafka at 127\.0\.0\.1:9"):
        KafkaEventSink("127.0.0.1:9", connect_timeout_s=2.0)
    with pytest.raises(StreamError, match=r"127\.0\.0\.1:9"):
        read_events("127.0.0.1:9", "roadsight.none", expected=1, timeout_s=2.0)
    assert time.monotonic() - started < 15


def test_events_survive_a_broker_restart(kafka_broker: KafkaBroker, kafka_topic: str) -> None:
    events = mission_events("m-restart", ["cam0"], 40)
    sink = KafkaEventSink(kafka_broker.bootstrap, kafka_topic)
    sink.send(events[:20])
    sink.flush()
    kafka_broker.restart()
    sink.send(events[20:])
    sink.flush(timeout=60)
    sink.close()
    assert read_events(kafka_broker.bootstrap, kafka_topic, expected=40, timeout_s=60) == events
    assert kafka_broker.log_tail(100_000).count("Kafka Server started") == 2  # one log across the restart
