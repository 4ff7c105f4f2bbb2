"""Plan a road inspection mission: camera footprint -> trigger and pass spacing -> MAVLink / QGC plan.

Example:
    >>> from hardware.profiles import load_camera_profile
    >>> cam = load_camera_profile("dji_m3e_wide")
    >>> road = [(13.4000, 52.5000), (13.4000, 52.5090)]  # 1 km due north (lon, lat)
    >>> plan = plan_road_mission(road, camera=cam, altitude_m=40, speed_mps=8, forward_overlap=0.7)
    >>> round(plan.coverage.footprint_along_m, 2), round(plan.coverage.trigger_spacing_m, 2)
    (31.67, 9.5)
    >>> [item.command for item in plan.mission_items()][:3]  # takeoff, speed, first waypoint
    [22, 178, 16]

Geometry (nadir camera, image width across the track, image top forward):

* along-track ground footprint ``2 h tan(vfov / 2)`` (:func:`capture.selection.footprint_depth_m`),
  trigger spacing ``footprint * (1 - forward_overlap)``;
* swath ``2 h tan(hfov / 2)``, pass spacing ``swath * (1 - side_overlap)``; as many
  passes, centred on the road axis, as cover ``lanes * lane_width_m`` (or ``road_width_m``);
* each pass is the road axis offset sideways (round joins on curves); waypoints sit
  where the road has turned by ``max_turn_deg`` since the last one (straight
  runs get none, sharp corners exactly one);
* passes are flown serpentine; ``both_directions`` flies every pass out and back;
* keep-out polygons: any leg (takeoff transit, pass, transit between passes,
  return to launch) that touches one is a :class:`MissionError` naming the zone,
  because splitting the leg would leave that stretch of road uninspected
  silently; the zones also go into the ``.plan`` geofence as exclusion polygons.

Item 0 of an ArduPilot mission is home; :meth:`MissionPlan.mission_items` leaves it
out (the ``.plan`` keeps it in ``plannedHomePosition``) and
:meth:`MissionPlan.mavlink_items` puts it back for upload over MAVLink.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pymavlink import mavutil
from shapely.geometry import LineString, Polygon

from capture.selection import footprint_depth_m
from geo.crs import LocalFrame
from hardware.device_profiles import DroneProfile
from hardware.profiles import CameraProfile

mavlink = mavutil.mavlink

_FRAME_RELATIVE_ALT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
_FRAME_MISSION = mavlink.MAV_FRAME_MISSION
_QGC_FIRMWARE = {"ardupilot": mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, "px4": mavlink.MAV_AUTOPILOT_PX4}
_CLIMB_RATE_MPS = 2.5  # takeoff and landing, for the duration estimate
_RESAMPLE_STEP_M = 1.0  # road axis resolution when finding where it turns


class MissionError(ValueError):
    """A mission that cannot be planned or flown as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class KeepOutZone:
    """A named no-fly polygon (lon/lat ring, closing point optional)."""

    name: str
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class CoverageGeometry:
    """Ground footprint of one frame and the spacings that give the overlaps asked for."""

    footprint_along_m: float
    swath_m: float
    trigger_spacing_m: float
    pass_spacing_m: float


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MAVLink mission item (``MISSION_ITEM_INT`` fields; NaN params mean 'unchanged')."""

    command: int
    frame: int
    params: tuple[float, float, float, float]
    lat: float = 0.0
    lon: float = 0.0
    alt: float = 0.0
    autocontinue: bool = True


@dataclass(frozen=True)
class MissionPlan:
    """A planned inspection mission; passes are (n, 2) lon/lat waypoint arrays in flight order."""

    home: tuple[float, float]  # lon, lat
    altitude_m: float
    speed_mps: float
    coverage: CoverageGeometry
    passes: list[np.ndarray]
    pass_lengths_m: list[float]
    flight_length_m: float
    duration_s: float
    keep_out: tuple[KeepOutZone, ...] = ()
    firmware: str = "ardupilot"
    home_amsl_m: float = 0.0
    triggers_per_pass: list[int] = field(default_factory=list)

    def mission_items(self) -> list[MissionItem]:
        """Takeoff, speed, each pass (trigger on, waypoints, trigger off), return to launch."""
        home_lon, home_lat = self.home
        alt = self.altitude_m
        nan = math.nan
        items = [
            MissionItem(
                mavlink.MAV_CMD_NAV_TAKEOFF, _FRAME_RELATIVE_ALT, (0, 0, 0, nan), home_lat, home_lon, alt
            ),
            MissionItem(mavlink.MAV_CMD_DO_CHANGE_SPEED, _FRAME_MISSION, (1, self.speed_mps, -1, 0)),
        ]
        for waypoints in self.passes:
            for k, (lon, lat) in enumerate(waypoints):
                items.append(
                    MissionItem(
                        mavlink.MAV_CMD_NAV_WAYPOINT, _FRAME_RELATIVE_ALT, (0, 0, 0, nan), lat, lon, alt
                    )
                )
                if k == 0:  # trigger distance, and one frame at once, from the pass start
                    spacing = self.coverage.trigger_spacing_m
                    items.append(
                        MissionItem(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, _FRAME_MISSION, (spacing, 0, 1, 0))
                    )
            items.append(MissionItem(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, _FRAME_MISSION, (0, 0, 0, 0)))
        items.append(MissionItem(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, _FRAME_MISSION, (0, 0, 0, 0)))
        return items

    def mavlink_items(self) -> list[MissionItem]:
        """The items as uploaded to ArduPilot: home (absolute altitude) first."""
        home = MissionItem(
            mavlink.MAV_CMD_NAV_WAYPOINT,
            mavlink.MAV_FRAME_GLOBAL,
            (0, 0, 0, 0),
            self.home[1],
            self.home[0],
            self.home_amsl_m,
        )
        return [home, *self.mission_items()]

    def to_qgc_plan(self) -> dict[str, Any]:
        """The QGroundControl ``.plan`` document (fileType Plan, version 1)."""
        items = [_qgc_item(item, jump_id) for jump_id, item in enumerate(self.mission_items(), start=1)]
        fence = [
            {"inclusion": False, "polygon": [[lat, lon] for lon, lat in _open_ring(z.ring)], "version": 1}
            for z in self.keep_out
        ]
        return {
            "fileType": "Plan",
            "geoFence": {"circles": [], "polygons": fence, "version": 2},
            "groundStation": "QGroundControl",
            "mission": {
                "cruiseSpeed": self.speed_mps,
                "firmwareType": _QGC_FIRMWARE.get(self.firmware, mavlink.MAV_AUTOPILOT_GENERIC),
                "globalPlanAltitudeMode": 1,
                "hoverSpeed": self.speed_mps,
                "items": items,
                "plannedHomePosition": [self.home[1], self.home[0], self.home_amsl_m],
                "vehicleType": mavlink.MAV_TYPE_QUADROTOR,
                "version": 2,
            },
            "rallyPoints": {"points": [], "version": 2},
            "version": 1,
        }

    def write_qgc_plan(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_qgc_plan(), indent=2), encoding="utf-8")
        return path


def _qgc_item(item: MissionItem, jump_id: int) -> dict[str, Any]:
    params: list[float | None] = [None if math.isnan(p) else p for p in item.params]
    out: dict[str, Any] = {
        "autoContinue": item.autocontinue,
        "command": item.command,
        "doJumpId": jump_id,
        "frame": item.frame,
        "params": [*params, item.lat, item.lon, item.alt],
        "type": "SimpleItem",
    }
    if item.frame != _FRAME_MISSION:  # positional items carry QGC's altitude keys
        out.update({"AMSLAltAboveTerrain": None, "Altitude": item.alt, "AltitudeMode": 1})
    return out


def _open_ring(ring: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = [(float(lon), float(lat)) for lon, lat in ring]
    return pts[:-1] if len(pts) > 1 and pts[0] == pts[-1] else pts


def coverage_geometry(
    camera: CameraProfile, altitude_m: float, forward_overlap: float, side_overlap: float
) -> CoverageGeometry:
    """Footprint and spacings of a nadir camera at ``altitude_m`` above flat ground."""
    if not altitude_m > 0:
        raise MissionError(f"altitude must be above ground, got {altitude_m} m")
    for label, overlap in (("forward", forward_overlap), ("side", side_overlap)):
        if not 0 <= overlap < 1:
            raise MissionError(f"{label} overlap must be in [0, 1), got {overlap}")
    hfov, vfov = camera.fov_deg()
    # Nadir: no range or resolution cut, the whole frame is footprint.
    along = float(footprint_depth_m(altitude_m, -90.0, vfov, max_range_m=math.inf))
    swath = 2 * altitude_m * math.tan(math.radians(hfov) / 2)
    return CoverageGeometry(along, swath, along * (1 - forward_overlap), swath * (1 - side_overlap))


def pass_offsets_m(coverage: CoverageGeometry, width_m: float) -> np.ndarray:
    """Sideways offsets (left positive) of the passes that cover a road ``width_m`` wide."""
    if width_m <= coverage.swath_m:
        return np.zeros(1)
    count = math.ceil((width_m - coverage.swath_m) / coverage.pass_spacing_m - 1e-9) + 1
    return (np.arange(count) - (count - 1) / 2) * coverage.pass_spacing_m


def turn_waypoints(xy: np.ndarray, max_turn_deg: float) -> np.ndarray:
    """Waypoints along a metric polyline: its ends and each point where it has turned ``max_turn_deg``.

    The line is resampled every metre (keeping its vertices); the unsigned turn
    accumulates along it and a waypoint is placed each time the total crosses a
    multiple of ``max_turn_deg``, so a smooth curve gets evenly spaced waypoints
    and a corner gets one, at the corner.
    """
    line = LineString(xy)
    vertex_at = shapely.line_locate_point(line, shapely.points(xy))
    count = max(2, math.ceil(line.length / _RESAMPLE_STEP_M) + 1)
    at = np.unique(np.concatenate([np.linspace(0.0, line.length, count), vertex_at]))
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, at))
    step = np.diff(pts, axis=0)
    keep = np.hypot(step[:, 0], step[:, 1]) > 1e-6
    pts = np.vstack([pts[:1], pts[1:][keep]])
    heading = np.arctan2(np.diff(pts[:, 1]), np.diff(pts[:, 0]))
    turn = np.abs(np.angle(np.exp(1j * np.diff(heading))))  # wrapped to [0, pi]
    bucket = np.floor(np.cumsum(turn) / math.radians(max_turn_deg) + 1e-9)
    corners = 1 + np.flatnonzero(np.diff(np.concatenate([[0.0], bucket])) > 0)
    return pts[np.concatenate([[0], corners, [len(pts) - 1]])]


def plan_road_mission(
    road: Sequence[tuple[float, float]] | np.ndarray,
    *,
    camera: CameraProfile,
    altitude_m: float,
    speed_mps: float,
    forward_overlap: float = 0.7,
    side_overlap: float = 0.6,
    lanes: int = 2,
    lane_width_m: float = 3.5,
    road_width_m: float | None = None,
    both_directions: bool = False,
    keep_out: Sequence[KeepOutZone] = (),
    max_turn_deg: float = 15.0,
    home: tuple[float, float] | None = None,
    drone: DroneProfile | None = None,
) -> MissionPlan:
    """Plan the inspection of the road polyline ``road`` (lon, lat degrees); see the module docstring."""
    lonlat = np.asarray(road, dtype=np.float64)
    if lonlat.ndim != 2 or lonlat.shape[1] != 2 or len(lonlat) < 2 or not np.isfinite(lonlat).all():
        raise MissionError(f"road must be two or more finite (lon, lat) points, got shape {lonlat.shape}")
    if not speed_mps > 0:
        raise MissionError(f"speed must be positive, got {speed_mps} m/s")
    if not 0 < max_turn_deg < 180:
        raise MissionError(f"max_turn_deg must be in (0, 180), got {max_turn_deg}")
    _check_drone_limits(drone, altitude_m, speed_mps)
    coverage = coverage_geometry(camera, altitude_m, forward_overlap, side_overlap)
    frame = LocalFrame.centred_on(lonlat[:, 0], lonlat[:, 1])
    axis = LineString(np.column_stack(frame.to_local(lonlat[:, 0], lonlat[:, 1])))
    if axis.length < 1.0:
        raise MissionError(f"road is {axis.length:.2f} m long: nothing to inspect")
    width = road_width_m if road_width_m is not None else lanes * lane_width_m
    passes_xy: list[np.ndarray] = []
    for i, offset in enumerate(pass_offsets_m(coverage, width)):
        line = axis if offset == 0 else axis.offset_curve(float(offset), quad_segs=16, join_style="round")
        if not isinstance(line, LineString) or line.is_empty:
            raise MissionError(
                f"pass {i} ({offset:+.1f} m from the road axis) folds over itself: the road curves "
                "tighter than the pass offset; fly lower or plan the curve separately"
            )
        xy = turn_waypoints(np.asarray(line.coords), max_turn_deg)
        reverse = i % 2 == 1
        passes_xy.append(xy[::-1] if reverse else xy)
        if both_directions:
            passes_xy.append(xy if reverse else xy[::-1])
    home_lon, home_lat = home if home is not None else (float(lonlat[0, 0]), float(lonlat[0, 1]))
    home_xy = np.column_stack(frame.to_local(np.array([home_lon]), np.array([home_lat])))[0]
    zones = tuple(keep_out)
    _check_keep_out(frame, zones, home_xy, passes_xy)
    pass_lengths = [float(LineString(p).length) for p in passes_xy]
    route = np.vstack([home_xy, *passes_xy, home_xy])
    flight_length = float(np.hypot(*np.diff(route, axis=0).T).sum())
    duration = flight_length / speed_mps + 2 * altitude_m / _CLIMB_RATE_MPS
    _check_endurance(drone, duration)
    passes = [np.column_stack(frame.to_lonlat(p[:, 0], p[:, 1])) for p in passes_xy]
    return MissionPlan(
        home=(float(home_lon), float(home_lat)),
        altitude_m=float(altitude_m),
        speed_mps=float(speed_mps),
        coverage=coverage,
        passes=passes,
        pass_lengths_m=pass_lengths,
        flight_length_m=flight_length,
        duration_s=duration,
        keep_out=zones,
        firmware=drone.autopilot if drone is not None else "ardupilot",
        triggers_per_pass=[math.floor(length / coverage.trigger_spacing_m) + 1 for length in pass_lengths],
    )


def _check_drone_limits(drone: DroneProfile | None, altitude_m: float, speed_mps: float) -> None:
    if drone is None:
        return
    if speed_mps > drone.max_speed_mps:
        raise MissionError(
            f"speed {speed_mps} m/s exceeds {drone.name}'s max_speed_mps {drone.max_speed_mps}"
        )
    if altitude_m > drone.max_altitude_agl_m:
        raise MissionError(
            f"altitude {altitude_m} m exceeds {drone.name}'s max_altitude_agl_m {drone.max_altitude_agl_m}"
        )


def _check_endurance(drone: DroneProfile | None, duration_s: float) -> None:
    if drone is None:
        return
    # The battery failsafe triggers RTL at low_battery_rtl_percent: plan within what is above it.
    usable_s = drone.endurance_min * 60 * (1 - drone.low_battery_rtl_percent / 100)
    if duration_s > usable_s:
        raise MissionError(
            f"mission takes about {duration_s / 60:.1f} min; {drone.name} has {usable_s / 60:.1f} min "
            f"before its {drone.low_battery_rtl_percent:g} % low-battery RTL: split the road"
        )


def _check_keep_out(
    frame: LocalFrame, zones: Sequence[KeepOutZone], home_xy: np.ndarray, passes_xy: list[np.ndarray]
) -> None:
    legs: list[tuple[str, np.ndarray]] = [
        ("transit from home to pass 0", np.vstack([home_xy, passes_xy[0][0]]))
    ]
    for i, xy in enumerate(passes_xy):
        legs.append((f"pass {i}", xy))
        if i + 1 < len(passes_xy):
            legs.append((f"transit from pass {i} to pass {i + 1}", np.vstack([xy[-1], passes_xy[i + 1][0]])))
    legs.append(("return to launch", np.vstack([passes_xy[-1][-1], home_xy])))
    for zone in zones:
        ring = np.asarray(_open_ring(zone.ring))
        if len(ring) < 3:
            raise MissionError(f"keep-out zone {zone.name!r} needs at least 3 corners, got {len(ring)}")
        polygon = Polygon(np.column_stack(frame.to_local(ring[:, 0], ring[:, 1])))
        for label, xy in legs:
            if LineString(xy).intersects(polygon):
                raise MissionError(f"{label} enters keep-out zone {zone.name!r}")


def read_road_geojson(path: Path) -> tuple[np.ndarray, list[KeepOutZone]]:
    """The road LineString (lon/lat array) and keep-out Polygons of a GeoJSON file.

    Accepts a bare geometry, a Feature or a FeatureCollection with exactly one
    LineString; Polygon features are keep-out zones named by ``properties.name``.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MissionError(f"{path}: cannot read GeoJSON: {exc}") from None
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
    elif doc.get("type") == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    roads: list[np.ndarray] = []
    zones: list[KeepOutZone] = []
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") or {}
        kind = geometry.get("type")
        where = f"{path}: features[{i}]"
        if kind == "LineString":
            coords = np.asarray(geometry.get("coordinates"), dtype=np.float64)
            if coords.ndim != 2 or coords.shape[0] < 2 or coords.shape[1] < 2:
                raise MissionError(f"{where}.geometry.coordinates: need two or more [lon, lat] positions")
            roads.append(coords[:, :2])
        elif kind == "Polygon":
            name = (feature.get("properties") or {}).get("name") or f"features[{i}]"
            zones.append(
                KeepOutZone(str(name), tuple((float(p[0]), float(p[1])) for p in geometry["coordinates"][0]))
            )
        else:
            raise MissionError(
                f"{where}.geometry.type: {kind!r} is neither a road LineString nor a keep-out Polygon"
            )
    if len(roads) != 1:
        raise MissionError(f"{path}: need exactly one road LineString, found {len(roads)}")
    return roads[0], zones
