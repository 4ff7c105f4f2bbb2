"""Zone rules for enforcement: no-parking and street-order zones, as data.

A zone file is a GeoJSON or GeoPackage of polygons, one zone per feature:

========================  ==================================================================
``zone_id``               required, unique
``rule``                  required: ``no_parking`` or ``street_order``
``windows``               when the rule applies, local time: ``"mon-fri 07:00-19:00; sat 09:00-12:00"``
                          (``;`` between windows, days optional, ``22:00-06:00`` crosses midnight);
                          absent or empty: always
``timezone``              IANA name of the local time (default: the loader's ``default_timezone``)
``min_stationary_s``      no-parking: how long a vehicle must stand still (default 180 s)
``classes``               taxonomy keys the rule governs, ``"a, b"`` or a list; defaults:
                          :data:`PARKING_CLASSES` / :data:`STREET_ORDER_CLASSES`
========================  ==================================================================

Bad values raise :class:`GeoError` naming the file, the feature and the key.

* :meth:`ZoneSet.parking_cases`: vehicle tracks (:class:`VehicleObservation`
  per frame) are cut into stationary spells; a spell whose place lies in a
  no-parking zone and lasts, inside the zone's windows, at least the zone's
  ``min_stationary_s`` (and at least :data:`EVIDENCE_GAP_S`) becomes a
  :class:`ParkingCase` with two evidence frames that far apart.
* :meth:`ZoneSet.street_order`: detections of governed classes (vending,
  advertising, garbage...) are kept only inside a street-order zone that lists
  their class and during its windows; the others are counted, not lost.

Both place things in zones with GeoPandas spatial joins.

Example:
    >>> zones = load_zones("zones.geojson", default_timezone="Asia/Shanghai")  # doctest: +SKIP
    >>> cases = zones.parking_cases(observations)  # doctest: +SKIP
    >>> events = [c.to_event() for c in cases]  # into the CaseBook  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import LocalFrame
from geo.errors import GeoError
from geo.ids import EVENT_ID_NAMESPACE
from geo.roads import read_vector_file
from geo.types import EvidenceRef, GeoEvent
from taxonomy import Taxonomy, load_taxonomy

EVIDENCE_GAP_S = 10.0  # the two evidence frames of a parking case are at least this far apart
DEFAULT_MIN_STATIONARY_S = 180.0
PARKING_CLASSES = ("illegal_parking_vehicle",)
STREET_ORDER_CLASSES = (
    "street_vending",
    "outside_store_operation",
    "illegal_advertising",
    "garbage_pile",
    "overflowing_bin",
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^(?:(?P<days>[a-z,\-\s]+?)\s+)?(?P<h0>\d{1,2}):(?P<m0>\d{2})\s*-\s*(?P<h1>\d{1,2}):(?P<m1>\d{2})$"
)


class ZoneRule(StrEnum):
    no_parking = "no_parking"
    street_order = "street_order"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Local days (0 = Monday) and minutes of the day ``[start, end)``; ``end <= start`` crosses midnight.

    A window crossing midnight belongs to the day it starts on: ``fri 22:00-06:00``
    covers Friday night until Saturday 06:00.
    """

    days: frozenset[int]
    start_min: int
    end_min: int

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute + local.second / 60.0
        day = local.weekday()
        if self.start_min < self.end_min:
            return day in self.days and self.start_min <= minute < self.end_min
        # Crossing midnight: the evening part on a listed day, the morning part on the day after.
        return (day in self.days and minute >= self.start_min) or (
            (day - 1) % 7 in self.days and minute < self.end_min
        )


