"""Declarative pipeline configuration (YAML or TOML), validated by pydantic.

A malformed file gives a :class:`ConfigError` that names the file and the key,
e.g. ``roadsight.yaml: detect.conf: Input should be less than or equal to 1``.

Example:
    >>> cfg = PipelineConfig.model_validate({"source": "video.mp4", "telemetry": "t.tlog"})
    >>> cfg.detect.conf
    0.25
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "detect" / "models" / "roadsight-starter.onnx"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    """One detector model and how its classes and scores map onto the taxonomy."""

    model: Path = DEFAULT_MODEL
    # auto: by file type (.onnx ONNX Runtime, .engine TensorRT, .pt Ultralytics, *_openvino_model/).
    backend: Literal["auto", "onnxruntime", "tensorrt", "ultralytics", "openvino"] = "auto"
    conf: float = Field(default=0.25, ge=0.0, le=1.0)
    # Per-class thresholds by taxonomy key; they override `conf` for that class.
    class_conf: dict[str, float] = Field(default_factory=dict)
    iou: float = Field(default=0.45, gt=0.0, le=1.0)
    # Model class name -> taxonomy key (or null to ignore the class).
    class_map: dict[str, str | None] = Field(default_factory=dict)
    # Model input size (null: from the model); an int or [height, width].
    imgsz: int | tuple[int, int] | None = None


class TilingConfig(_Section):
    """Slices with overlap for small objects in large (4K) frames, merged across tiles."""

    tile: tuple[int, int] = (960, 960)  # [height, width]
    overlap: float = Field(default=0.2, ge=0.0, le=0.9)
    full_frame: bool = True  # also run the whole frame, for objects larger than a tile


class DetectConfig(ModelConfig):
    """The detector: one model (the fields inherited from :class:`ModelConfig`) or several."""

    # Several models per stream (e.g. road defects + a COCO vehicle model for parking rules);
    # when given, the single-model fields above are not used.
    models: list[ModelConfig] = Field(default_factory=list)
    # Suppress, per taxonomy class, one model's box overlapping another's better one by this IoU.
    cross_model_iou: float | None = Field(default=None, gt=0.0, le=1.0)
    tiling: TilingConfig | None = None
    # ONNX Runtime intra-op threads per inference worker (null: 1 when there are several
    # workers, else ONNX Runtime's choice, all cores).
    threads: int | None = Field(default=None, ge=1)
    # Inference workers: threads that run the model side by side on successive batches
    # (null: one per core for a single ONNX model on the CPU, where several one-thread runs
    # keep every core busy without the per-layer barriers of one run spread over the cores;
    # 1 on a GPU, or for ensembles and tiling).
    workers: int | None = Field(default=None, ge=1)
    # ONNX Runtime execution providers ("auto": the best present, CPU last; null: CPU).
    providers: list[str] | Literal["auto"] | None = None
    # ONNX Runtime worker threads spin-wait between runs; off by default because decoding
    # shares the cores (on a 2-core machine spinning doubled the model's latency).
    spin: bool = False
    # Most frames per inference call; frames of several sources are batched together.
    batch_size: int = Field(default=8, ge=1)

    def model_list(self) -> list[ModelConfig]:
        """The models to run: the ``models`` list, or this section's own single model."""
        return self.models or [
            ModelConfig.model_validate(self.model_dump(include=set(ModelConfig.model_fields)))
        ]


