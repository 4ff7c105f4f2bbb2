"""Read an NMEA 0183 log (``.nmea`` / ``.txt``): GGA, RMC, VTG and HDT sentences.

Any talker (``GP``, ``GN``, ``GL``, ``HE`` ...) is accepted; other sentence types
are ignored. A ``*HH`` checksum, when present, must match. Each GGA or RMC
time-of-day starts an epoch; VTG and HDT (which carry no time) belong to the
epoch of the sentence before them. The date comes from RMC (the first RMC's
date also applies to epochs before it) and rolls over at midnight.

Columns: position from GGA (else RMC), ``alt_msl`` from GGA and ``alt_agl``
relative to the first fix's altitude (a ground vehicle: the ground under its
start), speed from VTG/RMC, ``yaw`` from HDT (true heading), else the course
over ground from VTG/RMC. ``horizontal_accuracy_m`` is HDOP times 2.5 m
(a typical UERE) when GGA gives HDOP.

Example:
    >>> track = load_nmea("mission/telemetry.nmea")  # doctest: +SKIP
"""

from __future__ import annotations

from calendar import timegm
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.track import TelemetryTrack

KNOT_MPS = 1852.0 / 3600.0
UERE_M = 2.5


@dataclass
class _Epoch:
    tod: float  # seconds of day
    line: int
    date: tuple[int, int, int] | None = None
    values: dict[str, float] = field(default_factory=dict)


def nmea_checksum(body: str) -> int:
    """XOR of the characters between ``$`` and ``*``."""
    return reduce(lambda acc, ch: acc ^ ord(ch), body, 0)


def _split(line: str, path: str, lineno: int) -> list[str] | None:
    start = line.find("$")
    if start < 0:
        if line.strip() and not line.lstrip().startswith("#"):
            raise TelemetryError(f"{path}: line {lineno}: not an NMEA sentence: {line[:40]!r}")
        return None
    sentence = line[start + 1 :].strip()
    if "*" in sentence:
        body, _, given = sentence.partition("*")
        try:
            expected = int(given[:2], 16)
        except ValueError:
            raise TelemetryError(f"{path}: line {lineno}: malformed checksum {given!r}") from None
        if nmea_checksum(body) != expected:
            raise TelemetryError(
                f"{path}: line {lineno}: checksum mismatch"
                f" (got {given[:2]}, computed {nmea_checksum(body):02X})"
            )
        sentence = body
    return sentence.split(",")


def _num(fields: list[str], i: int, path: str, lineno: int) -> float:
    """Field ``i`` as a float; NaN if empty; an error naming the line if garbage."""
    text = fields[i] if i < len(fields) else ""
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise TelemetryError(
            f"{path}: line {lineno}: field {i} of {fields[0]} is not a number: {text!r}"
        ) from None


def _tod(fields: list[str], i: int, path: str, lineno: int) -> float:
    text = fields[i] if i < len(fields) else ""
    try:
        return int(text[0:2]) * 3600 + int(text[2:4]) * 60 + float(text[4:])
    except ValueError:
        raise TelemetryError(f"{path}: line {lineno}: bad time of day {text!r} in {fields[0]}") from None


def _coord(fields: list[str], i: int, path: str, lineno: int) -> float:
    """``ddmm.mmmm,N`` / ``dddmm.mmmm,E`` at fields i, i+1 -> signed degrees."""
    raw = _num(fields, i, path, lineno)
    if np.isnan(raw):
        return raw
    hemi = fields[i + 1] if i + 1 < len(fields) else ""
    if hemi not in ("N", "S", "E", "W"):
        raise TelemetryError(f"{path}: line {lineno}: bad hemisphere {hemi!r} in {fields[0]}")
    degrees = np.floor(raw / 100.0)
    value = degrees + (raw - degrees * 100.0) / 60.0
    return float(-value if hemi in ("S", "W") else value)


