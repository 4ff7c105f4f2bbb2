"""``roadsight edge install``: a pipeline config from an edge profile, and the systemd units that run it.

Example:
    >>> from hardware.device_profiles import load_edge_profile
    >>> settings = EdgeInstall(source="rtsp://192.168.1.20:8554/live", telemetry="udp:0.0.0.0:14550")
    >>> config = edge_config(load_edge_profile("jetson_orin_nx"), settings)
    >>> config["capture"]["decoder"], config["detect"]["batch_size"]
    ('nvv4l2decoder', 2)

What runs where: ``roadsight run`` is the whole edge side. It spools every event
to SQLite before sending, and its spool sender runs inside it (a thread, or the
child process ``stream.spool_sender_child`` it starts and stops); its Prometheus endpoint (``/metrics``,
``/healthz``) is served from the same process (``metrics.port``). So the edge has
one long-running service, ``roadsight-pipeline.service``; a sink
(``roadsight sink``, Kafka -> store, with its own metrics endpoint) gets
``roadsight-sink.service`` only where one runs on the same box (``sink_store``).

The config is the profile's settings (decoder element, inference batch; the
TensorRT precision goes into a comment, since engines are built on the target,
see :mod:`detect.engine_cache`) merged over an optional base config and
validated with :func:`roadsight.config.load_pipeline_config` before anything is written.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardware.device_profiles import EdgeProfile
from roadsight.config import load_pipeline_config

CONFIG_NAME = "roadsight.yaml"
PIPELINE_UNIT = "roadsight-pipeline.service"
SINK_UNIT = "roadsight-sink.service"


@dataclass(frozen=True)
class EdgeInstall:
    """Where and as whom the services run, and what the pipeline reads and sends."""

    source: str | None = None
    telemetry: str | None = None
    camera: str | None = None
    kafka: str | None = None
    data_dir: Path = Path("/var/lib/roadsight")
    user: str = "roadsight"
    metrics_port: int = 9108
    metrics_host: str = "0.0.0.0"  # scraped by Prometheus from elsewhere
    command: str = f"{sys.executable} -m roadsight"
    sink_store: str | None = None
    sink_metrics_port: int = 9109


def edge_config(profile: EdgeProfile, settings: EdgeInstall) -> dict[str, Any]:
    """Pipeline config keys set by the profile and the install settings (None: not set)."""
    data = settings.data_dir
    return {
        "source": settings.source,
        "telemetry": settings.telemetry,
        "camera": settings.camera,
        "store": str(data / "roadsight.gpkg"),
        "capture": {"decoder": profile.decoder_element},
        "detect": {"batch_size": profile.batch, "providers": "auto" if profile.gpu else None},
        "kafka": {"bootstrap": settings.kafka, "spool": str(data / "roadsight.spool.sqlite")},
        "metrics": {"port": settings.metrics_port, "host": settings.metrics_host},
    }


def _unit(description: str, exec_start: str, settings: EdgeInstall, *, stop_timeout_s: int) -> str:
    return f"""[Unit]
Description={description}
Wants=network-online.target
After=network-online.target time-sync.target
StartLimitIntervalSec=0

[Service]
Type=simple
User={settings.user}
Group={settings.user}
WorkingDirectory={settings.data_dir}
Environment=PYTHONUNBUFFERED=1
Environment=YOLO_OFFLINE=1
ExecStart={exec_start}
Restart=always
RestartSec=5
# SIGTERM, then time to flush the spool to the broker before SIGKILL.
TimeoutStopSec={stop_timeout_s}

[Install]
WantedBy=multi-user.target
"""


def pipeline_unit(profile: EdgeProfile, settings: EdgeInstall, config_path: Path) -> str:
    exec_start = f"{settings.command} run --config {shlex.quote(str(config_path))}"
    description = (
        f"roadsight pipeline on {profile.name}: capture, detect, geo, spool and Kafka sender, "
        f"metrics on :{settings.metrics_port}"
    )
    return _unit(description, exec_start, settings, stop_timeout_s=60)


def sink_unit(settings: EdgeInstall) -> str:
    if settings.kafka is None or settings.sink_store is None:
        raise ValueError("a sink unit needs the Kafka bootstrap (--kafka) and the store (--sink-store)")
    kafka, store = shlex.quote(settings.kafka), shlex.quote(settings.sink_store)
    exec_start = (
        f"{settings.command} sink --kafka {kafka} --store {store}"
        f" --metrics-port {settings.sink_metrics_port} --metrics-host {settings.metrics_host}"
    )
    description = f"roadsight sink: Kafka -> {settings.sink_store}, metrics on :{settings.sink_metrics_port}"
    return _unit(description, exec_start, settings, stop_timeout_s=30)


def install_edge(
    profile: EdgeProfile, settings: EdgeInstall, out_dir: Path, *, base_config: Path | None = None
) -> list[Path]:
    """Write ``roadsight.yaml`` and the units into ``out_dir``; return the files written.

    The config is validated first (a missing source names the key), so a bad
    install writes nothing.
    """
    # Raises ConfigError naming the file and key; only what the base or the profile set is kept.
    config = load_pipeline_config(base_config, edge_config(profile, settings))
    merged = config.model_dump(mode="json", exclude_unset=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = (out_dir / CONFIG_NAME).resolve()
    header = f"# roadsight pipeline config for edge profile {profile.name} ({profile.description})\n"
    if profile.tensorrt_precision is not None:
        header += (
            f"# TensorRT {profile.tensorrt_precision} engines are built on this device from the ONNX "
            "model and cached per GPU and TensorRT version (detect.engine_cache).\n"
        )
    config_path.write_text(header + yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    load_pipeline_config(config_path, {})  # what was written loads as written
    written = [config_path]
    unit = out_dir / PIPELINE_UNIT
    unit.write_text(pipeline_unit(profile, settings, config_path), encoding="utf-8")
    written.append(unit)
    if settings.sink_store is not None:
        sink = out_dir / SINK_UNIT
        sink.write_text(sink_unit(settings), encoding="utf-8")
        written.append(sink)
    return written
