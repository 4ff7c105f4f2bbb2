"""GeoPackageStore: a real GeoPackage, read back with GDAL (pyogrio) and sqlite3."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fixtures_geo import make_event, small_events, write_store

from geo import EvidenceRef
from stream.gpkg import APPLICATION_ID, blob_wkb, parse_gpkg_header
from stream.store import GeoPackageStore, StoreError, evidence_from_json


def test_write_is_idempotent_and_counts_new_rows(tmp_path: Path):
    events = small_events()
    with GeoPackageStore(tmp_path / "e.gpkg") as store:
        assert store.write(events) == 5
        assert store.write(events) == 0
        assert store.write([*events[:2], make_event(99)]) == 1
        assert store.write([]) == 0
        assert store.count() == 6
        assert store.event_ids() == {e.event_id for e in events} | {make_event(99).event_id}


def test_read_round_trip_and_class_filter(tmp_path: Path):
    events = small_events()
    events[0] = make_event(0, with_footprint=False)
    with GeoPackageStore(write_store(tmp_path / "e.gpkg", events)) as store:
        gdf = store.read()
        assert gdf.crs.to_epsg() == 4326 and len(gdf) == 5
        assert list(gdf["event_id"]) == [e.event_id for e in events]
        assert gdf.geometry.x.tolist() == pytest.approx([e.lon for e in events])
        assert gdf["time_utc"].iloc[3] == events[3].time_utc
        assert gdf["track_id"].iloc[1] == 1 and gdf["track_id"].isna().iloc[0]
        assert list(gdf.loc[1, ["box_x1", "box_y1", "box_x2", "box_y2"]]) == [10.0, 20.0, 30.0, 40.0]
        assert set(store.read(classes=["road_debris"])["class_key"]) == {"road_debris"}
        assert len(store.read(classes=["road_debris"])) == 2
        assert len(store.read(classes=[])) == 0


def test_gdal_reads_both_layers(tmp_path: Path):
    path = write_store(tmp_path / "e.gpkg", small_events())
    events = gpd.read_file(path, layer="geo_events")
    assert len(events) == 5 and events.crs.to_epsg() == 4326
    assert (events.geom_type == "Point").all()
    assert set(events["class_key"]) == {"pothole", "road_debris"}
    assert str(events["time_utc"].dtype).startswith("datetime64")
    footprints = gpd.read_file(path, layer="geo_event_footprints")
    assert len(footprints) == 5 and (footprints.geom_type == "Polygon").all()
    joined = footprints.merge(events[["event_id", "geometry"]], on="event_id", suffixes=("", "_pt"))
    assert all(poly.contains(pt) for poly, pt in zip(joined.geometry, joined["geometry_pt"], strict=True))


def test_geopackage_core_tables_header_and_geometry_blobs(tmp_path: Path):
    path = write_store(tmp_path / "e.gpkg", small_events(1, 0))
    head = path.read_bytes()[:100]
    # application_id at offset 68 and user_version at 60 of the SQLite header, in the file itself.
    assert struct.unpack(">I", head[68:72])[0] == APPLICATION_ID
    assert struct.unpack(">I", head[60:64])[0] >= 10200
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "gpkg_spatial_ref_sys",
            "gpkg_contents",
            "gpkg_geometry_columns",
            "geo_events",
            "geo_event_footprints",
        } <= tables
        srs = {r[0] for r in conn.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
        assert {-1, 0, 4326} <= srs
        contents = conn.execute(
            "SELECT data_type, srs_id, min_x, max_x FROM gpkg_contents WHERE table_name='geo_events'"
        ).fetchone()
        assert contents[:2] == ("features", 4326) and contents[2] == pytest.approx(contents[3])
        geometry_column = conn.execute(
            "SELECT geometry_type_name, srs_id FROM gpkg_geometry_columns "
            "WHERE table_name='geo_events' AND column_name='geom'"
        ).fetchone()
        assert geometry_column == ("POINT", 4326)
        blob, lon, lat = conn.execute("SELECT geom, lon, lat FROM geo_events").fetchone()
        flags, srs_id, envelope = parse_gpkg_header(blob)
        assert blob[:2] == b"GP" and blob[2] == 0 and flags == 0b11 and srs_id == 4326
        assert envelope == (lon, lon, lat, lat)
        assert shapely.from_wkb(blob_wkb(blob)).equals(shapely.Point(lon, lat))
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def gdal_count_in_other_process(path: Path) -> int:
    """Feature count read by GDAL in a separate process, as a dashboard or QGIS would.

    Not in this process: GDAL bundles its own SQLite, and two SQLite libraries in
    one process break each other's POSIX locks (closing one can delete the WAL).
    """
    code = "import sys, geopandas as gpd; print(len(gpd.read_file(sys.argv[1], layer='geo_events')))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, timeout=120
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_readers_work_while_the_pipeline_writes(tmp_path: Path):
    path = tmp_path / "live.gpkg"
    writer = GeoPackageStore(path)
    try:
        writer.write(small_events())
        reader = GeoPackageStore(path, readonly=True)
        # Hold a write transaction open on a raw connection: WAL readers must not block.
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE geo_events SET score = 0.1")
        assert reader.count() == 5
        assert (reader.read()["score"] > 0.1).all()  # uncommitted change invisible
        assert gdal_count_in_other_process(path) == 5
        raw.execute("ROLLBACK")
        raw.close()

        def write_more() -> None:
            for k in range(10):
                writer.write([make_event(100 + k)])

        t = threading.Thread(target=write_more)
        t.start()
        seen = [reader.count() for _ in range(20)]
        t.join()
        assert all(5 <= s <= 15 for s in seen) and reader.count() == 15
        assert (tmp_path / "live.gpkg-wal").exists()  # still un-checkpointed: GDAL must read the WAL
        assert gdal_count_in_other_process(path) == 15
        reader.close()
    finally:
        writer.close()


def test_evidence_is_stored_as_json(tmp_path: Path):
    ev = make_event(1)
    ev = type(ev)(
        **{
            **{f: getattr(ev, f) for f in ev.__dataclass_fields__},
            "evidence": (EvidenceRef("file:///tmp/a.jpg", "ab" * 32),),
        }
    )
    with GeoPackageStore(write_store(tmp_path / "e.gpkg", [ev])) as store:
        assert evidence_from_json(store.read()["evidence"].iloc[0]) == ev.evidence


def test_bad_files_raise_store_error_naming_the_file(tmp_path: Path):
    with pytest.raises(StoreError, match=r"missing\.gpkg: event store not found"):
        GeoPackageStore(tmp_path / "missing.gpkg", readonly=True)
    plain = tmp_path / "plain.sqlite"
    conn = sqlite3.connect(plain)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"plain\.sqlite: an SQLite file but not a GeoPackage"):
        GeoPackageStore(plain)
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"junk\.gpkg: not a usable GeoPackage"):
        GeoPackageStore(junk)
    with GeoPackageStore(tmp_path / "ro.gpkg"):
        pass
    with (
        GeoPackageStore(tmp_path / "ro.gpkg", readonly=True) as ro,
        pytest.raises(StoreError, match="read-only"),
    ):
        ro.write([make_event(1)])


def test_array_built_blobs_are_the_bytes_shapely_gives() -> None:
    import numpy as np

    from stream.gpkg import gpkg_geometry_blobs, gpkg_point_blobs, gpkg_polygon_blobs, polygon_wkbs

    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(-180, 180, 50), rng.uniform(-90, 90, 50)
    lon[3], lat[4] = np.nan, -0.0  # odd values travel the same way
    assert gpkg_point_blobs(lon, lat) == gpkg_geometry_blobs(shapely.points(lon, lat))
    for n in (4, 5, 9):
        rings = rng.uniform(-1, 1, (20, n, 2)) + np.array([120.0, 30.0])
        rings[:, -1] = rings[:, 0]
        assert gpkg_polygon_blobs(rings) == gpkg_geometry_blobs(shapely.polygons(rings))
        assert polygon_wkbs(rings) == shapely.to_wkb(shapely.polygons(rings), byte_order=1).tolist()


def _stored_footprints(path: Path) -> dict[str, tuple[str, bytes]]:
    with sqlite3.connect(path) as conn:
        texts = dict(conn.execute("SELECT event_id, footprint FROM geo_events WHERE footprint IS NOT NULL"))
        blobs = dict(conn.execute("SELECT event_id, geom FROM geo_event_footprints"))
    conn.close()
    return {k: (texts[k], blobs[k]) for k in texts}


def test_footprints_are_stored_alike_whatever_the_ring_shapes(tmp_path: Path) -> None:
    """Uniform closed rings (built as arrays) and mixed or open rings (through shapely) are
    stored with the same text and geometry; an open ring is closed, as shapely does."""
    from dataclasses import replace

    from stream.gpkg import gpkg_geometry_blobs

    events = [make_event(i, lon=120.0 + i * 1e-3) for i in range(6)]
    pentagon = (*events[5].footprint[:4], (120.0051, 30.0), events[5].footprint[0])
    odd = [*events[:5], replace(events[5], footprint=pentagon)]  # one 6-point ring: not uniform
    open_ring = replace(
        events[2], event_id="00000000-0000-5000-8000-000000000099", footprint=events[2].footprint[:4]
    )
    with GeoPackageStore(tmp_path / "a.gpkg") as store:
        store.write(events)
    with GeoPackageStore(tmp_path / "b.gpkg") as store:
        store.write([*odd, open_ring])
    uniform, mixed = _stored_footprints(tmp_path / "a.gpkg"), _stored_footprints(tmp_path / "b.gpkg")
    for e in events[:5]:
        assert uniform[e.event_id] == mixed[e.event_id]
        assert uniform[e.event_id][1] == gpkg_geometry_blobs([shapely.Polygon(e.footprint)])[0]
    assert shapely.from_geojson(mixed[events[5].event_id][0]).equals(shapely.Polygon(pentagon))
    text, blob = mixed[open_ring.event_id]
    assert text == uniform[events[2].event_id][0]  # closed: the same ring as the closed original
    assert blob_wkb(blob) == blob_wkb(uniform[events[2].event_id][1])


def test_times_are_stored_as_isoformat_writes_them(tmp_path: Path) -> None:
    """Batch-formatted times: UTC, milliseconds truncated (not rounded), 'Z'; any time zone in."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta, timezone

    times = [
        datetime(2026, 11, 23, 9, 15, 30, 123999, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 0, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ]
    events = [replace(make_event(i), time_utc=t) for i, t in enumerate(times)]
    with GeoPackageStore(tmp_path / "t.gpkg") as store:
        store.write(events)
    with sqlite3.connect(tmp_path / "t.gpkg") as conn:
        stored = [r[0] for r in conn.execute("SELECT time_utc FROM geo_events ORDER BY fid")]
    conn.close()
    assert stored == [
        "2026-11-23T09:15:30.123Z",
        "1970-01-01T00:00:00.000Z",
        "2199-12-31T23:59:59.999Z",
        "2025-12-31T19:30:00.000Z",
    ]
