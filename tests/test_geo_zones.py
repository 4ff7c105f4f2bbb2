"""Zone rules: no-parking cases from vehicle tracks, street-order detections in their windows, validation.

The parking scenario exercises the rule on simulated vehicle tracks (timed,
geo-referenced sightings per track as a tracker would give them, with
GNSS-like position noise), not the detector: the simulator renders no vehicles.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, make_event, offset_lonlat

from geo import GeoError, GeoEvent
from geo.cases import CaseBook
from geo.zones import (
    EVIDENCE_GAP_S,
    VehicleObservation,
    ZoneRule,
    load_zones,
    parse_windows,
)

# 02:00 UTC is 10:00 in Hangzhou (Asia/Shanghai, UTC+8), a Wednesday.
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def rect(e0: float, n0: float, e1: float, n1: float) -> list[list[float]]:
    corners = [(e0, n0), (e1, n0), (e1, n1), (e0, n1), (e0, n0)]
    return [list(offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n)) for e, n in corners]


def zone_feature(ring: list[list[float]], **props: object) -> dict[str, object]:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def write_zones(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def track(track_id: str, times_s: np.ndarray, east: np.ndarray, north: np.ndarray,
          rng: np.random.Generator, noise_m: float = 0.5) -> list[VehicleObservation]:  # fmt: skip
    """Sightings of one vehicle with GNSS-like noise; frame indices at 10 fps of a fixed camera."""
    e = east + rng.normal(0, noise_m, len(times_s))
    n = north + rng.normal(0, noise_m, len(times_s))
    out = []
    for t, ei, ni in zip(times_s, e, n, strict=True):
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, float(ei), float(ni))
        out.append(VehicleObservation(track_id, T0 + timedelta(seconds=float(t)), lon, lat,
                                      score=float(rng.uniform(0.5, 0.9)), accuracy_m=noise_m,
                                      mission_id="cam-7", source_id="kerbcam",
                                      frame_index=round(t * 10)))  # fmt: skip
    return out


def parked(track_id: str, east: float, north: float, rng: np.random.Generator, start: float = 0.0,
           duration: float = 60.0, rate_hz: float = 2.0) -> list[VehicleObservation]:  # fmt: skip
    t = start + np.arange(0.0, duration + 1e-9, 1.0 / rate_hz)
    return track(track_id, t, np.full(len(t), east), np.full(len(t), north), rng)


def passing(track_id: str, speed: float, north: float, rng: np.random.Generator,
            start: float = 0.0) -> list[VehicleObservation]:  # fmt: skip
    """A car driving east through the 0..60 m zone, seen at 10 Hz from -20 m to +80 m."""
    t = np.arange(0.0, 100.0 / speed, 0.1)
    return track(track_id, start + t, -20.0 + speed * t, np.full(len(t), north), rng)


def stopped_at_light(track_id: str, stop_s: float, rng: np.random.Generator) -> list[VehicleObservation]:
    """Drives in at 8 m/s, stands ``stop_s`` at 40 m east, drives on."""
    t_in = np.arange(0.0, 5.0, 0.1)  # 0 -> 40 m
    t_stop = np.arange(5.0, 5.0 + stop_s, 0.1)
    t_out = np.arange(5.0 + stop_s, 5.0 + stop_s + 4.0, 0.1)
    east = np.concatenate([8.0 * t_in, np.full(len(t_stop), 40.0), 40.0 + 8.0 * (t_out - t_out[0])])
    times = np.concatenate([t_in, t_stop, t_out])
    return track(track_id, times, east, np.full(len(times), 2.0), rng)


@pytest.fixture
def kerb_zone(tmp_path: Path) -> Path:
    """A no-parking strip 60 m x 8 m along the kerb, T = 30 s, always in force."""
    return write_zones(
        tmp_path / "zones.geojson",
        [zone_feature(rect(0, -1, 60, 7), zone_id="NP-1", rule="no_parking", min_stationary_s=30)],
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parked_vehicles_and_only_they_become_cases(kerb_zone: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    zones = load_zones(kerb_zone, default_timezone="Asia/Shanghai")
    observations = (
        parked("parked-a", 10.0, 1.5, rng)
        + parked("parked-b", 25.0, 5.0, rng, start=3.0)
        + parked("parked-c", 52.0, 2.0, rng, start=7.0, rate_hz=10.0)
        + parked("parked-outside", 90.0, 2.0, rng)  # stands as long, but beyond the zone
        + passing("pass-slow", 5.0, 2.0, rng)
        + passing("pass-mid", 9.0, 4.0, rng, start=4.0)
        + passing("pass-fast", 15.0, 1.0, rng, start=9.0)
        + stopped_at_light("light-20s", 20.0, rng)  # stands 20 s < T
    )
    # A GNSS outlier in a parked car's track must not end its stationary spell.
    k = 40
    far = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 10.0 + 6.0, 1.5)
    observations[k] = replace(observations[k], lon=far[0], lat=far[1])
    rng.shuffle(observations)  # any order in, sorted by the rule

    cases = zones.parking_cases(observations)

    assert sorted(c.track_id for c in cases) == ["parked-a", "parked-b", "parked-c"]
    truth = {"parked-a": (10.0, 1.5), "parked-b": (25.0, 5.0), "parked-c": (52.0, 2.0)}
    for case in cases:
        assert case.zone_id == "NP-1" and case.class_key == "illegal_parking_vehicle"
        first, last = case.evidence
        assert (last.time_utc - first.time_utc).total_seconds() >= EVIDENCE_GAP_S
        assert case.stationary_s >= 30.0 and first.track_id == last.track_id == case.track_id
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, *truth[case.track_id])
        assert GEOD.inv(case.lon, case.lat, lon, lat)[2] < 0.5


def test_a_shorter_threshold_catches_the_car_at_the_light(tmp_path: Path) -> None:
    """The same light stop is a case where the zone's T is 15 s: the rule reads T from the data."""
    rng = np.random.default_rng(3)
    path = write_zones(
        tmp_path / "z.geojson",
        [zone_feature(rect(0, -1, 60, 7), zone_id="NP-2", rule="no_parking", min_stationary_s=15)],
    )
    cases = load_zones(path).parking_cases(stopped_at_light("light-20s", 20.0, rng))
    assert [c.track_id for c in cases] == ["light-20s"]
    assert 17.0 <= cases[0].stationary_s <= 21.0


