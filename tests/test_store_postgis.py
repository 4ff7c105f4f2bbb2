"""The EventStore interface on both stores (GeoPackage and a real PostGIS server), and PostGIS specifics."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from fixtures_geo import make_event, small_events

from geo import EvidenceRef
from stream.errors import StoreError, StoreUnavailableError
from stream.event_store import EventStore, evidence_from_json, open_store
from stream.postgis import PostGISStore
from stream.store import GeoPackageStore

# Valid for the store (the wire schema would refuse most of these; the store must not rely on it).
HOSTILE_TEXT = [
    "x'); DROP TABLE geo_events;--",
    "Robert'); DROP TABLE students;-- \\ $$ $tag$ %s %(x)s {} ? :name",
    "1; DELETE FROM geo_events WHERE '1'='1",
    "\"; COPY geo_events TO '/tmp/x'; --",
    "多语言 ¿ é \u202e reversed \u2028 line",
    "\\.\nend-of-copy marker and a newline\ttab",
]


@pytest.fixture(params=["gpkg", "postgis"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind, as the URI ``open_store`` takes."""
    if request.param == "gpkg":
        return f"sqlite:///{tmp_path / 'events.gpkg'}"
    return str(request.getfixturevalue("postgis_url"))


def test_open_store_picks_the_store_by_uri(tmp_path: Path, postgis_url: str) -> None:
    with open_store(tmp_path / "a.gpkg") as plain, open_store(f"sqlite:///{tmp_path / 'b.gpkg'}") as sqlite:
        assert isinstance(plain, GeoPackageStore) and isinstance(sqlite, GeoPackageStore)
        assert sqlite.path == tmp_path / "b.gpkg"
    with open_store(postgis_url) as pg:
        assert isinstance(pg, PostGISStore) and isinstance(pg, EventStore)
    with pytest.raises(StoreError, match=r"mysql:// is not a store URI"):
        open_store("mysql://host/db")


def test_write_is_idempotent_and_counts_new_rows(store_uri: str) -> None:
    events = small_events()
    with open_store(store_uri) as store:
        assert store.write(events) == 5
        assert store.write(events) == 0
        assert store.write([*events[:2], make_event(99)]) == 1
        assert store.write([]) == 0
        assert store.write([make_event(7), make_event(7)]) == 1  # a duplicate inside one batch
        assert store.count() == 7
        assert store.event_ids() == {e.event_id for e in events} | {make_event(i).event_id for i in (7, 99)}


def test_read_round_trip_and_class_filter(store_uri: str) -> None:
    events = small_events()
    events[0] = make_event(0, with_footprint=False)
    events[2] = replace(events[2], evidence=(EvidenceRef("s3://bucket/ab/cd.jpg", "cd" * 32, "image/png"),))
    with open_store(store_uri) as store:
        store.write(events)
        gdf = store.read()
        assert gdf.crs.to_epsg() == 4326 and len(gdf) == 5
        assert list(gdf["event_id"]) == [e.event_id for e in events]
        assert gdf.geometry.x.tolist() == pytest.approx([e.lon for e in events], abs=1e-12)
        assert gdf.geometry.y.tolist() == pytest.approx([e.lat for e in events], abs=1e-12)
        assert gdf["time_utc"].tolist() == [e.time_utc for e in events]
        assert gdf["track_id"].iloc[1] == 1 and gdf["track_id"].isna().iloc[0]
        assert list(gdf.loc[1, ["box_x1", "box_y1", "box_x2", "box_y2"]]) == [10.0, 20.0, 30.0, 40.0]
        assert pd.isna(gdf["footprint"].iloc[0])
        ring = json.loads(gdf["footprint"].iloc[1])["coordinates"][0]
        np.testing.assert_allclose(ring, events[1].footprint, rtol=0, atol=1e-12)
        assert evidence_from_json(gdf["evidence"].iloc[2]) == events[2].evidence
        assert pd.isna(gdf["evidence"].iloc[1])
        assert set(store.read(classes=["road_debris"])["class_key"]) == {"road_debris"}
        assert len(store.read(classes=["road_debris"])) == 2
        assert len(store.read(classes=[])) == 0


def test_both_stores_read_back_the_same_frame(tmp_path: Path, postgis_url: str) -> None:
    events = small_events()
    with open_store(tmp_path / "e.gpkg") as gpkg, open_store(postgis_url) as pg:
        gpkg.write(events)
        pg.write(events)
        a, b = gpkg.read(), pg.read()
    assert list(a.columns) == list(b.columns)
    assert dict(a.dtypes) == dict(b.dtypes)
    plain = [c for c in a.columns if c not in ("footprint", "geometry")]
    assert a[plain].equals(b[plain])
    assert a.geometry.geom_equals(b.geometry).all()


