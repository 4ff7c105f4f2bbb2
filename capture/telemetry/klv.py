"""Read MISB ST 0601 (UAS Datalink Local Set) KLV metadata carried in an MPEG-TS file (``.ts``).

The transport stream is walked here (188-byte packets, PAT -> PMT -> the
KLV elementary stream): asynchronous KLV (stream type 0x06 with a ``KLVA``
registration descriptor, as GStreamer's ``mpegtsmux`` writes it) and
synchronous metadata (stream type 0x15, metadata access-unit cells). Each
PES payload holds KLV triplets; universal sets other than the UAS local set
are skipped and counted (``KlvStats``). Every local set's checksum (tag 1, a
running 16-bit sum of big-endian byte pairs) is verified. Errors name the
file and the byte offset in it.

Columns: time from the precision time stamp (tag 2, UTC microseconds),
sensor latitude/longitude (13/14), ``alt_msl`` = sensor true altitude (15),
``alt_agl`` = that minus the frame centre elevation (25) when given, platform
heading (5), pitch and roll (90/91, else 6/7), and the camera attitude in the
earth frame from the platform attitude and the sensor's platform-relative
azimuth/elevation/roll (18/19/20) when a set has them.

Example:
    >>> track = load_klv_ts("mission/video.ts")  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.angles import euler_deg_to_quaternions, quaternion_multiply, quaternion_to_euler_deg
from capture.telemetry.track import TelemetryTrack

log = logging.getLogger(__name__)

UAS_LOCAL_SET_KEY = bytes.fromhex("060E2B34020B01010E01030101000000")
TS_PACKET = 188
_SYNC = 0x47
_STREAM_TYPE_PRIVATE = 0x06
_STREAM_TYPE_METADATA = 0x15
_NO_PES_HEADER = {0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xFF, 0xF2, 0xF8}


def _unsigned(lo: float, hi: float) -> Callable[[bytes], float]:
    def decode(b: bytes) -> float:
        return lo + int.from_bytes(b, "big") * (hi - lo) / (2 ** (8 * len(b)) - 1)

    return decode


def _signed(half_range: float) -> Callable[[bytes], float]:
    def decode(b: bytes) -> float:
        value = int.from_bytes(b, "big", signed=True)
        limit = 2 ** (8 * len(b) - 1) - 1
        return float("nan") if value == -(limit + 1) else value * half_range / limit

    return decode


# tag -> (column, decoder of the raw value)
DECODERS: dict[int, tuple[str, Callable[[bytes], float]]] = {
    2: ("time_utc", lambda b: int.from_bytes(b, "big") / 1e6),
    5: ("yaw", _unsigned(0.0, 360.0)),
    6: ("pitch_short", _signed(20.0)),
    7: ("roll_short", _signed(50.0)),
    13: ("lat", _signed(90.0)),
    14: ("lon", _signed(180.0)),
    15: ("alt_msl", _unsigned(-900.0, 19000.0)),
    18: ("sensor_azimuth", _unsigned(0.0, 360.0)),
    19: ("sensor_elevation", _signed(180.0)),
    20: ("sensor_roll", _unsigned(0.0, 360.0)),
    25: ("frame_center_elevation", _unsigned(-900.0, 19000.0)),
    90: ("pitch", _signed(90.0)),
    91: ("roll", _signed(180.0)),
}
_FIELDS = tuple(name for name, _ in DECODERS.values())


@dataclass
class KlvStats:
    """What a read found: local sets decoded and KLV sets skipped (other universal keys)."""

    local_sets: int = 0
    other_sets: int = 0
    pids: list[int] = field(default_factory=list)


def st0601_checksum(data: bytes) -> int:
    """Running 16-bit sum of ``data`` read as big-endian byte pairs (ST 0601 tag 1)."""
    arr = np.frombuffer(data, dtype=np.uint8).astype(np.uint32)
    return int((arr[0::2].sum() * 256 + arr[1::2].sum()) & 0xFFFF)


def _ber_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, position after it) of the BER length at ``pos``; raises IndexError/ValueError."""
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 8 or pos + 1 + count > len(buf):
        raise ValueError(f"bad BER length byte 0x{first:02x}")
    return int.from_bytes(buf[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _ber_oid(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = buf[pos]
        value = (value << 7) | (byte & 0x7F)
        pos += 1
        if byte < 0x80:
            return value, pos


class _Payload:
    """A reassembled PES payload with the file offset of each of its bytes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._starts: list[int] = []  # payload index where a TS packet's bytes begin
        self._offsets: list[int] = []  # file offset of that byte

    def add(self, chunk: bytes, file_offset: int) -> None:
        self._starts.append(len(self.data))
        self._offsets.append(file_offset)
        self.data += chunk

    def offset(self, index: int) -> int:
        k = max(bisect.bisect_right(self._starts, index) - 1, 0)
        return self._offsets[k] + index - self._starts[k]


def _packets(path: Path, data: bytes) -> np.ndarray:
    n = len(data) // TS_PACKET
    if n == 0:
        raise TelemetryError(f"{path}: byte offset 0: not an MPEG-TS file (shorter than one packet)")
    if len(data) % TS_PACKET:
        log.warning("%s: ignoring %d trailing bytes", path, len(data) % TS_PACKET)
    packets = np.frombuffer(data, dtype=np.uint8, count=n * TS_PACKET).reshape(n, TS_PACKET)
    bad = np.flatnonzero(packets[:, 0] != _SYNC)
    if len(bad):
        k = int(bad[0])
        raise TelemetryError(
            f"{path}: byte offset {k * TS_PACKET}: lost MPEG-TS sync "
            f"(0x{packets[k, 0]:02x} where a packet should start with 0x47)"
        )
    return packets


def _payload_start(path: Path, packet: np.ndarray, k: int) -> int | None:
    control = (int(packet[3]) >> 4) & 3
    if control in (0, 2):
        return None  # no payload
    if control == 3:
        start = 5 + int(packet[4])
        if start > TS_PACKET:
            raise TelemetryError(f"{path}: byte offset {k * TS_PACKET + 4}: adaptation field too long")
        return start
    return 4


def _section(path: Path, packet: np.ndarray, k: int) -> bytes:
    start = _payload_start(path, packet, k)
    if start is None:
        return b""
    body = bytes(packet[start:])
    pointer = body[0]
    section = body[1 + pointer :]
    length = ((section[1] & 0x0F) << 8) | section[2]
    return section[: 3 + length]


def _klv_pids(path: Path, packets: np.ndarray, pids: np.ndarray) -> dict[int, int]:
    """``{pid: stream_type}`` of the KLV streams announced in the PMTs."""
    pat_rows = np.flatnonzero((pids == 0) & ((packets[:, 1] & 0x40) != 0))
    if not len(pat_rows):
        raise TelemetryError(f"{path}: byte offset 0: no program association table (not an MPEG-TS?)")
    pat = _section(path, packets[pat_rows[0]], int(pat_rows[0]))
    pmt_pids = set()
    for i in range(8, len(pat) - 4, 4):
        program = (pat[i] << 8) | pat[i + 1]
        if program != 0:
            pmt_pids.add(((pat[i + 2] & 0x1F) << 8) | pat[i + 3])
    found: dict[int, int] = {}
    for pmt_pid in pmt_pids:
        rows = np.flatnonzero((pids == pmt_pid) & ((packets[:, 1] & 0x40) != 0))
        if not len(rows):
            continue
        pmt = _section(path, packets[rows[0]], int(rows[0]))
        pos = 12 + (((pmt[10] & 0x0F) << 8) | pmt[11])
        while pos + 5 <= len(pmt) - 4:
            stream_type = pmt[pos]
            es_pid = ((pmt[pos + 1] & 0x1F) << 8) | pmt[pos + 2]
            info_len = ((pmt[pos + 3] & 0x0F) << 8) | pmt[pos + 4]
            info = pmt[pos + 5 : pos + 5 + info_len]
            if stream_type == _STREAM_TYPE_METADATA or (
                stream_type == _STREAM_TYPE_PRIVATE and b"KLVA" in info
            ):
                found[es_pid] = stream_type
            pos += 5 + info_len
    return found


def _pes_payloads(path: Path, packets: np.ndarray, rows: np.ndarray) -> Iterator[_Payload]:
    """Reassembled PES packets of one PID, each with its payload only (PES header removed)."""
    current: _Payload | None = None
    for k in rows.tolist():
        packet = packets[k]
        start = _payload_start(path, packet, k)
        if start is None:
            continue
        if packet[1] & 0x40:
            if current is not None:
                yield current
            current = _Payload()
        if current is not None:
            current.add(bytes(packet[start:]), k * TS_PACKET + start)
    if current is not None:
        yield current


def _strip_pes_header(path: Path, pes: _Payload) -> tuple[bytes, int]:
    """(PES payload, its index in ``pes.data``)."""
    data = bytes(pes.data)
    if len(data) < 6 or data[:3] != b"\x00\x00\x01":
        raise TelemetryError(f"{path}: byte offset {pes.offset(0)}: PES packet without a start code")
    stream_id, length = data[3], (data[4] << 8) | data[5]
    start = 6 if stream_id in _NO_PES_HEADER else 9 + data[8]
    end = 6 + length if length else len(data)
    if start > len(data) or end > len(data):
        raise TelemetryError(f"{path}: byte offset {pes.offset(0)}: PES packet longer than its data")
    return data[start:end], start


def _metadata_cells(path: Path, pes: _Payload, data: bytes, base: int) -> Iterator[tuple[bytes, int]]:
    """Synchronous metadata (stream type 0x15): 5-byte access-unit cell headers before the KLV."""
    pos = 0
    while pos < len(data):
        if pos + 5 > len(data):
            raise TelemetryError(f"{path}: byte offset {pes.offset(base + pos)}: truncated metadata AU cell")
        size = (data[pos + 3] << 8) | data[pos + 4]
        yield data[pos + 5 : pos + 5 + size], base + pos + 5
        pos += 5 + size


def _decode_local_set(path: Path, value: bytes, where: int) -> dict[str, float]:
    row: dict[str, float] = {}
    pos = 0
    try:
        while pos < len(value):
            tag, after = _ber_oid(value, pos)
            length, vpos = _ber_length(value, after)
            raw = value[vpos : vpos + length]
            if len(raw) != length:
                raise ValueError(f"tag {tag} runs past the end of the set")
            decoder = DECODERS.get(tag)
            if decoder is not None:
                row[decoder[0]] = decoder[1](raw)
            pos = vpos + length
    except (IndexError, ValueError) as exc:
        raise TelemetryError(f"{path}: byte offset {where}: malformed UAS local set item ({exc})") from None
    return row


def _local_sets(
    path: Path, pes: _Payload, data: bytes, base: int, stats: KlvStats
) -> Iterator[dict[str, float]]:
    pos = 0
    while pos < len(data):
        where = pes.offset(base + pos)
        if len(data) - pos < 17:
            raise TelemetryError(f"{path}: byte offset {where}: truncated KLV key")
        key = data[pos : pos + 16]
        try:
            length, vpos = _ber_length(data, pos + 16)
        except (IndexError, ValueError) as exc:
            raise TelemetryError(f"{path}: byte offset {where + 16}: {exc}") from None
        if vpos + length > len(data):
            raise TelemetryError(
                f"{path}: byte offset {where}: KLV set of {length} bytes runs past its packet"
            )
        packet, value = data[pos : vpos + length], data[vpos : vpos + length]
        pos = vpos + length
        if key != UAS_LOCAL_SET_KEY:
            stats.other_sets += 1
            continue
        if length < 4 or value[-4:-2] != b"\x01\x02":
            raise TelemetryError(f"{path}: byte offset {where}: UAS local set does not end with a checksum")
        given = int.from_bytes(value[-2:], "big")
        computed = st0601_checksum(packet[:-2])
        if given != computed:
            raise TelemetryError(
                f"{path}: byte offset {where}: UAS local set checksum mismatch "
                f"(got 0x{given:04x}, computed 0x{computed:04x})"
            )
        row = _decode_local_set(path, value[:-4], pes.offset(base + vpos))
        if "time_utc" not in row:
            raise TelemetryError(f"{path}: byte offset {where}: UAS local set without a time stamp (tag 2)")
        stats.local_sets += 1
        yield row


def read_klv_ts(path: str | Path) -> tuple[list[dict[str, float]], KlvStats]:
    """The decoded UAS local sets of a TS file (dicts of column -> value) and what was skipped."""
    path = Path(path)
    packets = _packets(path, path.read_bytes())
    pids = ((packets[:, 1].astype(np.int32) & 0x1F) << 8) | packets[:, 2]
    streams = _klv_pids(path, packets, pids)
    if not streams:
        raise TelemetryError(f"{path}: no KLV metadata stream in this MPEG-TS (video only?)")
    stats = KlvStats(pids=sorted(streams))
    rows: list[dict[str, float]] = []
    for pid, stream_type in sorted(streams.items()):
        for pes in _pes_payloads(path, packets, np.flatnonzero(pids == pid)):
            data, base = _strip_pes_header(path, pes)
            if stream_type == _STREAM_TYPE_METADATA:
                for cell, cell_base in _metadata_cells(path, pes, data, base):
                    rows += _local_sets(path, pes, cell, cell_base, stats)
            else:
                rows += _local_sets(path, pes, data, base, stats)
    if stats.other_sets:
        log.info("%s: skipped %d KLV sets that are not UAS local sets", path, stats.other_sets)
    return rows, stats


def load_klv_ts(path: str | Path) -> TelemetryTrack:
    """Pose track from the ST 0601 local sets of a TS file; see the module docstring for the columns."""
    path = Path(path)
    rows, _ = read_klv_ts(path)
    if not rows:
        raise TelemetryError(f"{path}: the KLV stream has no UAS local set")
    table = {name: np.array([r.get(name, np.nan) for r in rows], dtype=float) for name in _FIELDS}
    pitch = np.where(np.isfinite(table["pitch"]), table["pitch"], table["pitch_short"])
    roll = np.where(np.isfinite(table["roll"]), table["roll"], table["roll_short"])
    yaw = table["yaw"]
    cols: dict[str, np.ndarray] = {
        "alt_msl": table["alt_msl"],
        "alt_agl": table["alt_msl"] - table["frame_center_elevation"],
        "roll": roll,
        "pitch": pitch,
        "yaw": yaw,
    }
    relative = np.isfinite(table["sensor_azimuth"]) & np.isfinite(table["sensor_elevation"])
    if relative.any():
        body = euler_deg_to_quaternions(np.nan_to_num(roll), np.nan_to_num(pitch), np.nan_to_num(yaw))
        sensor = euler_deg_to_quaternions(
            np.nan_to_num(table["sensor_roll"]), table["sensor_elevation"], table["sensor_azimuth"]
        )
        cam_roll, cam_pitch, cam_yaw = quaternion_to_euler_deg(quaternion_multiply(body, sensor))
        cols.update(
            camera_roll=np.where(relative, cam_roll, np.nan),
            camera_pitch=np.where(relative, cam_pitch, np.nan),
            camera_yaw=np.where(relative, cam_yaw, np.nan),
        )
    return TelemetryTrack.from_columns(
        str(path), time_utc=table["time_utc"], lat=table["lat"], lon=table["lon"], **cols
    )
