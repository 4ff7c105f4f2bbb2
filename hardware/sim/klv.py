"""MISB ST 0601 UAS Datalink Local Sets (KLV) for the mission's MPEG-TS, one per telemetry sample.

Each set is the 16-byte universal key, a BER length and tag-length-value
items in ST 0601's integer mappings: precision time stamp (2), platform
heading/pitch/roll (5, 6, 7 and the full-range 90, 91), sensor latitude and
longitude (13, 14), sensor true altitude (15, metres MSL), frame centre
elevation (25: the flat ground under the camera), the camera's
platform-relative azimuth/elevation/roll (18, 19, 20, for a gimbal), the
LS version (65) and the checksum (1): a running 16-bit sum of big-endian
byte pairs over the whole set up to the checksum's length byte.

Example:
    >>> packet = encode_uas_local_set({2: 1_700_000_000_000_000, 5: 90.0, 13: 30.0, 14: 120.0})
    >>> packet[:4].hex(), len(packet)
    ('060e2b34', 50)
"""

from __future__ import annotations

import struct

import numpy as np

from hardware.sim.trajectory import PlatformState

UAS_LOCAL_SET_KEY = bytes.fromhex("060E2B34020B01010E01030101000000")
LS_VERSION = 17


def _unsigned(value: float, lo: float, hi: float, size: int) -> bytes:
    span = float(2 ** (8 * size) - 1)
    return round((value - lo) / (hi - lo) * span).to_bytes(size, "big")


def _signed(value: float, half_range: float, size: int) -> bytes:
    """Symmetric signed mapping; a value out of range gets ST 0601's "out of range" code (min int)."""
    limit = 2 ** (8 * size - 1) - 1
    if abs(value) > half_range:
        return (-(limit + 1)).to_bytes(size, "big", signed=True)
    return round(value / half_range * limit).to_bytes(size, "big", signed=True)


# tag -> encoder of the physical value (degrees, metres, microseconds)
ENCODERS = {
    2: lambda us: struct.pack(">Q", int(us)),
    5: lambda deg: _unsigned(deg % 360.0, 0.0, 360.0, 2),
    6: lambda deg: _signed(deg, 20.0, 2),
    7: lambda deg: _signed(deg, 50.0, 2),
    13: lambda deg: _signed(deg, 90.0, 4),
    14: lambda deg: _signed(deg, 180.0, 4),
    15: lambda m: _unsigned(m, -900.0, 19000.0, 2),
    18: lambda deg: _unsigned(deg % 360.0, 0.0, 360.0, 4),
    19: lambda deg: _signed(deg, 180.0, 4),
    20: lambda deg: _unsigned(deg % 360.0, 0.0, 360.0, 4),
    25: lambda m: _unsigned(m, -900.0, 19000.0, 2),
    65: lambda v: int(v).to_bytes(1, "big"),
    90: lambda deg: _signed(deg, 90.0, 4),
    91: lambda deg: _signed(deg, 180.0, 4),
}


def ber_length(n: int) -> bytes:
    """BER length: short form below 128, else ``0x80 | count`` and the big-endian count bytes."""
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def st0601_checksum(data: bytes) -> int:
    """Running 16-bit sum of ``data`` read as big-endian byte pairs (ST 0601 tag 1)."""
    total = 0
    for i, byte in enumerate(data):
        total += byte << 8 if i % 2 == 0 else byte
    return total & 0xFFFF


def encode_uas_local_set(values: dict[int, float]) -> bytes:
    """One local set from ``{tag: physical value}`` (tag 2 first, version and checksum added)."""
    items = b"".join(
        bytes([tag]) + ber_length(len(v)) + v
        for tag, v in ((tag, ENCODERS[tag](values[tag])) for tag in sorted(values, key=lambda k: k != 2))
    )
    items += bytes([65, 1, LS_VERSION]) + b"\x01\x02"
    head = UAS_LOCAL_SET_KEY + ber_length(len(items) + 2)
    return head + items + st0601_checksum(head + items).to_bytes(2, "big")


def _rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` body-to-NED matrices of ZYX Euler angles in degrees."""
    y, p, r = (np.radians(np.asarray(a, dtype=float)) for a in (yaw, pitch, roll))
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    return np.stack(
        [
            np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], axis=-1),
            np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], axis=-1),
            np.stack([-sp, cp * sr, cp * cr], axis=-1),
        ],
        axis=-2,
    )


def relative_sensor_angles(state: PlatformState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's (azimuth, elevation, roll) relative to the platform body, degrees (ST 0601 18-20)."""
    body = _rotation(state.yaw_deg, state.pitch_deg, state.roll_deg)
    camera = _rotation(state.camera_yaw_deg, state.camera_pitch_deg, state.camera_roll_deg)
    rel = np.einsum("nji,njk->nik", body, camera)  # body^T @ camera
    elevation = np.degrees(np.arcsin(np.clip(-rel[:, 2, 0], -1.0, 1.0)))
    azimuth = np.degrees(np.arctan2(rel[:, 1, 0], rel[:, 0, 0]))
    roll = np.degrees(np.arctan2(rel[:, 2, 1], rel[:, 2, 2]))
    return azimuth % 360.0, elevation, roll % 360.0


def mission_klv(
    state: PlatformState,
    start_posix: float,
    *,
    lonlat: np.ndarray,
    ground_elevation_m: float,
    gimbal: bool,
) -> list[tuple[float, bytes]]:
    """``(seconds from the start, local set)`` per sample of ``state`` (the telemetry samples)."""
    relative = relative_sensor_angles(state) if gimbal else None
    out = []
    for i, t in enumerate(state.t):
        lon, lat = lonlat[i]
        values: dict[int, float] = {
            2: round((start_posix + float(t)) * 1e6),
            5: float(state.yaw_deg[i]),
            6: float(state.pitch_deg[i]),
            7: float(state.roll_deg[i]),
            90: float(state.pitch_deg[i]),
            91: float(state.roll_deg[i]),
            13: float(lat),
            14: float(lon),
            15: ground_elevation_m + float(state.camera_height[i]),
            25: ground_elevation_m,
        }
        if relative is not None:
            values.update({18: relative[0][i], 19: relative[1][i], 20: relative[2][i]})
        out.append((float(t), encode_uas_local_set(values)))
    return out
