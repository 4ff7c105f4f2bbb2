"""A synthetic site for the dashboard: N cases on a few roads, with stores, evidence and accounts.

:func:`write_demo_site` writes, under ``root``, the same files a pipeline run and
``roadsight users add`` leave beside an event store, with the same names the
CLI and the dashboard look for:

* ``roadsight.gpkg`` -- the event store: one event per case (GeoPackageStore);
* ``roadsight.cases.gpkg`` -- the case book (layer ``cases``, the columns of
  :meth:`geo.cases.CaseBook.to_geodataframe` plus the road columns of
  :meth:`geo.roads.RoadNetwork.annotate`: road, chainage, stake ``K1+234``) and
  layer ``coverage`` (frame footprints per mission, as ``roadsight.passes`` writes);
* ``roadsight.evidence/`` -- the content-addressed evidence store: a few real
  1280x720 JPEG frames that the events reference (shared, so 100,000 cases stay small);
* ``roadsight.users.sqlite`` -- one local account per role, passwords in :data:`DEMO_USERS`;
* ``site_key.pem`` (+ ``.pub.pem``) -- the site's Ed25519 key for evidence packets.

No review log is written: every case starts ``new``. Cases are spread over the
roads around :data:`DEMO_CENTER` (Hangzhou), over the 8 weeks before
:data:`DEMO_END`, with classes drawn from the taxonomy (about 1 in 10 an
enforcement class). Everything is a function of ``seed``; the layout is
vectorised with NumPy, so 100,000 cases take a few seconds.

Example:
    >>> site = write_demo_site(tmp_path, 1000, seed=1)  # doctest: +SKIP
    >>> site.store, site.cases_path, site.users_path  # doctest: +SKIP
    >>> DEMO_USERS["manager"]  # (role, password)  # doctest: +SKIP
    (<Role.road_manager: 'road_manager'>, 'manager-demo-pw')
    # then: streamlit run dashboard/app.py -- --store {site.store}
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from PIL import Image, ImageDraw

from dashboard.evidence_packet import generate_site_key
from dashboard.review import review_path_for
from dashboard.roles import AccountBook, Role, users_path_for
from geo.cases import CASE_COLUMNS, CASES_LAYER, LINEAR_CLASSES, case_id_for, save_cases
from geo.roads import format_stake
from geo.types import GeoEvent
from stream.evidence import LocalEvidenceStore
from stream.store import GeoPackageStore
from taxonomy import Kind, load_taxonomy

DEMO_CENTER = (120.1551, 30.2741)  # lon, lat (Hangzhou, West Lake)
DEMO_END = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DEMO_WEEKS = 8
# name -> (role, password): one account per role.
DEMO_USERS: dict[str, tuple[Role, str]] = {
    "crew": (Role.field_crew, "crew-demo-pw"),
    "manager": (Role.road_manager, "manager-demo-pw"),
    "police": (Role.enforcement, "police-demo-pw"),
    "admin": (Role.admin, "admin-demo-pw"),
}
COVERAGE_LAYER = "coverage"  # as roadsight.passes writes it
FRAME_SIZE = (1280, 720)
_M_PER_DEG_LAT = 111_320.0
# (road id, name, bearing from north in degrees, length in metres, start offset east/north in metres)
_ROADS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("G104", "G104 国道", 0.0, 6000.0, -500.0, -3000.0),
    ("S13", "S13 练杭高速", 90.0, 7000.0, -3500.0, 400.0),
    ("YAN-AN", "延安路", 20.0, 4000.0, 800.0, -2000.0),
    ("TIYU", "体育场路", 100.0, 3500.0, -1500.0, 1500.0),
    ("HUBIN", "湖滨路", 160.0, 3000.0, -1200.0, 1800.0),
    ("MOGAN", "莫干山路", 45.0, 5000.0, -2500.0, -2500.0),
)


@dataclass(frozen=True)
class DemoSite:
    """Paths of a demo site and a few case ids that tests and benches can rely on."""

    root: Path
    store: Path  # the event store; pass it as `--store`
    cases_path: Path
    evidence_root: Path
    users_path: Path
    review_path: Path  # not written (no reviews yet); the dashboard creates it on first review
    site_key: Path
    n_cases: int
    case_ids: tuple[str, ...]
    defect_case_id: str  # a road-defect case (managers may review it)
    enforcement_case_id: str | None  # an enforcement case (only enforcement/admin see it); None if none drawn
    missions: tuple[str, ...]


def _offset(east_m: np.ndarray, north_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres around DEMO_CENTER to lon/lat (equirectangular: fine over a few km)."""
    lon0, lat0 = DEMO_CENTER
    lat = lat0 + north_m / _M_PER_DEG_LAT
    lon = lon0 + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return lon, lat


