"""A tiny Prometheus endpoint: counters and gauges, served as text format 0.0.4.

No dependency: a :class:`MetricsRegistry` holds the metrics, and
:class:`MetricsServer` serves them from a stdlib ``http.server`` thread:

* ``GET /metrics`` -- every metric in the Prometheus text exposition format;
* ``GET /healthz`` -- ``200 ok`` while every registered health check passes,
  ``503`` with the failing checks' names otherwise.

Edge and sink both use it: counters for frames in/out and DLQ messages,
gauges for queue depths and inference time, and *callback* metrics
(:meth:`MetricsRegistry.gauge_fn`, :meth:`~MetricsRegistry.counter_fn`) read
on every scrape, e.g. the spool size.

Example:
    >>> registry = MetricsRegistry()
    >>> frames = registry.counter("roadsight_frames_in_total", "Frames decoded", ["source"])
    >>> frames.inc(3, source="cam0")
    >>> print(registry.render().splitlines()[2])
    roadsight_frames_in_total{source="cam0"} 3
    >>> server = MetricsServer(registry, port=0).start()   # doctest: +SKIP
    >>> server.url                                        # doctest: +SKIP
    'http://127.0.0.1:40213'
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


class _Metric:
    kind: Literal["counter", "gauge"]

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r} is not a valid Prometheus name")
        bad = [label for label in labels if not _LABEL.match(label) or label.startswith("__")]
        if bad:
            raise ValueError(f"metric {name}: invalid label names {bad}")
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}
        self._lock = threading.Lock()

    def _key(self, label_values: dict[str, str]) -> LabelValues:
        if set(label_values) != set(self.labels):
            raise ValueError(f"metric {self.name}: labels {sorted(label_values)} != {sorted(self.labels)}")
        return tuple(str(label_values[k]) for k in self.labels)

    def value(self, **label_values: str) -> float:
        with self._lock:
            return self._values.get(self._key(label_values), 0.0)

    def samples(self) -> list[tuple[LabelValues, float]]:
        with self._lock:
            return sorted(self._values.items())

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for values, number in self.samples():
            if values:
                pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values, strict=True))
                lines.append(f"{self.name}{{{pairs}}} {_format_value(number)}")
            else:
                lines.append(f"{self.name} {_format_value(number)}")
        return lines


class Counter(_Metric):
    """A value that only goes up (``*_total``): events sent, frames decoded, DLQ messages."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **label_values: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot decrease (inc by {amount})")
        key = self._key(label_values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    """A value that goes up and down: queue depth, inference ms, spool bytes."""

    kind = "gauge"

    def set(self, value: float, **label_values: str) -> None:
        key = self._key(label_values)
        with self._lock:
            self._values[key] = float(value)

    def add(self, amount: float, **label_values: str) -> None:
        key = self._key(label_values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class _Callback(_Metric):
    """A counter or gauge whose value is read from a function at each scrape."""

    def __init__(
        self, name: str, help_text: str, read: Callable[[], float], kind: Literal["counter", "gauge"]
    ) -> None:
        super().__init__(name, help_text, ())
        self._read = read
        self.kind = kind

    def samples(self) -> list[tuple[LabelValues, float]]:
        try:
            return [((), float(self._read()))]
        except Exception:  # a failing source must not break the whole scrape
            return [((), math.nan)]


class MetricsRegistry:
    """Named metrics and health checks; thread-safe; one per process."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._health: dict[str, Callable[[], bool]] = {}
        self._lock = threading.Lock()

    def _register(self, metric: _Metric) -> _Metric:
        with self._lock:
            existing = self._metrics.get(metric.name)
            if existing is not None:
                if type(existing) is not type(metric) or existing.labels != metric.labels:
                    raise ValueError(f"metric {metric.name} is already registered as another kind or labels")
                return existing  # the same metric asked for twice (two stages, one registry)
            self._metrics[metric.name] = metric
            return metric

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._register(Counter(name, help_text, labels))
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        metric = self._register(Gauge(name, help_text, labels))
        assert isinstance(metric, Gauge)
        return metric

    def gauge_fn(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read from ``read()`` at every scrape (replaces an earlier one of that name)."""
        with self._lock:
            self._metrics[name] = _Callback(name, help_text, read, "gauge")

    def counter_fn(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A counter kept elsewhere (e.g. spool statistics), read at every scrape."""
        with self._lock:
            self._metrics[name] = _Callback(name, help_text, read, "counter")

    def health_check(self, name: str, check: Callable[[], bool]) -> None:
        """``/healthz`` fails (503) while ``check()`` returns False or raises."""
        with self._lock:
            self._health[name] = check

    def failing_checks(self) -> list[str]:
        with self._lock:
            checks = list(self._health.items())
        failing = []
        for name, check in checks:
            try:
                ok = bool(check())
            except Exception:
                ok = False
            if not ok:
                failing.append(name)
        return failing

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (ends with a newline)."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        return "".join(line + "\n" for metric in metrics for line in metric.render())


class MetricsServer:
    """Serves a registry on ``http://host:port/metrics`` and ``/healthz`` from a daemon thread.

    ``port=0`` picks a free port (see :attr:`port`). Bind to ``0.0.0.0`` to be
    scraped from other machines; the default is loopback only.
    """

    def __init__(self, registry: MetricsRegistry, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.registry = registry
        handler = _handler_for(registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="roadsight-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler_for(registry: MetricsRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, registry.render(), CONTENT_TYPE)
            elif path == "/healthz":
                failing = registry.failing_checks()
                body = "ok\n" if not failing else "failing: " + ", ".join(failing) + "\n"
                self._reply(200 if not failing else 503, body, "text/plain; charset=utf-8")
            else:
                self._reply(404, "not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

        def _reply(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: quiet
            pass

    return Handler