def test_parking_counts_only_inside_the_time_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    path = write_zones(
        tmp_path / "z.geojson",
        [zone_feature(rect(0, -1, 60, 7), zone_id="NP-AM", rule="no_parking", min_stationary_s=30,
                      windows="mon-fri 07:00-09:00; sat 08:00-10:00", timezone="Asia/Shanghai")],
    )  # fmt: skip
    zones = load_zones(path)
    at_10 = parked("late", 20.0, 2.0, rng)  # 10:00-10:01 local, Wednesday: after the window
    hour = 3600.0
    at_0830 = parked("early", 30.0, 2.0, rng, start=-1.5 * hour)  # 08:30 local
    # Straddles the window's end: 08:59:40 to 09:00:40 local: only 20 s inside it.
    straddle = parked("straddle", 45.0, 2.0, rng, start=-hour - 20.0)
    cases = zones.parking_cases(at_10 + at_0830 + straddle)
    assert [c.track_id for c in cases] == ["early"]


def test_parking_cases_feed_the_case_book_with_evidence_and_stable_ids(kerb_zone: Path) -> None:
    rng = np.random.default_rng(5)
    zones = load_zones(kerb_zone)
    obs = parked("p1", 20.0, 2.0, rng)
    (case,) = zones.parking_cases(obs)
    event = case.to_event()
    assert event.class_key == "illegal_parking_vehicle" and event.class_id == 18
    assert event.event_id == zones.parking_cases(list(reversed(obs)))[0].to_event().event_id
    assert event.frame_index == case.evidence[1].frame_index and event.time_utc == case.end_utc
    book = CaseBook()
    book.ingest([event])
    assert book.cases[0].class_key == "illegal_parking_vehicle"


