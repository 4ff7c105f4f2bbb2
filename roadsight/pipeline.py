"""Wiring of the stages: capture -> detect -> geo -> stream/store.

This is the only module that knows about all stages; each stage is used via
its package's public surface. Each source decodes in its own thread behind a
bounded queue so that decode and inference overlap, and the frames of all
sources meet in one inference loop that batches them.
"""

from __future__ import annotations

# ONNX Runtime must load before GStreamer: GStreamer brings libunwind, which
# otherwise takes over C++ exception unwinding for libraries loaded after it,
# turning any ONNX Runtime error into a process abort instead of an exception.
import onnxruntime  # noqa: F401  isort: skip

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from capture import (
    DistanceSelector,
    Frame,
    LiveNmea,
    LiveTelemetry,
    PhotoFolderSource,
    Pose,
    TelemetryTrack,
    VideoSource,
    load_telemetry,
)
from detect import (
    DetectedFrame,
    Detections,
    Detector,
    DetectorEnsemble,
    DetectTimings,
    ModelSpec,
    PreparedBatch,
    StagedDetector,
    TiledDetector,
    load_detector,
    resolve_providers,
)
from geo import (
    PARKING_CLASSES,
    CameraModel,
    Dem,
    GeoError,
    GeoEvent,
    GeoreferenceStats,
    GroundHomography,
    GroundTracker,
    Terrain,
    TrackerSettings,
    VehicleObservation,
    georeference,
    homography_path,
)
from hardware import CameraProfile, load_camera_profile
from roadsight.config import CaptureConfig, DetectConfig, PipelineConfig, SamplingConfig, SourceConfig
from roadsight.frame_evidence import FrameEvidence
from roadsight.malloc_tuning import tune_malloc
from roadsight.passes import CoveredFrame, PassResult, record_pass
from roadsight.stage_threads import Feeder, OrderedStage, run_workers
from stream import (
    EventPublisher,
    EventStore,
    KafkaSecurity,
    StreamError,
    TopicNames,
    open_evidence_store,
    open_store,
)
from stream.metrics import MetricsRegistry, MetricsServer
from stream.pass_messages import PassMessage

log = logging.getLogger(__name__)

_END = object()
# What the wire schema refuses in ids (control, bidi and quoting characters).
_UNSAFE_ID_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069'\"`;<>\\\\]")
# Per-frame stage times in the run summary (ms); the detector's split where it reports one.
STAGES = (
    "detect",
    "preprocess",
    "inference",
    "postprocess",
    "geo",
    "tracking",
    "evidence",
    "store",
    "publish",
)
_ALWAYS_REPORTED = ("detect", "geo", "tracking", "evidence", "store", "publish")
LIVE_QUEUE_DEPTH = 1  # selected frames of a live source waiting for the feeder
FILE_QUEUE_DEPTH = 4
VEHICLE_MAX_RANGE_M = 50.0
DRONE_MAX_RANGE_M = 1000.0


class Sampler(Protocol):
    """Decides per decoded frame whether it goes to the detector."""

    def select(self, time_utc: float, pose: Pose | None) -> bool: ...


@dataclass
class SourceSummary:
    """What one camera contributed to a run."""

    source_id: str
    frames_decoded: int = 0
    frames_dropped: int = 0  # live: dropped by the latest-frame policy when inference lags
    frames_lost: int = 0  # live: missing from the stream before decoding (network, sender), estimated
    frames_bad: int = 0  # could not be decoded or converted (corrupt data), skipped
    reconnects: int = 0
    outage_s: float = 0.0  # live: time spent without a connection
    decoder: str | None = None  # the video decoder element that ran
    frames_processed: int = 0
    frames_unlocated: int = 0
    detections: int = 0
    events: int = 0
    error: str | None = None  # why the source stopped early, if it did
    selection: dict[str, int] = field(default_factory=dict)  # distance mode: why frames were kept
    tracks_unconfirmed: int = 0  # seen once with a low score: dropped as clutter, counted here

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "source_id"}


