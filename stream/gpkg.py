"""OGC GeoPackage building blocks for the stdlib ``sqlite3`` module (no GDAL needed).

The core tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``,
``gpkg_geometry_columns``) of GeoPackage 1.4, and the GeoPackage binary
geometry encoding: an 8-byte header (``GP``, version 0, flags, ``srs_id``), an
``[minx, maxx, miny, maxy]`` envelope, then little-endian ISO WKB from shapely.

Example:
    >>> import shapely
    >>> blob = gpkg_geometry_blobs([shapely.Point(120.15, 30.27)])[0]
    >>> blob[:2], len(blob)
    (b'GP', 61)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import shapely

APPLICATION_ID = 0x47504B47  # ASCII "GPKG"
USER_VERSION = 10400  # GeoPackage 1.4.0
WGS84_SRS_ID = 4326

# Little-endian header and envelope (flag bit 0), envelope code 1 = xy (bits 1-3),
# non-empty, standard binary type.
_FLAGS_LE_XY_ENVELOPE = 0b0000_0011
_HEADER_DTYPE = np.dtype(
    [("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"), ("envelope", "<f8", (4,))]
)

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

CORE_TABLES_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
"""

_SRS_ROWS = [
    (
        "Undefined cartesian SRS",
        -1,
        "NONE",
        -1,
        "undefined",
        "undefined cartesian coordinate reference system",
    ),
    (
        "Undefined geographic SRS",
        0,
        "NONE",
        0,
        "undefined",
        "undefined geographic coordinate reference system",
    ),
    (
        "WGS 84 geodetic",
        WGS84_SRS_ID,
        "EPSG",
        4326,
        _WGS84_WKT,
        "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
    ),
]


def init_core(conn: sqlite3.Connection) -> None:
    """Mark ``conn``'s database as a GeoPackage and create the core tables (idempotent)."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")
    conn.executescript(CORE_TABLES_SQL)
    conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", _SRS_ROWS)


def register_feature_table(
    conn: sqlite3.Connection, table: str, geometry_column: str, geometry_type: str, description: str
) -> None:
    """Declare ``table`` as a WGS84 feature table in ``gpkg_contents``/``gpkg_geometry_columns``."""
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        (table, table, description, WGS84_SRS_ID),
    )
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, 0, 0)",
        (table, geometry_column, geometry_type, WGS84_SRS_ID),
    )


def is_geopackage(conn: sqlite3.Connection) -> bool:
    """True when the database carries the GeoPackage application id."""
    return int(conn.execute("PRAGMA application_id").fetchone()[0]) == APPLICATION_ID


def gpkg_geometry_blobs(
    geometries: Sequence[shapely.Geometry] | np.ndarray, srs_id: int = WGS84_SRS_ID
) -> list[bytes]:
    """GeoPackage binary blobs (header + xy envelope + WKB) for non-empty 2-D geometries."""
    geoms = np.asarray(geometries, dtype=object)
    header = np.zeros(len(geoms), dtype=_HEADER_DTYPE)
    header["magic"] = b"GP"
    header["flags"] = _FLAGS_LE_XY_ENVELOPE
    header["srs_id"] = srs_id
    bounds = shapely.bounds(geoms)  # minx, miny, maxx, maxy
    header["envelope"] = bounds[:, [0, 2, 1, 3]]
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    return [h.tobytes() + w for h, w in zip(header, wkb, strict=True)]


def gpkg_point_blobs(lon: np.ndarray, lat: np.ndarray, srs_id: int = WGS84_SRS_ID) -> list[bytes]:
    """The blobs :func:`gpkg_geometry_blobs` writes for ``shapely.points(lon, lat)``, byte for
    byte, built as one NumPy record array (no GEOS object per row: the sink writes tens of
    thousands a second)."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    rows = np.zeros(len(lon), dtype=_POINT_DTYPE)
    _fill_header(rows["header"], srs_id, np.stack([lon, lon, lat, lat], axis=1))
    rows["wkb_type"] = 1  # Point
    rows["xy"] = np.stack([lon, lat], axis=1)
    return _split_rows(rows)


def gpkg_polygon_blobs(rings: np.ndarray, srs_id: int = WGS84_SRS_ID) -> list[bytes]:
    """The blobs :func:`gpkg_geometry_blobs` writes for one-ring polygons, byte for byte, from
    ``rings`` of shape ``(m, n, 2)`` (closed rings of ``n`` lon/lat positions)."""
    rings = np.asarray(rings, dtype=np.float64)
    m, n = rings.shape[:2]
    rows = np.zeros(m, dtype=_polygon_dtype(n))
    lo, hi = rings.min(axis=1), rings.max(axis=1)
    _fill_header(rows["header"], srs_id, np.stack([lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1]], axis=1))
    rows["wkb_type"] = 3  # Polygon
    rows["n_rings"] = 1
    rows["n_points"] = n
    rows["xy"] = rings
    return _split_rows(rows)


def polygon_wkbs(rings: np.ndarray) -> list[bytes]:
    """Little-endian 2-D WKB of one-ring polygons (what ``shapely.to_wkb`` writes), byte for
    byte, from ``rings`` of shape ``(m, n, 2)`` (closed rings of ``n`` positions)."""
    rings = np.asarray(rings, dtype=np.float64)
    m, n = rings.shape[:2]
    rows = np.zeros(m, dtype=_polygon_dtype(n, header=False))
    rows["wkb_type"] = 3  # Polygon
    rows["n_rings"] = 1
    rows["n_points"] = n
    rows["xy"] = rings
    return _split_rows(rows)


# WKB after the GeoPackage header: byte order (1 = little-endian), geometry type, coordinates.
_POINT_DTYPE = np.dtype(
    [("header", _HEADER_DTYPE), ("byte_order", "u1"), ("wkb_type", "<u4"), ("xy", "<f8", (2,))]
)


def _polygon_dtype(n_points: int, *, header: bool = True) -> np.dtype:
    return np.dtype(
        [("header", _HEADER_DTYPE)] * header
        + [
            ("byte_order", "u1"),
            ("wkb_type", "<u4"),
            ("n_rings", "<u4"),
            ("n_points", "<u4"),
            ("xy", "<f8", (n_points, 2)),
        ]
    )


def _fill_header(header: np.ndarray, srs_id: int, envelope: np.ndarray) -> None:
    """GeoPackage headers (and WKB byte order) in place; ``envelope`` rows are minx, maxx, miny, maxy."""
    header["magic"] = b"GP"
    header["flags"] = _FLAGS_LE_XY_ENVELOPE
    header["srs_id"] = srs_id
    header["envelope"] = envelope


def _split_rows(rows: np.ndarray) -> list[bytes]:
    rows["byte_order"] = 1
    data, size = rows.tobytes(), rows.dtype.itemsize
    return [data[start : start + size] for start in range(0, len(data), size)]


def parse_gpkg_header(blob: bytes) -> tuple[int, int, tuple[float, float, float, float]]:
    """``(flags, srs_id, (minx, maxx, miny, maxy))`` of a blob written by :func:`gpkg_geometry_blobs`."""
    h = np.frombuffer(blob[: _HEADER_DTYPE.itemsize], dtype=_HEADER_DTYPE)[0]
    if h["magic"] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (magic is not 'GP')")
    env = h["envelope"]
    return int(h["flags"]), int(h["srs_id"]), (float(env[0]), float(env[1]), float(env[2]), float(env[3]))


def blob_wkb(blob: bytes) -> bytes:
    """The WKB part of a blob written with an xy envelope."""
    return blob[_HEADER_DTYPE.itemsize :]
