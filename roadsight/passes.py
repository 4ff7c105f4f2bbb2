"""After a run: its events become cases, one pass over the road (wiring of geo.cases/roads/zones).

A run is one pass: every camera of it together, so that an object one camera
missed but another saw is not proposed "possibly fixed". The frames the run
processed give its coverage (their ground footprints), which is stored beside
the cases so the map can show what was actually looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pyogrio

from capture import Pose
from geo import (
    OSM_COLUMNS,
    PARKING_CLASSES,
    CameraModel,
    CameraPoses,
    CaseBook,
    CaseSettings,
    GeoEvent,
    RoadColumns,
    Terrain,
    VehicleObservation,
    frame_footprints,
    load_cases,
    load_road_network,
    load_zones,
    save_cases,
)
from roadsight.config import PipelineConfig
from stream.pass_messages import PassMessage, case_update_message, footprint_messages, track_messages

COVERAGE_LAYER = "coverage"


@dataclass
class CoveredFrame:
    """A processed, located frame: where it looked from."""

    source_id: str
    frame_index: int
    time_utc: float
    pose: Pose
    camera: CameraModel


@dataclass(frozen=True)
class PassResult:
    path: Path
    cases_total: int
    new: int
    updated: int
    possibly_fixed: int
    frames_covered: int
    outside_zones: int = 0
    outside_windows: int = 0
    parked_vehicles: int = 0  # no-parking cases made this pass


def coverage_frame(
    frames: list[CoveredFrame], mission_id: str, terrain: Terrain | None = None
) -> gpd.GeoDataFrame:
    """Ground footprints of ``frames`` (one PROJ/ray-cast pass per camera model)."""
    rows: list[dict[str, object]] = []
    by_camera: dict[int, list[CoveredFrame]] = {}
    for f in frames:
        by_camera.setdefault(id(f.camera), []).append(f)
    for group in by_camera.values():
        camera = group[0].camera
        poses = CameraPoses.from_poses([f.pose for f in group], camera, [f.time_utc for f in group])
        footprints = frame_footprints(poses, camera, terrain=terrain)
        for i, f in enumerate(group):
            polygon = footprints.polygon(i)
            if polygon is not None:
                rows.append(
                    {
                        "mission_id": mission_id,
                        "source_id": f.source_id,
                        "frame_index": f.frame_index,
                        "time_utc": datetime.fromtimestamp(f.time_utc, UTC).isoformat(),
                        "geometry": polygon,
                    }
                )
    columns = ["mission_id", "source_id", "frame_index", "time_utc", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=4326)


def record_pass(
    config: PipelineConfig,
    mission_id: str,
    events: list[GeoEvent],
    frames: list[CoveredFrame],
    terrain: Terrain | None = None,
    vehicles: Sequence[VehicleObservation] = (),
    publish: Callable[[list[PassMessage]], None] | None = None,
) -> PassResult:
    """Merge a run's events into the case book on disk; store its coverage; reference roads.

    With ``publish``, the pass also goes out as messages (:mod:`stream.pass_messages`): each
    case update, each frame footprint, and each camera's platform track.
    """
    c = config.cases
    path = config.cases_path
    settings = CaseSettings(
        min_tol_m=c.min_tol_m,
        tol_sigmas=c.tol_sigmas,
        max_tol_m=c.max_tol_m,
        misses_to_propose=c.misses_to_propose,
    )
    outside_zones = outside_windows = parked = 0
    # A vehicle is not a case by being seen: only a zone rule (parked too long where it
    # must not) makes one, from every sighting of its track.
    events = [e for e in events if e.class_key not in PARKING_CLASSES]
    if config.zones.path is not None:
        zones = load_zones(
            config.zones.path, layer=config.zones.layer, default_timezone=config.zones.default_timezone
        )
        sorted_events = zones.street_order(events)
        events = sorted_events.cases + sorted_events.ungoverned
        outside_zones, outside_windows = sorted_events.outside_zones, sorted_events.outside_windows
        parking = zones.parking_cases(list(vehicles))
        parked = len(parking)
        events += [case.to_event() for case in parking]
    book = load_cases(path, settings=settings) if path.exists() else CaseBook(settings)
    coverage = coverage_frame(frames, mission_id, terrain)
    pass_time = datetime.fromtimestamp(max(f.time_utc for f in frames), UTC) if frames else None
    updates = book.ingest(events, coverage=coverage.geometry, pass_id=mission_id, pass_time_utc=pass_time)
    cases = book.to_geodataframe()
    if config.roads.path is not None:
        columns = OSM_COLUMNS if config.roads.preset == "osm" else RoadColumns()
        network = load_road_network(config.roads.path, columns, layer=config.roads.layer)
        cases = network.annotate(cases, max_distance_m=config.roads.max_distance_m)
    save_cases(cases, path)
    if len(coverage):
        pyogrio.write_dataframe(coverage, path, layer=COVERAGE_LAYER, driver="GPKG", append=True)
    if publish is not None:
        publish(
            [case_update_message(u, mission_id) for u in updates]
            + footprint_messages(coverage)
            + track_messages(
                mission_id,
                [f.source_id for f in frames],
                [f.time_utc for f in frames],
                [f.pose.lon for f in frames],
                [f.pose.lat for f in frames],
                [f.pose.alt_msl for f in frames],
            )
        )
    actions = [u.action.value for u in updates]
    return PassResult(
        path=path,
        cases_total=len(cases),
        new=actions.count("new"),
        updated=actions.count("updated"),
        possibly_fixed=actions.count("possibly_fixed"),
        frames_covered=len(coverage),
        outside_zones=outside_zones,
        outside_windows=outside_windows,
        parked_vehicles=parked,
    )
