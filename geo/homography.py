"""Calibrated ground-plane homography for a vehicle camera (pixels -> road-plane metres).

A fixed vehicle camera sees the road plane through one homography. Measured
once from a frame with at least four known ground points, it absorbs the mount
height, pitch, roll, yaw and the lens centre better than nominal mount angles.
It maps image pixels (at the calibration's ``width`` x ``height``) to *body*
ground coordinates: metres to the right of and ahead of the vehicle's position
reference (the GNSS antenna's ground point). At run time the vehicle's
position and heading place those metres on the earth; body pitch/roll changes
after calibration are not compensated (the accuracy model's attitude sigma
covers them).

Known ground points may be given in body metres, or as WGS84 lon/lat together
with the vehicle pose (position and heading) at the calibration frame.

Files: YAML next to the camera profile: ``<profile>.homography.yaml`` beside a
profile file, or ``hardware/profiles/cameras/homographies/<name>.yaml`` for a
bundled profile (:func:`homography_path`).

Example:
    >>> import numpy as np
    >>> img = np.array([[100.0, 700], [900, 700], [600, 400], [400, 400], [500, 550]])
    >>> ground = np.array([[-2.0, 5.0], [2.0, 5.0], [1.5, 15.0], [-1.5, 15.0], [0.0, 8.5]])
    >>> h = calibrate_ground_homography(img, ground, frame_size=(1000, 800))
    >>> h.n_points, h.rmse_m < 0.5
    (5, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from capture import Pose
from geo.crs import TangentOffsets
from geo.errors import GeoError
from hardware.profiles import PROFILES_DIR, ProfileError, load_yaml_model

if TYPE_CHECKING:
    from geo.camera import CameraModel

_MIN_POINTS = 4
_DEGENERATE_AREA_M2 = 1e-3  # ground points spanning less than this are "on a line"


@dataclass(frozen=True)
class GroundHomography:
    """``H``: undistorted pixel ``(u, v, 1)`` of ``width`` x ``height`` frames -> body (right, forward, 1)."""

    H: np.ndarray
    width: int
    height: int
    rmse_m: float = float("nan")  # calibration fit: ground residuals
    max_error_m: float = float("nan")
    rmse_px: float = float("nan")  # the same residuals seen in the image
    n_points: int = 0

    def to_body(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body ground metres (right, forward) of pixels, and which land on the road ahead."""
        h = self.H
        w = h[2, 0] * u + h[2, 1] * v + h[2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            right = (h[0, 0] * u + h[0, 1] * v + h[0, 2]) / w
            forward = (h[1, 0] * u + h[1, 1] * v + h[1, 2]) / w
        # Pixels beyond the homography's horizon map behind the vehicle (w changes sign): rejected.
        ok = np.isfinite(right) & np.isfinite(forward) & (w > 0) & (forward > 0)
        return right, forward, ok

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        doc = {
            "format": "roadsight-ground-homography/1",
            "maps": "image pixels (u, v) -> body ground metres (right, forward) from the position reference",
            "width": self.width,
            "height": self.height,
            "H": [[float(x) for x in row] for row in self.H],
            "calibration": {
                "points": self.n_points,
                "rmse_m": self.rmse_m,
                "max_error_m": self.max_error_m,
                "rmse_px": self.rmse_px,
            },
        }
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroundHomography:
        path = Path(path)
        try:
            doc = load_yaml_model(path, _HomographyFile)
        except ProfileError as exc:
            raise GeoError(str(exc).replace("profile not found", "homography file not found")) from None
        assert isinstance(doc, _HomographyFile)
        H = np.asarray(doc.H, dtype=np.float64)
        if H.shape != (3, 3) or not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-15:
            raise GeoError(f"{path}: H: expected an invertible 3x3 matrix")
        cal = doc.calibration
        return cls(H, doc.width, doc.height, cal.rmse_m, cal.max_error_m, cal.rmse_px, cal.points)


class _Calibration(BaseModel):
    points: int = 0
    rmse_m: float = float("nan")
    max_error_m: float = float("nan")
    rmse_px: float = float("nan")


class _HomographyFile(BaseModel):
    """The YAML layout written by :meth:`GroundHomography.save`."""

    model_config = ConfigDict(extra="ignore")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    H: list[list[float]]
    calibration: _Calibration = Field(default_factory=_Calibration)


def homography_path(profile: str | Path) -> Path:
    """Where the homography of a camera profile (bundled name or YAML path) lives."""
    p = Path(profile)
    if p.suffix in (".yaml", ".yml"):
        return p.with_name(f"{p.stem}.homography.yaml")
    return PROFILES_DIR / "cameras" / "homographies" / f"{profile}.yaml"


def lonlat_to_body(lonlat: np.ndarray, pose: Pose) -> np.ndarray:
    """WGS84 points ``(N, 2)`` to body ground metres (right, forward) of a vehicle at ``pose``."""
    if not (np.isfinite(pose.lon) and np.isfinite(pose.lat) and np.isfinite(pose.yaw)):
        raise GeoError("calibration pose: needs a finite position and heading (yaw)")
    t = TangentOffsets.at(np.array([pose.lon]), np.array([pose.lat]))
    # Invert the second-order tangent expansion by two fixed-point steps (exact to < 0.1 mm at 100 m).
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    east = (lon - pose.lon) / t.lon_per_e
    north = (lat - pose.lat) / t.lat_per_n
    for _ in range(3):
        e_lon, n_lat = t.to_lonlat(east, north)
        east = east + (lon - e_lon) / t.lon_per_e
        north = north + (lat - n_lat) / t.lat_per_n
    yaw = np.radians(pose.yaw)
    right = east * np.cos(yaw) - north * np.sin(yaw)
    forward = east * np.sin(yaw) + north * np.cos(yaw)
    return np.column_stack([right, forward])


def calibrate_ground_homography(
    image_points: np.ndarray,
    ground_points: np.ndarray,
    *,
    frame_size: tuple[int, int],
    vehicle_pose: Pose | None = None,
    camera: CameraModel | None = None,
) -> GroundHomography:
    """Fit the homography from ``N >= 4`` pixel / ground correspondences.

    ``ground_points`` are body metres (right, forward), or WGS84 (lon, lat)
    when ``vehicle_pose`` (the vehicle's pose at the calibration frame) is
    given. With a ``camera`` that has lens distortion the image points are
    undistorted first (the homography works on undistorted pixels, as
    geo-referencing applies it). Least squares over all points (every point is a surveyed
    measurement: no outlier rejection); the fit's residuals are reported.
    Fewer than four points, non-finite values, or points (nearly) on a line
    raise :class:`GeoError`.
    """
    img = np.asarray(image_points, np.float64).reshape(-1, 2)
    ground = np.asarray(ground_points, np.float64).reshape(-1, 2)
    if len(img) != len(ground):
        raise GeoError(f"calibration: {len(img)} image points but {len(ground)} ground points")
    if len(img) < _MIN_POINTS:
        raise GeoError(f"calibration: needs at least {_MIN_POINTS} point pairs, got {len(img)}")
    if not (np.all(np.isfinite(img)) and np.all(np.isfinite(ground))):
        row = int(np.argmax(~(np.isfinite(img).all(1) & np.isfinite(ground).all(1))))
        raise GeoError(f"calibration: point {row + 1} is not finite")
    if vehicle_pose is not None:
        ground = lonlat_to_body(ground, vehicle_pose)
    if camera is not None and camera.has_distortion:
        sx, sy = camera.width / frame_size[0], camera.height / frame_size[1]
        xn, yn = camera.normalized(img[:, 0], img[:, 1], sx, sy)
        K = camera.K
        img = np.column_stack([(K[0, 0] * xn + K[0, 2]) / sx, (K[1, 1] * yn + K[1, 2]) / sy])
    for name, pts in (("ground", ground), ("image", img)):
        hull = cv2.convexHull(pts.astype(np.float32))
        if cv2.contourArea(hull) < (_DEGENERATE_AREA_M2 if name == "ground" else 1.0):
            raise GeoError(
                f"calibration: the {name} points are (nearly) on a line; spread them over the road"
            )
    H, _ = cv2.findHomography(img, ground, 0)
    if H is None or not np.all(np.isfinite(H)):
        raise GeoError("calibration: no homography fits these points (degenerate configuration)")
    H = np.asarray(H, np.float64)
    # H is defined up to scale, sign included: fix the sign so that points on the road have w > 0
    # (pixels beyond the horizon then have w < 0 and are rejected).
    if np.median(H[2, 0] * img[:, 0] + H[2, 1] * img[:, 1] + H[2, 2]) < 0:
        H = -H
    w, h = frame_size
    fit = GroundHomography(H, int(w), int(h))
    right, forward, _ = fit.to_body(img[:, 0], img[:, 1])
    err_m = np.hypot(right - ground[:, 0], forward - ground[:, 1])
    back = cv2.perspectiveTransform(ground.reshape(-1, 1, 2), np.linalg.inv(H)).reshape(-1, 2)
    err_px = np.hypot(*(back - img).T)
    return GroundHomography(
        fit.H,
        fit.width,
        fit.height,
        rmse_m=float(np.sqrt(np.mean(err_m**2))),
        max_error_m=float(err_m.max()),
        rmse_px=float(np.sqrt(np.mean(err_px**2))),
        n_points=len(img),
    )
