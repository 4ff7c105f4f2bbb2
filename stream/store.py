"""An idempotent GeoPackage event store on the stdlib ``sqlite3`` module.

The file is a real OGC GeoPackage: QGIS and GDAL (``geopandas.read_file(path,
layer="geo_events")``) open it directly. Layers:

* ``geo_events`` -- POINT ``geom`` (the anchor point) and one column per
  :class:`GeoEvent` field; ``event_id`` is UNIQUE so replays insert nothing;
* ``geo_event_footprints`` -- POLYGON ``geom``, the detection box on the ground
  (only for events that have a footprint).

The database runs in WAL mode, so dashboards and other readers can read while
the pipeline writes. Inside the *writing* process read with :meth:`read`, not
GDAL: GDAL bundles its own SQLite library, and two SQLite libraries in one
process break each other's POSIX locks (closing GDAL's handle can checkpoint
and delete the WAL under the writer). Other processes may use GDAL freely.

There is no R-tree spatial index (its triggers need SpatiaLite functions the
stdlib ``sqlite3`` lacks); GDAL and QGIS read the layers without one.

Example:
    >>> with GeoPackageStore("events.gpkg") as store:  # doctest: +SKIP
    ...     store.write(events)
    ...     gdf = store.read(classes=["pothole"])
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from geo import GeoEvent
from stream.errors import StoreError
from stream.event_store import (
    READ_COLUMNS,
    evidence_from_json,
    evidence_json,
    footprint_polygons,
    uniform_rings,
)
from stream.gpkg import (
    gpkg_geometry_blobs,
    gpkg_point_blobs,
    gpkg_polygon_blobs,
    init_core,
    is_geopackage,
    register_feature_table,
)

__all__ = ["EVENTS_TABLE", "FOOTPRINTS_TABLE", "GeoPackageStore", "StoreError", "evidence_from_json"]

EVENTS_TABLE = "geo_events"
FOOTPRINTS_TABLE = "geo_event_footprints"

_EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  geom POINT,
  event_id TEXT NOT NULL UNIQUE,
  class_id INTEGER NOT NULL,
  class_key TEXT NOT NULL,
  score REAL NOT NULL,
  lon REAL NOT NULL,
  lat REAL NOT NULL,
  accuracy_m REAL NOT NULL,
  time_utc DATETIME NOT NULL,
  mission_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  frame_index INTEGER NOT NULL,
  box_x1 REAL, box_y1 REAL, box_x2 REAL, box_y2 REAL,
  footprint TEXT,
  track_id INTEGER,
  evidence TEXT
);
CREATE INDEX IF NOT EXISTS idx_{EVENTS_TABLE}_class_key ON {EVENTS_TABLE} (class_key);
CREATE TABLE IF NOT EXISTS {FOOTPRINTS_TABLE} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  geom POLYGON,
  event_id TEXT NOT NULL UNIQUE,
  class_key TEXT NOT NULL
);
"""

# The read columns, stored as they are, behind the GeoPackage point geometry.
_EVENT_COLUMNS = ("geom", *READ_COLUMNS)


def _gpkg_datetime(event: GeoEvent) -> str:
    # GeoPackage DATETIME: ISO 8601 UTC with millisecond precision and 'Z'.
    return event.time_utc.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_MICROSECOND = timedelta(microseconds=1)


