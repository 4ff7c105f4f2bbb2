"""One interface for event stores, and :func:`open_store` to pick one by URI.

Two stores implement :class:`EventStore`: the embedded
:class:`~stream.store.GeoPackageStore` (SQLite, the default: one file, no
server) and :class:`~stream.postgis.PostGISStore` (PostgreSQL + PostGIS, for
production: many sinks write into it at once). Both write idempotently: an
event id already stored is skipped, so a replayed batch changes nothing, and
both read back the same columns (:data:`READ_COLUMNS`) as a GeoDataFrame of
points in EPSG:4326.

Example:
    >>> with open_store("sqlite:///events.gpkg") as store:  # doctest: +SKIP
    ...     new = store.write(events)      # rows added; duplicates are not counted
    ...     gdf = store.read(classes=["pothole"])
    >>> open_store("postgresql://roadsight@db.example/roadsight")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import geopandas as gpd
import numpy as np
import shapely

from geo import EvidenceRef, GeoEvent
from stream.errors import StoreError

# The columns of :meth:`EventStore.read`, in order (plus ``geometry``). ``footprint``
# is GeoJSON Polygon text or None, ``evidence`` JSON text of a list of refs or None.
READ_COLUMNS = (
    "event_id",
    "class_id",
    "class_key",
    "score",
    "lon",
    "lat",
    "accuracy_m",
    "time_utc",
    "mission_id",
    "source_id",
    "frame_index",
    "box_x1",
    "box_y1",
    "box_x2",
    "box_y2",
    "footprint",
    "track_id",
    "evidence",
)

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@runtime_checkable
class EventStore(Protocol):
    """Where geo events end up: idempotent by ``event_id``, readable as a GeoDataFrame."""

    def write(self, events: Iterable[GeoEvent]) -> int:
        """Store ``events`` in one transaction; return how many were new (already stored ids are skipped).

        Raises :class:`StoreError` and stores nothing of the batch when it fails;
        :class:`~stream.errors.StoreUnavailableError` when a retry may succeed.
        """
        ...

    def read(self, *, classes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """Stored events in write order, optionally only those whose ``class_key`` is in ``classes``."""
        ...

    def count(self) -> int:
        """Number of events stored."""
        ...

    def event_ids(self) -> set[str]:
        """Ids of all stored events."""
        ...

    def close(self) -> None:
        """Release the file or connection."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def open_store(uri: str | Path, *, readonly: bool = False) -> EventStore:
    """The store named by ``uri``.

    * ``postgresql://user[:password]@host[:port]/db[?table=name]`` (or ``postgres://``):
      a :class:`~stream.postgis.PostGISStore`;
    * ``sqlite:///relative/path.gpkg``, ``sqlite:////absolute/path.gpkg`` or a plain
      path: a :class:`~stream.store.GeoPackageStore`.

    Any other ``scheme://`` raises :class:`StoreError` naming it.
    """
    text = str(uri)
    if text.startswith(_POSTGRES_SCHEMES):
        from stream.postgis import PostGISStore

        return PostGISStore(text, readonly=readonly)
    from stream.store import GeoPackageStore

    if text.startswith(_SQLITE_PREFIX):
        return GeoPackageStore(text[len(_SQLITE_PREFIX) :], readonly=readonly)
    if "://" in text:
        raise StoreError(
            f"{text.split('://', 1)[0]}:// is not a store URI: use postgresql://..., sqlite:///path.gpkg "
            "or a file path"
        )
    return GeoPackageStore(text, readonly=readonly)


def footprint_polygons(events: Sequence[GeoEvent]) -> tuple[list[int], np.ndarray]:
    """Positions of the events that have a footprint, and those footprints as shapely Polygons.

    One vectorised call for the whole batch, whatever the ring lengths (shapely's
    ``indices`` form). Raises :class:`StoreError` when a ring is not a polygon.
    """
    which = [i for i, e in enumerate(events) if e.footprint]
    if not which:
        return which, np.empty(0, dtype=object)
    rings = [events[i].footprint for i in which]
    lengths = np.fromiter(map(len, rings), dtype=np.intp, count=len(rings))
    flat = chain.from_iterable(chain.from_iterable(rings))
    coords = np.fromiter(flat, dtype=np.float64, count=2 * int(lengths.sum())).reshape(-1, 2)
    try:
        linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths))
        return which, shapely.polygons(linear)
    except (ValueError, shapely.errors.GEOSException) as exc:
        raise StoreError(f"a footprint of the batch is not a polygon ({exc})") from None


def uniform_rings(events: Sequence[GeoEvent]) -> tuple[list[int], np.ndarray] | None:
    """Positions of the events that have a footprint and their rings as one ``(m, n, 2)`` array,
    when every ring has the same length ``n >= 4`` and is closed and finite (what the schema
    guarantees and the pipeline makes); None for any other batch (:func:`footprint_polygons`
    takes those, closing open rings as shapely does)."""
    which = [i for i, e in enumerate(events) if e.footprint]
    if not which:
        return which, np.empty((0, 4, 2))
    n = len(events[which[0]].footprint)
    if n < 4 or any(len(events[i].footprint) != n for i in which):
        return None
    try:
        flat = chain.from_iterable(chain.from_iterable(events[i].footprint for i in which))
        rings = np.fromiter(flat, dtype=np.float64, count=2 * n * len(which)).reshape(len(which), n, 2)
    except (TypeError, ValueError):  # a position that is not a (lon, lat) pair of numbers
        return None
    if not np.isfinite(rings).all() or not (rings[:, 0] == rings[:, -1]).all():
        return None
    return which, rings


def evidence_json(event: GeoEvent) -> str | None:
    """The evidence refs as JSON text (the ``evidence`` read column), or None when there are none."""
    if not event.evidence:
        return None
    refs = [{"uri": e.uri, "sha256": e.sha256, "media_type": e.media_type} for e in event.evidence]
    return json.dumps(refs)


def evidence_from_json(text: str | None) -> tuple[EvidenceRef, ...]:
    """Evidence refs back from the ``evidence`` column's JSON text."""
    if not text:
        return ()
    return tuple(EvidenceRef(**item) for item in json.loads(text))
