"""Read a GPX 1.0/1.1 track (``.gpx``): ``trkpt`` / ``rtept`` with ``time`` and ``ele``.

Example:
    >>> track = load_gpx("ride.gpx")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.parsers import expat

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.track import TelemetryTrack


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class _Point:
    line: int
    attrib: dict[str, str]
    children: dict[str, str] = field(default_factory=dict)


def _points(path: Path) -> list[_Point]:
    """The ``trkpt``/``rtept`` elements with their attributes, child texts and start lines."""
    parser = expat.ParserCreate(namespace_separator="}")
    points: list[_Point] = []
    child: list[str] = []  # the open child element of the current point and its text

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local in ("trkpt", "rtept"):
            points.append(_Point(parser.CurrentLineNumber, dict(attrs)))
        elif points and not child:
            child[:] = [local, ""]

    def end(name: str) -> None:
        local = _local(name)
        if local in ("trkpt", "rtept"):
            return
        if child and child[0] == local and points:
            points[-1].children[local] = child[1].strip()
            child.clear()

    def text(data: str) -> None:
        if child:
            child[1] += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        with path.open("rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as exc:
        raise TelemetryError(
            f"{path}: line {exc.lineno}, column {exc.offset}: not valid XML: {expat.ErrorString(exc.code)}"
        ) from None
    return points


def load_gpx(path: str | Path) -> TelemetryTrack:
    """Pose track from a GPX file; ``ele`` is taken as metres above mean sea level.

    A bad point is reported with the line its ``trkpt`` starts on.
    """
    path = Path(path)
    rows: list[tuple[float, float, float, float]] = []
    for k, point in enumerate(_points(path)):
        where = f"{path}: line {point.line}: track point {k + 1}"
        children = point.children
        try:
            lat, lon = float(point.attrib["lat"]), float(point.attrib["lon"])
            when = datetime.fromisoformat(children["time"].replace("Z", "+00:00"))
            ele = float(children["ele"]) if children.get("ele") else np.nan
        except (KeyError, ValueError) as exc:
            raise TelemetryError(f"{where}: missing or bad lat/lon/time/ele ({exc})") from None
        if when.tzinfo is None:
            raise TelemetryError(f"{where}: time {children['time']!r} has no timezone")
        rows.append((when.timestamp(), lat, lon, ele))
    if not rows:
        raise TelemetryError(f"{path}: no track points")
    t, lat, lon, ele = np.array(rows, dtype=float).T
    first = ele[np.isfinite(ele)][0] if np.isfinite(ele).any() else np.nan
    return TelemetryTrack.from_columns(
        str(path), time_utc=t, lat=lat, lon=lon, alt_msl=ele, alt_agl=ele - first
    )
