"""Shared pytest fixtures.

Kafka: tests that need a broker take ``kafka_bootstrap`` (one real broker for
the whole session, started here) or ``kafka_broker`` (a private broker a test
may stop and restart). ``ROADSIGHT_KAFKA_BOOTSTRAP=host:port`` points the
session at an existing broker instead. When no broker can be had the tests
FAIL with the broker log tail; they never skip.

PostGIS: ``postgis_url`` is a fresh, empty PostGIS database for one test, on a
real PostgreSQL server started once per session (``postgres_server``, from the
Debian packages). ``ROADSIGHT_POSTGIS_URL=postgresql://...`` points the session
at an existing database instead (each test then gets its own table). When no
server can be had the tests FAIL with the server log tail; they never skip.
"""

from __future__ import annotations

# ONNX Runtime loads before GStreamer (see roadsight/pipeline.py): otherwise an
# ONNX Runtime error in a test aborts the whole pytest process.
import onnxruntime  # noqa: F401  isort: skip

import os
import uuid
from collections.abc import Iterator

import pytest
from kafka_broker import BrokerError, KafkaBroker
from postgres_server import PostgresError, PostgresServer

# Simulated missions, generated once per session and cached (tests/fixtures_pipeline.py).
pytest_plugins = ["fixtures_pipeline"]

# --- Kafka -------------------------------------------------------------------


def _check_reachable(bootstrap: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=10000, bootstrap_timeout_ms=10000
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
    except KafkaError as err:
        pytest.fail(f"ROADSIGHT_KAFKA_BOOTSTRAP={bootstrap} does not answer: {err}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Kafka broker shared by the session."""
    external = os.environ.get("ROADSIGHT_KAFKA_BOOTSTRAP")
    if external:
        _check_reachable(external)
        yield external
        return
    broker = KafkaBroker()
    try:
        yield broker.start()
    except BrokerError as err:
        pytest.fail(f"no Kafka broker for the tests: {err}", pytrace=False)
    finally:
        broker.close()


@pytest.fixture
def kafka_broker() -> Iterator[KafkaBroker]:
    """A private, started broker that the test may ``stop()``/``restart()``."""
    broker = KafkaBroker()
    try:
        broker.start()
    except BrokerError as err:
        broker.close()
        pytest.fail(f"no Kafka broker for the test: {err}", pytrace=False)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def kafka_topic() -> str:
    """A topic name no other test uses (topics are auto-created with 3 partitions)."""
    return f"roadsight.test.{uuid.uuid4().hex[:12]}"


# --- PostgreSQL + PostGIS ----------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """A real PostgreSQL server with PostGIS for the session (None with ``ROADSIGHT_POSTGIS_URL``)."""
    if os.environ.get("ROADSIGHT_POSTGIS_URL"):
        yield None
        return
    server = PostgresServer()
    try:
        server.start()
    except PostgresError as err:
        server.close()
        pytest.fail(f"no PostgreSQL server for the tests: {err}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgis_url(postgres_server: PostgresServer | None) -> str:
    """URL of an empty PostGIS store for this test: a fresh database (or table, on an external server)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    if postgres_server is None:
        external = os.environ["ROADSIGHT_POSTGIS_URL"]
        return f"{external}{'&' if '?' in external else '?'}table={name}"
    return postgres_server.create_database(name)
