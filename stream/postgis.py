"""An idempotent PostgreSQL + PostGIS event store (psycopg 3), for production servers.

One table (default ``geo_events``) holds every event: a ``geometry(Point,4326)``
column ``geom`` (the anchor point), a ``geometry(Polygon,4326)`` column
``footprint`` (the detection box on the ground, NULL when unknown), both with
GiST indexes, and one column per :class:`GeoEvent` field; ``event_id`` is the
conflict key. QGIS shows the table as two layers, one per geometry column.

A batch is written in one transaction: the rows are streamed with ``COPY`` into
a temporary staging table, then moved with one ``INSERT ... SELECT ... ON
CONFLICT (event_id) DO NOTHING``. Geo events are immutable facts with
deterministic ids, so the first write wins and a replay changes nothing (not
even a timestamp); several sinks may write the same event concurrently and it
is stored once. Values only ever travel as COPY data or bound parameters, never
as SQL text, so a hostile string is stored verbatim.

Example:
    >>> with PostGISStore("postgresql://roadsight@db.example/roadsight") as store:  # doctest: +SKIP
    ...     store.write(events)
    ...     gdf = store.read(classes=["pothole"])
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from geo import GeoEvent
from stream.errors import StoreError, StoreUnavailableError
from stream.event_store import READ_COLUMNS, evidence_json, footprint_polygons, uniform_rings
from stream.gpkg import polygon_wkbs

DEFAULT_TABLE = "geo_events"
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Binary COPY types of the staged columns: the read columns, with the footprint as WKB.
_COPY_TYPE = {
    "event_id": "text",
    "class_id": "int4",
    "class_key": "text",
    "score": "float8",
    "lon": "float8",
    "lat": "float8",
    "accuracy_m": "float8",
    "time_utc": "timestamptz",
    "mission_id": "text",
    "source_id": "text",
    "frame_index": "int8",
    "box_x1": "float8",
    "box_y1": "float8",
    "box_x2": "float8",
    "box_y2": "float8",
    "footprint": "bytea",
    "track_id": "int8",
    "evidence": "text",
}
# ``ordinal`` keeps the batch order (``fid`` follows it); staged names are the read columns.
_STAGE_COLUMNS = ("ordinal", *READ_COLUMNS)
_COPY_TYPES = ("int8", *(_COPY_TYPE[c] for c in READ_COLUMNS))
# Copied as they are; the INSERT builds ``geom`` from lon/lat and ``footprint`` from the WKB.
_PLAIN_COLUMNS = tuple(c for c in READ_COLUMNS if c != "footprint")


class PostGISStore:
    """Events in a PostgreSQL database with PostGIS.

    Args:
        url: ``postgresql://user[:password]@host[:port]/database``; a ``table=name``
            query parameter picks the table (default ``geo_events``), the others
            go to libpq (e.g. ``sslmode=require``).
        readonly: refuse writes and create nothing (the table must exist).
        connect_timeout_s: how long connecting may take before :class:`StoreUnavailableError`.
    """

    def __init__(self, url: str, *, readonly: bool = False, connect_timeout_s: float = 10.0) -> None:
        self.url, self.table = _split_table(url)
        self.readonly = readonly
        self.connect_timeout_s = connect_timeout_s
        self.where = _redacted(self.url) + (f" table {self.table}" if self.table != DEFAULT_TABLE else "")
        self._ident = sql.Identifier(self.table)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._lock:
            conn = self._connection()
            if readonly:
                self._require_table(conn)
            else:
                self._create_schema(conn)

    # -- connection and schema ---------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, reconnecting after a lost one (the server restarted)."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout_s)),
                options="-c TimeZone=UTC",
                application_name="roadsight-store",
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"{self.where}: cannot connect ({_first_line(exc)})") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot connect ({_first_line(exc)})") from None
        if self.readonly:
            conn.read_only = True
        self._conn = conn
        return conn

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        t = self._ident
        ddl = [
            sql.SQL(
                """CREATE TABLE IF NOT EXISTS {t} (
  fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id text NOT NULL,
  class_id integer NOT NULL,
  class_key text NOT NULL,
  score double precision NOT NULL,
  lon double precision NOT NULL,
  lat double precision NOT NULL,
  accuracy_m double precision NOT NULL,
  time_utc timestamptz NOT NULL,
  mission_id text NOT NULL,
  source_id text NOT NULL,
  frame_index bigint NOT NULL,
  box_x1 double precision, box_y1 double precision, box_x2 double precision, box_y2 double precision,
  track_id bigint,
  evidence jsonb,
  geom geometry(Point, 4326) NOT NULL,
  footprint geometry(Polygon, 4326),
  stored_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT {uq} UNIQUE (event_id)
)"""
            ).format(t=t, uq=sql.Identifier(f"{self.table}_event_id_key")),
            *(
                sql.SQL("CREATE INDEX IF NOT EXISTS {name} ON {t} USING {method} ({column})").format(
                    name=sql.Identifier(f"{self.table}_{column}_idx"),
                    t=t,
                    method=sql.SQL(method),
                    column=sql.Identifier(column),
                )
                for column, method in (
                    ("geom", "gist"),
                    ("footprint", "gist"),
                    ("time_utc", "btree"),
                    ("class_key", "btree"),
                )
            ),
        ]
        try:
            with conn.transaction():
                # Sinks starting together would race on CREATE ... IF NOT EXISTS (a unique
                # violation in the catalogue); one lock per table name serialises them.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"roadsight.{self.table}",))
                self._require_postgis(conn)
                for statement in ddl:
                    conn.execute(statement)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"{self.where}: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot create table {self.table} ({_first_line(exc)})") from None

    def _require_postgis(self, conn: psycopg.Connection[Any]) -> None:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
            return
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            raise StoreError(
                f"{self.where}: PostGIS is not installed in this database and creating it failed "
                f"({_first_line(exc)}); a superuser must run CREATE EXTENSION postgis"
            ) from None

    def _require_table(self, conn: psycopg.Connection[Any]) -> None:
        found = conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
        if found is None or found[0] is None:
            raise StoreError(f"{self.where}: no table {self.table!r} (nothing stored yet?)")

    def _stage(self, conn: psycopg.Connection[Any]) -> None:
        # Per connection; emptied by every commit, so a failed batch leaves nothing behind.
        conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS roadsight_stage ({columns}) ON COMMIT DELETE ROWS"
            ).format(
                columns=sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                    for c, t in zip(_STAGE_COLUMNS, _COPY_TYPES, strict=True)
                )
            )
        )

    # -- writing -----------------------------------------------------------------------

    def write(self, events: Iterable[GeoEvent]) -> int:
        """Store ``events`` in one transaction; returns how many were new (stored ids are skipped).

        Raises :class:`StoreUnavailableError` when the server is unreachable (retry
        later) and :class:`StoreError` when it refuses the data; either way nothing
        of the batch is stored.
        """
        if self.readonly:
            raise StoreError(f"{self.where}: store opened read-only")
        batch = list(events)
        if not batch:
            return 0
        try:
            rows = _copy_rows(batch)
        except StoreError as exc:
            raise StoreError(f"{self.where}: {exc}") from None
        insert = sql.SQL(
            "INSERT INTO {t} ({plain}, geom, footprint) "
            "SELECT {staged}, ST_SetSRID(ST_MakePoint(lon, lat), 4326), ST_GeomFromWKB(footprint, 4326) "
            "FROM roadsight_stage ORDER BY ordinal "
            "ON CONFLICT (event_id) DO NOTHING"
        ).format(
            t=self._ident,
            plain=sql.SQL(", ").join(map(sql.Identifier, _PLAIN_COLUMNS)),
            staged=sql.SQL(", ").join(
                sql.SQL("evidence::jsonb") if c == "evidence" else sql.Identifier(c) for c in _PLAIN_COLUMNS
            ),
        )
        copy = sql.SQL("COPY roadsight_stage ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.SQL(", ").join(map(sql.Identifier, _STAGE_COLUMNS))
        )
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as cur:
                    self._stage(conn)
                    with cur.copy(copy) as cp:
                        cp.set_types(list(_COPY_TYPES))
                        for row in rows:
                            cp.write_row(row)
                    cur.execute(insert)
                    return max(cur.rowcount, 0)
            except psycopg.OperationalError as exc:
                self._drop_connection()
                raise StoreUnavailableError(
                    f"{self.where}: writing {len(batch)} events failed ({_first_line(exc)})"
                ) from exc
            except (psycopg.Error, OverflowError) as exc:
                # OverflowError: an integer beyond int8, refused while COPY encodes the row.
                raise StoreError(
                    f"{self.where}: writing {len(batch)} events failed ({_first_line(exc)})"
                ) from exc

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- reading -----------------------------------------------------------------------

    def read(self, *, classes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """Events as a GeoDataFrame of points in EPSG:4326, in write order, optionally only ``classes``.

        Same columns as :class:`~stream.store.GeoPackageStore`: ``time_utc`` is a
        UTC datetime, ``footprint`` GeoJSON Polygon text, ``evidence`` JSON text.
        """
        selected = [
            sql.SQL("ST_AsGeoJSON(footprint, 15)")
            if c == "footprint"
            else sql.SQL("evidence::text")
            if c == "evidence"
            else sql.Identifier(c)
            for c in READ_COLUMNS
        ]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(selected), self._ident)
        params: list[Any] = []
        if classes is not None:
            query += sql.SQL(" WHERE class_key = ANY(%s)")
            params.append([str(c) for c in classes])
        query += sql.SQL(" ORDER BY fid")
        rows = self._fetch(query, params)
        frame = pd.DataFrame(rows, columns=list(READ_COLUMNS))
        frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True)
        frame["track_id"] = frame["track_id"].astype("Int64")
        for column in ("class_id", "frame_index"):
            frame[column] = frame[column].astype("int64")
        for column in ("score", "lon", "lat", "accuracy_m", "box_x1", "box_y1", "box_x2", "box_y2"):
            frame[column] = frame[column].astype("float64")
        return gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
        )

    def count(self) -> int:
        """Number of events stored."""
        rows = self._fetch(sql.SQL("SELECT count(*) FROM {}").format(self._ident))
        return int(rows[0][0])

    def event_ids(self) -> set[str]:
        """Ids of all stored events."""
        return {r[0] for r in self._fetch(sql.SQL("SELECT event_id FROM {}").format(self._ident))}

    def _fetch(self, query: sql.Composed, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(query, params).fetchall()
            except psycopg.OperationalError as exc:
                self._drop_connection()
                raise StoreUnavailableError(f"{self.where}: reading failed ({_first_line(exc)})") from exc
            except psycopg.Error as exc:
                raise StoreError(f"{self.where}: reading failed ({_first_line(exc)})") from exc

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def __enter__(self) -> PostGISStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _copy_rows(batch: list[GeoEvent]) -> list[tuple[Any, ...]]:
    """COPY rows in :data:`_STAGE_COLUMNS` order; footprints as WKB (vectorised)."""
    uniform = uniform_rings(batch)
    if uniform is not None:  # the usual batch: WKB straight from one array
        with_fp, rings = uniform
        blobs = polygon_wkbs(rings)
    else:
        with_fp, polygons = footprint_polygons(batch)
        blobs = shapely.to_wkb(polygons, output_dimension=2).tolist()
    wkb: list[bytes | None] = [None] * len(batch)
    for i, blob in zip(with_fp, blobs, strict=True):
        wkb[i] = blob
    return [
        (
            ordinal,
            e.event_id,
            e.class_id,
            e.class_key,
            e.score,
            e.lon,
            e.lat,
            e.accuracy_m,
            e.time_utc,
            e.mission_id,
            e.source_id,
            e.frame_index,
            *e.box_xyxy,
            wkb[ordinal],
            e.track_id,
            evidence_json(e),
        )
        for ordinal, e in enumerate(batch)
    ]


def _split_table(url: str) -> tuple[str, str]:
    """``url`` without its ``table=`` query parameter, and that table name (checked)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    tables = query.pop("table", [DEFAULT_TABLE])
    table = tables[-1]
    if not _TABLE_NAME.match(table):
        raise StoreError(
            f"{_redacted(url)}: table name {table!r} must be lower-case letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), table


def _redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
