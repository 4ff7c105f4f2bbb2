"""Geo: pixel boxes and poses in, WGS84 events out.

Public surface: :class:`GeoEvent` (one geo-referenced detection) and
:class:`EvidenceRef` (a pointer to evidence media by URI and SHA-256);
:class:`CameraModel` and :func:`georeference` (flat-ground ray casting), its
columnar hot path :func:`georeference_arrays` -> :class:`GeoEventBatch` over
:class:`CameraPoses`, :func:`frame_footprint`/:func:`frame_footprints` (coverage),
:class:`GroundTracker` (one event per physical object per pass, ByteTrack association on
the ground), :func:`evaluate_events` and :func:`load_ground_truth` (accuracy against the
test range's ground truth); :class:`CaseBook` (one case per physical object across passes,
"possibly fixed" proposals), :func:`load_road_network` (stake chainage, side, offset) and
:func:`load_zones` (no-parking and street-order rules).
"""

from __future__ import annotations

from geo.camera import CameraModel
from geo.camera_poses import CameraPoses
from geo.cases import Case, CaseBook, CaseSettings, CaseStatus, CaseUpdate, load_cases, save_cases
from geo.crs import LocalFrame, cgcs2000_3deg_crs, local_crs, measurement_crs, utm_crs
from geo.dem import Dem, Terrain
from geo.errors import GeoError
from geo.evaluation import EvalReport, evaluate_events, load_ground_truth
from geo.footprint import FrameFootprints, frame_footprint, frame_footprints
from geo.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from geo.georeference import (
    GeoreferenceStats,
    bench_georeference,
    georeference,
    georeference_arrays,
    georeference_frames,
)
from geo.homography import GroundHomography, calibrate_ground_homography, homography_path
from geo.ids import EVENT_ID_NAMESPACE, event_id_for
from geo.roads import OSM_COLUMNS, RoadColumns, RoadNetwork, format_stake, load_road_network
from geo.tracking import GroundTracker, TrackerSettings
from geo.types import EvidenceRef, GeoEvent, GeoEventBatch
from geo.zones import PARKING_CLASSES, ParkingCase, VehicleObservation, ZoneSet, load_zones

__all__ = [
    "EVENT_ID_NAMESPACE",
    "OSM_COLUMNS",
    "PARKING_CLASSES",
    "CameraModel",
    "CameraPoses",
    "Case",
    "CaseBook",
    "CaseSettings",
    "CaseStatus",
    "CaseUpdate",
    "Dem",
    "EvalReport",
    "EvidenceRef",
    "FrameFootprints",
    "GeoError",
    "GeoEvent",
    "GeoEventBatch",
    "GeoreferenceStats",
    "GroundHomography",
    "GroundTracker",
    "LocalFrame",
    "ParkingCase",
    "RoadColumns",
    "RoadNetwork",
    "Terrain",
    "TrackerSettings",
    "VehicleObservation",
    "ZoneSet",
    "bench_georeference",
    "calibrate_ground_homography",
    "cgcs2000_3deg_crs",
    "evaluate_events",
    "event_id_for",
    "format_stake",
    "frame_footprint",
    "frame_footprints",
    "gcj02_to_wgs84",
    "georeference",
    "georeference_arrays",
    "georeference_frames",
    "homography_path",
    "load_cases",
    "load_ground_truth",
    "load_road_network",
    "load_zones",
    "local_crs",
    "measurement_crs",
    "save_cases",
    "utm_crs",
    "wgs84_to_gcj02",
]
