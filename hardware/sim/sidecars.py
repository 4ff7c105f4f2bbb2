"""Text sidecars: the DJI-style per-frame ``.SRT`` (drones), NMEA 0183 (vehicles) and GPX tracks.

Example:
    >>> nmea_checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")  # the classic example
    '47'
    >>> format_lat_nmea(30.5)
    ('3030.000000', 'N')
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import numpy as np

from hardware.sim.trajectory import PlatformState

KNOTS_PER_MPS = 3600.0 / 1852.0


def _utc(posix: float) -> datetime:
    return datetime.fromtimestamp(posix, tz=UTC)


def _srt_clock(ms: int) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_srt(
    path: Path,
    state: PlatformState,
    start_posix: float,
    *,
    lonlat: np.ndarray,
    ground_elevation_m: float,
    focal_len_35mm: float,
) -> None:
    """One subtitle per video frame (``state`` sampled at the frame times), DJI Mavic 3E layout.

    The wall-clock line is UTC (``YYYY-MM-DD HH:MM:SS.mmm``), like every time in roadsight.
    """
    ms = np.round(state.t * 1000).astype(int)
    step = int(ms[1] - ms[0]) if len(ms) > 1 else 33
    lines = []
    for i in range(len(state.t)):
        end = int(ms[i + 1]) if i + 1 < len(ms) else int(ms[i]) + step
        diff = int(ms[i] - ms[i - 1]) if i else step
        when = _utc(start_posix + float(state.t[i]))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        lon, lat = lonlat[i]
        agl = float(state.camera_height[i])
        lines += [
            str(i + 1),
            f"{_srt_clock(int(ms[i]))} --> {_srt_clock(end)}",
            f'<font size="28">FrameCnt: {i + 1}, DiffTime: {diff}ms',
            stamp,
            f"[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [color_md: default] "
            f"[focal_len: {focal_len_35mm:.2f}] [latitude: {lat:.7f}] [longitude: {lon:.7f}] "
            f"[rel_alt: {agl:.3f} abs_alt: {agl + ground_elevation_m:.3f}] "
            f"[gb_yaw: {_deg1(_signed_deg(state.camera_yaw_deg[i]))} "
            f"gb_pitch: {_deg1(state.camera_pitch_deg[i])} "
            f"gb_roll: {_deg1(state.camera_roll_deg[i])}] </font>",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _deg1(deg: float) -> str:
    """One decimal, never ``-0.0``."""
    return f"{round(float(deg), 1) + 0.0:.1f}"


def _signed_deg(deg: float) -> float:
    """DJI reports yaw in -180..180."""
    return float((deg + 180.0) % 360.0 - 180.0)


def nmea_checksum(body: str) -> str:
    """XOR of the characters between ``$`` and ``*``, two hex digits."""
    return f"{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def _sentence(body: str) -> str:
    return f"${body}*{nmea_checksum(body)}\r\n"


def format_lat_nmea(lat: float) -> tuple[str, str]:
    d = int(abs(lat))
    return f"{d:02d}{(abs(lat) - d) * 60:09.6f}", "N" if lat >= 0 else "S"


def format_lon_nmea(lon: float) -> tuple[str, str]:
    d = int(abs(lon))
    return f"{d:03d}{(abs(lon) - d) * 60:09.6f}", "E" if lon >= 0 else "W"


def write_nmea(
    path: Path, state: PlatformState, start_posix: float, *, lonlat: np.ndarray, ground_elevation_m: float
) -> int:
    """RMC, GGA, VTG and HDT per sample (talker ``GP``); GGA altitude is the antenna's, metres MSL.

    Returns the number of sentences written.
    """
    out = []
    for i, t in enumerate(state.t):
        when = _utc(start_posix + float(t))
        hms = when.strftime("%H%M%S") + f".{when.microsecond // 10_000:02d}"
        lon, lat = lonlat[i]
        la, ns = format_lat_nmea(float(lat))
        lo, ew = format_lon_nmea(float(lon))
        ve, vn = float(state.velocity_enu[i, 0]), float(state.velocity_enu[i, 1])
        speed = math.hypot(ve, vn)
        course = math.degrees(math.atan2(ve, vn)) % 360.0
        alt = ground_elevation_m + float(state.alt_agl[i])
        out.append(
            _sentence(
                f"GPRMC,{hms},A,{la},{ns},{lo},{ew},{speed * KNOTS_PER_MPS:.3f},{course:.2f},"
                f"{when.strftime('%d%m%y')},,,D"
            )
        )
        out.append(_sentence(f"GPGGA,{hms},{la},{ns},{lo},{ew},4,18,0.7,{alt:.3f},M,0.000,M,1.0,0001"))
        out.append(_sentence(f"GPVTG,{course:.2f},T,,M,{speed * KNOTS_PER_MPS:.3f},N,{speed * 3.6:.3f},K,D"))
        out.append(_sentence(f"GPHDT,{float(state.yaw_deg[i]):.2f},T"))
    path.write_text("".join(out), encoding="ascii", newline="")
    return len(out)


def write_gpx(
    path: Path, state: PlatformState, start_posix: float, *, lonlat: np.ndarray, ground_elevation_m: float
) -> int:
    """A GPX 1.1 track, one ``trkpt`` per sample: ``ele`` metres MSL, ``time`` UTC with milliseconds.

    Returns the number of track points written.
    """
    points = []
    for i, t in enumerate(state.t):
        when = _utc(start_posix + float(t))
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        lon, lat = lonlat[i]
        ele = ground_elevation_m + float(state.alt_agl[i])
        points.append(
            f'      <trkpt lat="{lat:.8f}" lon="{lon:.8f}"><ele>{ele:.3f}</ele><time>{stamp}</time></trkpt>'
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="roadsight-sim" xmlns="http://www.topografix.com/GPX/1/1">\n'
        "  <trk><name>roadsight simulated track</name><trkseg>\n" + "\n".join(points) + "\n"
        "  </trkseg></trk>\n</gpx>\n",
        encoding="utf-8",
    )
    return len(points)