def _gpkg_datetimes(batch: Sequence[GeoEvent]) -> list[str]:
    """:func:`_gpkg_datetime` of every event, the same text, formatted by NumPy in one call
    (exact integer microseconds, truncated to milliseconds as ``isoformat`` does)."""
    try:
        us = np.fromiter(((e.time_utc - _EPOCH) // _MICROSECOND for e in batch), np.int64, len(batch))
    except TypeError:  # a naive datetime: one at a time, as astimezone reads it (local time)
        return [_gpkg_datetime(e) for e in batch]
    ms = us.astype("datetime64[us]").astype("datetime64[ms]")
    return [text + "Z" for text in np.datetime_as_string(ms, unit="ms").tolist()]


class GeoPackageStore:
    """Events in a GeoPackage file; ``readonly=True`` opens an existing one for reading only."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly and not self.path.exists():
            raise StoreError(f"{self.path}: event store not found")
        try:
            if readonly:
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    timeout=timeout_s,
                    check_same_thread=False,
                )
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
            self._conn = conn
            self._open()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable GeoPackage ({exc})") from None

    def _open(self) -> None:
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and not is_geopackage(conn):
            conn.close()
            raise StoreError(f"{self.path}: an SQLite file but not a GeoPackage (application_id is not GPKG)")
        if self.readonly:
            if EVENTS_TABLE not in tables:
                conn.close()
                raise StoreError(f"{self.path}: GeoPackage has no {EVENTS_TABLE!r} layer")
            return
        with conn:
            init_core(conn)
            conn.executescript(_EVENTS_DDL)
            register_feature_table(conn, EVENTS_TABLE, "geom", "POINT", "roadsight geo-referenced events")
            register_feature_table(
                conn,
                FOOTPRINTS_TABLE,
                "geom",
                "POLYGON",
                "roadsight event footprints (detection boxes on the ground)",
            )
        # WAL only after the header (application_id, user_version) reached the main
        # file: GDAL reads those bytes from the file itself, not through the WAL.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

    # -- writing -----------------------------------------------------------------

    def write(self, events: Iterable[GeoEvent]) -> int:
        """Insert ``events`` in one transaction; returns how many were new (duplicates are ignored)."""
        if self.readonly:
            raise StoreError(f"{self.path}: store opened read-only")
        batch = list(events)
        if not batch:
            return 0
        n = len(batch)
        blobs = gpkg_point_blobs(
            np.fromiter((e.lon for e in batch), np.float64, n),
            np.fromiter((e.lat for e in batch), np.float64, n),
        )
        try:
            footprints, fp_rows = self._footprints(batch)
        except StoreError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        rows = [
            (
                blob,
                e.event_id,
                e.class_id,
                e.class_key,
                e.score,
                e.lon,
                e.lat,
                e.accuracy_m,
                time_text,
                e.mission_id,
                e.source_id,
                e.frame_index,
                *e.box_xyxy,
                footprint,
                e.track_id,
                evidence_json(e),
            )
            for blob, e, footprint, time_text in zip(
                blobs, batch, footprints, _gpkg_datetimes(batch), strict=True
            )
        ]
        placeholders = ", ".join("?" * len(_EVENT_COLUMNS))
        try:
            with self._lock, self._conn as conn:
                return self._insert(conn, batch, rows, fp_rows, placeholders)
        except (sqlite3.Error, OverflowError) as exc:
            # The transaction rolled back: nothing of the batch is stored.
            raise StoreError(f"{self.path}: writing {len(batch)} events failed ({exc})") from exc

    @staticmethod
    def _footprints(batch: Sequence[GeoEvent]) -> tuple[list[str | None], list[tuple[bytes, str, str]]]:
        """The ``footprint`` GeoJSON text of each event (None without one) and the rows of the
        footprints layer. Rings of one length (what the schema and the pipeline make) are
        built as arrays; any other batch goes through shapely. Both write the same bytes."""
        footprints: list[str | None] = [None] * len(batch)
        uniform = uniform_rings(batch)
        if uniform is not None:
            with_fp, rings = uniform
            # orjson writes the same text as GEOS's to_geojson (round-trip exact coordinates).
            # Rings straight from the array: no Python list per position.
            texts = [
                orjson.dumps({"type": "Polygon", "coordinates": [r]}, option=_NUMPY).decode() for r in rings
            ]
            fp_blobs = gpkg_polygon_blobs(rings)
        else:
            with_fp, polygons = footprint_polygons(batch)
            texts = shapely.to_geojson(polygons).tolist()
            fp_blobs = gpkg_geometry_blobs(polygons)
        for i, text in zip(with_fp, texts, strict=True):
            footprints[i] = text
        fp_rows = [(b, batch[i].event_id, batch[i].class_key) for b, i in zip(fp_blobs, with_fp, strict=True)]
        return footprints, fp_rows

    @classmethod
    def _insert(
        cls,
        conn: sqlite3.Connection,
        batch: Sequence[GeoEvent],
        rows: Sequence[tuple[object, ...]],
        fp_rows: Sequence[tuple[bytes, str, str]],
        placeholders: str,
    ) -> int:
        before = conn.total_changes
        conn.executemany(
            f"INSERT INTO {EVENTS_TABLE} ({', '.join(_EVENT_COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT(event_id) DO NOTHING",
            rows,
        )
        inserted = conn.total_changes - before
        if fp_rows:
            conn.executemany(
                f"INSERT INTO {FOOTPRINTS_TABLE} (geom, event_id, class_key) VALUES (?, ?, ?) "
                "ON CONFLICT(event_id) DO NOTHING",
                fp_rows,
            )
        if inserted:
            cls._update_contents(
                conn,
                min(e.lon for e in batch),
                min(e.lat for e in batch),
                max(e.lon for e in batch),
                max(e.lat for e in batch),
            )
        return inserted

    @staticmethod
    def _update_contents(
        conn: sqlite3.Connection, min_x: float, min_y: float, max_x: float, max_y: float
    ) -> None:
        # Grow the layer extent incrementally: a full MIN/MAX scan per batch would be O(n).
        conn.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
            "min_x = MIN(COALESCE(min_x, ?1), ?1), min_y = MIN(COALESCE(min_y, ?2), ?2), "
            "max_x = MAX(COALESCE(max_x, ?3), ?3), max_y = MAX(COALESCE(max_y, ?4), ?4) "
            "WHERE table_name IN (?5, ?6)",
            (min_x, min_y, max_x, max_y, EVENTS_TABLE, FOOTPRINTS_TABLE),
        )

    # -- reading -----------------------------------------------------------------

    def read(self, *, classes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """Events as a GeoDataFrame of points in EPSG:4326, optionally only ``classes`` (keys).

        ``time_utc`` is a timezone-aware UTC datetime column; ``footprint`` and
        ``evidence`` are JSON text (GeoJSON Polygon / list of evidence refs).
        """
        sql = f"SELECT {', '.join(READ_COLUMNS)} FROM {EVENTS_TABLE}"
        params: list[str] = []
        if classes is not None:
            params = [str(c) for c in classes]
            sql += f" WHERE class_key IN ({', '.join('?' * len(params))})" if params else " WHERE 0"
        sql += " ORDER BY fid"
        with self._lock:
            frame = pd.read_sql_query(sql, self._conn, params=params)
        frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True, format="ISO8601")
        frame["track_id"] = frame["track_id"].astype("Int64")
        return gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
        )

    def count(self) -> int:
        """Number of events stored."""
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {EVENTS_TABLE}").fetchone()[0])

    def event_ids(self) -> set[str]:
        """Ids of all stored events."""
        with self._lock:
            return {r[0] for r in self._conn.execute(f"SELECT event_id FROM {EVENTS_TABLE}")}

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> GeoPackageStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
