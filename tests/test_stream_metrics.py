"""The Prometheus text endpoint, scraped over real HTTP."""

from __future__ import annotations

import math
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_stream_kafka import mission_events

from stream.metrics import MetricsRegistry, MetricsServer
from stream.producer import EventPublisher

# One sample line of the text exposition format: name, optional {labels}, value.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse_prometheus(text: str) -> dict[str, dict[str, float]]:
    """Strict little parser: ``{name: {labels-text: value}}``; HELP/TYPE before every sample family."""
    samples: dict[str, dict[str, float]] = {}
    typed: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge"), line
            typed.add(name)
            continue
        match = _SAMPLE.match(line)
        assert match, f"line {number} is not a Prometheus sample: {line!r}"
        name, labels, value = match.groups()
        assert name in typed, f"line {number}: {name} has no # TYPE"
        samples.setdefault(name, {})[labels or ""] = float(value)
    return samples


def scrape(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[MetricsRegistry, MetricsServer]]:
    registry = MetricsRegistry()
    server = MetricsServer(registry, port=0).start()
    try:
        yield registry, server
    finally:
        server.close()


def test_metrics_endpoint_serves_counters_gauges_and_labels(
    served: tuple[MetricsRegistry, MetricsServer],
) -> None:
    registry, server = served
    frames = registry.counter("roadsight_frames_in_total", "Frames decoded", ["source"])
    frames.inc(120, source="cam0")
    frames.inc(3, source='cam "1"\\x')  # quoting must survive
    registry.gauge("roadsight_inference_ms", "Mean inference time").set(41.5)
    depth = registry.gauge("roadsight_queue_depth", "Frames waiting", ["stage"])
    depth.set(4, stage="detect")
    depth.add(-1, stage="detect")
    registry.gauge_fn("roadsight_spool_pending", "Spool rows", lambda: 7)
    registry.gauge_fn("roadsight_broken", "A source that fails", lambda: 1 / 0)

    status, content_type, body = scrape(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    metrics = parse_prometheus(body)
    assert metrics["roadsight_frames_in_total"] == {
        '{source="cam0"}': 120.0,
        '{source="cam \\"1\\"\\\\x"}': 3.0,
    }
    assert metrics["roadsight_inference_ms"] == {"": 41.5}
    assert metrics["roadsight_queue_depth"] == {'{stage="detect"}': 3.0}
    assert metrics["roadsight_spool_pending"] == {"": 7.0}
    assert math.isnan(metrics["roadsight_broken"][""])  # one bad source does not break the scrape
    assert "# TYPE roadsight_frames_in_total counter" in body


def test_healthz_reports_failing_checks(served: tuple[MetricsRegistry, MetricsServer]) -> None:
    registry, server = served
    assert scrape(server.url + "/healthz")[::2] == (200, "ok\n")
    healthy = [True]
    registry.health_check("kafka_connected", lambda: healthy[0])
    assert scrape(server.url + "/healthz")[0] == 200
    healthy[0] = False
    assert scrape(server.url + "/healthz")[::2] == (503, "failing: kafka_connected\n")
    assert scrape(server.url + "/nope")[0] == 404


def test_metric_misuse_is_refused() -> None:
    registry = MetricsRegistry()
    counter = registry.counter("a_total", "A", ["x"])
    assert registry.counter("a_total", "A", ["x"]) is counter
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, x="1")
    with pytest.raises(ValueError, match=r"labels \[\] != \['x'\]"):
        counter.inc()
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("a_total", "A")
    with pytest.raises(ValueError, match="not a valid Prometheus name"):
        registry.gauge("2bad", "B")


def test_publisher_spool_counters_on_the_endpoint(
    served: tuple[MetricsRegistry, MetricsServer], tmp_path: Path
) -> None:
    registry, server = served
    # No broker on this port: the events wait in the spool, which the endpoint shows.
    publisher = EventPublisher(tmp_path / "edge.spool", "127.0.0.1:9", max_spool_messages=10)
    try:
        publisher.register_metrics(registry)
        publisher.publish(mission_events("m-metrics", ["cam0"], 8))
        status, _, body = scrape(server.url + "/metrics")
        assert status == 200
        metrics = parse_prometheus(body)
        assert metrics["roadsight_edge_spool_pending"] == {"": 8.0}
        assert metrics["roadsight_edge_spool_spooled_total"] == {"": 8.0}
        assert metrics["roadsight_edge_spool_sent_total"] == {"": 0.0}
        assert metrics["roadsight_edge_spool_fill_fraction"] == {"": 0.8}
        assert metrics["roadsight_edge_events_published_total"] == {"": 8.0}
        assert metrics["roadsight_edge_kafka_connected"] == {"": 0.0}
        assert scrape(server.url + "/healthz")[0] == 200
    finally:
        publisher.close(timeout_s=2)
