"""The Kafka broker fetch and command line (the running broker is exercised by test_stream_kafka)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka_broker import KAFKA_VERSION, fetch, libs_dir

SCRIPT = Path(__file__).resolve().parent / "kafka_broker.py"


def test_fetch_provides_broker_and_log4j2_binding_and_is_idempotent() -> None:
    libs = fetch()
    assert libs == libs_dir(KAFKA_VERSION)
    names = {p.name for p in libs.glob("*.jar")}
    assert f"kafka_2.13-{KAFKA_VERSION}.jar" in names
    assert any(n.startswith("log4j-core-2.") for n in names)
    assert any(n.startswith("log4j-slf4j-impl-2.") for n in names)  # Kafka 4.x logs through SLF4J 1.7
    started = time.monotonic()
    assert fetch() == libs
    assert time.monotonic() - started < 1.0, "second fetch must not call Maven"


def test_cache_location_follows_roadsight_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROADSIGHT_CACHE", str(tmp_path))
    assert libs_dir("4.0.0") == tmp_path / "kafka" / "4.0.0" / "libs"


def test_cli_rejects_unknown_command_with_usage() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "launch"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 2
    assert "usage: python tests/kafka_broker.py fetch|start|stop" in result.stderr


def test_cli_fetch_prints_the_libs_folder() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "fetch"], capture_output=True, text=True, check=True, timeout=300
    )
    assert Path(result.stdout.strip()) == libs_dir(KAFKA_VERSION)
