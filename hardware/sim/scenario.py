"""Declarative test-range scenarios (YAML under ``hardware/scenarios/``), validated on load.

Example:
    >>> sc = load_scenario("drone_sample")
    >>> sc.platform.value, sc.camera_profile, sc.video.fps
    ('drone', 'dji_m3e_wide', 30.0)
    >>> load_scenario("drone_quick").video.width
    640
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hardware.sim.classes import SIM_CLASSES

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be found or used; the message names the file and key."""


class Platform(StrEnum):
    drone = "drone"
    vehicle = "vehicle"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Origin(_Model):
    lat: float = Field(default=30.2741, ge=-80, le=80)
    lon: float = Field(default=120.1551, ge=-180, le=180)
    ground_elevation_m: float = 12.0  # ground under the take-off point, metres above mean sea level


class RoadShape(_Model):
    """Road parameters; ``None`` means "drawn from the seed"."""

    length_m: float = Field(default=250.0, gt=20, le=1200)
    heading_deg: float | None = None
    curvature_deg_per_100m: float | None = Field(default=None, ge=-30, le=30)
    lanes_per_direction: int = Field(default=2, ge=1, le=4)
    lane_width_m: float = Field(default=3.5, gt=2.5, le=4.5)
    sidewalk_m: float = Field(default=3.0, ge=0, le=8)
    verge_m: float = Field(default=8.0, ge=0, le=40)


class VideoSpec(_Model):
    width: int = Field(default=1920, ge=64, le=4096)
    height: int = Field(default=1080, ge=64, le=2160)
    fps: float = Field(default=30.0, gt=0, le=120)
    bitrate_kbps: int = Field(default=8000, ge=100, le=100_000)

    @field_validator("width", "height")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("must be even (4:2:0 video)")
        return v


class Motion(_Model):
    """How the platform moves: along the road centre line (drone) or a lane (vehicle)."""

    speed_mps: float = Field(default=5.5, gt=0, le=60)
    start_s_m: float | None = None  # arc length where the video starts; None: centred on the road
    lateral_offset_m: float = 0.0  # from the centre line, positive to the right
    altitude_agl_m: float = Field(default=30.0, gt=0, le=500)  # drones; vehicles use the camera mount height
    gimbal_pitch_deg: float = Field(default=-90.0, ge=-90, le=0)  # drones; vehicles use the mount
    attitude_jitter_deg: float = Field(default=0.5, ge=0, le=5)
    lateral_wander_m: float = Field(default=0.3, ge=0, le=3)


class Scenario(_Model):
    name: str
    platform: Platform
    camera_profile: str
    start_time_utc: datetime
    duration_s: float = Field(gt=0, le=600)
    telemetry_rate_hz: float = Field(default=10.0, gt=0, le=50)
    video: VideoSpec = Field(default_factory=VideoSpec)
    origin: Origin = Field(default_factory=Origin)
    road: RoadShape = Field(default_factory=RoadShape)
    motion: Motion = Field(default_factory=Motion)
    gsd_m: float = Field(default=0.02, ge=0.005, le=0.1)
    objects_per_class: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(SIM_CLASSES, 2))
    n_distractors: int = Field(default=12, ge=0, le=500)
    min_frames_fully_visible: int = Field(default=3, ge=1)
    photometric_variation: bool = True

    @field_validator("start_time_utc")
    @classmethod
    def _whole_second_utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a time zone (write it with a trailing Z)")
        v = v.astimezone(UTC)
        if v.microsecond:
            raise ValueError("must be a whole second")
        return v

    @field_validator("objects_per_class")
    @classmethod
    def _known_classes(cls, v: dict[str, int]) -> dict[str, int]:
        for key, n in v.items():
            if key not in SIM_CLASSES:
                raise ValueError(f"unknown simulated class {key!r} (known: {', '.join(SIM_CLASSES)})")
            if n < 0:
                raise ValueError(f"{key}: count must be >= 0")
        return v

    @property
    def start_posix(self) -> float:
        return self.start_time_utc.timestamp()

    @property
    def frame_count(self) -> int:
        return round(self.duration_s * self.video.fps)


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a bundled scenario by name (``drone_sample``, ``drone``...) or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        name = str(name_or_path)
        candidates = [SCENARIOS_DIR / f"{name}.yaml", SCENARIOS_DIR / f"{name}_sample.yaml"]
        found = [c for c in candidates if c.exists()]
        if not found:
            raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(list_scenarios())})")
        path = found[0]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ScenarioError(f"{path}: {loc}: {first['msg']}") from None
