"""Cases: one record per physical object across frames, tracks, passes and vehicles.

The tracker (:mod:`geo.tracking`) already folds the frames of one camera pass
into one event per object. A road manager wants one *case* per pothole, however
many passes, drones and patrol cars saw it. :class:`CaseBook` merges the events
of each pass into its cases:

* Matching is class-aware by taxonomy category (a crack voted "longitudinal"
  in one pass and "transverse" in the next is one case), with a tolerance drawn
  from the accuracies, ``max(min_tol_m, tol_sigmas * hypot(acc_event, acc_case))``
  plus half the larger object size (a partial view of a long crack has its
  centre elsewhere). Candidates come from one Shapely ``STRtree`` query in a
  local metric CRS; the events of one pass are also matched to each other (two
  tracks of one object, two cameras of one vehicle).
* A matched case is updated (last seen, times seen, position, class vote, and
  the size and confidence trend as series); a new object opens a case whose id
  is a UUIDv5 of its earliest event's id, so replays give the same ids.
* A pass whose coverage (its frame footprints) fully contained a case's
  location, and saw nothing there, proposes the case "possibly_fixed". It never
  closes a case: that is a person's decision. A case seen again is reopened.
* Size: area in m² for areal objects (potholes, alligator cracks, patches...),
  length in m for linear cracks (longer side of the footprint's minimum
  rotated rectangle), from the event footprints in the local metric CRS.

Example:
    >>> book = CaseBook()
    >>> updates = book.ingest(events_of_pass_1)  # doctest: +SKIP
    >>> updates = book.ingest(events_of_pass_2, coverage=footprints_of_pass_2)  # doctest: +SKIP
    >>> [u.action for u in updates]  # doctest: +SKIP
    ['updated', 'new', 'possibly_fixed']
    >>> save_cases(book.to_geodataframe(), "cases.gpkg")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import LocalFrame
from geo.errors import GeoError
from geo.roads import read_vector_file
from geo.types import EvidenceRef, GeoEvent
from taxonomy import Anchor, Taxonomy, load_taxonomy

# Fixed forever: changing it would change every case id ever issued.
CASE_ID_NAMESPACE = uuid.UUID("3b9d7c1e-4f2a-5e60-8c71-9a0d2e4f6b18")

# Cracks measured by length; every other flat (centre-anchored) class by area.
LINEAR_CLASSES = frozenset({"longitudinal_crack", "transverse_crack"})

CASES_LAYER = "cases"


class CaseStatus(StrEnum):
    open = "open"  # seen in one pass
    confirmed = "confirmed"  # seen in two or more passes, or seen again after a proposal
    possibly_fixed = "possibly_fixed"  # a later pass covered it and saw nothing; a person decides


class CaseAction(StrEnum):
    new = "new"
    updated = "updated"
    possibly_fixed = "possibly_fixed"


@dataclass(frozen=True, slots=True)
class CaseSettings:
    """Matching tolerance and the "possibly fixed" rule.

    ``min_tol_m`` and ``tol_sigmas``: an event joins a case within
    ``max(min_tol_m, tol_sigmas * hypot(acc_event, acc_case))`` metres plus half
    the larger object size, capped at ``max_tol_m`` (a badly placed event with a
    large accuracy must open a case of its own, not swallow its neighbours).
    ``misses_to_propose``: covering passes in a row that must see nothing
    before a case is proposed "possibly_fixed".
    """

    min_tol_m: float = 1.0
    tol_sigmas: float = 3.0
    max_tol_m: float = 10.0
    misses_to_propose: int = 1

    def __post_init__(self) -> None:
        for name in ("min_tol_m", "tol_sigmas", "max_tol_m"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise GeoError(f"cases.{name} must be a finite number >= 0, got {value!r}")
        if self.misses_to_propose < 1:
            raise GeoError(f"cases.misses_to_propose must be >= 1, got {self.misses_to_propose!r}")


@dataclass(frozen=True, slots=True)
class CaseObservation:
    """What one pass saw of a case: the points of its size and confidence trend."""

    time_utc: datetime
    score: float
    area_m2: float | None
    length_m: float | None
    pass_id: str | None


@dataclass
class Case:
    """One physical object. ``lon``/``lat`` WGS84; sizes from the latest pass that saw it."""

    case_id: str
    class_key: str
    class_id: int
    category: str
    kind: str
    lon: float
    lat: float
    accuracy_m: float
    status: CaseStatus
    first_seen_utc: datetime
    last_seen_utc: datetime
    times_seen: int  # passes that saw it
    detections: int  # events merged into it
    size_m: float  # largest dimension seen (0 without footprints)
    area_m2: float | None
    length_m: float | None
    missed_passes: int = 0  # covering passes in a row that saw nothing
    trend: tuple[CaseObservation, ...] = ()
    event_ids: tuple[str, ...] = ()
    footprint: tuple[tuple[float, float], ...] = ()  # of the best event (highest score)
    evidence: tuple[EvidenceRef, ...] = ()
    best_score: float = 0.0
    votes: dict[str, float] = field(default_factory=dict)
    class_ids: dict[str, int] = field(default_factory=dict)
    # local metric position and the weights of its running mean
    _x: float = field(default=0.0, repr=False)
    _y: float = field(default=0.0, repr=False)
    _weight: float = field(default=0.0, repr=False)
    _info: float = field(default=0.0, repr=False)  # sum of 1/acc^2 over passes


@dataclass(frozen=True, slots=True)
class CaseUpdate:
    """What one ingest did to one case (``case`` is a snapshot after the change)."""

    action: CaseAction
    case: Case
    event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Pass:
    """One ingest's events with their local positions and footprint measures."""

    events: list[GeoEvent]
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    length: np.ndarray
    size: np.ndarray
    pass_id: str | None


