"""Load a telemetry file, choosing the reader by file suffix.

Example:
    >>> track = load_telemetry("mission/telemetry.tlog")  # doctest: +SKIP
    >>> track.pose_at(track.start_time_utc + 1.5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from capture.errors import TelemetryError
from capture.telemetry.gpx import load_gpx
from capture.telemetry.klv import load_klv_ts
from capture.telemetry.nmea import load_nmea
from capture.telemetry.srt import load_srt
from capture.telemetry.tlog import load_tlog
from capture.telemetry.track import TelemetryTrack

READERS: dict[str, Callable[[Path], TelemetryTrack]] = {
    ".tlog": load_tlog,
    ".srt": load_srt,
    ".nmea": load_nmea,
    ".txt": load_nmea,
    ".gpx": load_gpx,
    ".ts": load_klv_ts,
}


def load_telemetry(path_or_uri: str | Path, *, srt_utc_offset_s: float = 0.0) -> TelemetryTrack:
    """Read ``.tlog`` (MAVLink), ``.srt`` (DJI), ``.nmea``/``.txt`` (NMEA 0183), ``.gpx`` or ``.ts``.

    A ``.ts`` is an MPEG-TS whose MISB ST 0601 KLV stream is the telemetry
    (a TS without one raises :class:`TelemetryError` saying so).

    A folder is read as DJI survey photos, each posed by its own XMP/EXIF
    (:func:`capture.photos.load_photo_telemetry`).

    DJI aircraft write SRT and photo datetimes in local time: pass the local
    offset from UTC in seconds as ``srt_utc_offset_s`` (e.g. ``8 * 3600`` in
    China); the simulator writes UTC (its manifest says ``"srt_clock": "UTC"``).

    Accepts a path or a ``file://`` URI. Raises :class:`TelemetryError` for a
    missing file, an unknown suffix, or malformed content (naming the line or
    byte offset). Live links (``udp:``, ``tcp:``) are read by ``LiveTelemetry``.
    """
    text = str(path_or_uri)
    if text.startswith("file://"):
        text = unquote(urlsplit(text).path)
    path = Path(text)
    if path.is_dir():  # a folder of geotagged survey photos is its own telemetry
        from capture.photos import load_photo_telemetry

        return load_photo_telemetry(path, utc_offset_s=srt_utc_offset_s)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise TelemetryError(
            f"{path}: unknown telemetry format {path.suffix!r} (known: {', '.join(READERS)})"
        )
    if not path.is_file():
        raise TelemetryError(f"{path}: telemetry file not found")
    if reader is load_srt:
        return load_srt(path, utc_offset_s=srt_utc_offset_s)
    return reader(path)