@dataclass
class RunSummary:
    """What a run did and where its results are; totals over all sources, and per source."""

    frames_decoded: int = 0
    frames_dropped: int = 0  # live sources: dropped by the latest-frame policy when inference lags
    frames_processed: int = 0
    frames_unlocated: int = 0
    detections: int = 0
    detections_off_ground: int = 0  # rays at/above the horizon: rejected, not projected
    events: int = 0
    events_stored: int = 0
    events_sent: int = 0  # committed to the Kafka spool (delivered unless kafka_pending says otherwise)
    kafka_pending: int = 0  # still in the spool at the end (broker unreachable): sent on the next run
    batches: int = 0  # detector calls; frames of several sources share one call
    seconds: float = 0.0
    store: str | None = None
    kafka_topic: str | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)
    sources: dict[str, SourceSummary] = field(default_factory=dict)
    cases: PassResult | None = None

    @property
    def errors(self) -> dict[str, str]:
        """Source id -> error, for the sources that stopped early."""
        return {sid: s.error for sid, s in self.sources.items() if s.error is not None}

    def add_totals(self) -> None:
        """Sum the per-source counters into the run's totals."""
        for name in ("frames_decoded", "frames_dropped", "frames_processed", "frames_unlocated"):
            setattr(self, name, sum(getattr(s, name) for s in self.sources.values()))

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
            "kafka_pending": self.kafka_pending,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "store": self.store,
            "kafka_topic": self.kafka_topic,
            "stage_ms": {k: round(v, 1) for k, v in self.stage_ms.items()},
            "sources": {sid: s.to_dict() for sid, s in self.sources.items()},
            "cases": None if self.cases is None else {**asdict(self.cases), "path": str(self.cases.path)},
            "errors": self.errors,
        }


_LIVE_TELEMETRY_SCHEMES = (
    "udp:",
    "udpin:",
    "udpout:",
    "tcp:",
    "tcpin:",
    "serial:",
    "nmea+tcp:",
    "nmea+serial:",
)


def _is_live_telemetry(uri: str) -> bool:
    return uri.startswith(
        ("udp:", "udpin:", "udpout:", "tcp:", "tcpin:", "serial:", "nmea+tcp:", "nmea+serial:")
    )


def _open_live_telemetry(uri: str) -> LiveTelemetry | LiveNmea:
    live: LiveTelemetry | LiveNmea = LiveNmea(uri) if uri.startswith("nmea+") else LiveTelemetry(uri)
    live.start()
    return live


def _is_live_video(uri: str) -> bool:
    """Network streams carry their own clock (RTCP); files take the start time we give them."""
    return "://" in uri and not uri.startswith("file://")


def _parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _summary_value(summary: RunSummary, name: str) -> float:
    return float(getattr(summary, name))


class _TimeSampler:
    """At most ``max_fps`` frames per second of capture time (0: every frame)."""

    def __init__(self, max_fps: float) -> None:
        self.min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self.last_kept = float("-inf")

    def select(self, time_utc: float, pose: Pose | None) -> bool:
        if time_utc - self.last_kept < self.min_interval - 1e-6:
            return False
        self.last_kept = time_utc
        return True


def _sampler_for(sampling: SamplingConfig, profile: CameraProfile, frame: Frame) -> Sampler:
    if sampling.mode == "distance":
        return DistanceSelector.from_profile(
            profile,
            frame.height,
            advance_fraction=sampling.advance_fraction,
            max_interval_s=sampling.max_interval_s,
            min_interval_s=sampling.min_interval_s,
            stationary_speed_mps=sampling.stationary_speed_mps,
            max_gsd_m=sampling.max_gsd_m,
            max_range_m=sampling.max_range_m,
        )
    return _TimeSampler(sampling.max_fps if sampling.mode == "time" else 0.0)


