"""Wiring of the stages: capture -> detect -> geo -> stream/store.

This is the only module that knows about all stages; each stage is used via
its package's public surface. Decoding runs in its own thread behind a
bounded queue so that decode and inference overlap.
"""

from __future__ import annotations

# ONNX Runtime must load before GStreamer: GStreamer brings libunwind, which
# otherwise takes over C++ exception unwinding for libraries loaded after it,
# turning any ONNX Runtime error into a process abort instead of an exception.
import onnxruntime  # noqa: F401  isort: skip

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from capture import Frame, LiveTelemetry, TelemetryTrack, VideoSource, load_telemetry
from detect import DetectedFrame, OnnxDetector
from geo import CameraModel, GeoEvent, GeoreferenceStats, georeference
from hardware import load_camera_profile
from roadsight.config import PipelineConfig
from stream import GeoPackageStore, KafkaEventSink

log = logging.getLogger(__name__)

_END = object()


@dataclass
class RunSummary:
    """What a run did and where its results are."""

    frames_decoded: int = 0
    frames_dropped: int = 0  # live sources: dropped by the latest-frame policy when inference lags
    frames_processed: int = 0
    frames_unlocated: int = 0
    detections: int = 0
    detections_off_ground: int = 0  # rays at/above the horizon: rejected, not projected
    events: int = 0
    events_stored: int = 0
    events_sent: int = 0
    seconds: float = 0.0
    store: Path | None = None
    kafka_topic: str | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_decoded": self.frames_decoded,
            "frames_dropped": self.frames_dropped,
            "frames_processed": self.frames_processed,
            "frames_unlocated": self.frames_unlocated,
            "detections": self.detections,
            "detections_off_ground": self.detections_off_ground,
            "events": self.events,
            "events_stored": self.events_stored,
            "events_sent": self.events_sent,
            "seconds": round(self.seconds, 3),
            "store": str(self.store) if self.store else None,
            "kafka_topic": self.kafka_topic,
            "stage_ms": {k: round(v, 1) for k, v in self.stage_ms.items()},
        }


def _is_live_telemetry(uri: str) -> bool:
    return uri.startswith(("udp:", "udpin:", "udpout:", "tcp:", "tcpin:", "serial:"))


def _is_live_video(uri: str) -> bool:
    """Network streams carry their own clock (RTCP); files take the start time we give them."""
    return "://" in uri and not uri.startswith("file://")


def _parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _put_unless_stopped(frames: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Hand ``item`` to the consumer; give up once it has stopped (so a full queue never hangs us)."""
    while not stop.is_set():
        try:
            frames.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _decode_in_background(source: VideoSource, frames: queue.Queue[object], stop: threading.Event) -> None:
    try:
        for frame in source:
            if not _put_unless_stopped(frames, frame, stop):
                return
    except Exception as exc:  # surfaced in the consuming thread
        _put_unless_stopped(frames, exc, stop)
    finally:
        _put_unless_stopped(frames, _END, stop)


def _frames(source: VideoSource, depth: int = 8) -> Iterator[Frame]:
    """Iterate a source's frames, decoded in a background thread."""
    frames: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_decode_in_background, args=(source, frames, stop), daemon=True)
    worker.start()
    try:
        while True:
            item = frames.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Frame)
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


class Pipeline:
    """One video source with its telemetry through detection, geo and the sinks."""

    def __init__(self, config: PipelineConfig, *, progress: Callable[[RunSummary], None] | None = None):
        self.config = config
        self.progress = progress
        self.mission_id = config.mission_id or Path(config.source).stem or "mission"
        self.camera_profile = load_camera_profile(config.camera)
        conf: dict[str, float] = {"default": config.detect.conf, **config.detect.class_conf}
        self.geo_stats = GeoreferenceStats()
        self.detector = OnnxDetector(
            config.detect.model,
            conf=conf,
            iou=config.detect.iou,
            class_map=config.detect.class_map or None,
            intra_op_threads=config.detect.threads,
        )

    def _telemetry(self) -> TelemetryTrack | LiveTelemetry:
        if _is_live_telemetry(self.config.telemetry):
            live = LiveTelemetry(self.config.telemetry)
            live.start()
            return live
        return load_telemetry(self.config.telemetry)

    def run(self) -> RunSummary:
        cfg = self.config
        summary = RunSummary(store=cfg.store, kafka_topic=cfg.kafka.topic if cfg.kafka.bootstrap else None)
        stage_ms = {"detect": 0.0, "geo": 0.0, "store": 0.0, "publish": 0.0}
        started = time.perf_counter()
        telemetry = self._telemetry()
        store = GeoPackageStore(cfg.store)
        kafka = KafkaEventSink(cfg.kafka.bootstrap, cfg.kafka.topic) if cfg.kafka.bootstrap else None
        start_time: float | None = None
        if cfg.start_time_utc:
            start_time = _parse_iso(cfg.start_time_utc)
        elif isinstance(telemetry, TelemetryTrack) and not _is_live_video(cfg.source):
            # A recorded video with no capture clock of its own starts with its telemetry log.
            start_time = telemetry.start_time_utc
        if start_time is not None:
            start_time += cfg.time_offset_s
        camera: CameraModel | None = None
        min_interval = 1.0 / cfg.sampling.max_fps if cfg.sampling.max_fps > 0 else 0.0
        last_kept = float("-inf")
        try:
            with VideoSource(cfg.source, cfg.source_id, start_time_utc=start_time) as source:
                for frame in _frames(source):
                    summary.frames_decoded += 1
                    if frame.time_utc - last_kept < min_interval - 1e-6:
                        continue
                    last_kept = frame.time_utc
                    frame.pose = telemetry.pose_at(frame.time_utc, max_gap_s=cfg.sampling.max_pose_gap_s)
                    summary.frames_processed += 1
                    if frame.pose is None:
                        summary.frames_unlocated += 1
                        continue
                    if camera is None:
                        camera = CameraModel.from_profile(self.camera_profile, frame.width, frame.height)
                    events = self._process(frame, camera, stage_ms, summary)
                    t0 = time.perf_counter()
                    summary.events_stored += store.write(events)
                    t1 = time.perf_counter()
                    if kafka is not None and events:
                        summary.events_sent += kafka.send(events)
                    t2 = time.perf_counter()
                    stage_ms["store"] += (t1 - t0) * 1000
                    stage_ms["publish"] += (t2 - t1) * 1000
                    if self.progress is not None:
                        self.progress(summary)
                summary.frames_dropped = source.frames_dropped
            if kafka is not None:
                kafka.flush()
        finally:
            if kafka is not None:
                kafka.close()
            store.close()
            if isinstance(telemetry, LiveTelemetry):
                telemetry.close()
        summary.seconds = time.perf_counter() - started
        n = max(summary.frames_processed, 1)
        summary.stage_ms = {k: v / n for k, v in stage_ms.items()}
        return summary

    def _process(
        self, frame: Frame, camera: CameraModel, stage_ms: dict[str, float], summary: RunSummary
    ) -> list[GeoEvent]:
        t0 = time.perf_counter()
        detections = self.detector.detect([frame.image])[0]
        t1 = time.perf_counter()
        detected = DetectedFrame(frame=frame, detections=detections, inference_ms=(t1 - t0) * 1000)
        events = georeference([detected], camera, mission_id=self.mission_id, stats=self.geo_stats)
        t2 = time.perf_counter()
        stage_ms["detect"] += (t1 - t0) * 1000
        stage_ms["geo"] += (t2 - t1) * 1000
        summary.detections += len(detections)
        summary.events += len(events)
        summary.detections_off_ground = self.geo_stats.rejected_detections
        return events