def test_hostile_strings_are_stored_verbatim(store_uri: str) -> None:
    events = [
        replace(
            make_event(i),
            mission_id=text,
            source_id=text[::-1],
            evidence=(EvidenceRef(uri=text, sha256="ab" * 32, media_type=text),),
        )
        for i, text in enumerate(HOSTILE_TEXT)
    ]
    with open_store(store_uri) as store:
        assert store.write(events) == len(events)
        assert store.write(events) == 0
        gdf = store.read()
        assert list(gdf["mission_id"]) == HOSTILE_TEXT
        assert list(gdf["source_id"]) == [t[::-1] for t in HOSTILE_TEXT]
        assert [evidence_from_json(e)[0].uri for e in gdf["evidence"]] == HOSTILE_TEXT
        assert store.count() == len(HOSTILE_TEXT)  # the table is still there, nothing deleted
        assert len(store.read(classes=["pothole') OR ('1'='1"])) == 0


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"frame_index": 2**70}, id="int-overflow"),
        pytest.param({"footprint": ((120.0, 30.0), (120.1, 30.0))}, id="not-a-polygon"),
    ],
)
def test_a_failed_batch_stores_nothing(store_uri: str, bad: dict[str, object]) -> None:
    good = small_events()
    with open_store(store_uri) as store:
        with pytest.raises(StoreError, match=r"events failed|not a polygon"):
            store.write([*good, replace(make_event(50), **bad)])  # type: ignore[arg-type]
        assert store.count() == 0
        assert store.write(good) == 5  # the store is still usable


def test_postgis_refuses_nul_characters_and_stores_nothing(postgis_url: str) -> None:
    with PostGISStore(postgis_url) as store:
        with pytest.raises(StoreError, match="writing 2 events failed"):
            store.write([make_event(1), replace(make_event(2), source_id="nul \x00 byte")])
        assert store.count() == 0


def test_read_only_store_refuses_writes(store_uri: str) -> None:
    with open_store(store_uri) as store:
        store.write(small_events(1, 0))
    with open_store(store_uri, readonly=True) as ro:
        assert ro.count() == 1
        with pytest.raises(StoreError, match="read-only"):
            ro.write([make_event(3)])


# --- PostGIS specifics -------------------------------------------------------------


def test_postgis_table_has_typed_geometries_and_gist_indexes(postgis_url: str) -> None:
    with PostGISStore(postgis_url) as store:
        store.write(small_events())
    with psycopg.connect(postgis_url) as conn:
        columns = conn.execute(
            "SELECT f_geometry_column, type, srid FROM geometry_columns "
            "WHERE f_table_name = 'geo_events' ORDER BY f_geometry_column"
        ).fetchall()
        assert columns == [("footprint", "POLYGON", 4326), ("geom", "POINT", 4326)]
        indexes = {
            row[0] for row in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'geo_events'")
        }
        assert any("USING gist (geom)" in i for i in indexes)
        assert any("USING gist (footprint)" in i for i in indexes)
        assert any("UNIQUE" in i and "(event_id)" in i for i in indexes)
        inside = conn.execute(
            "SELECT count(*) FROM geo_events WHERE ST_Contains(footprint, geom) AND ST_IsValid(footprint)"
        ).fetchone()
        assert inside == (5,)
        near = conn.execute(
            "SELECT count(*) FROM geo_events "
            "WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(120.15, 30.27), 4326)::geography, 8)"
        ).fetchone()
        assert near == (2,)  # events are ~5.8 m apart: the origin one and the next


def test_concurrent_writers_store_each_event_once(postgis_url: str) -> None:
    events = [make_event(i) for i in range(400)]
    stores = [PostGISStore(postgis_url) for _ in range(4)]
    new_rows = [0] * len(stores)

    def write_all(k: int) -> None:
        for start in range(0, len(events), 50):  # every writer writes every event
            new_rows[k] += stores[k].write(events[start : start + 50])

    threads = [threading.Thread(target=write_all, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(new_rows) == len(events)
    assert stores[0].count() == len(events)
    for s in stores:
        s.close()


def test_table_name_in_the_url_and_password_never_in_messages(postgis_url: str) -> None:
    with PostGISStore(f"{postgis_url}?table=patrol_2026") as store:
        store.write(small_events(2, 0))
        assert store.table == "patrol_2026" and store.count() == 2
    with PostGISStore(postgis_url) as default:
        assert default.count() == 0
    with pytest.raises(StoreError, match="table name"):
        PostGISStore(f"{postgis_url}?table=x;drop")
    with pytest.raises(StoreUnavailableError, match=r"roadsight:\*\*\*@127\.0\.0\.1:9/") as info:
        PostGISStore("postgresql://roadsight:s3cret@127.0.0.1:9/nothing", connect_timeout_s=2)
    assert "s3cret" not in str(info.value)
    with pytest.raises(StoreError, match="no table 'missing'"):
        PostGISStore(f"{postgis_url}?table=missing", readonly=True)


def test_store_reconnects_after_losing_its_connection(postgis_url: str) -> None:
    with PostGISStore(postgis_url) as store:
        store.write(small_events(2, 0))
        with psycopg.connect(postgis_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'roadsight-store' AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreUnavailableError):
            store.write([make_event(10)])
        assert store.write([make_event(10)]) == 1  # the next call reconnects
        assert store.count() == 3
