"""Read a MAVLink telemetry log (``.tlog``): records of an 8-byte big-endian UNIX
microsecond timestamp followed by one MAVLink 1 or 2 packet.

The framing is walked here rather than by ``mavutil.mavlink_connection`` so a
corrupt record is reported with its byte offset instead of being skipped
silently; each packet is decoded (and CRC-checked) by pymavlink.

Example:
    >>> track = load_tlog("mission/telemetry.tlog")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from capture.errors import TelemetryError
from capture.telemetry.mavlink_samples import MavlinkSamples
from capture.telemetry.track import TelemetryTrack

log = logging.getLogger(__name__)

_V1, _V2 = 0xFE, 0xFD
_SIGNED = 0x01  # MAVLink 2 incompat flag: 13-byte signature follows
# Plausible log timestamps: 2000-01-01 .. 2100-01-01 (catches misaligned records).
_MIN_US, _MAX_US = 946_684_800_000_000, 4_102_444_800_000_000


def iter_tlog(path: Path) -> Iterator[tuple[int, float, Any]]:
    """Yield ``(byte_offset, time_utc, message)`` for every packet of a tlog.

    Raises :class:`TelemetryError` naming the file and offset for a bad
    timestamp, a bad start byte or a CRC error. A record cut short at the end of
    the file (a log that was being written) is ignored with a warning. Messages
    unknown to the ArduPilot dialect come back as ``MAVLink_unknown``.
    """
    data = path.read_bytes()
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = False
    offset = 0
    while offset < len(data):
        if offset + 8 + 3 > len(data):
            log.warning("%s: ignoring %d trailing bytes at offset %d", path, len(data) - offset, offset)
            return
        (usec,) = struct.unpack_from(">Q", data, offset)
        if not _MIN_US <= usec <= _MAX_US:
            raise TelemetryError(f"{path}: byte offset {offset}: implausible record timestamp {usec} us")
        start = offset + 8
        magic, length = data[start], data[start + 1]
        if magic == _V2:
            size = 10 + length + 2 + (13 if data[start + 2] & _SIGNED else 0)
        elif magic == _V1:
            size = 6 + length + 2
        else:
            raise TelemetryError(
                f"{path}: byte offset {start}: not a MAVLink packet (start byte 0x{magic:02x})"
            )
        if start + size > len(data):
            log.warning("%s: ignoring a truncated record at offset %d", path, offset)
            return
        packet = bytearray(data[start : start + size])
        try:
            msg = parser.decode(packet)
        except mavlink.MAVError as exc:
            raise TelemetryError(f"{path}: byte offset {start}: bad MAVLink packet: {exc}") from exc
        yield offset, usec / 1e6, msg
        offset = start + size


def load_tlog(path: str | Path) -> TelemetryTrack:
    """Pose track from a tlog; see :mod:`capture.telemetry.mavlink_samples` for the messages used."""
    path = Path(path)
    samples = MavlinkSamples(str(path))
    for _, t, msg in iter_tlog(path):
        samples.add(msg, t)
    if len(samples) == 0:
        raise TelemetryError(f"{path}: no GLOBAL_POSITION_INT or GPS_RAW_INT with a fix")
    return samples.to_track()
