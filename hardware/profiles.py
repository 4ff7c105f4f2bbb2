"""Device and camera profiles: data under ``hardware/profiles/``, validated on load.

Example:
    >>> cam = load_camera_profile("dji_m3e_wide")
    >>> round(cam.intrinsics(1920, 1080)[0, 0])
    1364
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILES_DIR = Path(__file__).with_name("profiles")


class ProfileError(ValueError):
    """A profile that cannot be found or used; the message names file and key."""


class CameraMount(BaseModel):
    """Fixed camera mount on a vehicle body (earth-level vehicle assumed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    height_m: float = Field(gt=0)
    pitch_deg: float = Field(ge=-90, le=90)
    roll_deg: float = 0.0
    yaw_deg: float = 0.0  # relative to the vehicle heading
    # 1-sigma error of the camera's attitude on the road: mount calibration plus the body attitude
    # (IMU, or none: NMEA gives no pitch/roll and the suspension pitches the body by a few tenths).
    attitude_sigma_deg: float = Field(default=0.3, gt=0, le=10)
    # Body-relative lens distortion and a calibrated ground-plane homography live next to the profile
    # (``geo.homography``); the mount angles here are what the ray model uses without one.


class CameraProfile(BaseModel):
    """A camera: sensor geometry, lens, native resolution, distortion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    sensor_width_mm: float = Field(gt=0)
    sensor_height_mm: float = Field(gt=0)
    focal_length_mm: float = Field(gt=0)
    width_px: int = Field(gt=0)
    height_px: int = Field(gt=0)
    distortion: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    mount: CameraMount | None = None

    def intrinsics(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """3x3 pinhole matrix for frames of ``width`` x ``height`` pixels.

        Frames scaled from the native resolution keep the field of view, so
        focal lengths in pixels scale with the frame.
        """
        w = width or self.width_px
        h = height or self.height_px
        fx = self.focal_length_mm / self.sensor_width_mm * w
        fy = self.focal_length_mm / self.sensor_height_mm * h
        return np.array([[fx, 0.0, w / 2.0], [0.0, fy, h / 2.0], [0.0, 0.0, 1.0]])

    def fov_deg(self) -> tuple[float, float]:
        """Horizontal and vertical field of view in degrees."""
        hfov = 2 * np.degrees(np.arctan(self.sensor_width_mm / (2 * self.focal_length_mm)))
        vfov = 2 * np.degrees(np.arctan(self.sensor_height_mm / (2 * self.focal_length_mm)))
        return float(hfov), float(vfov)


def load_yaml_model(path: Path, model: type[BaseModel]) -> BaseModel:
    """Read ``path`` and validate it as ``model``; :class:`ProfileError` names the file and key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile not found") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ProfileError(f"{path}: {loc}: {first['msg']}") from None


def list_camera_profiles() -> list[str]:
    return sorted(p.stem for p in (PROFILES_DIR / "cameras").glob("*.yaml"))


def load_camera_profile(name_or_path: str | Path) -> CameraProfile:
    """Load a camera profile by name (bundled) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILES_DIR / "cameras" / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(list_camera_profiles())
            raise ProfileError(f"unknown camera profile {name_or_path!r} (known: {known})")
    profile = load_yaml_model(path, CameraProfile)
    assert isinstance(profile, CameraProfile)
    return profile
