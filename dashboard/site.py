"""The files that live beside an event store, as the CLI finds them (cases, reviews, users, evidence, key).

The dashboard and ``roadsight review``/``evidence``/``users`` must agree on these
paths, so they come from the same functions: :func:`roadsight.config.beside_store`,
:func:`dashboard.review.review_path_for` and :func:`dashboard.roles.users_path_for`.
A PostGIS store (``postgresql://...``) keeps its side files under ``data/``.

Example:
    >>> paths = SitePaths.for_store("data/roadsight.gpkg")
    >>> str(paths.cases), str(paths.review), str(paths.users)
    ('data/roadsight.cases.gpkg', 'data/roadsight.review.sqlite', 'data/roadsight.users.sqlite')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dashboard.review import review_path_for
from dashboard.roles import users_path_for
from roadsight.config import beside_store

_DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_uri(store: str | Path) -> bool:
    """Whether ``store`` names a database (PostGIS) rather than a GeoPackage file."""
    return str(store).startswith(_DATABASE_SCHEMES)


@dataclass(frozen=True)
class SitePaths:
    """Where the event store's companions are."""

    store: str  # a GeoPackage path or a postgresql:// URI, as given to stream.open_store
    cases: Path
    review: Path
    users: Path
    evidence: Path
    site_key: Path

    @classmethod
    def for_store(cls, store: str | Path) -> SitePaths:
        text = str(store)
        cases = beside_store(text, ".cases.gpkg")
        return cls(
            store=text,
            cases=cases,
            review=review_path_for(text),
            users=users_path_for(text),
            evidence=beside_store(text, ".evidence"),
            site_key=cases.parent / "site_key.pem",  # as `roadsight evidence keygen/export` put it
        )