class SamplingConfig(_Section):
    """Which decoded frames go to the detector.

    ``distance`` (default): a frame each time the ground footprint has moved on
    by ``advance_fraction`` of its depth (from the camera profile and the
    pose's height and pitch), at least one every ``max_interval_s`` while
    moving, none while stationary (see :class:`capture.DistanceSelector`).
    ``time``: at most ``max_fps`` frames per second (0 = every frame).
    ``all``: every frame. Setting ``max_fps`` without ``mode`` means ``time``.
    """

    mode: Literal["distance", "time", "all"] = "distance"
    # Frames per second handed to the detector in time mode; 0 processes every frame.
    max_fps: float = Field(default=3.0, ge=0.0)
    # Distance mode: 0.33 puts each ground point in about three processed frames: an object up to
    # two thirds of the footprint depth is whole in at least one, a detector miss in one view
    # does not lose it, and the tracker sees it twice to confirm it.
    advance_fraction: float = Field(default=0.33, gt=0.0, le=1.0)
    max_interval_s: float = Field(default=2.0, gt=0.0)
    min_interval_s: float = Field(default=0.0, ge=0.0)
    stationary_speed_mps: float = Field(default=0.3, ge=0.0)
    # Usable footprint of an oblique camera ends where ground detail gets coarser than this.
    max_gsd_m: float = Field(default=0.05, gt=0.0)
    max_range_m: float = Field(default=50.0, gt=0.0)
    # A frame whose telemetry is farther than this in time is unlocated.
    max_pose_gap_s: float = Field(default=1.0, gt=0.0)

    @model_validator(mode="after")
    def _max_fps_means_time(self) -> SamplingConfig:
        if "max_fps" in self.model_fields_set and "mode" not in self.model_fields_set:
            self.mode = "time"
        return self


class GeoConfig(_Section):
    """How detections are placed on the ground (see :mod:`geo.georeference`)."""

    # Terrain: a DEM GeoTIFF (any CRS with a proper definition); null: flat ground at take-off.
    dem: Path | None = None
    # Ground elevation at take-off (metres, DEM datum); null: from the telemetry (alt_msl - alt_agl).
    takeoff_elevation_m: float | None = None
    # Detections farther than this from the camera are rejected: far-ahead pixels of a
    # vehicle camera are metres apart on the ground. Null: 50 m for cameras on a fixed mount
    # (vehicles), 1000 m for gimbal cameras (drones).
    max_range_m: float | None = Field(default=None, gt=0.0)
    # Attitude 1-sigma for the accuracy estimate; null: the camera profile's.
    attitude_sigma_deg: float | None = Field(default=None, ge=0.0)
    anchor_sigma_px: float = Field(default=1.0, ge=0.0)


class TrackingConfig(_Section):
    """Ground-plane tracking: one event per physical object per pass (see :mod:`geo.tracking`)."""

    enabled: bool = True
    # Detections at or above this score start tracks; weaker ones can only extend one.
    high_score: float = Field(default=0.25, ge=0.0, le=1.0)
    # Association gate: max(min_gate_m, gate_sigmas x combined accuracy) + half the object size.
    min_gate_m: float = Field(default=1.0, ge=0.0)
    gate_sigmas: float = Field(default=3.0, ge=0.0)
    # A track not seen for this long (capture time) is finished and its event emitted.
    max_lost_s: float = Field(default=5.0, ge=0.0)
    # A track seen fewer than min_hits times is emitted only with a score >= confirm_score.
    min_hits: int = Field(default=2, ge=1)
    confirm_score: float = Field(default=0.5, ge=0.0, le=1.0)


class CasesConfig(_Section):
    """One case per physical object across passes, vehicles and drones (see :mod:`geo.cases`)."""

    enabled: bool = True
    # GeoPackage of cases (layer "cases") and frame coverage (layer "coverage");
    # null: beside the store, "<store>.cases.gpkg".
    path: Path | None = None
    min_tol_m: float = Field(default=1.0, ge=0.0)
    tol_sigmas: float = Field(default=3.0, ge=0.0)
    max_tol_m: float = Field(default=10.0, gt=0.0)
    # Covering passes in a row that saw nothing before a case is proposed "possibly fixed".
    misses_to_propose: int = Field(default=1, ge=1)


class RoadsConfig(_Section):
    """Road centre lines to reference cases by road and stake (K12+345)."""

    path: Path | None = None
    layer: str | None = None
    preset: Literal["osm"] | None = None  # column names of an OpenStreetMap extract
    max_distance_m: float = Field(default=20.0, gt=0.0)


class ZonesConfig(_Section):
    """Enforcement zones (GeoJSON/GeoPackage polygons with rule type and time windows)."""

    path: Path | None = None
    layer: str | None = None
    default_timezone: str = "UTC"