def parse_windows(text: str) -> tuple[TimeWindow, ...]:
    """``"mon-fri 07:00-09:00; sat,sun 10:00-12:00"`` -> windows (``ValueError`` naming the bad part)."""
    windows = []
    for part in (p.strip().lower() for p in text.split(";")):
        if not part:
            continue
        m = _WINDOW.match(part)
        if m is None:
            raise ValueError(f"window {part!r} is not like 'mon-fri 07:00-19:00'")
        h0, m0, h1, m1 = (int(m.group(k)) for k in ("h0", "m0", "h1", "m1"))
        if h0 > 24 or h1 > 24 or m0 > 59 or m1 > 59 or h0 * 60 + m0 > 1440 or h1 * 60 + m1 > 1440:
            raise ValueError(f"window {part!r}: time out of range")
        days = _parse_days(m.group("days")) if m.group("days") else frozenset(range(7))
        windows.append(TimeWindow(days, h0 * 60 + m0, h1 * 60 + m1))
    return tuple(windows)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in (i.strip() for i in text.split(",")):
        ends = [e.strip()[:3] for e in item.split("-")]
        if len(ends) > 2 or any(e not in _DAYS for e in ends):
            raise ValueError(f"days {text!r}: use mon..sun, ranges like mon-fri, lists like sat,sun")
        a, b = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    return frozenset(days)


@dataclass(frozen=True)
class Zone:
    """One rule zone (its polygon lives in :attr:`ZoneSet.polygons`)."""

    zone_id: str
    rule: ZoneRule
    windows: tuple[TimeWindow, ...]
    timezone: ZoneInfo
    min_stationary_s: float
    classes: frozenset[str]

    def active_at(self, time_utc: datetime) -> bool:
        if not self.windows:
            return True
        # A naive time is UTC here (GeoEvent times are UTC), never the machine's local time.
        aware = time_utc.replace(tzinfo=UTC) if time_utc.tzinfo is None else time_utc
        local = aware.astimezone(self.timezone)
        return any(w.contains(local) for w in self.windows)


@dataclass(frozen=True, slots=True)
class VehicleObservation:
    """One frame's sighting of a tracked vehicle, placed on the ground (WGS84).

    ``track_id`` is the tracker's id for the vehicle (unique within the stream);
    ``source_id``/``frame_index`` (and ``evidence``, the frame's media when
    stored) say which frame to show as evidence.
    """

    track_id: str
    time_utc: datetime
    lon: float
    lat: float
    score: float
    accuracy_m: float = 0.5
    class_key: str = "illegal_parking_vehicle"
    mission_id: str = ""
    source_id: str = ""
    frame_index: int = -1
    box_xyxy: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    evidence: EvidenceRef | None = None

    @classmethod
    def from_event(cls, event: GeoEvent, track_id: str | int) -> VehicleObservation:
        """A per-frame geo event of a vehicle class and the id of the track it belongs to."""
        return cls(
            str(track_id),
            event.time_utc,
            event.lon,
            event.lat,
            event.score,
            event.accuracy_m,
            event.class_key,
            event.mission_id,
            event.source_id,
            event.frame_index,
            event.box_xyxy,
            event.evidence[0] if event.evidence else None,
        )


@dataclass(frozen=True, slots=True)
class StationarySettings:
    """How a stationary spell is cut from a track.

    A spell holds the observations within ``max(radius_m, radius_sigmas *
    accuracy)`` of its running mean; it ends when ``depart_count`` observations
    in a row lie outside (so one GNSS outlier does not end a parked car's spell).
    """

    radius_m: float = 2.0
    radius_sigmas: float = 4.0
    depart_count: int = 3


