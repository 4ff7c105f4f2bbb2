"""Drone, vehicle rig and edge computer profiles: YAML data under ``hardware/profiles/<kind>/``.

Every profile is validated on load (pydantic, unknown keys refused) and a bad
one raises :class:`hardware.profiles.ProfileError` naming the file and the key.
A profile's ``name`` must match its file name, and a drone's or rig's ``camera``
must name a camera profile that exists.

Example:
    >>> drone = load_profile("drones", "dji_mavic_3_enterprise")
    >>> drone.camera, drone.autopilot
    ('dji_m3e_wide', 'dji')
    >>> "jetson_orin_nx" in list_profiles("edge")
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field

from hardware.profiles import (
    PROFILES_DIR,
    CameraMount,
    CameraProfile,
    ProfileError,
    list_camera_profiles,
    load_yaml_model,
)

ProfileKind = Literal["cameras", "drones", "vehicles", "edge"]
PROFILE_KINDS: tuple[str, ...] = get_args(ProfileKind)
_M = TypeVar("_M", bound=BaseModel)


class DroneProfile(BaseModel):
    """An aircraft: its autopilot, camera, performance and failsafe behaviour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    autopilot: Literal["dji", "ardupilot", "px4"]
    camera: str  # a camera profile name
    max_speed_mps: float = Field(gt=0, le=40)
    endurance_min: float = Field(gt=0)
    max_altitude_agl_m: float = Field(default=120.0, gt=0)
    rtl_on_link_loss: bool = True
    low_battery_rtl_percent: float = Field(ge=5, le=80)


class VehicleRigProfile(BaseModel):
    """A ground vehicle's camera rig: the camera, its mount and its offset from the GNSS antenna."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    camera: str
    mount: CameraMount
    camera_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  # forward, right, up


class EdgeProfile(BaseModel):
    """An edge computer the pipeline runs on: decoder, accelerator, inference settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    platform: Literal["jetson", "x86"]
    jetpack: str | None = None
    decoder_element: str  # GStreamer element decoding H.264 on this device
    decoder_package: str = ""  # what provides it, for the doctor's advice
    gpu: bool
    tensorrt_precision: Literal["fp32", "fp16", "int8"] | None = None
    batch: int = Field(default=1, ge=1, le=64)
    min_spool_free_gb: float = Field(default=4.0, gt=0)


DeviceProfile = CameraProfile | DroneProfile | VehicleRigProfile | EdgeProfile
_MODELS: dict[str, type[BaseModel]] = {
    "cameras": CameraProfile,
    "drones": DroneProfile,
    "vehicles": VehicleRigProfile,
    "edge": EdgeProfile,
}


def _check_kind(kind: str) -> None:
    if kind not in _MODELS:
        raise ProfileError(f"unknown profile kind {kind!r} (known: {', '.join(PROFILE_KINDS)})")


def list_profiles(kind: str) -> list[str]:
    """Names of the bundled profiles of ``kind`` (``cameras``, ``drones``, ``vehicles``, ``edge``)."""
    _check_kind(kind)
    return sorted(p.stem for p in (PROFILES_DIR / kind).glob("*.yaml"))


def profile_path(kind: str, name: str) -> Path:
    """The YAML file of a bundled profile; :class:`ProfileError` lists the known names."""
    _check_kind(kind)
    path = PROFILES_DIR / kind / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown {kind} profile {name!r} (known: {', '.join(list_profiles(kind))})")
    return path


def load_profile(kind: str, name_or_path: str | Path) -> DeviceProfile:
    """Load and validate a profile by bundled name or by path to a YAML file."""
    _check_kind(kind)
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = profile_path(kind, str(name_or_path))
    profile = load_yaml_model(path, _MODELS[kind])
    assert isinstance(profile, CameraProfile | DroneProfile | VehicleRigProfile | EdgeProfile)
    if path.parent == PROFILES_DIR / kind and profile.name != path.stem:
        raise ProfileError(f"{path}: name: {profile.name!r} must match the file name {path.stem!r}")
    camera = getattr(profile, "camera", None)
    if camera is not None and camera not in list_camera_profiles():
        known = ", ".join(list_camera_profiles())
        raise ProfileError(f"{path}: camera: unknown camera profile {camera!r} (known: {known})")
    return profile


def _load_as(kind: str, name_or_path: str | Path, model: type[_M]) -> _M:
    profile = load_profile(kind, name_or_path)
    assert isinstance(profile, model)
    return profile


def load_drone_profile(name_or_path: str | Path) -> DroneProfile:
    return _load_as("drones", name_or_path, DroneProfile)


def load_vehicle_rig_profile(name_or_path: str | Path) -> VehicleRigProfile:
    return _load_as("vehicles", name_or_path, VehicleRigProfile)


def load_edge_profile(name_or_path: str | Path) -> EdgeProfile:
    return _load_as("edge", name_or_path, EdgeProfile)