class KafkaSecurityConfig(_Section):
    """SASL/SSL settings, kafka-python's own names (PLAINTEXT by default)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


class KafkaConfig(_Section):
    """Kafka: events are committed to a local spool first and sent from there (store and forward)."""

    bootstrap: str | None = None
    topic: str = "roadsight.geo-events"
    dead_letter_topic: str = "roadsight.dead-letter"
    # Durable SQLite spool; null: beside the store ("<store>.spool.sqlite"). Kept between runs:
    # what a broker outage left unsent goes out on the next run.
    spool: Path | None = None
    max_spool_mb: float = Field(default=256.0, gt=0.0)
    # Record keys: "cell" (a geohash cell: per-area ordering) or "source" (per camera).
    key_by: Literal["cell", "source"] = "cell"
    # At the end of a run, wait this long for the broker to acknowledge the spool.
    flush_timeout_s: float = Field(default=30.0, ge=0.0)
    # Send the spool from a child process: kafka-python's per-record work then runs beside
    # validation and detection instead of sharing their interpreter lock (the edge is CPU-bound).
    sender_process: bool = True
    security: KafkaSecurityConfig = Field(default_factory=KafkaSecurityConfig)


class CaptureConfig(_Section):
    """How a video source is opened and kept alive (see :class:`capture.VideoSource`)."""

    # "auto" probes: nvv4l2decoder (Jetson), nvh26xdec (NVIDIA), VA-API, else avdec; or an element name.
    decoder: str = "auto"
    # Live sources: jitter-buffer latency, RTSP transport (null: try UDP, then TCP).
    latency_ms: int = Field(default=100, ge=0)
    transport: Literal["tcp", "udp"] | None = None
    # Live sources: no frame for this long = stalled: torn down and reconnected with backoff.
    stall_timeout_s: float = Field(default=3.0, gt=0.0)
    # Live sources: give up after this long without a connection (null: never give up).
    max_reconnect_s: float | None = Field(default=None, gt=0.0)
    # Live sources: an end-of-stream from the sender reconnects too (cameras that restart streams).
    reconnect_on_eos: bool = False
    # DJI SRT sidecars and photo EXIF carry local time: its offset from UTC in seconds (8 h = 28800).
    local_time_utc_offset_s: float = 0.0
    # Scale in GStreamer to [width, height] before frames reach NumPy (null: as decoded).
    output_size: tuple[int, int] | None = None


class SourceConfig(_Section):
    """One camera: a video source and the telemetry that places its frames."""

    source: str
    telemetry: str
    # Defaults: ``cam<N>`` by position, and the pipeline's camera profile.
    source_id: str | None = Field(default=None, min_length=1)
    camera: str | None = None
    # Capture time of the first frame (ISO 8601) when the container has none.
    start_time_utc: str | None = None
    # Measured video-to-telemetry offset, added to every frame time.
    time_offset_s: float = 0.0
    # Default: the pipeline's capture section.
    capture: CaptureConfig | None = None
    # Vehicle cameras: a calibrated ground-plane homography (`roadsight calibrate`); null: the
    # profile's own, "<profile>.homography.yaml", when it exists.
    homography: Path | None = None


class EvidenceConfig(_Section):
    """Frames that show detections, kept by content (SHA-256) so events carry a URI and hash."""

    enabled: bool = True
    # A directory, file:// URI or s3://bucket/prefix; null: beside the store, "<store>.evidence/".
    uri: str | None = None
    endpoint_url: str | None = None  # S3-compatible servers (MinIO ...)
    jpeg_quality: int = Field(default=92, ge=50, le=100)


class MetricsConfig(_Section):
    """Prometheus text endpoint (/metrics, /healthz) while the pipeline runs."""

    port: int | None = Field(default=None, ge=0, le=65535)  # null: no endpoint; 0: any free port
    host: str = "127.0.0.1"


class PipelineConfig(_Section):
    """Everything `roadsight run` needs; CLI flags override these values.

    One camera is given by ``source`` and ``telemetry`` at the top level;
    several cameras that run at once in one process by a ``sources`` list
    (each item a :class:`SourceConfig`; the top-level ``camera``,
    ``start_time_utc`` and ``time_offset_s`` are their defaults).
    """

    source: str | None = None
    telemetry: str | None = None
    source_id: str = "cam0"
    sources: list[SourceConfig] = Field(default_factory=list)
    mission_id: str | None = None
    camera: str = "dji_m3e_wide"
    # Capture time of the first frame (ISO 8601) when the container has none.
    start_time_utc: str | None = None
    time_offset_s: float = 0.0
    # Event store: a GeoPackage path (or sqlite:///path.gpkg), or postgresql://user@host/db (PostGIS).
    store: str = "data/roadsight.gpkg"
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    geo: GeoConfig = Field(default_factory=GeoConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    roads: RoadsConfig = Field(default_factory=RoadsConfig)
    zones: ZonesConfig = Field(default_factory=ZonesConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @model_validator(mode="after")
    def _one_way_to_name_sources(self) -> PipelineConfig:
        if self.sources:
            if self.source is not None or self.telemetry is not None:
                raise ValueError("give either source/telemetry or a sources list, not both")
        else:
            missing = [key for key in ("source", "telemetry") if getattr(self, key) is None]
            if missing:
                raise ValueError(f"{' and '.join(missing)}: required (or list cameras under sources)")
        ids = [str(s.source_id) for s in self.streams()]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"sources: source_id {', '.join(duplicates)} used more than once")
        return self

    @property
    def store_path(self) -> Path | None:
        """The GeoPackage file of a file store; None for a database store."""
        if self.store.startswith(("postgresql://", "postgres://")):
            return None
        return Path(self.store.removeprefix("sqlite://"))

    @property
    def spool_path(self) -> Path:
        return self.kafka.spool or beside_store(self.store, ".spool.sqlite")

    @property
    def evidence_uri(self) -> str:
        return self.evidence.uri or str(beside_store(self.store, ".evidence"))

    @property
    def cases_path(self) -> Path:
        return self.cases.path or beside_store(self.store, ".cases.gpkg")

    def streams(self) -> list[SourceConfig]:
        """The cameras to run, with every default filled in."""
        if not self.sources:
            assert self.source is not None and self.telemetry is not None
            return [
                SourceConfig(
                    source=self.source,
                    telemetry=self.telemetry,
                    source_id=self.source_id,
                    camera=self.camera,
                    start_time_utc=self.start_time_utc,
                    time_offset_s=self.time_offset_s,
                    capture=self.capture,
                )
            ]
        return [
            s.model_copy(
                update={
                    "source_id": s.source_id or f"cam{i}",
                    "camera": s.camera or self.camera,
                    "start_time_utc": s.start_time_utc or self.start_time_utc,
                    "capture": s.capture or self.capture,
                    "time_offset_s": s.time_offset_s
                    if "time_offset_s" in s.model_fields_set
                    else self.time_offset_s,
                }
            )
            for i, s in enumerate(self.sources)
        ]


def beside_store(store: str | Path, suffix: str) -> Path:
    """``<store path>`` with ``suffix`` (cases, spool, evidence, users live beside the event store);
    ``data/roadsight<suffix>`` when the store is a database URL."""
    text = str(store)
    if text.startswith(("postgresql://", "postgres://")):
        return Path("data") / f"roadsight{suffix}"
    return Path(text.removeprefix("sqlite://")).with_suffix(suffix)


def _format_error(path: Path | str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return f"{path}: " + "; ".join(parts)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML file into a dict, with a clear error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return raw


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``; ``None`` in ``override`` means "not given"."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged.get(key) or {}, value)
        elif value is not None:
            merged[key] = value
    return merged


def load_pipeline_config(path: Path | None, overrides: dict[str, Any]) -> PipelineConfig:
    """Config file (if any) merged with CLI overrides (``None`` = not given)."""
    raw = read_config_file(path) if path is not None else {}
    merged = _merge(raw, overrides)
    try:
        return PipelineConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_error(path or "command line", exc)) from None