@dataclass(frozen=True)
class ParkingCase:
    """A vehicle that stood in a no-parking zone, while the rule applied, for ``stationary_s``."""

    zone_id: str
    track_id: str
    class_key: str
    lon: float
    lat: float
    accuracy_m: float
    score: float
    start_utc: datetime
    end_utc: datetime
    evidence: tuple[VehicleObservation, VehicleObservation]  # >= EVIDENCE_GAP_S apart

    @property
    def stationary_s(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds()

    def to_event(self, taxonomy: Taxonomy | None = None) -> GeoEvent:
        """The case as one :class:`GeoEvent` for the case book (deterministic id)."""
        last = self.evidence[1]
        start = self.start_utc.isoformat()
        name = f"parking/{self.zone_id}/{last.mission_id}/{last.source_id}/{self.track_id}/{start}"
        refs = tuple(o.evidence for o in self.evidence if o.evidence is not None)
        return GeoEvent(
            event_id=str(uuid.uuid5(EVENT_ID_NAMESPACE, name)),
            class_id=(taxonomy or load_taxonomy()).by_key[self.class_key].id,
            class_key=self.class_key,
            score=self.score,
            lon=self.lon,
            lat=self.lat,
            accuracy_m=self.accuracy_m,
            time_utc=self.end_utc,
            mission_id=last.mission_id,
            source_id=last.source_id,
            frame_index=last.frame_index,
            box_xyxy=last.box_xyxy,
            evidence=refs,
        )


@dataclass
class StreetOrderResult:
    """Governed detections kept as cases (with the zone that made them one), and what was not."""

    cases: list[GeoEvent] = field(default_factory=list)
    zone_ids: list[str] = field(default_factory=list)
    ungoverned: list[GeoEvent] = field(default_factory=list)  # classes no street-order zone lists
    outside_zones: int = 0  # governed class, but in no zone that lists it
    outside_windows: int = 0  # in such a zone, but outside its time windows


class ZoneSet:
    """Validated zones and their polygons (EPSG:4326, one row per zone, column ``zone``: index into zones)."""

    def __init__(self, zones: list[Zone], polygons: gpd.GeoSeries, *, source: str = "zones") -> None:
        self.zones = zones
        self.source = source
        self.polygons = gpd.GeoDataFrame(
            {"zone": np.arange(len(zones)), "rule": [z.rule.value for z in zones]},
            geometry=polygons.to_crs(4326).to_numpy(),
            crs="EPSG:4326",
        )

    def _of_rule(self, rule: ZoneRule) -> gpd.GeoDataFrame:
        return self.polygons[self.polygons["rule"] == rule.value][["zone", "geometry"]]

    # -- no parking --------------------------------------------------------------------
    def parking_cases(
        self, observations: Sequence[VehicleObservation], settings: StationarySettings | None = None
    ) -> list[ParkingCase]:
        """Parking cases from vehicle tracks: stationary long enough, in a no-parking zone, in its windows."""
        settings = settings or StationarySettings()
        zones = self._of_rule(ZoneRule.no_parking)
        if zones.empty or not observations:
            return []
        obs = sorted(observations, key=lambda o: (o.track_id, o.time_utc))
        lon = np.array([o.lon for o in obs])
        lat = np.array([o.lat for o in obs])
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
            bad = obs[int(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0])]
            raise GeoError(
                f"parking: observation of track {bad.track_id} at {bad.time_utc} has no finite lon/lat"
            )
        frame = LocalFrame.centred_on(lon, lat)
        x, y = frame.to_local(lon, lat)
        spells = _stationary_spells(obs, x, y, settings)
        if not spells:
            return []
        mx = np.array([x[s].mean() for s in spells])
        my = np.array([y[s].mean() for s in spells])
        slon, slat = frame.to_lonlat(mx, my)
        points = gpd.GeoDataFrame(
            {"spell": np.arange(len(spells))}, geometry=gpd.points_from_xy(slon, slat), crs=4326
        )
        joined = gpd.sjoin(points, zones, how="inner", predicate="within")
        cases: list[ParkingCase] = []
        for spell_i, zone_i in zip(joined["spell"].to_numpy(), joined["zone"].to_numpy(), strict=True):
            zone = self.zones[int(zone_i)]
            members = spells[int(spell_i)]
            run = _longest_active_run([obs[i] for i in members], zone)
            if run is None:
                continue
            first, last = obs[members[run[0]]], obs[members[run[1]]]
            needed = max(zone.min_stationary_s, EVIDENCE_GAP_S)
            if (last.time_utc - first.time_utc).total_seconds() < needed:
                continue
            inside = [obs[i] for i in members[run[0] : run[1] + 1]]
            cases.append(
                ParkingCase(
                    zone_id=zone.zone_id,
                    track_id=first.track_id,
                    class_key=first.class_key,
                    lon=float(slon[spell_i]),
                    lat=float(slat[spell_i]),
                    accuracy_m=float(np.median([o.accuracy_m for o in inside])),
                    score=float(np.median([o.score for o in inside])),
                    start_utc=first.time_utc,
                    end_utc=last.time_utc,
                    evidence=(first, last),
                )
            )
        return cases

    # -- street order ------------------------------------------------------------------
    def street_order(self, events: Sequence[GeoEvent]) -> StreetOrderResult:
        """Keep governed detections inside a street-order zone listing their class, during its windows."""
        result = StreetOrderResult()
        zones = self._of_rule(ZoneRule.street_order)
        governed = set().union(*(self.zones[int(z)].classes for z in zones["zone"])) if len(zones) else set()
        idx = [i for i, e in enumerate(events) if e.class_key in governed]
        result.ungoverned = [e for e in events if e.class_key not in governed]
        if not idx:
            return result
        points = gpd.GeoDataFrame(
            {"event": idx},
            geometry=gpd.points_from_xy([events[i].lon for i in idx], [events[i].lat for i in idx]),
            crs=4326,
        )
        joined = gpd.sjoin(points, zones, how="left", predicate="within")
        verdict: dict[int, tuple[int, str | None]] = {}  # event -> (0 no zone, 1 zone off, 2 case), zone
        for ev_i, zone_i in zip(joined["event"].to_numpy(), joined["zone"].to_numpy(), strict=True):
            event = events[int(ev_i)]
            state: tuple[int, str | None] = (0, None)
            if not pd.isna(zone_i):
                zone = self.zones[int(zone_i)]
                if event.class_key in zone.classes:
                    state = (2, zone.zone_id) if zone.active_at(event.time_utc) else (1, None)
            verdict[int(ev_i)] = max(verdict.get(int(ev_i), (0, None)), state, key=lambda v: v[0])
        for i in idx:
            level, zone_id = verdict[i]
            if level == 2 and zone_id is not None:
                result.cases.append(events[i])
                result.zone_ids.append(zone_id)
            elif level == 1:
                result.outside_windows += 1
            else:
                result.outside_zones += 1
        return result


