"""Stamp an MP4's creation time (``mvhd``, ``tkhd``, ``mdhd``) with the capture start, as cameras do.

``mp4mux`` writes the wall-clock time of encoding; a simulated mission must
say when its first frame was captured instead.

Example:
    >>> from datetime import datetime, UTC
    >>> mp4_epoch_seconds(datetime(1970, 1, 1, tzinfo=UTC))
    2082844800
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"mdia"}
_TIMED = {b"mvhd", b"tkhd", b"mdhd"}
_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


class Mp4Error(ValueError):
    """An MP4 file whose atoms cannot be walked."""


def mp4_epoch_seconds(when: datetime) -> int:
    """Seconds since 1904-01-01 UTC, the QuickTime/MP4 epoch."""
    return int((when.astimezone(UTC) - _MP4_EPOCH).total_seconds())


def _walk(buf: bytearray, start: int, end: int, stamp: int, path: Path) -> int:
    count = 0
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4Error(f"{path}: bad atom {kind!r} at byte offset {pos}")
        body = pos + header
        if kind in _CONTAINERS:
            count += _walk(buf, body, pos + size, stamp, path)
        elif kind in _TIMED:
            version = buf[body]
            if version == 1:
                struct.pack_into(">QQ", buf, body + 4, stamp, stamp)
            else:
                struct.pack_into(">II", buf, body + 4, stamp, stamp)
            count += 1
        pos += size
    return count


def set_mp4_creation_time(path: Path, when: datetime) -> int:
    """Rewrite creation and modification times in place; returns how many headers were stamped."""
    buf = bytearray(Path(path).read_bytes())
    n = _walk(buf, 0, len(buf), mp4_epoch_seconds(when), Path(path))
    if n == 0:
        raise Mp4Error(f"{path}: no mvhd/tkhd/mdhd atom found")
    Path(path).write_bytes(bytes(buf))
    return n