def test_street_order_detections_are_cases_only_in_listed_zones_and_windows(tmp_path: Path) -> None:
    path = write_zones(
        tmp_path / "z.geojson",
        [zone_feature(rect(0, 0, 50, 20), zone_id="SO-1", rule="street_order",
                      classes="street_vending, garbage_pile", windows="07:00-11:00",
                      timezone="Asia/Shanghai")],
    )  # fmt: skip
    zones = load_zones(path)

    def ev(i: int, key: str, east: float, t: datetime) -> GeoEvent:
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, east, 10.0)
        cid = {"street_vending": 20, "garbage_pile": 25, "illegal_advertising": 22, "pothole": 4}[key]
        return replace(make_event(i, class_key=key, class_id=cid, lon=lon, lat=lat), time_utc=t)

    events = [
        ev(0, "street_vending", 10, T0),  # 10:00 local, in the zone: a case
        ev(1, "garbage_pile", 20, T0 + timedelta(minutes=30)),  # 10:30: a case
        ev(2, "street_vending", 10, T0 + timedelta(hours=2)),  # 12:00: outside the window
        ev(3, "street_vending", 80, T0),  # outside the zone
        ev(4, "illegal_advertising", 10, T0),  # no zone governs it: passes through
        ev(5, "pothole", 10, T0),
    ]
    result = zones.street_order(events)
    assert [e.event_id for e in result.cases] == [events[0].event_id, events[1].event_id]
    assert result.zone_ids == ["SO-1", "SO-1"]
    assert result.outside_windows == 1 and result.outside_zones == 1
    assert [e.class_key for e in result.ungoverned] == ["illegal_advertising", "pothole"]


def test_time_windows_parse_days_ranges_and_midnight() -> None:
    (w,) = parse_windows("fri-sun 22:00-06:00")
    assert w.days == {4, 5, 6} and (w.start_min, w.end_min) == (1320, 360)
    fri_23 = datetime(2026, 11, 27, 23, 0)  # a Friday
    assert w.contains(fri_23) and w.contains(fri_23 + timedelta(hours=6)) is True  # Sat 05:00
    assert not w.contains(datetime(2026, 11, 26, 23, 0))  # Thursday night
    assert w.contains(datetime(2026, 11, 30, 5, 0))  # Monday 05:00: Sunday night's window
    assert parse_windows("sat,sun 10:00-12:00")[0].days == {5, 6}
    with pytest.raises(ValueError, match="not like"):
        parse_windows("weekdays 7-9")


A_ZONE = r"bad\.geojson: feature 0 \(zone_id=A\)"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"zone_id": "A", "rule": "no_standing"}, A_ZONE + r"\.rule: 'no_standing'"),
        ({"zone_id": "A", "rule": "no_parking", "windows": "07:00-25:00"}, A_ZONE + r"\.windows: .*range"),
        (
            {"zone_id": "A", "rule": "street_order", "classes": "vending"},
            A_ZONE + r"\.classes: unknown.*vending",
        ),
        ({"zone_id": "A", "rule": "no_parking", "timezone": "Mars/Olympus"}, A_ZONE + r"\.timezone: unknown"),
        ({"zone_id": "A", "rule": "no_parking", "min_stationary_s": "long"}, A_ZONE + r"\.min_stationary_s"),
        ({"rule": "no_parking"}, r"bad\.geojson: zone file has no 'zone_id' column"),
    ],
)
def test_bad_zone_files_name_the_file_feature_and_key(
    tmp_path: Path, props: dict[str, object], message: str
) -> None:
    path = write_zones(tmp_path / "bad.geojson", [zone_feature(rect(0, 0, 10, 10), **props)])
    with pytest.raises(GeoError, match=message):
        load_zones(path)


def test_a_zone_must_be_a_polygon(tmp_path: Path) -> None:
    feature: dict[str, object] = {"type": "Feature", "properties": {"zone_id": "L", "rule": "no_parking"},
               "geometry": {"type": "LineString", "coordinates": rect(0, 0, 10, 10)[:2]}}  # fmt: skip
    path = write_zones(tmp_path / "line.geojson", [feature])
    with pytest.raises(GeoError, match=r"line\.geojson: feature 0 \(zone_id=L\): geometry is a LineString"):
        load_zones(path)
    zones = load_zones(write_zones(tmp_path / "ok.geojson", [zone_feature(rect(0, 0, 5, 5), zone_id=1,
                                                                          rule="NO_PARKING")]))  # fmt: skip
    assert zones.zones[0].rule is ZoneRule.no_parking and zones.zones[0].min_stationary_s == 180.0