class NmeaEpochs:
    """Incremental NMEA 0183 parser: feed it lines, it groups them into fix epochs.

    Shared by the log reader (:func:`load_nmea`) and live links
    (:class:`capture.telemetry.nmea_live.LiveNmea`). ``source`` names the file
    or link in errors; a bad line raises :class:`TelemetryError` naming it and
    leaves the epochs read so far intact.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.epochs: list[_Epoch] = []
        self._current: _Epoch | None = None

    def feed(self, line: str, lineno: int) -> None:
        path, current = self.source, self._current
        fields = _split(line, path, lineno)
        if fields is None or len(fields[0]) < 5:
            return
        kind = fields[0][-3:]
        if kind in ("GGA", "RMC"):
            tod = _tod(fields, 1, path, lineno)
            if current is None or tod != current.tod:
                current = self._current = _Epoch(tod, lineno)
                self.epochs.append(current)
        elif kind not in ("VTG", "HDT") or current is None:
            return
        v = current.values
        if kind == "GGA":
            if _num(fields, 6, path, lineno) == 0:
                return  # fix quality 0: invalid
            v["lat"], v["lon"] = _coord(fields, 2, path, lineno), _coord(fields, 4, path, lineno)
            v["alt_msl"] = _num(fields, 9, path, lineno)
            v["horizontal_accuracy_m"] = _num(fields, 8, path, lineno) * UERE_M
        elif kind == "RMC":
            date = fields[9] if len(fields) > 9 else ""
            if len(date) != 6 or not date.isdigit():
                raise TelemetryError(f"{path}: line {lineno}: bad RMC date {date!r}")
            current.date = (2000 + int(date[4:6]), int(date[2:4]), int(date[0:2]))
            if fields[2] != "A":
                return  # receiver warning: no valid fix
            v.setdefault("lat", _coord(fields, 3, path, lineno))
            v.setdefault("lon", _coord(fields, 5, path, lineno))
            v.setdefault("speed_mps", _num(fields, 7, path, lineno) * KNOT_MPS)
            v.setdefault("course", _num(fields, 8, path, lineno))
        elif kind == "VTG":
            v["course"] = _num(fields, 1, path, lineno)
            v["speed_mps"] = _num(fields, 5, path, lineno) * KNOT_MPS
        else:  # HDT
            v["yaw"] = _num(fields, 1, path, lineno)

    def drop_before(self, count: int) -> None:
        """Forget the oldest epochs, keeping the last ``count`` (bounds memory on live links)."""
        if len(self.epochs) > count:
            del self.epochs[: len(self.epochs) - count]

    def to_track(self, *, alt_reference: float | None = None) -> TelemetryTrack:
        """The epochs with a position as a track; raises TelemetryError without a dated one."""
        return epochs_to_track(self.source, self.epochs, alt_reference=alt_reference)


def load_nmea(path: str | Path) -> TelemetryTrack:
    """Pose track from an NMEA log; errors name the file and 1-based line."""
    parser = NmeaEpochs(str(path))
    with Path(path).open(encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            parser.feed(line, lineno)
    return parser.to_track()


def epochs_to_track(
    source: str, all_epochs: list[_Epoch], *, alt_reference: float | None = None
) -> TelemetryTrack:
    """Place the epochs in time (dates from RMC, midnight roll-over) and build the track.

    ``alt_agl`` is the altitude above ``alt_reference`` (default: the first fix's).
    """
    epochs = [e for e in all_epochs if "lat" in e.values]
    dated = [e for e in epochs if e.date is not None]
    if not dated:
        raise TelemetryError(f"{source}: no RMC sentence with a date (needed to place the fixes in time)")
    date = dated[0].date
    assert date is not None
    day0 = timegm((*date, 0, 0, 0))
    times, last_tod = [], None
    for e in epochs:
        if e.date is not None and e.date != date:
            date, day0 = e.date, timegm((*e.date, 0, 0, 0))
        elif last_tod is not None and e.tod < last_tod - 43200:
            day0 += 86400  # midnight passed before the next RMC
        times.append(day0 + e.tod)
        last_tod = e.tod
    keys = ("lat", "lon", "alt_msl", "speed_mps", "horizontal_accuracy_m", "yaw", "course")
    table = {k: np.array([e.values.get(k, np.nan) for e in epochs], dtype=float) for k in keys}
    yaw = np.where(np.isnan(table["yaw"]), table.pop("course"), table["yaw"])
    alt = table["alt_msl"]
    first_alt = alt[np.isfinite(alt)][0] if np.isfinite(alt).any() else np.nan
    if alt_reference is not None:
        first_alt = alt_reference
    return TelemetryTrack.from_columns(
        source,
        time_utc=np.array(times),
        lat=table["lat"],
        lon=table["lon"],
        alt_msl=alt,
        alt_agl=alt - first_alt,
        speed_mps=table["speed_mps"],
        horizontal_accuracy_m=table["horizontal_accuracy_m"],
        yaw=np.nan_to_num(yaw),
    )
