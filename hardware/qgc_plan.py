"""Read a QGroundControl ``.plan`` back into mission items (what ``roadsight mission plan`` writes).

Example:
    >>> items = read_qgc_plan(Path("road.plan"))  # doctest: +SKIP
    >>> items[0].command  # MAV_CMD_NAV_TAKEOFF
    22

Only ``SimpleItem`` s are supported (QGC's complex items, surveys and corridor
scans, are expanded by QGC itself when it uploads): any other item is an error
naming the file and the item, never silently skipped. ``null`` params (QGC's
"unchanged") come back as NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hardware.missions import MissionError, MissionItem


def _number(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MissionError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def read_qgc_plan(path: Path) -> list[MissionItem]:
    """The mission items of a ``.plan`` (home, ``plannedHomePosition``, is not an item)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MissionError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise MissionError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise MissionError(f"{path}: not a QGroundControl plan (fileType must be 'Plan')")
    raw_items = (doc.get("mission") or {}).get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise MissionError(f"{path}: mission.items: no mission items")
    items: list[MissionItem] = []
    for i, raw in enumerate(raw_items):
        where = f"{path}: mission.items[{i}]"
        if not isinstance(raw, dict) or raw.get("type") != "SimpleItem":
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            raise MissionError(f"{where}: {kind!r} items are not supported (only SimpleItem)")
        params = raw.get("params")
        if not isinstance(params, list) or len(params) != 7:
            raise MissionError(f"{where}.params: expected 7 values, got {params!r}")
        values = [_number(p, f"{where}.params[{k}]") for k, p in enumerate(params)]
        try:
            command, frame = int(raw["command"]), int(raw["frame"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MissionError(f"{where}: command and frame must be integers ({exc})") from None
        lat, lon, alt = (0.0 if math.isnan(v) else v for v in values[4:])
        items.append(
            MissionItem(
                command,
                frame,
                (values[0], values[1], values[2], values[3]),
                lat,
                lon,
                alt,
                bool(raw.get("autoContinue", True)),
            )
        )
    return items