def _stationary_spells(
    obs: list[VehicleObservation], x: np.ndarray, y: np.ndarray, settings: StationarySettings
) -> list[list[int]]:
    """Index lists of the stationary spells of every track (``obs`` sorted by track, time).

    Only spells of two or more observations are returned.
    """
    spells: list[list[int]] = []
    current: list[int] = []
    away: list[int] = []
    sx = sy = 0.0
    track = None
    for i, o in enumerate(obs):
        if o.track_id != track:
            spells.append(current)
            current, away, track = [i], [], o.track_id
            sx, sy = float(x[i]), float(y[i])
            continue
        n = len(current)
        radius = max(settings.radius_m, settings.radius_sigmas * o.accuracy_m)
        if math.hypot(x[i] - sx / n, y[i] - sy / n) <= radius:
            current.append(i)
            sx, sy = sx + float(x[i]), sy + float(y[i])
            away = []
            continue
        away.append(i)
        if len(away) >= settings.depart_count:
            # It has moved: the spell ends; a new one starts where the vehicle is now.
            spells.append(current)
            current, away = [i], []
            sx, sy = float(x[i]), float(y[i])
    spells.append(current)
    return [s for s in spells if len(s) >= 2]


def _longest_active_run(obs: list[VehicleObservation], zone: Zone) -> tuple[int, int] | None:
    """First and last index of the longest run of consecutive observations inside the zone's windows."""
    best: tuple[int, int] | None = None
    start: int | None = None
    for i, o in enumerate([*obs, None]):
        active = o is not None and zone.active_at(o.time_utc)
        if active and start is None:
            start = i
        elif not active and start is not None:
            span = (obs[i - 1].time_utc - obs[start].time_utc).total_seconds()
            if best is None or span > (obs[best[1]].time_utc - obs[best[0]].time_utc).total_seconds():
                best = (start, i - 1)
            start = None
    return best


