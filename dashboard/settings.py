"""Dashboard settings from the command line (after ``--``) and the environment.

Example:
    >>> parse_settings(["--store", "events.gpkg"], {}).store
    PosixPath('events.gpkg')
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STORE_ENV = "ROADSIGHT_STORE"
MAP_STYLE_ENV = "ROADSIGHT_MAP_STYLE"
REFRESH_ENV = "ROADSIGHT_REFRESH_S"


@dataclass(frozen=True)
class DashboardSettings:
    store: Path | None  # GeoPackage event store; None when not configured
    map_style: str | None = None  # MapLibre style URL for a basemap; None = offline, no tiles
    refresh_s: float = 10.0  # auto-refresh period, 0 = off


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> DashboardSettings:
    """``--store PATH`` / ``--map-style URL`` / ``--refresh-s N``, else the ``ROADSIGHT_*`` variables."""
    parser = argparse.ArgumentParser(prog="roadsight dashboard", add_help=False)
    parser.add_argument("--store", default=environ.get(STORE_ENV))
    parser.add_argument("--map-style", default=environ.get(MAP_STYLE_ENV) or None)
    parser.add_argument("--refresh-s", type=float, default=float(environ.get(REFRESH_ENV, "10") or 0))
    args, _unknown = parser.parse_known_args(list(argv))
    return DashboardSettings(
        store=Path(args.store) if args.store else None,
        map_style=args.map_style,
        refresh_s=max(0.0, args.refresh_s),
    )
