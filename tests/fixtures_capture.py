"""Tiny, exactly known test missions for the capture stage and the live simulator.

``write_mission(folder)`` writes a mission folder in the layout of
``hardware/sim`` (scenario.json, video.mp4, video.ts, telemetry.tlog,
video.SRT, telemetry.nmea) for a platform flying due north at constant speed
while its heading turns through north (350 -> 10 degrees), so interpolation
and yaw wrap-around can be checked against :class:`MissionTruth`.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from capture.telemetry.angles import euler_deg_to_quaternion
from capture.telemetry.nmea import nmea_checksum

START_UTC = 1_767_261_600.0  # 2026-01-01T10:00:00Z
M_PER_DEG_LAT = 111_195.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MissionTruth:
    """The exact motion written into the telemetry files."""

    start_utc: float = START_UTC
    lat0: float = 30.27
    lon0: float = 120.15
    ground_msl: float = 12.0
    agl: float = 30.0
    speed_mps: float = 5.0
    yaw0: float = 350.0
    yaw_rate: float = 5.0  # deg/s: 350 at t=0, 0 at t=2, 5 at t=3
    camera_pitch: float = -80.0
    duration_s: float = 3.0
    fps: int = 10
    width: int = 160
    height: int = 120
    rate_hz: int = 10

    def lat(self, dt: float) -> float:
        return self.lat0 + self.speed_mps * dt / M_PER_DEG_LAT

    def yaw(self, dt: float) -> float:
        return (self.yaw0 + self.yaw_rate * dt) % 360.0

    @property
    def n_frames(self) -> int:
        return int(self.duration_s * self.fps)

    @property
    def n_records(self) -> int:
        return int(self.duration_s * self.rate_hz) + 1


def write_video(folder: Path, truth: MissionTruth) -> None:
    """video.mp4 and video.ts: SMPTE colour bars, H.264 (x264enc), one encode, two muxers."""
    caps = f"video/x-raw,width={truth.width},height={truth.height},framerate={truth.fps}/1"
    cmd = (
        f"gst-launch-1.0 -q videotestsrc num-buffers={truth.n_frames} pattern=smpte ! {caps} ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={truth.fps} ! "
        f"tee name=t t. ! queue ! h264parse ! mp4mux ! filesink location={folder / 'video.mp4'} "
        f"t. ! queue ! h264parse ! mpegtsmux ! filesink location={folder / 'video.ts'}"
    )
    subprocess.run(cmd, shell=True, check=True, timeout=60)


def write_tlog(path: Path, truth: MissionTruth) -> None:
    """MAVLink 2 tlog at ``rate_hz``: HEARTBEAT, SYSTEM_TIME, GPI, ATTITUDE, GPS_RAW_INT, gimbal status."""
    with path.open("wb") as f:
        mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
        mav.WIRE_PROTOCOL_VERSION = "2.0"

        def put(msg: mavlink.MAVLink_message, t: float) -> None:
            f.write(struct.pack(">Q", round(t * 1e6)) + msg.pack(mav))

        for k in range(truth.n_records):
            dt = k / truth.rate_hz
            t = truth.start_utc + dt
            boot_ms = int(dt * 1000)
            yaw = truth.yaw(dt)
            put(mavlink.MAVLink_heartbeat_message(2, 3, 217, 4, 4, 3), t)  # quad, ArduPilot, GUIDED
            put(mavlink.MAVLink_system_time_message(int(t * 1e6), boot_ms), t)
            lat_e7, lon_e7 = round(truth.lat(dt) * 1e7), round(truth.lon0 * 1e7)
            alt_mm = round((truth.ground_msl + truth.agl) * 1000)
            put(
                mavlink.MAVLink_global_position_int_message(
                    boot_ms,
                    lat_e7,
                    lon_e7,
                    alt_mm,
                    round(truth.agl * 1000),
                    round(truth.speed_mps * 100),
                    0,
                    0,
                    round(yaw * 100),
                ),
                t,
            )
            yaw_rad = (yaw if yaw <= 180 else yaw - 360) * 3.141592653589793 / 180
            put(mavlink.MAVLink_attitude_message(boot_ms, 0.0, 0.0, yaw_rad, 0.0, 0.0, 0.0), t)
            put(
                mavlink.MAVLink_gps_raw_int_message(
                    int(t * 1e6), 3, lat_e7, lon_e7, alt_mm, 80, 120, 500, 0, 14
                ),
                t,
            )
            q = euler_deg_to_quaternion(0.0, truth.camera_pitch, yaw)
            put(
                mavlink.MAVLink_gimbal_device_attitude_status_message(
                    0, 0, boot_ms, 2048 | 8, q, 0.0, 0.0, 0.0, 0
                ),
                t,
            )


def srt_text(truth: MissionTruth) -> str:
    """DJI M3E-style SRT, one block per video frame."""
    blocks = []
    for k in range(truth.n_frames):
        dt = k / truth.fps
        ms = round(dt * 1000)
        nxt = round((k + 1) / truth.fps * 1000)
        stamp = _utc_text(truth.start_utc + dt)
        blocks.append(
            f"{k + 1}\n{_srt_clock(ms)} --> {_srt_clock(nxt)}\n"
            f'<font size="28">FrameCnt: {k + 1}, DiffTime: {1000 // truth.fps}ms\n{stamp}\n'
            f"[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: 24.00] "
            f"[latitude: {truth.lat(dt):.7f}] [longitude: {truth.lon0:.7f}] "
            f"[rel_alt: {truth.agl:.3f} abs_alt: {truth.ground_msl + truth.agl:.3f}] "
            f"[gb_yaw: {truth.yaw(dt):.1f} gb_pitch: {truth.camera_pitch:.1f} gb_roll: 0.0] </font>\n"
        )
    return "\n".join(blocks)


def _srt_clock(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _utc_text(t: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def nmea_sentence(body: str) -> str:
    return f"${body}*{nmea_checksum(body):02X}"


def nmea_text(truth: MissionTruth) -> str:
    """GGA, RMC, VTG, HDT at ``rate_hz``."""
    import datetime as _dt

    lines = []
    for k in range(truth.n_records):
        dt = k / truth.rate_hz
        when = _dt.datetime.fromtimestamp(truth.start_utc + dt, _dt.UTC)
        hhmmss = when.strftime("%H%M%S.") + f"{when.microsecond // 10000:02d}"
        ddmmyy = when.strftime("%d%m%y")
        lat = truth.lat(dt)
        lat_txt = f"{int(lat):02d}{(lat - int(lat)) * 60:09.6f}"
        lon_txt = f"{int(truth.lon0):03d}{(truth.lon0 - int(truth.lon0)) * 60:09.6f}"
        alt = truth.ground_msl
        knots = truth.speed_mps / (1852.0 / 3600.0)
        yaw = truth.yaw(dt)
        lines += [
            nmea_sentence(f"GPGGA,{hhmmss},{lat_txt},N,{lon_txt},E,4,12,0.8,{alt:.2f},M,7.0,M,,"),
            nmea_sentence(f"GPRMC,{hhmmss},A,{lat_txt},N,{lon_txt},E,{knots:.3f},0.0,{ddmmyy},,,D"),
            nmea_sentence(f"GPVTG,0.0,T,,M,{knots:.3f},N,{truth.speed_mps * 3.6:.3f},K,D"),
            nmea_sentence(f"HEHDT,{yaw:.2f},T"),
        ]
    return "\r\n".join(lines) + "\r\n"


def write_mission(folder: Path, truth: MissionTruth | None = None, *, video: bool = True) -> MissionTruth:
    """Write a complete test mission folder; returns the truth it encodes."""
    truth = truth or MissionTruth()
    folder.mkdir(parents=True, exist_ok=True)
    if video:
        write_video(folder, truth)
    write_tlog(folder / "telemetry.tlog", truth)
    (folder / "video.SRT").write_text(srt_text(truth), encoding="utf-8")
    (folder / "telemetry.nmea").write_text(nmea_text(truth), encoding="ascii", newline="")
    manifest = {
        "scenario": "drone",
        "seed": 0,
        "origin": {"lat": truth.lat0, "lon": truth.lon0},
        "ground_elevation_m": truth.ground_msl,
        "camera_profile": "dji_m3e_wide",
        "video": {"width": truth.width, "height": truth.height, "fps": truth.fps},
        "start_time_utc": _utc_text(truth.start_utc).replace(" ", "T") + "Z",
        "duration_s": truth.duration_s,
        "files": {
            "video_mp4": "video.mp4",
            "video_ts": "video.ts",
            "telemetry_tlog": "telemetry.tlog",
            "video_srt": "video.SRT",
            "telemetry_nmea": "telemetry.nmea",
        },
    }
    (folder / "scenario.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return truth


def make_capture_mission(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MissionTruth]:
    """One test mission (3 s, 160x120 at 10 fps); call it from a module-scoped fixture."""
    if shutil.which("gst-launch-1.0") is None:
        pytest.skip("gst-launch-1.0 not installed")
    folder = tmp_path_factory.mktemp("capture_mission")
    return folder, write_mission(folder)
