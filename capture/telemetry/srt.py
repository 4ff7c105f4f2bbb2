"""Read a DJI subtitle sidecar (``.SRT``): one block per video frame.

Tolerated variants (keys are matched case-insensitively, in or out of ``[...]``):

* Mavic 3 / M3E / Mini: ``2024-05-01 10:00:00.123`` then
  ``[latitude: 30.27] [longitude: 120.15] [rel_alt: 30.0 abs_alt: 45.0]``
  ``[gb_yaw: 10.0 gb_pitch: -90.0 gb_roll: 0.0]``
* Mavic Air / Air 2: ``[latitude : 30.27] [longtitude : 120.15] [altitude: 45.0]``
* Phantom 4 / older: ``GPS(120.15,30.27,45)`` (lon, lat, alt) and ``BAROMETER:30.0``,
  date as ``2019.01.01 12:00:00``.

DJI writes the datetime in the aircraft's local time; ``utc_offset_s`` is
subtracted to get UTC (0 for the simulator, which writes UTC). Blocks whose
latitude and longitude are both 0 (no GPS fix) are skipped.

Example:
    >>> track = load_srt("mission/video.SRT")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from calendar import timegm
from pathlib import Path

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.track import TelemetryTrack

_DATETIME = re.compile(
    r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})[ T]+(\d{1,2}):(\d{2}):(\d{2})(?:[.,:](\d{1,6}))?"
)
_TIMING = re.compile(r"^\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*$")
_KEY_VALUE = re.compile(r"([A-Za-z_]+)\s*:\s*([-+]?\d+(?:\.\d+)?)")
_GPS_TUPLE = re.compile(r"GPS\s*\(\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*(?:,\s*([-+\d.]+))?\s*\)")
_KEYS = {
    "latitude": "lat",
    "lat": "lat",
    "longitude": "lon",
    "longtitude": "lon",
    "lon": "lon",
    "rel_alt": "alt_agl",
    "barometer": "alt_agl",
    "abs_alt": "alt_msl",
    "altitude": "alt_msl",
    "gb_yaw": "camera_yaw",
    "gb_pitch": "camera_pitch",
    "gb_roll": "camera_roll",
}
_COLUMNS = ("lat", "lon", "alt_msl", "alt_agl", "camera_pitch", "camera_yaw", "camera_roll")


def _block_values(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    gps = _GPS_TUPLE.search(text)
    if gps:
        values["lon"], values["lat"] = float(gps.group(1)), float(gps.group(2))
        if gps.group(3):
            values["alt_msl"] = float(gps.group(3))
        text = text[: gps.start()] + text[gps.end() :]
    for key, value in _KEY_VALUE.findall(text):
        column = _KEYS.get(key.lower())
        if column is not None:
            values[column] = float(value)
    return values


def _datetime_utc(match: re.Match[str]) -> float:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac = match.group(7) or "0"
    return timegm((year, month, day, hour, minute, second)) + int(frac) / 10 ** len(frac)


def load_srt(path: str | Path, *, utc_offset_s: float = 0.0) -> TelemetryTrack:
    """Pose track from a DJI SRT sidecar; errors name the file and 1-based line."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = text.splitlines()
    rows: list[list[float]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        block = lines[start:i]
        if not block[0].strip().isdigit():
            raise TelemetryError(
                f"{path}: line {start + 1}: expected a subtitle number, got {block[0][:40]!r}"
            )
        if len(block) < 3 or not _TIMING.match(block[1]):
            raise TelemetryError(f"{path}: line {start + 2}: expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
        body = "\n".join(block[2:])
        when = _DATETIME.search(body)
        if when is None:
            raise TelemetryError(
                f"{path}: line {start + 3}: subtitle {block[0].strip()} has no date and time"
            )
        values = _block_values(body)
        last_line = i  # 1-based number of the block's last line, where DJI writes the position
        for key, name in (("lat", "latitude"), ("lon", "longitude")):
            if key not in values:
                raise TelemetryError(f"{path}: line {last_line}: subtitle {block[0].strip()} has no {name}")
        if abs(values["lat"]) > 90 or abs(values["lon"]) > 180:
            raise TelemetryError(f"{path}: line {last_line}: latitude/longitude out of range")
        if values["lat"] == 0 and values["lon"] == 0:
            continue  # no GPS fix in this frame
        t = _datetime_utc(when) - utc_offset_s
        rows.append([t, *(values.get(c, np.nan) for c in _COLUMNS)])
    if not rows:
        raise TelemetryError(f"{path}: no subtitle with a GPS position")
    table = np.array(rows, dtype=float)
    # Several frames share one datetime when it has no sub-second part: spread them evenly.
    table[:, 0] = _spread_equal_times(table[:, 0])
    cols = {c: table[:, k + 1] for k, c in enumerate(_COLUMNS)}
    lat, lon = cols.pop("lat"), cols.pop("lon")
    return TelemetryTrack.from_columns(str(path), time_utc=table[:, 0], lat=lat, lon=lon, **cols)


def _spread_equal_times(t: np.ndarray) -> np.ndarray:
    """Give runs of identical whole-second stamps evenly spaced fractions within the second."""
    if len(t) < 2 or np.any(t != np.floor(t)):
        return t
    out = t.astype(float).copy()
    _, starts, counts = np.unique(t, return_index=True, return_counts=True)
    for s, n in zip(starts, counts, strict=True):
        out[s : s + n] += np.arange(n) / n
    return out
