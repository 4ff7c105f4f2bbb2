"""Dashboard settings from the command line (after ``--``) and the environment.

``--store`` is a GeoPackage path or a ``postgresql://`` URI (kept as text: a
``Path`` would fold the ``//``). ``--map-style`` is a MapLibre style URL for a
basemap (none: offline, no tiles). GCJ-02 is used for display when
``--map-gcj02`` is given or the style URL is a known GCJ-02 provider's (AMap,
Tencent); never for a WGS84 basemap.

Example:
    >>> parse_settings(["--store", "events.gpkg"], {}).store
    'events.gpkg'
    >>> parse_settings(["--map-style", "https://webapi.amap.com/style.json"], {}).map_gcj02
    True
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

STORE_ENV = "ROADSIGHT_STORE"
MAP_STYLE_ENV = "ROADSIGHT_MAP_STYLE"
MAP_GCJ02_ENV = "ROADSIGHT_MAP_GCJ02"
REFRESH_ENV = "ROADSIGHT_REFRESH_S"
# Basemap hosts drawn in GCJ-02 (Tianditu is CGCS2000, which is WGS84 to within centimetres).
GCJ02_HOSTS = ("amap.com", "autonavi.com", "gaode.com", "map.qq.com", "tencent.com")


@dataclass(frozen=True)
class DashboardSettings:
    store: str | None  # GeoPackage path or postgresql:// URI; None when not configured
    map_style: str | None = None  # MapLibre style URL for a basemap; None = offline, no tiles
    refresh_s: float = 10.0  # auto-refresh period of the map, 0 = off
    map_gcj02: bool = False  # shift displayed coordinates to GCJ-02 (Chinese basemap)


def is_gcj02_style(url: str | None) -> bool:
    """Whether the style URL is a GCJ-02 provider's."""
    host = (urlparse(url).hostname or "") if url else ""
    return any(host == h or host.endswith("." + h) for h in GCJ02_HOSTS)


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> DashboardSettings:
    """``--store``, ``--map-style``, ``--map-gcj02``, ``--refresh-s``, else the ``ROADSIGHT_*`` variables."""
    parser = argparse.ArgumentParser(prog="roadsight dashboard", add_help=False)
    parser.add_argument("--store", default=environ.get(STORE_ENV))
    parser.add_argument("--map-style", default=environ.get(MAP_STYLE_ENV) or None)
    parser.add_argument(
        "--map-gcj02", action="store_true", default=environ.get(MAP_GCJ02_ENV, "") in ("1", "true")
    )
    parser.add_argument("--refresh-s", type=float, default=float(environ.get(REFRESH_ENV, "10") or 0))
    args, _unknown = parser.parse_known_args(list(argv))
    # only a configured basemap can be Chinese: without one there is nothing to align to
    gcj02 = bool(args.map_style) and (args.map_gcj02 or is_gcj02_style(args.map_style))
    return DashboardSettings(
        store=str(args.store) if args.store else None,
        map_style=args.map_style,
        refresh_s=max(0.0, args.refresh_s),
        map_gcj02=gcj02,
    )
