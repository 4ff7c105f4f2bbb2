"""Read a GPX 1.0/1.1 track (``.gpx``): ``trkpt`` / ``rtept`` with ``time`` and ``ele``.

Example:
    >>> track = load_gpx("ride.gpx")  # doctest: +SKIP
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.track import TelemetryTrack


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def load_gpx(path: str | Path) -> TelemetryTrack:
    """Pose track from a GPX file; ``ele`` is taken as metres above mean sea level."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        raise TelemetryError(f"{path}: line {line}, column {col}: not valid XML: {exc}") from None
    rows: list[tuple[float, float, float, float]] = []
    for k, point in enumerate(p for p in root.iter() if _local(p.tag) in ("trkpt", "rtept")):
        children = {_local(c.tag): (c.text or "").strip() for c in point}
        try:
            lat, lon = float(point.attrib["lat"]), float(point.attrib["lon"])
            when = datetime.fromisoformat(children["time"].replace("Z", "+00:00"))
            ele = float(children["ele"]) if children.get("ele") else np.nan
        except (KeyError, ValueError) as exc:
            raise TelemetryError(
                f"{path}: track point {k + 1}: missing or bad lat/lon/time/ele ({exc})"
            ) from None
        if when.tzinfo is None:
            raise TelemetryError(f"{path}: track point {k + 1}: time {children['time']!r} has no timezone")
        rows.append((when.timestamp(), lat, lon, ele))
    if not rows:
        raise TelemetryError(f"{path}: no track points")
    t, lat, lon, ele = np.array(rows, dtype=float).T
    first = ele[np.isfinite(ele)][0] if np.isfinite(ele).any() else np.nan
    return TelemetryTrack.from_columns(
        str(path), time_utc=t, lat=lat, lon=lon, alt_msl=ele, alt_agl=ele - first
    )