class _Camera:
    """One source at run time: its video, telemetry, frame selection and counters.

    Decoding, pose lookup and frame selection run in the source's own thread;
    only selected frames cross the bounded queue to the inference loop, so
    decode overlaps inference and a live source that falls behind drops frames
    at its appsink (latest-frame policy, counted) instead of growing a queue.
    """

    def __init__(
        self, spec: SourceConfig, config: PipelineConfig, summary: SourceSummary, depth: int = 4
    ) -> None:
        assert spec.source_id is not None and spec.camera is not None
        self.spec = spec
        self.summary = summary
        self.max_pose_gap_s = config.sampling.max_pose_gap_s
        self.sampling = config.sampling
        self.sampler: Sampler | None = None
        self.profile = load_camera_profile(spec.camera)
        calibrated = spec.homography or homography_path(spec.camera)
        self.homography = GroundHomography.load(calibrated) if calibrated.is_file() else None
        if spec.homography is not None and self.homography is None:
            raise GeoError(f"sources: {spec.source_id}: homography file not found: {spec.homography}")
        self.camera_model: CameraModel | None = None
        t = config.tracking
        self.tracker = (
            GroundTracker(TrackerSettings(**t.model_dump(exclude={"enabled"}))) if t.enabled else None
        )
        self.telemetry: TelemetryTrack | LiveTelemetry | LiveNmea | None = None
        self.video: VideoSource | PhotoFolderSource | None = None
        self.frames: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.done = False
        self._stop = threading.Event()
        self._ready: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def source_id(self) -> str:
        assert self.spec.source_id is not None
        return self.spec.source_id

    def open(self) -> None:
        """Open telemetry and video; raises with the source id in the message."""
        spec = self.spec
        opts = spec.capture or CaptureConfig()
        if _is_live_telemetry(spec.telemetry):
            self.telemetry = _open_live_telemetry(spec.telemetry)
        else:
            self.telemetry = load_telemetry(spec.telemetry, srt_utc_offset_s=opts.local_time_utc_offset_s)
        start_time: float | None = None
        if spec.start_time_utc:
            start_time = _parse_iso(spec.start_time_utc)
        elif isinstance(self.telemetry, TelemetryTrack) and not _is_live_video(spec.source):
            # A recorded video with no capture clock of its own starts with its telemetry log.
            start_time = self.telemetry.start_time_utc
        if start_time is not None:
            start_time += spec.time_offset_s
        if Path(spec.source).is_dir():  # survey stills: each photo timed and posed by its metadata
            self.video = PhotoFolderSource(
                spec.source, self.source_id, utc_offset_s=opts.local_time_utc_offset_s
            )
            return
        self.video = VideoSource(
            spec.source,
            self.source_id,
            start_time_utc=start_time,
            decoder=opts.decoder,
            latency_ms=opts.latency_ms,
            transport=opts.transport,
            stall_timeout_s=opts.stall_timeout_s,
            max_reconnect_s=opts.max_reconnect_s,
            reconnect_on_eos=opts.reconnect_on_eos,
            output_size=opts.output_size,
        )

    def start(self, ready: threading.Event) -> None:
        self._ready = ready
        self._thread = threading.Thread(target=self._decode, name=f"decode-{self.source_id}", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Hand ``item`` to the inference loop; give up once stopped (a full queue never hangs us)."""
        assert self._ready is not None
        while not self._stop.is_set():
            try:
                self.frames.put(item, timeout=0.2)
            except queue.Full:
                continue
            self._ready.set()
            return True
        return False

    def _decode(self) -> None:
        assert self.video is not None and self.telemetry is not None
        last_skipped: Frame | None = None
        try:
            for frame in self.video:
                self.summary.frames_decoded += 1
                frame.pose = self.telemetry.pose_at(frame.time_utc, max_gap_s=self.max_pose_gap_s)
                if self.sampler is None:  # its footprint depth depends on the frame height
                    self.sampler = _sampler_for(self.sampling, self.profile, frame)
                if not self.sampler.select(frame.time_utc, frame.pose):
                    last_skipped = frame  # holding it keeps one GStreamer buffer alive, no copy
                    continue
                last_skipped = None
                if not self._put(frame):
                    return
            # The end of a pass may show ground no processed frame has shown yet.
            selector = self.sampler
            if (
                last_skipped is not None
                and isinstance(selector, DistanceSelector)
                and selector.select_final()
            ):
                self._put(last_skipped)
        except Exception as exc:  # the source stops; the others go on
            log.error("source %s stopped: %s", self.source_id, exc)
            self.summary.error = str(exc)
        finally:
            self._update_counters()
            self._put(_END)

    def _update_counters(self) -> None:
        if self.video is not None:
            self.summary.frames_dropped = self.video.frames_dropped
            self.summary.frames_bad = self.video.frames_bad
            self.summary.reconnects = self.video.reconnects
            if isinstance(self.video, VideoSource):
                self.summary.frames_lost = self.video.frames_lost
                self.summary.outage_s = round(self.video.outage_s, 3)
                self.summary.decoder = self.video.decoder_in_use
        if isinstance(self.sampler, DistanceSelector):
            self.summary.selection = self.sampler.counts.as_dict()

    def next_frame(self) -> Frame | None:
        """A frame if one is waiting; marks the camera done at its end."""
        try:
            item = self.frames.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self.done = True
            return None
        assert isinstance(item, Frame)
        return item

    def max_range_m(self, configured: float | None) -> float:
        """The configured limit, else one by platform (a vehicle camera's far pixels are metres wide)."""
        if configured is not None:
            return configured
        return VEHICLE_MAX_RANGE_M if self.profile.mount is not None else DRONE_MAX_RANGE_M

    def camera_for(self, frame: Frame) -> CameraModel:
        model = self.camera_model
        if model is None or (model.width, model.height) != (frame.width, frame.height):
            model = self.camera_model = CameraModel.from_profile(
                self.profile, frame.width, frame.height, ground_homography=self.homography
            )
        return model

    def close(self) -> None:
        self._stop.set()
        if self.video is not None:
            self.video.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.video is not None:
            self.video.close()
        if isinstance(self.telemetry, LiveTelemetry | LiveNmea):
            self.telemetry.close()


@dataclass(frozen=True)
class InferencePlan:
    """How the model runs: ``workers`` side by side, each with ``threads`` ONNX Runtime threads."""

    workers: int
    threads: int | None  # None: ONNX Runtime's choice


def inference_plan(cfg: DetectConfig, cores: int | None = None) -> InferencePlan:
    """Workers and threads for ``cfg`` on a machine with ``cores`` usable cores (default: this one's).

    A single ONNX model on the CPU gets one worker per core with one thread each: a run
    spread over the cores waits at every layer for its slowest thread, so anything else
    on the machine (decoding, geo) stalls both cores, while one-thread runs side by side
    only slow down by their share. Measured on a 2-core machine: 23.4 ms per 544x960
    frame either way with the cores free, and the pipeline end to end gains (see
    docs/benchmarks.md). Everything else (GPU providers, ensembles, tiling) gets one worker.
    """
    cores = cores or len(os.sched_getaffinity(0))
    models = cfg.model_list()
    cpu_onnx = (
        cfg.tiling is None
        and len(models) == 1
        and models[0].model.suffix == ".onnx"
        and models[0].backend in ("auto", "onnxruntime")
        and resolve_providers(cfg.providers) == ["CPUExecutionProvider"]
    )
    if cfg.workers is not None:
        workers = cfg.workers
    elif cpu_onnx:
        workers = max(1, cores // (cfg.threads or 1))
    else:
        workers = 1
    threads = cfg.threads if cfg.threads is not None else (max(1, cores // workers) if workers > 1 else None)
    return InferencePlan(workers, threads)


def build_detector(cfg: DetectConfig, threads: int | None = None) -> Detector:
    """The configured detector: one model or an ensemble, optionally on tiles.

    ``threads``: ONNX Runtime intra-op threads (default: ``cfg.threads``, else ORT's choice).
    """
    extra: dict[str, object] = {"spin": cfg.spin, "providers": cfg.providers}
    if threads or cfg.threads:
        extra["intra_op_threads"] = threads or cfg.threads
    specs = [
        ModelSpec(
            m.model,
            class_map=m.class_map or None,
            conf={"default": m.conf, **m.class_conf},
            iou=m.iou,
            imgsz=m.imgsz,
            backend=m.backend,
            extra=extra if m.backend in ("auto", "onnxruntime", "openvino") else {},
        )
        for m in cfg.model_list()
    ]
    detector: Detector
    if len(specs) == 1:
        s = specs[0]
        assert isinstance(s.conf, dict)
        detector = load_detector(
            s.model, s.backend, conf=s.conf, iou=s.iou, class_map=s.class_map, imgsz=s.imgsz, **s.extra
        )
    else:
        detector = DetectorEnsemble.from_specs(specs, cross_model_iou=cfg.cross_model_iou)
    if cfg.tiling is not None:
        t = cfg.tiling
        detector = TiledDetector(detector, t.tile, t.overlap, t.full_frame)
    return detector


@dataclass
class _DetectedBatch:
    """One detector call's frames and results, on their way to the post stage."""

    batch: list[tuple[_Camera, Frame]]
    detections: list[Detections]
    inference_ms: float  # the call's wall time shared per frame


def _gather(cameras: list[_Camera], turn: int, batch_size: int) -> list[tuple[_Camera, Frame]]:
    """At most one waiting frame per source, starting at a rotating source."""
    batch: list[tuple[_Camera, Frame]] = []
    n = len(cameras)
    for k in range(n):
        camera = cameras[(turn + k) % n]
        if camera.done:
            continue
        frame = camera.next_frame()
        if frame is None:
            continue
        camera.summary.frames_processed += 1
        if frame.pose is None:
            camera.summary.frames_unlocated += 1
            continue
        batch.append((camera, frame))
        if len(batch) >= batch_size:
            break
    return batch


@dataclass
class _FedBatch:
    """Frames gathered for one detector call, letterboxed ahead when the detector allows it."""

    batch: list[tuple[_Camera, Frame]]
    prepared: PreparedBatch | None


def _feed(
    cameras: list[_Camera],
    detector: StagedDetector | None,
    batch_size: int,
    ready: threading.Event,
    emit: Callable[[object], bool],
    *,
    slots: int,
) -> None:
    """The feeder's loop: gather waiting frames round robin; letterbox each batch ahead of inference.

    Emits, in order, :class:`_FedBatch` items and each camera once its stream has ended
    (after its last batch). ``slots`` input buffers rotate: no more batches are in flight.
    """
    ended: set[str] = set()
    turn = slot = 0
    while True:
        batch = _gather(cameras, turn, batch_size)
        turn += 1
        if batch:
            prepared = None
            if detector is not None:
                prepared = detector.prepare([frame.image for _, frame in batch], slot=slot)
                slot = (slot + 1) % slots
            if not emit(_FedBatch(batch, prepared)):
                return
        for camera in cameras:
            if camera.done and camera.source_id not in ended:
                ended.add(camera.source_id)
                if not emit(camera):
                    return
        if batch:
            continue
        if all(c.done for c in cameras):
            return
        ready.wait(0.05)  # a timeout, not only the event: ends are polled too
        ready.clear()


def _publish_pass(kafka: EventPublisher, messages: list[PassMessage]) -> None:
    """Spool a pass's case updates, footprints and tracks to their topics (sent with the events)."""
    for message in messages:
        kafka.publish_message(getattr(kafka.topics, message.kind), message.value, message.key)


class Pipeline:
    """Cameras (video + telemetry) through detection, geo and the sinks, in one process.

    Each source decodes in its own thread; the inference loop takes at most one
    waiting frame per source per round (round robin, so a fast file cannot
    starve a live stream) and runs them through the detector as one batch.
    """

    def __init__(self, config: PipelineConfig, *, progress: Callable[[RunSummary], None] | None = None):
        tune_malloc()  # frame-sized buffers from many threads, all day: keep RSS flat
        self.config = config
        self.progress = progress
        first = config.streams()[0]
        # A file name is not an identifier: keep the characters the wire schema accepts in ids.
        default_id = _UNSAFE_ID_CHARS.sub("_", Path(first.source).stem) or "mission"
        self.mission_id = config.mission_id or default_id
        for spec in config.streams():
            assert spec.camera is not None
            load_camera_profile(spec.camera)  # fail before any work on a bad profile
        self.geo_stats = GeoreferenceStats()
        self.plan = inference_plan(config.detect)
        self.detector = build_detector(config.detect, self.plan.threads)
        # Several workers only where the detector's letterbox and forward pass are separable.
        self.workers = self.plan.workers if isinstance(self.detector, StagedDetector) else 1
        self._counters = threading.Lock()  # stage times and counts the workers add to
        g = config.geo
        self.terrain = Terrain(Dem.open(g.dem), g.takeoff_elevation_m) if g.dem is not None else None
        ev = config.evidence
        self.evidence = (
            FrameEvidence(
                open_evidence_store(config.evidence_uri, endpoint_url=ev.endpoint_url), ev.jpeg_quality
            )
            if ev.enabled
            else None
        )
        self.run_events: list[GeoEvent] = []  # what this run emitted: one pass for the case book
        # Processed, located frames: the pass's coverage (kept only for the case book, so an
        # endless live run without cases does not grow with it).
        self.covered: list[CoveredFrame] = []
        # Capture times of the located frames the latest post-stage turn stored (read them in the
        # progress hook, which runs right after that turn's store write).
        self.turn_frame_times: list[float] = []
        self.vehicles: list[VehicleObservation] = []  # every sighting of a vehicle track (parking rules)

    def run(self) -> RunSummary:
        cfg = self.config
        summary = RunSummary(store=cfg.store, kafka_topic=cfg.kafka.topic if cfg.kafka.bootstrap else None)
        stage_ms = dict.fromkeys(STAGES, 0.0)
        started = time.perf_counter()
        cameras: list[_Camera] = []
        for spec in cfg.streams():
            assert spec.source_id is not None
            summary.sources[spec.source_id] = SourceSummary(spec.source_id)
            # A live camera's frames wait in a short queue: when inference lags, its appsink drops
            # the oldest (counted) instead of frames piling up as latency; a file never drops.
            depth = LIVE_QUEUE_DEPTH if _is_live_video(spec.source) else FILE_QUEUE_DEPTH
            cameras.append(_Camera(spec, cfg, summary.sources[spec.source_id], depth=depth))
        store = open_store(cfg.store)
        kafka = self._publisher() if cfg.kafka.bootstrap else None
        metrics = (
            self._metrics_server(cameras, summary, stage_ms, kafka) if cfg.metrics.port is not None else None
        )
        post = OrderedStage(
            partial(self._post, cameras=cameras, store=store, kafka=kafka, summary=summary, stage_ms=stage_ms)
        )
        ready = threading.Event()
        staged = self.detector if isinstance(self.detector, StagedDetector) else None
        workers = self.workers
        feeder = Feeder(
            partial(_feed, cameras, staged, cfg.detect.batch_size, ready, slots=2 * workers + 1),
            depth=workers,
        )
        timings = getattr(self.detector, "timings", None)
        timings_at_start = timings.as_dict() if isinstance(timings, DetectTimings) else None
        try:
            for camera in cameras:
                camera.open()
            for camera in cameras:
                camera.start(ready)
            post.start()
            feeder.start()
            detect = partial(self._detect, stage_ms=stage_ms, summary=summary)
            run_workers(workers, feeder, detect, post)
            post.finish()
            if timings_at_start is not None and isinstance(timings, DetectTimings):
                for stage, ms in timings.as_dict().items():
                    stage_ms[stage] += ms - timings_at_start[stage]
            if cfg.cases.enabled:  # before the flush: the pass's messages go out with the events
                summary.cases = record_pass(
                    cfg,
                    self.mission_id,
                    self.run_events,
                    self.covered,
                    self.terrain,
                    self.vehicles,
                    publish=partial(_publish_pass, kafka) if kafka is not None else None,
                )
            if kafka is not None:
                try:
                    kafka.flush(cfg.kafka.flush_timeout_s)
                except StreamError as exc:  # nothing is lost: the spool keeps them for the next run
                    log.warning("kafka: not all events acknowledged yet (%s); they stay spooled", exc)
                summary.kafka_pending = kafka.stats().spool.pending
        finally:
            feeder.stop()  # the workers see the end and return
            post.stop()  # before the store closes: it writes there
            for camera in cameras:
                camera.close()
            if kafka is not None:
                kafka.close()
            if metrics is not None:
                metrics.close()
            store.close()
        for camera in cameras:
            if camera.tracker is not None:
                camera.summary.tracks_unconfirmed = camera.tracker.tracks_unconfirmed
        summary.add_totals()
        summary.seconds = time.perf_counter() - started
        n = max(summary.frames_processed, 1)
        summary.stage_ms = {k: v / n for k, v in stage_ms.items() if k in _ALWAYS_REPORTED or v > 0}
        return summary

    def _detect(
        self, item: _FedBatch | _Camera, *, stage_ms: dict[str, float], summary: RunSummary
    ) -> _DetectedBatch | _Camera:
        """The model on one batch, in one of the inference workers; the post stage does the rest.

        A camera (its stream has ended) passes through unchanged, in its place in the order.
        """
        if isinstance(item, _Camera):
            return item
        t0 = time.perf_counter()
        if item.prepared is not None and isinstance(self.detector, StagedDetector):
            detections = self.detector.detect_prepared(item.prepared)  # letterboxed by the feeder
        else:
            detections = self.detector.detect([frame.image for _, frame in item.batch])
        ms = (time.perf_counter() - t0) * 1000
        with self._counters:
            stage_ms["detect"] += ms
            summary.batches += 1
        return _DetectedBatch(item.batch, detections, ms / len(item.batch))

    def _post(
        self,
        item: _DetectedBatch | _Camera,
        *,
        cameras: list[_Camera],
        store: EventStore,
        kafka: EventPublisher | None,
        summary: RunSummary,
        stage_ms: dict[str, float],
    ) -> None:
        """Geo, tracking, evidence, store and publish for one detected batch or one ended camera."""
        self.turn_frame_times = []
        if isinstance(item, _DetectedBatch):
            events = self._place(item, stage_ms, summary)
        else:  # a camera whose stream has ended: its open tracks are finished
            t0 = time.perf_counter()
            events = item.tracker.flush() if item.tracker is not None else []
            t1 = time.perf_counter()
            events = self._attach_evidence(events)
            stage_ms["tracking"] += (t1 - t0) * 1000
            stage_ms["evidence"] += (time.perf_counter() - t1) * 1000
            self._count_events(events, summary)
        if self.evidence is not None:  # frames no open track can still show are released
            self.evidence.keep_only(
                (c.source_id, index)
                for c in cameras
                if c.tracker is not None
                for index in c.tracker.best_frame_indices()
            )
        if events:
            t0 = time.perf_counter()
            if self.evidence is not None:  # the frames these events point at, on disk first
                self.evidence.store.make_durable(ref for event in events for ref in event.evidence)
            summary.events_stored += store.write(events)
            t1 = time.perf_counter()
            if kafka is not None:
                summary.events_sent += kafka.publish(events)
            stage_ms["store"] += (t1 - t0) * 1000
            stage_ms["publish"] += (time.perf_counter() - t1) * 1000
        summary.add_totals()
        if self.progress is not None:
            self.progress(summary)

    def _attach_evidence(self, events: list[GeoEvent]) -> list[GeoEvent]:
        return self.evidence.attach(events) if self.evidence is not None and events else events

    def _metrics_server(
        self,
        cameras: list[_Camera],
        summary: RunSummary,
        stage_ms: dict[str, float],
        kafka: EventPublisher | None,
    ) -> MetricsServer:
        """/metrics while the run goes on: frames in and out, inference time, queues, spool, DLQ."""
        registry = MetricsRegistry()
        for name, field_name, what in (
            ("roadsight_frames_decoded_total", "frames_decoded", "frames decoded"),
            ("roadsight_frames_processed_total", "frames_processed", "frames through the detector"),
            ("roadsight_frames_dropped_total", "frames_dropped", "live frames dropped (latest-frame policy)"),
            ("roadsight_frames_unlocated_total", "frames_unlocated", "frames without a pose"),
        ):
            registry.counter_fn(name, what, partial(_summary_value, summary, field_name))
        registry.counter_fn("roadsight_events_total", "events emitted", lambda: float(summary.events))
        registry.gauge_fn(
            "roadsight_inference_ms",
            "mean detector time per processed frame",
            lambda: stage_ms["detect"] / max(summary.frames_processed, 1),
        )
        registry.gauge_fn(
            "roadsight_queue_depth",
            "frames waiting for the detector",
            lambda: float(sum(c.frames.qsize() for c in cameras)),
        )
        if kafka is not None:
            kafka.register_metrics(registry)  # spool size, pending, sent, dead letters
        registry.health_check("sources", lambda: not summary.errors)
        server = MetricsServer(registry, self.config.metrics.host, self.config.metrics.port or 0).start()
        log.info("metrics: %s/metrics", server.url)
        return server

    def _publisher(self) -> EventPublisher:
        k = self.config.kafka
        assert k.bootstrap is not None
        self.config.spool_path.parent.mkdir(parents=True, exist_ok=True)
        return EventPublisher(
            self.config.spool_path,
            k.bootstrap,
            topics=TopicNames(detections=k.topic, dead_letter=k.dead_letter_topic),
            key_by=k.key_by,
            security=KafkaSecurity(**k.security.model_dump()),
            max_spool_bytes=int(k.max_spool_mb * 2**20),
            sender_process=k.sender_process,
        )

    def _count_events(self, events: list[GeoEvent], summary: RunSummary) -> None:
        if self.config.cases.enabled:  # the pass is kept only for the case book
            self.run_events.extend(events)
        summary.events += len(events)
        for event in events:
            summary.sources[event.source_id].events += 1

    def _place(self, item: _DetectedBatch, stage_ms: dict[str, float], summary: RunSummary) -> list[GeoEvent]:
        """Geo-reference, track and evidence one detected batch; the events that are final now."""
        g = self.config.geo
        eager_vehicles = self.config.cases.enabled and self.config.zones.path is not None
        geo_s = track_s = evidence_s = 0.0
        events: list[GeoEvent] = []
        for (camera, frame), found in zip(item.batch, item.detections, strict=True):
            t0 = time.perf_counter()
            detected = DetectedFrame(frame=frame, detections=found, inference_ms=item.inference_ms)
            model = camera.camera_for(frame)
            assert frame.pose is not None
            self.turn_frame_times.append(frame.time_utc)
            if self.config.cases.enabled:  # the pass's coverage, for the case book
                self.covered.append(
                    CoveredFrame(camera.source_id, frame.index, frame.time_utc, frame.pose, model)
                )
            placed = georeference(
                [detected],
                model,
                mission_id=self.mission_id,
                stats=self.geo_stats,
                terrain=self.terrain,
                max_range_m=camera.max_range_m(g.max_range_m),
                attitude_sigma_deg=g.attitude_sigma_deg,
                anchor_sigma_px=g.anchor_sigma_px,
            )
            t1 = time.perf_counter()
            if placed and self.evidence is not None:
                self.evidence.hold(frame)  # encoded only if an emitted event shows it
                if eager_vehicles and any(e.class_key in PARKING_CLASSES for e in placed):
                    # Parking rules pick their two evidence frames from every sighting of a track.
                    placed = [
                        self._attach_evidence([e])[0] if e.class_key in PARKING_CLASSES else e for e in placed
                    ]
            t2 = time.perf_counter()
            if camera.tracker is not None:
                frame_size = (frame.width, frame.height)
                placed = camera.tracker.update(placed, time_utc=frame.time_utc, frame_size=frame_size)
                if self.config.cases.enabled:  # parking rules run on the pass
                    self.vehicles.extend(
                        VehicleObservation.from_event(event, f"{camera.source_id}/{track_id}")
                        for track_id, event in camera.tracker.assignments
                        if event.class_key in PARKING_CLASSES
                    )
            t3 = time.perf_counter()
            placed = self._attach_evidence(placed)
            t4 = time.perf_counter()
            geo_s += t1 - t0
            track_s += t3 - t2
            evidence_s += (t2 - t1) + (t4 - t3)
            camera.summary.detections += len(found)
            summary.detections += len(found)
            events.extend(placed)
        self._count_events(events, summary)
        summary.detections_off_ground = self.geo_stats.rejected_detections
        stage_ms["geo"] += geo_s * 1000
        stage_ms["tracking"] += track_s * 1000
        stage_ms["evidence"] += evidence_s * 1000
        return events
