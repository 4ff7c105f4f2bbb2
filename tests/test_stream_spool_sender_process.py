"""The spool sender in its own process: same delivery, nothing lost offline, gone with its parent."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from test_stream_kafka import mission_events
from test_stream_spool import raw_records

from stream.producer import EventPublisher, TopicNames, producer_config
from stream.schema import decode_event
from stream.spool import Spool
from stream.spool_sender_process import SpoolSenderProcess


def _closed_port() -> str:
    """``127.0.0.1:PORT`` where nothing listens (a broker that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _wait_until(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.kafka
def test_spooled_offline_then_sent_in_order_by_the_next_run(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = mission_events("m-proc", ["cam0", "cam1", "cam2"], 60)
    monkeypatch.chdir(tmp_path)  # a relative spool path names the same file in the child
    path, topics = Path("edge.spool"), TopicNames(detections=kafka_topic)
    offline = EventPublisher(
        path, _closed_port(), topics=topics, key_by="source", sender_process=True, connect_timeout_s=1.0
    )
    try:
        assert offline.publish(events[:100]) == 100
        assert offline.publish(events[100:]) == 80
        time.sleep(1.0)  # the child tries (and fails) to connect meanwhile
        stats = offline.stats()
        assert (stats.spool.pending, stats.spool.sent, stats.connected) == (180, 0, False)
    finally:
        offline.close(timeout_s=2.0)
    with Spool(path) as spool:
        assert spool.stats().pending == 180  # nothing lost by stopping offline
    with EventPublisher(path, kafka_bootstrap, topics=topics, key_by="source", sender_process=True) as online:
        online.flush(120)
        stats = online.stats()
        assert (stats.spool.pending, stats.spool.sent) == (0, 180)
    records = raw_records(kafka_bootstrap, [kafka_topic], len(events))
    assert sorted(decode_event(r.value).event_id for r in records) == sorted(e.event_id for e in events)
    for source in ("cam0", "cam1", "cam2"):  # one key, one partition, in the order published
        frames = [decode_event(r.value).frame_index for r in records if r.key == f"m-proc/{source}".encode()]
        assert frames == list(range(60))


def test_the_child_stops_when_its_parent_goes(tmp_path: Path) -> None:
    """The parent's end of the pipe closing (the parent died) stops the child; the rows stay."""
    with Spool(tmp_path / "edge.spool") as spool:
        config = producer_config(_closed_port(), connect_timeout_s=1.0)
        sender = SpoolSenderProcess(spool, config).start()
        child = sender._child
        assert child is not None and child.stdin is not None and child.poll() is None
        child.stdin.close()  # what the kernel does to the pipe when the parent dies
        assert _wait_until(lambda: child.poll() is not None, 60.0)
        assert child.returncode == 0
        sender.close(timeout_s=1.0)