def case_id_for(first_event_id: str) -> str:
    """UUIDv5 of the case's earliest event id in the case namespace."""
    return str(uuid.uuid5(CASE_ID_NAMESPACE, first_event_id))


def footprint_measures(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area (m²), length (m, longer side of the minimum rotated rectangle) and largest dimension.

    ``polygons`` are Shapely polygons in a metric CRS (``None`` gives NaN, size 0).
    Vectorised over the array.
    """
    polys = np.asarray(polygons, dtype=object)
    n = len(polys)
    area, length, size = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    has = ~shapely.is_missing(polys) & ~shapely.is_empty(polys) if n else np.zeros(0, bool)
    if not has.any():
        return area, length, size
    valid = shapely.make_valid(polys[has])
    area[has] = shapely.area(valid)
    rect = shapely.minimum_rotated_rectangle(valid)
    # The rectangle's ring has 5 coordinates; degenerate inputs give a line or a point.
    for j, r in zip(np.flatnonzero(has), rect, strict=True):
        xy = shapely.get_coordinates(r)
        if len(xy) < 2:
            length[j], size[j] = 0.0, 0.0
            continue
        sides = np.hypot(*np.diff(xy, axis=0).T)
        length[j] = float(sides.max())
        # Largest dimension: the rectangle's diagonal (a line's length when degenerate).
        size[j] = float(np.hypot(sides[0], sides[1])) if len(xy) >= 5 else length[j]
    return area, length, size


class CaseBook:
    """The cases known so far; :meth:`ingest` merges one pass of events into them.

    Events already merged (same ``event_id``: a replayed mission) are skipped
    and counted in ``events_replayed``, so ingesting a pass twice changes nothing.
    Counters: ``events_in``, ``events_replayed``, ``cases_opened``,
    ``cases_updated``, ``proposed_fixed``.
    """

    def __init__(
        self,
        settings: CaseSettings | None = None,
        *,
        taxonomy: Taxonomy | None = None,
        cases: Sequence[Case] = (),
    ) -> None:
        self.settings = settings or CaseSettings()
        self._taxonomy = taxonomy or load_taxonomy()
        self._cases: list[Case] = [replace(c) for c in cases]
        self._frame: LocalFrame | None = None
        if self._cases:
            self._frame = LocalFrame.centred_on(
                np.array([c.lon for c in self._cases]), np.array([c.lat for c in self._cases])
            )
            x, y = self._frame.to_local(
                np.array([c.lon for c in self._cases]), np.array([c.lat for c in self._cases])
            )
            for c, xi, yi in zip(self._cases, x, y, strict=True):
                c._x, c._y = float(xi), float(yi)
        self._event_ids = {e for c in self._cases for e in c.event_ids}
        self.events_in = 0
        self.events_replayed = 0
        self.cases_opened = 0
        self.cases_updated = 0
        self.proposed_fixed = 0

    @property
    def cases(self) -> list[Case]:
        """Snapshots of the cases, in the order they were opened."""
        return [replace(c) for c in self._cases]

    def __len__(self) -> int:
        return len(self._cases)

    # -- ingest ------------------------------------------------------------------------
    def ingest(
        self,
        events: Sequence[GeoEvent],
        *,
        coverage: gpd.GeoSeries | None = None,
        pass_id: str | None = None,
        pass_time_utc: datetime | None = None,
    ) -> list[CaseUpdate]:
        """Merge one pass: ``events`` (one per object, as the tracker emits) and its ``coverage``.

        ``coverage``: the pass's frame footprints (polygons with a CRS). A case
        not seen by this pass whose location (a disc of half its size plus its
        accuracy) lies fully inside one footprint counts a miss. Cases last seen
        at or after ``pass_time_utc`` (default: the latest event time; give it
        for a pass that saw nothing) are never missed by it, so an older pass
        ingested late cannot propose anything.
        Returns one :class:`CaseUpdate` per case opened, updated or proposed.
        """
        self.events_in += len(events)
        fresh: dict[str, GeoEvent] = {}
        for e in events:
            if e.event_id not in self._event_ids:
                fresh.setdefault(e.event_id, e)
        self.events_replayed += len(events) - len(fresh)
        batch = list(fresh.values())
        updates: list[CaseUpdate] = []
        touched: set[int] = set()
        if batch:
            updates, touched = self._merge(batch, pass_id)
        if pass_time_utc is None and batch:
            pass_time_utc = max(e.time_utc for e in batch)
        if coverage is not None and self._frame is not None:
            updates += self._apply_coverage(coverage, touched, pass_time_utc)
        return updates

    def _category(self, class_key: str) -> tuple[str, str]:
        cls = self._taxonomy.by_key.get(class_key)
        return (cls.category, cls.kind.value) if cls is not None else (class_key, "unknown")

    def _measures_kind(self, class_key: str) -> str | None:
        if class_key in LINEAR_CLASSES:
            return "length"
        cls = self._taxonomy.by_key.get(class_key)
        # Upright objects' boxes project onto the ground as smears, not as their size.
        return "area" if cls is not None and cls.anchor is Anchor.center else None

    def _merge(self, events: list[GeoEvent], pass_id: str | None) -> tuple[list[CaseUpdate], set[int]]:
        s = self.settings
        lon = np.array([e.lon for e in events])
        lat = np.array([e.lat for e in events])
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
            bad = int(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0])
            raise GeoError(f"cases: event {events[bad].event_id} has no finite lon/lat")
        acc = np.array([e.accuracy_m for e in events], dtype=np.float64)
        if not (np.isfinite(acc) & (acc >= 0)).all():
            bad = int(np.flatnonzero(~(np.isfinite(acc) & (acc >= 0)))[0])
            raise GeoError(f"cases: event {events[bad].event_id} has accuracy_m {events[bad].accuracy_m!r}")
        if self._frame is None:
            self._frame = LocalFrame.centred_on(lon, lat)
        frame = self._frame
        x, y = frame.to_local(lon, lat)
        polys = self._local_footprints(events)
        area, length, size = footprint_measures(polys)
        score = np.array([e.score for e in events])
        cats = [self._category(e.class_key)[0] for e in events]
        codes: dict[str, int] = {}
        ecat = np.array([codes.setdefault(c, len(codes)) for c in cats])
        n_cases = len(self._cases)
        ccat = np.array([codes.get(self._cases[i].category, -1) for i in range(n_cases)], dtype=np.int64)

        pts = shapely.points(x, y)
        # Candidate (event, case) and (event, event) pairs within the widest possible gate.
        cx = np.array([c._x for c in self._cases])
        cy = np.array([c._y for c in self._cases])
        cacc = np.array([c.accuracy_m for c in self._cases])
        csize = np.array([c.size_m for c in self._cases])
        all_acc = np.concatenate([acc, cacc])
        all_size = np.concatenate([size, csize])
        widest = max(s.min_tol_m, s.tol_sigmas * float(np.sqrt(2.0)) * float(all_acc.max()))
        reach = min(s.max_tol_m, widest + float(all_size.max()))

        def gated(ia: np.ndarray, ib: np.ndarray, *, to_cases: bool) -> tuple[np.ndarray, ...]:
            bx, by, bacc, bsize, bcat = (cx, cy, cacc, csize, ccat) if to_cases else (x, y, acc, size, ecat)
            d = np.hypot(x[ia] - bx[ib], y[ia] - by[ib])
            gate = np.maximum(s.min_tol_m, s.tol_sigmas * np.hypot(acc[ia], bacc[ib]))
            gate = np.minimum(s.max_tol_m, gate + 0.5 * np.maximum(size[ia], bsize[ib]))
            ok = (ecat[ia] == bcat[ib]) & (d <= gate)
            return ia[ok], ib[ok], d[ok]

        case_edges: dict[int, list[tuple[float, int]]] = {}
        if n_cases:
            tree = shapely.STRtree(shapely.points(cx, cy))
            ia, ib = tree.query(pts, predicate="dwithin", distance=reach)
            for e, c, d in zip(*gated(ia, ib, to_cases=True), strict=True):
                case_edges.setdefault(int(e), []).append((float(d), int(c)))
        event_edges: dict[int, list[tuple[float, int]]] = {}
        if len(events) > 1:
            ia, ib = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=reach)
            keep = ia != ib
            for e, f, d in zip(*gated(ia[keep], ib[keep], to_cases=False), strict=True):
                event_edges.setdefault(int(e), []).append((float(d), int(f)))

        # Confident events first: each joins the nearest known case, or the case of a
        # nearer event of this pass already placed, or opens a case of its own.
        target = np.full(len(events), -1, dtype=np.int64)
        new_groups: list[list[int]] = []
        for e in np.argsort(-score, kind="stable").tolist():
            options = list(case_edges.get(e, []))
            options += [(d, int(target[f])) for d, f in event_edges.get(e, []) if target[f] >= 0]
            if options:
                target[e] = min(options)[1]
            else:
                target[e] = n_cases + len(new_groups)
                new_groups.append([])
            if target[e] >= n_cases:
                new_groups[int(target[e]) - n_cases].append(e)

        updates: list[CaseUpdate] = []
        touched: set[int] = set()
        groups: dict[int, list[int]] = {}
        for e, t in enumerate(target.tolist()):
            groups.setdefault(t, []).append(e)
        batch = _Pass(events, x, y, area, length, size, pass_id)
        for t in sorted(groups):
            members = groups[t]
            if t < n_cases:
                case = self._cases[t]
                self._absorb_pass(case, batch, members)
                if case.status is CaseStatus.possibly_fixed or case.times_seen >= 2:
                    case.status = CaseStatus.confirmed
                self.cases_updated += 1
                action = CaseAction.updated
            else:
                case = self._open(batch, members)
                self._cases.append(case)
                t = len(self._cases) - 1
                self.cases_opened += 1
                action = CaseAction.new
            touched.add(t)
            updates.append(CaseUpdate(action, replace(case), tuple(events[i].event_id for i in members)))
        return updates, touched

    def _local_footprints(self, events: list[GeoEvent]) -> np.ndarray:
        assert self._frame is not None
        polys = np.full(len(events), None, dtype=object)
        rings = [np.asarray(e.footprint, dtype=np.float64).reshape(-1, 2) for e in events]
        lengths = np.array([len(r) for r in rings])
        has = lengths >= 3
        if not has.any():
            return polys
        fx, fy = self._frame.to_local(*np.concatenate([r for r in rings if len(r) >= 3]).T)
        xy = np.column_stack([fx, fy])
        starts = np.concatenate([[0], np.cumsum(lengths[has])[:-1]])
        for j, (i, n) in enumerate(zip(np.flatnonzero(has), lengths[has], strict=True)):
            polys[i] = shapely.Polygon(xy[starts[j] : starts[j] + n])
        return polys

    def _open(self, batch: _Pass, members: list[int]) -> Case:
        events = batch.events
        earliest = min(members, key=lambda i: (events[i].time_utc, events[i].event_id))
        first = events[earliest]
        category, kind = self._category(first.class_key)
        case = Case(
            case_id=case_id_for(first.event_id),
            class_key=first.class_key,
            class_id=first.class_id,
            category=category,
            kind=kind,
            lon=first.lon,
            lat=first.lat,
            accuracy_m=first.accuracy_m,
            status=CaseStatus.open,
            first_seen_utc=first.time_utc,
            last_seen_utc=first.time_utc,
            times_seen=0,
            detections=0,
            size_m=0.0,
            area_m2=None,
            length_m=None,
        )
        self._absorb_pass(case, batch, members)
        return case

    def _absorb_pass(self, case: Case, batch: _Pass, members: list[int]) -> None:
        assert self._frame is not None
        events, x, y = batch.events, batch.x, batch.y
        area, length, size = batch.area, batch.length, batch.size
        idx = np.asarray(members)
        w = np.array([events[i].score / max(events[i].accuracy_m, 0.05) ** 2 for i in members])
        total = case._weight + float(w.sum())
        case._x = (case._x * case._weight + float((x[idx] * w).sum())) / total
        case._y = (case._y * case._weight + float((y[idx] * w).sum())) / total
        case._weight = total
        lon, lat = self._frame.to_lonlat(np.array([case._x]), np.array([case._y]))
        case.lon, case.lat = float(lon[0]), float(lat[0])
        # Errors within a pass are correlated (one telemetry bias): a pass counts once,
        # with its best accuracy; independent passes combine as 1/acc^2.
        best_acc = max(min(events[i].accuracy_m for i in members), 0.05)
        case._info += 1.0 / best_acc**2
        case.accuracy_m = float(1.0 / np.sqrt(case._info))
        for i in members:
            e = events[i]
            case.votes[e.class_key] = case.votes.get(e.class_key, 0.0) + e.score
            case.class_ids[e.class_key] = e.class_id
            if e.score > case.best_score:
                case.best_score = e.score
                case.footprint, case.evidence = e.footprint, e.evidence
        case.class_key = max(case.votes, key=lambda k: case.votes[k])
        case.class_id = case.class_ids[case.class_key]
        times = [events[i].time_utc for i in members]
        case.first_seen_utc = min([case.first_seen_utc, *times])
        case.last_seen_utc = max([case.last_seen_utc, *times])
        case.times_seen += 1
        case.detections += len(members)
        case.missed_passes = 0
        case.size_m = max(case.size_m, float(size[idx].max()))
        # Partial views understate a size: the pass's largest measure stands for it.
        how = self._measures_kind(case.class_key)
        pass_area = _nanmax(area[idx]) if how == "area" else None
        pass_length = _nanmax(length[idx]) if how == "length" else None
        case.area_m2, case.length_m = pass_area, pass_length
        case.trend = (
            *case.trend,
            CaseObservation(
                max(times), max(events[i].score for i in members), pass_area, pass_length, batch.pass_id
            ),
        )
        case.event_ids = (*case.event_ids, *(events[i].event_id for i in members))
        self._event_ids.update(events[i].event_id for i in members)

    def _apply_coverage(
        self, coverage: gpd.GeoSeries, touched: set[int], pass_time_utc: datetime | None
    ) -> list[CaseUpdate]:
        assert self._frame is not None
        if not isinstance(coverage, gpd.GeoSeries):
            raise GeoError(f"cases: coverage must be a GeoSeries of frame footprints, got {type(coverage)!r}")
        if coverage.crs is None:
            raise GeoError("cases: coverage GeoSeries has no CRS (expected EPSG:4326 polygons)")
        candidates = [
            i
            for i, c in enumerate(self._cases)
            if i not in touched and (pass_time_utc is None or c.last_seen_utc < pass_time_utc)
        ]
        polys = coverage.to_crs(self._frame.crs)
        polys = polys[~(polys.is_empty | polys.isna())]
        if not candidates or polys.empty:
            return []
        cases = [self._cases[i] for i in candidates]
        radius = np.array([0.5 * c.size_m + c.accuracy_m for c in cases])
        discs = shapely.buffer(shapely.points([c._x for c in cases], [c._y for c in cases]), radius)
        # Covered = fully inside one frame's footprint: an object cut by a frame border
        # may well be missed by the detector, so that is no evidence of a repair.
        inside, _ = shapely.STRtree(shapely.make_valid(polys.to_numpy())).query(discs, predicate="within")
        updates: list[CaseUpdate] = []
        for j in np.unique(inside).tolist():
            case = cases[j]
            case.missed_passes += 1
            if case.missed_passes >= self.settings.misses_to_propose and case.status is not (
                CaseStatus.possibly_fixed
            ):
                case.status = CaseStatus.possibly_fixed
                self.proposed_fixed += 1
                updates.append(CaseUpdate(CaseAction.possibly_fixed, replace(case)))
        return updates

    # -- tables ------------------------------------------------------------------------
    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The cases as points in EPSG:4326, one row each; series and maps as JSON text."""
        rows = [_case_row(c) for c in self._cases]
        frame = pd.DataFrame(rows, columns=list(CASE_COLUMNS))
        return gpd.GeoDataFrame(
            frame,
            geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
            crs="EPSG:4326",
        )

    @classmethod
    def from_geodataframe(
        cls,
        gdf: gpd.GeoDataFrame,
        settings: CaseSettings | None = None,
        *,
        taxonomy: Taxonomy | None = None,
        source: str = "cases",
    ) -> CaseBook:
        """Rebuild a book from :meth:`to_geodataframe`'s table (``source`` names it in errors)."""
        missing = [c for c in CASE_COLUMNS if c not in gdf.columns]
        if missing:
            raise GeoError(f"{source}: cases table lacks column(s) {', '.join(missing)}")
        cases = [
            _case_from_row(row, i, source) for i, row in enumerate(gdf[list(CASE_COLUMNS)].to_dict("records"))
        ]
        return cls(settings, taxonomy=taxonomy, cases=cases)


def _nanmax(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None


def _optional_float(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and not np.isfinite(value)) else float(value)


def _trend_from_json(text: str) -> tuple[CaseObservation, ...]:
    return tuple(
        CaseObservation(
            datetime.fromisoformat(o["time_utc"]),
            float(o["score"]),
            o["area_m2"],
            o["length_m"],
            o["pass_id"],
        )
        for o in json.loads(text)
    )


def _trend_to_json(trend: tuple[CaseObservation, ...]) -> str:
    return json.dumps(
        [
            {"time_utc": o.time_utc.isoformat(), "score": o.score, "area_m2": o.area_m2,
             "length_m": o.length_m, "pass_id": o.pass_id}
            for o in trend
        ]
    )  # fmt: skip


# Table column -> (Case attribute, to the table, from the table). Plain scalars travel
# as they are; times as ISO 8601; series and maps as JSON text (GeoPackage has no lists).
_CODECS: dict[str, tuple[str, Any, Any]] = {
    "case_id": ("case_id", str, str),
    "class_key": ("class_key", str, str),
    "class_id": ("class_id", int, int),
    "category": ("category", str, str),
    "kind": ("kind", str, str),
    "status": ("status", lambda v: v.value, CaseStatus),
    "lon": ("lon", float, float),
    "lat": ("lat", float, float),
    "accuracy_m": ("accuracy_m", float, float),
    "first_seen_utc": ("first_seen_utc", datetime.isoformat, datetime.fromisoformat),
    "last_seen_utc": ("last_seen_utc", datetime.isoformat, datetime.fromisoformat),
    "times_seen": ("times_seen", int, int),
    "detections": ("detections", int, int),
    "missed_passes": ("missed_passes", int, int),
    "size_m": ("size_m", float, float),
    "area_m2": ("area_m2", _optional_float, _optional_float),
    "length_m": ("length_m", _optional_float, _optional_float),
    "best_score": ("best_score", float, float),
    "trend": ("trend", _trend_to_json, _trend_from_json),
    "votes": ("votes", json.dumps, lambda t: {str(k): float(v) for k, v in json.loads(t).items()}),
    "class_ids": ("class_ids", json.dumps, lambda t: {str(k): int(v) for k, v in json.loads(t).items()}),
    "event_ids": ("event_ids", lambda v: json.dumps(list(v)), lambda t: tuple(json.loads(t))),
    "footprint": (
        "footprint",
        lambda v: json.dumps([list(p) for p in v]),
        lambda t: tuple((float(p[0]), float(p[1])) for p in json.loads(t)),
    ),
    "evidence": (
        "evidence",
        lambda v: json.dumps([{"uri": e.uri, "sha256": e.sha256, "media_type": e.media_type} for e in v]),
        lambda t: tuple(EvidenceRef(**e) for e in json.loads(t)),
    ),
    "weight": ("_weight", float, float),
    "info": ("_info", float, float),
}
CASE_COLUMNS = tuple(_CODECS)


def _case_row(c: Case) -> dict[str, Any]:
    return {column: encode(getattr(c, attr)) for column, (attr, encode, _) in _CODECS.items()}


def _case_from_row(row: dict[str, Any], i: int, source: str) -> Case:
    try:
        return Case(**{attr: decode(row[column]) for column, (attr, _, decode) in _CODECS.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise GeoError(f"{source}: row {i} (case_id {row.get('case_id')!r}): {exc}") from None


def save_cases(cases: gpd.GeoDataFrame, path: str | Path, *, layer: str = CASES_LAYER) -> Path:
    """Write the cases table as a GeoPackage layer (replacing it) with pyogrio.

    Use a file of its own (e.g. ``cases.gpkg``), not the events store a pipeline
    holds open: GDAL bundles its own SQLite, and two SQLite libraries on one file
    in one process break each other's locks (see :mod:`stream.store`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cases.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    return path


def load_cases(
    path: str | Path,
    *,
    layer: str = CASES_LAYER,
    settings: CaseSettings | None = None,
    taxonomy: Taxonomy | None = None,
) -> CaseBook:
    """Read a cases layer written by :func:`save_cases` back into a :class:`CaseBook`."""
    gdf = read_vector_file(path, "cases", layer=layer)
    return CaseBook.from_geodataframe(gdf, settings, taxonomy=taxonomy, source=f"{path}:{layer}")