# -- loading -----------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _classes(value: Any, default: Sequence[str], taxonomy: Taxonomy, where: str) -> frozenset[str]:
    if _missing(value):
        return frozenset(default)
    items = value.split(",") if isinstance(value, str) else list(value)
    keys = [str(k).strip() for k in items if str(k).strip()]
    unknown = [k for k in keys if k not in taxonomy.by_key]
    if unknown or not keys:
        raise GeoError(f"{where}.classes: unknown taxonomy class(es) {', '.join(unknown) or '(none given)'}")
    return frozenset(keys)


def zones_from_frame(
    gdf: gpd.GeoDataFrame,
    *,
    source: str = "zones",
    default_timezone: str = "UTC",
    taxonomy: Taxonomy | None = None,
) -> ZoneSet:
    """Validate a zone table; errors name ``source``, the feature and the key."""
    taxonomy = taxonomy or load_taxonomy()
    if gdf.crs is None:
        raise GeoError(f"{source}: zone file has no CRS")
    for key in ("zone_id", "rule"):
        if key not in gdf.columns:
            raise GeoError(f"{source}: zone file has no {key!r} column")
    zones: list[Zone] = []
    seen: set[str] = set()
    geoms = gdf.geometry.to_numpy()
    for i, row in enumerate(gdf.drop(columns=gdf.geometry.name).to_dict("records")):
        where = f"{source}: feature {i}"
        if _missing(row["zone_id"]):
            raise GeoError(f"{where}.zone_id: missing")
        zone_id = str(row["zone_id"])
        where = f"{source}: feature {i} (zone_id={zone_id})"
        if zone_id in seen:
            raise GeoError(f"{where}.zone_id: duplicate")
        seen.add(zone_id)
        geom = geoms[i]
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = "no geometry" if geom is None or geom.is_empty else f"a {geom.geom_type}"
            raise GeoError(f"{where}: geometry is {kind}; a zone must be a Polygon or MultiPolygon")
        if not geom.is_valid:
            raise GeoError(f"{where}: polygon is not valid (self-intersecting?)")
        try:
            rule = ZoneRule(str(row["rule"]).strip().lower())
        except ValueError:
            raise GeoError(f"{where}.rule: {row['rule']!r} is not one of no_parking, street_order") from None
        windows_value = row.get("windows")
        try:
            windows = (
                ()
                if _missing(windows_value)
                else parse_windows(
                    windows_value if isinstance(windows_value, str) else "; ".join(windows_value)
                )
            )
        except (ValueError, TypeError) as exc:
            raise GeoError(f"{where}.windows: {exc}") from None
        tz_name = default_timezone if _missing(row.get("timezone")) else str(row["timezone"])
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise GeoError(f"{where}.timezone: unknown time zone {tz_name!r}") from None
        min_s_value = row.get("min_stationary_s")
        try:
            min_s = DEFAULT_MIN_STATIONARY_S if _missing(min_s_value) else float(min_s_value)
        except (TypeError, ValueError):
            raise GeoError(f"{where}.min_stationary_s: {min_s_value!r} is not a number of seconds") from None
        if not (math.isfinite(min_s) and min_s >= 0):
            raise GeoError(f"{where}.min_stationary_s: must be >= 0, got {min_s_value!r}")
        default = PARKING_CLASSES if rule is ZoneRule.no_parking else STREET_ORDER_CLASSES
        classes = _classes(row.get("classes"), default, taxonomy, where)
        zones.append(Zone(zone_id, rule, windows, tz, min_s, classes))
    return ZoneSet(zones, gdf.geometry, source=source)


def load_zones(
    path: str | Path,
    *,
    layer: str | None = None,
    default_timezone: str = "UTC",
    taxonomy: Taxonomy | None = None,
) -> ZoneSet:
    """Read and validate a GeoJSON/GeoPackage zone file (see the module docstring for its keys)."""
    gdf = read_vector_file(path, "zone", layer=layer)
    return zones_from_frame(gdf, source=str(path), default_timezone=default_timezone, taxonomy=taxonomy)
