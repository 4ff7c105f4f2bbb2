"""Check that an MP4/MOV file has its index (``moov`` box) before GStreamer reads it.

A recording cut off before the camera finalised it (battery out, card pulled)
has its frames but not the ``moov`` index that ``mp4mux`` and most cameras
write at the end. ``qtdemux`` cannot play such a file, and it does not always
say so: in some runs it posts no error and the pipeline just waits. Walking the
top-level boxes (a few header reads) finds this at once and names the offset.

Example:
    >>> print(missing_index_reason(Path("cut.mp4")))  # doctest: +SKIP
    top-level box mdat at byte 48 runs past the end of the file (1048576 bytes) and no moov box ...
"""

from __future__ import annotations

from pathlib import Path

_HEADER = 8
_LARGE_HEADER = 16


def missing_index_reason(path: Path) -> str | None:
    """Why ``path`` (ISO BMFF: MP4, MOV, M4V, 3GP) has no usable ``moov``; None if it has one or is no MP4."""
    with path.open("rb") as file:
        total = path.stat().st_size
        first = file.read(_HEADER)
        if len(first) < _HEADER or first[4:8] != b"ftyp":
            return None  # not ISO BMFF: other demuxers report their own errors
        pos = 0
        while pos + _HEADER <= total:
            file.seek(pos)
            header = file.read(_LARGE_HEADER)
            size = int.from_bytes(header[0:4], "big")
            kind = header[4:8].decode("latin-1")
            if size == 1 and len(header) == _LARGE_HEADER:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:  # "to the end of the file"
                size = total - pos
            if kind == "moov":
                return None
            if size < _HEADER:
                return (
                    f"bad top-level box {kind!r} of size {size} at byte {pos}; no moov box (index) before it"
                )
            if pos + size > total:
                return (
                    f"top-level box {kind} at byte {pos} runs past the end of the file ({total} bytes) and no"
                    " moov box (index) came before it: the recording was cut off before it was finalised"
                )
            pos += size
        return "no moov box (index) in the file: the recording was not finalised"
