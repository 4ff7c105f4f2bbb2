"""Telemetry readers and pose interpolation against files with exactly known motion."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from fixtures_capture import (
    START_UTC,
    MissionTruth,
    nmea_sentence,
    nmea_text,
    srt_text,
    write_tlog,
)

from capture import LiveTelemetry, TelemetryError, TelemetryTrack, load_telemetry
from capture.telemetry.angles import euler_deg_to_quaternion, quaternion_to_euler_deg
from capture.telemetry.tlog import iter_tlog

TRUTH = MissionTruth()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("telemetry")
    write_tlog(folder / "telemetry.tlog", TRUTH)
    (folder / "video.SRT").write_text(srt_text(TRUTH), encoding="utf-8")
    (folder / "telemetry.nmea").write_text(nmea_text(TRUTH), encoding="ascii", newline="")
    return {p.suffix.lower(): p for p in folder.iterdir()}


def test_tlog_positions_attitude_and_gimbal(files: dict[str, Path]) -> None:
    track = load_telemetry(files[".tlog"])
    assert len(track) == TRUTH.n_records
    assert track.start_time_utc == pytest.approx(START_UTC)
    assert track.end_time_utc == pytest.approx(START_UTC + TRUTH.duration_s)
    pose = track.pose_at(START_UTC + 1.0)
    assert pose is not None
    assert pose.lat == pytest.approx(TRUTH.lat(1.0), abs=1e-7)
    assert pose.lon == pytest.approx(TRUTH.lon0, abs=1e-7)
    assert pose.alt_msl == pytest.approx(TRUTH.ground_msl + TRUTH.agl)
    assert pose.alt_agl == pytest.approx(TRUTH.agl)
    assert pose.speed_mps == pytest.approx(TRUTH.speed_mps)
    assert pose.yaw == pytest.approx(TRUTH.yaw(1.0), abs=1e-4)
    assert pose.camera_yaw == pytest.approx(TRUTH.yaw(1.0), abs=1e-4)
    assert pose.camera_pitch == pytest.approx(TRUTH.camera_pitch, abs=1e-4)
    assert pose.camera_roll == pytest.approx(0.0, abs=1e-4)


def test_srt_positions_heights_and_gimbal(files: dict[str, Path]) -> None:
    track = load_telemetry(files[".srt"])
    assert len(track) == TRUTH.n_frames
    pose = track.pose_at(START_UTC + 0.5)
    assert pose is not None
    assert pose.lat == pytest.approx(TRUTH.lat(0.5), abs=1e-7)
    assert pose.alt_agl == pytest.approx(TRUTH.agl)
    assert pose.alt_msl == pytest.approx(TRUTH.ground_msl + TRUTH.agl)
    assert pose.camera_yaw == pytest.approx(TRUTH.yaw(0.5), abs=0.06)
    assert pose.camera_pitch == pytest.approx(TRUTH.camera_pitch)


def test_nmea_positions_speed_heading_and_date(files: dict[str, Path]) -> None:
    track = load_telemetry(files[".nmea"])
    assert len(track) == TRUTH.n_records
    assert track.start_time_utc == pytest.approx(START_UTC)
    pose = track.pose_at(START_UTC + 2.5)
    assert pose is not None
    assert pose.lat == pytest.approx(TRUTH.lat(2.5), abs=2e-7)
    assert pose.alt_msl == pytest.approx(TRUTH.ground_msl)
    assert pose.alt_agl == pytest.approx(0.0)
    assert pose.speed_mps == pytest.approx(TRUTH.speed_mps, abs=1e-3)
    assert pose.yaw == pytest.approx(TRUTH.yaw(2.5), abs=0.01)
    assert pose.camera_pitch is None


def test_gpx_track(tmp_path: Path) -> None:
    gpx = tmp_path / "ride.gpx"
    gpx.write_text(
        '<?xml version="1.0"?>\n<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>\n'
        '<trkpt lat="30.0" lon="120.0"><ele>10</ele><time>2026-01-01T10:00:00Z</time></trkpt>\n'
        '<trkpt lat="30.001" lon="120.0"><ele>12</ele><time>2026-01-01T10:00:10Z</time></trkpt>\n'
        "</trkseg></trk></gpx>\n"
    )
    pose = load_telemetry(gpx).pose_at(START_UTC + 5, max_gap_s=5)
    assert pose is not None
    assert (pose.lat, pose.alt_msl, pose.alt_agl) == pytest.approx((30.0005, 11.0, 1.0))


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TelemetryError, match=r"\.csv"):
        load_telemetry(tmp_path / "x.csv")
    with pytest.raises(TelemetryError, match="not found"):
        load_telemetry(tmp_path / "x.tlog")


# -- malformed files name file and line / byte offset ----------------------------------------


def test_tlog_with_corrupt_packet_names_byte_offset(files: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(files[".tlog"].read_bytes())
    first_packet_len = 8 + 10 + data[9] + 2  # timestamp + MAVLink 2 header + payload + CRC
    corrupt_at = first_packet_len + 8 + 12  # a payload byte of the second record
    data[corrupt_at] ^= 0xFF
    bad = tmp_path / "bad.tlog"
    bad.write_bytes(bytes(data))
    with pytest.raises(
        TelemetryError, match=rf"bad\.tlog: byte offset {first_packet_len + 8}: bad MAVLink packet"
    ):
        load_telemetry(bad)


def test_tlog_with_garbage_names_byte_offset(files: dict[str, Path], tmp_path: Path) -> None:
    good = files[".tlog"].read_bytes()
    third = [offset for offset, _, _ in iter_tlog(files[".tlog"])][2]
    bad = tmp_path / "garbage.tlog"
    bad.write_bytes(good[:third] + struct.pack(">Q", 1) + b"\xfd" * 30)
    with pytest.raises(
        TelemetryError, match=rf"garbage\.tlog: byte offset {third}: implausible record timestamp"
    ):
        load_telemetry(bad)


def test_srt_without_latitude_names_the_line(tmp_path: Path) -> None:
    text = srt_text(TRUTH).split("\n")
    line = next(i for i, s in enumerate(text) if "[latitude" in s and i > 10)
    text[line] = text[line].replace("latitude", "lattitude_missing")
    bad = tmp_path / "bad.SRT"
    bad.write_text("\n".join(text))
    with pytest.raises(TelemetryError, match=rf"bad\.SRT: line {line + 1}: subtitle \d+ has no latitude"):
        load_telemetry(bad)


def test_srt_with_broken_timing_names_the_line(tmp_path: Path) -> None:
    text = srt_text(TRUTH).split("\n")
    text[1] = "00:00:00 -> later"
    bad = tmp_path / "timing.srt"
    bad.write_text("\n".join(text))
    with pytest.raises(TelemetryError, match=r"timing\.srt: line 2:"):
        load_telemetry(bad)


def test_nmea_checksum_mismatch_names_the_line(tmp_path: Path) -> None:
    lines = nmea_text(TRUTH).splitlines()
    lines[6] = lines[6][:-2] + ("00" if not lines[6].endswith("00") else "11")
    bad = tmp_path / "bad.nmea"
    bad.write_text("\n".join(lines))
    with pytest.raises(TelemetryError, match=r"bad\.nmea: line 7: checksum mismatch"):
        load_telemetry(bad)


def test_nmea_bad_field_names_the_line(tmp_path: Path) -> None:
    lines = nmea_text(TRUTH).splitlines()
    lines[4] = nmea_sentence("GPGGA,100000.40,30xx.2000,N,12009.000000,E,4,12,0.8,12.00,M,7.0,M,,")
    bad = tmp_path / "field.txt"
    bad.write_text("\n".join(lines))
    with pytest.raises(TelemetryError, match=r"field\.txt: line 5: field 2 of GPGGA is not a number"):
        load_telemetry(bad)


def test_gpx_not_xml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gpx"
    bad.write_text("<gpx>\n<trk>\n<trkpt lat='1' lon='2'>\n</gpx>\n")
    with pytest.raises(TelemetryError, match=r"bad\.gpx: line 4"):
        load_telemetry(bad)


# -- interpolation ------------------------------------------------------------------------------


def linear_track() -> TelemetryTrack:
    t = START_UTC + np.arange(0.0, 10.0, 1.0)
    return TelemetryTrack.from_columns(
        "linear",
        time_utc=t,
        lat=30.0 + 1e-4 * np.arange(10),
        lon=120.0 - 2e-4 * np.arange(10),
        alt_agl=50.0 + 3.0 * np.arange(10),
        yaw=(355.0 + 2.0 * np.arange(10)) % 360.0,  # 355, 357, 359, 1, 3, ...
        camera_pitch=np.full(10, -90.0),
    )


def test_interpolation_is_exact_on_linear_motion() -> None:
    track = linear_track()
    at = START_UTC + np.array([0.0, 0.25, 2.5, 7.75, 9.0])
    poses = track.poses_at(at)
    assert poses.located.all()
    k = at - START_UTC
    np.testing.assert_allclose(poses.lat, 30.0 + 1e-4 * k, atol=1e-12)
    np.testing.assert_allclose(poses.lon, 120.0 - 2e-4 * k, atol=1e-12)
    np.testing.assert_allclose(poses.alt_agl, 50.0 + 3.0 * k, atol=1e-9)
    np.testing.assert_allclose(poses.yaw, (355.0 + 2.0 * k) % 360.0, atol=1e-9)
    np.testing.assert_allclose(poses.camera_pitch, -90.0)


def test_yaw_wraps_through_north() -> None:
    track = TelemetryTrack.from_columns(
        "wrap", time_utc=np.array([0.0, 1.0]), lat=np.zeros(2), lon=np.zeros(2), yaw=np.array([359.0, 1.0])
    )
    yaws = track.poses_at(np.array([0.0, 0.25, 0.5, 0.75, 1.0])).yaw
    np.testing.assert_allclose(yaws, [359.0, 359.5, 0.0, 0.5, 1.0], atol=1e-9)
    back = TelemetryTrack.from_columns(
        "wrap", time_utc=np.array([0.0, 1.0]), lat=np.zeros(2), lon=np.zeros(2), yaw=np.array([1.0, 359.0])
    )
    assert back.pose_at(0.75) is not None
    assert back.pose_at(0.75).yaw == pytest.approx(359.5)  # type: ignore[union-attr]


def test_max_gap_makes_frames_unlocated() -> None:
    track = TelemetryTrack.from_columns(
        "gap", time_utc=np.array([0.0, 1.0, 10.0]), lat=np.array([1.0, 2.0, 3.0]), lon=np.zeros(3)
    )
    poses = track.poses_at(np.array([-2.0, -0.5, 0.5, 3.0, 5.5, 9.5, 10.9, 11.5]), max_gap_s=1.0)
    assert poses.located.tolist() == [False, True, True, False, False, True, True, False]
    assert poses.pose(0) is None and poses.pose(3) is None
    assert track.pose_at(3.0, max_gap_s=3.0) is not None


def test_track_sorts_samples_and_rejects_empty_input() -> None:
    track = TelemetryTrack.from_columns(
        "unsorted", time_utc=np.array([2.0, 0.0, 1.0]), lat=np.array([3.0, 1.0, 2.0]), lon=np.zeros(3)
    )
    np.testing.assert_array_equal(track.samples.lat, [1.0, 2.0, 3.0])
    with pytest.raises(TelemetryError, match="no telemetry"):
        TelemetryTrack.from_columns("empty", time_utc=np.array([]), lat=np.array([]), lon=np.array([]))


def test_quaternion_round_trip() -> None:
    for roll, pitch, yaw in [(0, -90 + 1e-3, 10), (5, -30, 350), (-20, 10, 180.5)]:
        q = np.array([euler_deg_to_quaternion(roll, pitch, yaw)])
        r, p, y = quaternion_to_euler_deg(q)
        assert (r[0], p[0], y[0]) == pytest.approx((roll, pitch, yaw), abs=1e-3)


def test_live_telemetry_rejects_non_mavlink_uri() -> None:
    with pytest.raises(TelemetryError, match="http://x"):
        LiveTelemetry("http://x")


def test_srt_local_time_offset(files: dict[str, Path]) -> None:
    track = load_telemetry(files[".srt"], srt_utc_offset_s=8 * 3600)
    assert track.start_time_utc == pytest.approx(START_UTC - 8 * 3600)


def test_live_telemetry_without_data_is_unlocated() -> None:
    live = LiveTelemetry("udpin:127.0.0.1:0")
    assert live.pose_at(START_UTC) is None
    assert not live.poses_at(np.array([START_UTC, START_UTC + 1])).located.any()


def test_tlog_gps_raw_fallback_and_mount_status(tmp_path: Path) -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    path = tmp_path / "ardupilot.tlog"
    with path.open("wb") as f:
        for k in range(5):
            t = START_UTC + k * 0.5
            stamp = struct.pack(">Q", round(t * 1e6))
            lat_e7 = round((30.0 + k * 1e-5) * 1e7)
            f.write(
                stamp
                + mavlink.MAVLink_gps_raw_int_message(
                    0, 3, lat_e7, 1_200_000_000, 50_000, 0, 0, 0, 0, 9
                ).pack(mav)
            )
            f.write(
                stamp + mavlink.MAVLink_attitude_message(0, 0.0, 0.0, math.radians(90.0), 0, 0, 0).pack(mav)
            )
            f.write(stamp + mavlink.MAVLink_mount_status_message(1, 1, -4500, 0, 1000, 2).pack(mav))
    pose = load_telemetry(path).pose_at(START_UTC + 1.0)
    assert pose is not None
    assert pose.lat == pytest.approx(30.00002)
    assert pose.alt_msl == pytest.approx(50.0) and pose.alt_agl == pytest.approx(0.0)
    assert pose.camera_pitch == pytest.approx(-45.0)
    assert pose.camera_yaw == pytest.approx(100.0)  # vehicle yaw 90 + mount yaw 10 (body frame)


def test_live_links_keep_a_bounded_history_by_default() -> None:
    """A live link runs all day: it keeps a minute of samples, and the track is built from those."""
    from capture import LiveNmea
    from capture.telemetry.live_track import LIVE_HISTORY_S
    from capture.telemetry.mavlink_samples import MavlinkSamples

    assert LIVE_HISTORY_S <= 120
    assert LiveTelemetry("udp:127.0.0.1:14550").history_s == LIVE_HISTORY_S
    assert LiveNmea("nmea+tcp://127.0.0.1:10110").history_s == LIVE_HISTORY_S
    samples = MavlinkSamples("udp:test")
    for i in range(3000):  # 300 s at 10 Hz
        t = 1.7e9 + i / 10
        samples.position.append((t, 30.0, 120.0, 50.0, 30.0, 5.0))
        samples.attitude.append((t, 0.0, 0.0, 90.0))
    samples.trim_before(1.7e9 + 300 - LIVE_HISTORY_S)
    track = samples.to_track()
    assert len(samples.position) == len(samples.attitude) == round(LIVE_HISTORY_S * 10)
    assert track.start_time_utc == pytest.approx(1.7e9 + 300 - LIVE_HISTORY_S)