def _road_points(
    road: np.ndarray, chainage: np.ndarray, offset_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """East/north metres of points ``chainage`` along roads ``road`` (indices), ``offset_m`` to the right."""
    bearing = np.radians(np.array([r[2] for r in _ROADS]))[road]
    x0 = np.array([r[4] for r in _ROADS])[road]
    y0 = np.array([r[5] for r in _ROADS])[road]
    ux, uy = np.sin(bearing), np.cos(bearing)
    # right of the direction of travel: (uy, -ux)
    return x0 + ux * chainage + uy * offset_m, y0 + uy * chainage - ux * offset_m


def demo_frame(seed: int, size: tuple[int, int] = FRAME_SIZE) -> bytes:
    """A real JPEG: grey asphalt with noise and lane marks, different per ``seed``."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = np.linspace(70, 110, h, dtype=np.float32)[:, None] + rng.normal(0, 12, (h, w)).astype(np.float32)
    img = Image.fromarray(np.clip(np.repeat(base[..., None], 3, axis=2), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for x in (w // 3, 2 * w // 3):
        for y in range(0, h, 80):
            draw.rectangle([x - 4, y, x + 4, y + 40], fill=(235, 235, 220))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _write_accounts(path: Path) -> None:
    with AccountBook(path) as accounts:
        existing = {u.name for u in accounts.users()}
        for name, (role, password) in DEMO_USERS.items():
            if name in existing:
                accounts.set_password(name, password)
            else:
                accounts.add_user(name, role, password)


def write_demo_site(root: str | Path, n_cases: int, seed: int = 0) -> DemoSite:
    """Write a demo site of ``n_cases`` cases under ``root`` (created; files there are replaced).

    Returns the paths (:class:`DemoSite`); log in with any of :data:`DEMO_USERS`.
    """
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    store_path = root / "roadsight.gpkg"
    cases_path = root / "roadsight.cases.gpkg"
    for stale in (store_path, cases_path, review_path_for(store_path)):
        stale.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    tax = load_taxonomy()
    classes = [c for c in tax.classes if c.kind in (Kind.defect, Kind.enforcement)]
    weights = np.array([1.0 if c.kind is Kind.defect else 0.35 for c in classes])
    weights /= weights.sum()
    n = n_cases

    cls_idx = rng.choice(len(classes), size=n, p=weights)
    road = rng.integers(0, len(_ROADS), size=n)
    length = np.array([r[3] for r in _ROADS])
    chainage = rng.uniform(0, 1, n) * length[road]
    offset_m = rng.normal(0.0, 3.0, n)
    east, north = _road_points(road, chainage, offset_m)
    lon, lat = _offset(east, north)
    span_s = DEMO_WEEKS * 7 * 86400.0
    first_s = rng.uniform(0, span_s * 0.9, n)
    last_s = np.minimum(span_s, first_s + rng.exponential(86400.0 * 5, n))
    t0 = DEMO_END - timedelta(seconds=span_s)
    first = (pd.to_datetime(t0) + pd.to_timedelta(first_s, unit="s")).round("us")
    last = (pd.to_datetime(t0) + pd.to_timedelta(last_s, unit="s")).round("us")
    times_seen = 1 + rng.poisson(0.8, n)
    size_m = rng.gamma(2.0, 0.4, n)
    score = rng.uniform(0.35, 0.98, n)

    n_missions = int(min(12, max(1, n // 200 + 1)))
    missions = tuple(f"demo-{i + 1:03d}" for i in range(n_missions))
    mission_of = rng.integers(0, n_missions, n)
    event_ids = np.array([f"00000000-0000-5000-9{seed % 1000:03d}-{i:012d}" for i in range(n)])
    case_ids = [case_id_for(e) for e in event_ids]

    evidence = LocalEvidenceStore(root / "roadsight.evidence")
    refs = [evidence.put(demo_frame(seed * 10 + k), "image/jpeg") for k in range(4)]
    ref_of = rng.integers(0, len(refs), n)
    bx = rng.uniform(200, FRAME_SIZE[0] - 400, n)
    by = rng.uniform(300, FRAME_SIZE[1] - 200, n)
    bw = rng.uniform(60, 300, n)
    bh = rng.uniform(40, 150, n)

    keys = [c.key for c in classes]
    ids = [c.id for c in classes]
    cats = [c.category for c in classes]
    kinds = [c.kind.value for c in classes]
    linear = np.array([k in LINEAR_CLASSES for k in keys])
    is_linear = linear[cls_idx]
    area = np.where(is_linear, np.nan, size_m**2 * 0.6)
    length_m = np.where(is_linear, size_m, np.nan)
    d = 2e-6 * (1 + size_m)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    rings = np.stack([lon, lat], axis=1)[:, None, :] + d[:, None, None] * corners[None]
    footprints = [json.dumps(r) for r in rings.tolist()]
    ref_json = [json.dumps([{"uri": r.uri, "sha256": r.sha256, "media_type": r.media_type}]) for r in refs]
    first_iso = first.map(datetime.isoformat)
    last_iso = last.map(datetime.isoformat)
    trend = [
        _trend_json(t, float(sc), None if lin else float(a), float(ln) if lin else None, missions[m])
        for t, sc, lin, a, ln, m in zip(last_iso, score, is_linear, area, length_m, mission_of, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "case_id": case_ids,
            "class_key": np.array(keys)[cls_idx],
            "class_id": np.array(ids)[cls_idx],
            "category": np.array(cats)[cls_idx],
            "kind": np.array(kinds)[cls_idx],
            "status": np.where(times_seen > 1, "confirmed", "open"),
            "lon": lon,
            "lat": lat,
            "accuracy_m": rng.uniform(0.3, 2.5, n),
            "first_seen_utc": first_iso,
            "last_seen_utc": last_iso,
            "times_seen": times_seen,
            "detections": times_seen * (1 + rng.poisson(2.0, n)),
            "missed_passes": np.zeros(n, dtype=int),
            "size_m": size_m,
            "area_m2": area,
            "length_m": length_m,
            "best_score": score,
            "trend": trend,
            "votes": [json.dumps({keys[c]: float(s)}) for c, s in zip(cls_idx, score, strict=True)],
            "class_ids": [json.dumps({keys[c]: ids[c]}) for c in cls_idx],
            "event_ids": [json.dumps([e]) for e in event_ids],
            "footprint": footprints,
            "evidence": [ref_json[k] for k in ref_of],
            "weight": np.ones(n),
            "info": 1.0 / np.square(rng.uniform(0.3, 2.5, n)),
            "road_id": np.array([r[0] for r in _ROADS])[road],
            "road_name": np.array([r[1] for r in _ROADS])[road],
            "chainage_m": chainage,
            "stake": [format_stake(c) for c in chainage],
            "side": np.where(offset_m >= 0, "right", "left"),
            "offset_m": np.abs(offset_m),
            "road_distance_m": np.abs(offset_m),
        }
    )
    assert list(frame.columns[: len(CASE_COLUMNS)]) == list(CASE_COLUMNS)
    cases = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    save_cases(cases, cases_path, layer=CASES_LAYER)
    _write_coverage(cases_path, missions, rng)

    events = [
        GeoEvent(
            event_id=str(event_ids[i]),
            class_id=int(ids[cls_idx[i]]),
            class_key=keys[cls_idx[i]],
            score=float(score[i]),
            lon=float(lon[i]),
            lat=float(lat[i]),
            accuracy_m=1.0,
            time_utc=last[i].to_pydatetime(),
            mission_id=missions[mission_of[i]],
            source_id="cam0",
            frame_index=i,
            box_xyxy=(float(bx[i]), float(by[i]), float(bx[i] + bw[i]), float(by[i] + bh[i])),
            footprint=tuple((float(x), float(y)) for x, y in rings[i]),
            evidence=(refs[ref_of[i]],),
        )
        for i in range(n)
    ]
    with GeoPackageStore(store_path) as store:
        store.write(events)

    users_path = users_path_for(store_path)
    _write_accounts(users_path)
    key_path = root / "site_key.pem"
    if not key_path.exists():
        generate_site_key(key_path)
    kind_arr = frame["kind"].to_numpy()
    defect = np.flatnonzero(kind_arr == Kind.defect.value)
    enforcement = np.flatnonzero(kind_arr == Kind.enforcement.value)
    return DemoSite(
        root=root,
        store=store_path,
        cases_path=cases_path,
        evidence_root=root / "roadsight.evidence",
        users_path=users_path,
        review_path=review_path_for(store_path),
        site_key=key_path,
        n_cases=n,
        case_ids=tuple(case_ids),
        defect_case_id=case_ids[int(defect[0])] if len(defect) else case_ids[0],
        enforcement_case_id=case_ids[int(enforcement[0])] if len(enforcement) else None,
        missions=missions,
    )


def _trend_json(time_iso: str, score: float, area: float | None, length: float | None, pass_id: str) -> str:
    """One observation, as :func:`geo.cases.save_cases` stores a trend."""
    obs = {"time_utc": time_iso, "score": score, "area_m2": area, "length_m": length, "pass_id": pass_id}
    return json.dumps([obs])


def _write_coverage(cases_path: Path, missions: tuple[str, ...], rng: np.random.Generator) -> None:
    """Frame footprints along one road per mission (8 m squares every 10 m, at most 300 a mission)."""
    rows = []
    for m, mission_id in enumerate(missions):
        r = m % len(_ROADS)
        count = int(min(300, _ROADS[r][3] // 10))
        chain = np.arange(count) * 10.0
        east, north = _road_points(np.full(count, r), chain, np.zeros(count))
        half = 4.0
        lon_a, lat_a = _offset(east - half, north - half)
        lon_b, lat_b = _offset(east + half, north + half)
        start = DEMO_END - timedelta(days=int(rng.integers(1, DEMO_WEEKS * 7)))
        for i in range(count):
            rows.append(
                {
                    "mission_id": mission_id,
                    "source_id": "cam0",
                    "frame_index": i,
                    "time_utc": (start + timedelta(seconds=i * 0.5)).isoformat(),
                    "geometry": shapely.box(lon_a[i], lat_a[i], lon_b[i], lat_b[i]),
                }
            )
    coverage = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    pyogrio.write_dataframe(coverage, cases_path, layer=COVERAGE_LAYER, driver="GPKG", append=True)


__all__ = ["DEMO_CENTER", "DEMO_USERS", "DemoSite", "demo_frame", "write_demo_site"]
