"""The edge keeps working with the broker down: events wait in the spool and go out when it is back.

Real parts: a private Kafka broker (stopped for the first run), the real
`roadsight run` command on the quick drone mission, the SQLite spool on disk.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from cli_helpers import run_with_config
from kafka_broker import KafkaBroker

from stream import GeoPackageStore, read_events


def test_a_run_with_the_broker_down_delivers_everything_on_the_next_run(
    drone_quick_mission: Path, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    topic = f"roadsight.outage.{uuid.uuid4().hex[:8]}"
    config = {
        "source": str(drone_quick_mission / "video.mp4"),
        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
        "camera": manifest["camera_profile"],
        "mission_id": "outage",
        "store": str(tmp_path / "events.gpkg"),
        "sampling": {"mode": "all"},
        "kafka": {"bootstrap": kafka_broker.bootstrap, "topic": topic, "flush_timeout_s": 3},
    }
    kafka_broker.stop()
    down = run_with_config(config, tmp_path / "down")
    assert down.returncode == 0, down.stdout + down.stderr  # the edge does not stop for the broker
    first = json.loads(down.stdout)
    assert first["events"] > 0 and first["events_sent"] == first["events"]
    # All of them wait on disk, with the pass's messages: a case update per case touched, a
    # footprint per covered frame, one track per camera.
    cases = first["cases"]
    pass_messages = cases["new"] + cases["updated"] + cases["possibly_fixed"] + cases["frames_covered"] + 1
    assert first["kafka_pending"] == first["events"] + pass_messages
    assert (tmp_path / "events.spool.sqlite").is_file()

    kafka_broker.restart()
    up = run_with_config(config, tmp_path / "up")  # the same mission again: nothing new to store
    assert up.returncode == 0, up.stdout + up.stderr
    second = json.loads(up.stdout)
    assert second["events_stored"] == 0 and second["kafka_pending"] == 0
    with GeoPackageStore(tmp_path / "events.gpkg", readonly=True) as store:
        stored = store.event_ids()
    on_topic = read_events(kafka_broker.bootstrap, topic, expected=2 * len(stored), timeout_s=60)
    # Every stored event reached the topic: the first run's from the spool, the second's replay
    # under the same deterministic ids (the sink's upserts make the duplicates harmless).
    assert {e.event_id for e in on_topic} == stored
    assert len(on_topic) == 2 * len(stored)
