"""Every telemetry format, written by the simulator, read back and compared with its exact trajectory.

The simulator's trajectory is an analytic function of time, so the pose at a
video frame's instant is known exactly; the telemetry samples it at 10 Hz.
Interpolating the samples at the frame instants (two of every three frames
fall between samples) must land within 0.1 m of the truth (the acceptance
of issue 3), and the attitude within a bound derived from how fast the
simulated attitude can change.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fixtures_pipeline import cached_mission

from capture import TelemetryError, TelemetryTrack, load_telemetry
from capture.photos import PhotoFolderSource, load_photo_telemetry
from capture.telemetry.angles import (
    euler_deg_to_quaternions,
    quaternion_multiply,
    quaternion_to_euler_deg,
)
from capture.telemetry.klv import UAS_LOCAL_SET_KEY, read_klv_ts
from capture.telemetry.nmea_live import LiveNmea
from capture.telemetry.offset import estimate_time_offset, image_rotation_deg
from capture.telemetry.slerp import interp_attitude_deg
from hardware.sim import MissionPlan, load_scenario, plan_mission
from hardware.sim.encode import H264Writer
from hardware.sim.klv import mission_klv
from hardware.sim.photos import write_survey_photos
from hardware.sim.scenario import Platform
from hardware.sim.sidecars import write_gpx, write_nmea, write_srt
from hardware.sim.tlog import write_tlog
from hardware.sim.trajectory import PlatformState

SCENARIOS = ("drone_sample", "vehicle_sample")
POSITION_TOLERANCE_M = 0.1  # issue 3 acceptance, 10 Hz telemetry
START = 1_767_261_600.0  # 2026-01-01T10:00:00Z
# The simulated attitude jitter is a sum of sinusoids of total amplitude j <= 0.5 deg below
# 0.6 Hz (yaw: 2j below 0.2 Hz), so |angular acceleration| <= 0.5 (2 pi 0.6)^2 + 1.0 (2 pi 0.2)^2
# ~ 8.7 deg/s^2 per rotation; interpolating over dt = 0.1 s errs by at most a dt^2 / 8 ~ 0.011 deg
# per rotation, and the camera (platform yaw plus gimbal jitter) adds at most as much again.
ATTITUDE_TOLERANCE_DEG = 0.05


@dataclass(frozen=True)
class SimTelemetry:
    """A planned mission, its telemetry written in every format it has, and the exact truth."""

    plan: MissionPlan
    telemetry: PlatformState  # at the telemetry samples (10 Hz)
    files: dict[str, Path]

    @property
    def start(self) -> float:
        return self.plan.scenario.start_posix

    @property
    def frame_utc(self) -> np.ndarray:
        return self.start + self.plan.frames.t

    def horizontal_error_m(
        self, track: TelemetryTrack, times_s: np.ndarray, truth_xy: np.ndarray
    ) -> np.ndarray:
        poses = track.poses_at(self.start + times_s, max_gap_s=0.2)
        assert poses.located.all()
        xy = self.plan.world.to_local(np.column_stack([poses.lon, poses.lat]))
        return np.asarray(np.hypot(*(xy - truth_xy).T))


def write_sim_telemetry(plan: MissionPlan, folder: Path, *, video_frames: int = 0) -> SimTelemetry:
    """tlog, GPX, KLV-in-TS and the platform's sidecar (SRT or NMEA), as ``generate_mission`` writes them."""
    sc, traj = plan.scenario, plan.trajectory
    tele = traj.state(traj.telemetry_times())
    lonlat = plan.world.to_lonlat(tele.xy)
    elev = sc.origin.ground_elevation_m
    drone = sc.platform is Platform.drone
    files = {name: folder / name for name in ("telemetry.tlog", "telemetry.gpx", "video.ts")}
    write_tlog(
        files["telemetry.tlog"],
        tele,
        sc.start_posix,
        ground_elevation_m=elev,
        lonlat=lonlat,
        vehicle_type=2 if drone else 10,
        gimbal=drone,
        rate_hz=sc.telemetry_rate_hz,
    )
    write_gpx(files["telemetry.gpx"], tele, sc.start_posix, lonlat=lonlat, ground_elevation_m=elev)
    if drone:
        files["video.SRT"] = folder / "video.SRT"
        frames = plan.frames
        write_srt(
            files["video.SRT"],
            frames,
            sc.start_posix,
            lonlat=plan.world.to_lonlat(frames.xy),
            ground_elevation_m=elev,
            focal_len_35mm=24.0,
        )
    else:
        files["telemetry.nmea"] = folder / "telemetry.nmea"
        write_nmea(files["telemetry.nmea"], tele, sc.start_posix, lonlat=lonlat, ground_elevation_m=elev)
    klv = mission_klv(tele, sc.start_posix, lonlat=lonlat, ground_elevation_m=elev, gimbal=drone)
    # A small real H.264 video carries the KLV: the metadata does not depend on the picture.
    n_frames = video_frames or round(sc.duration_s * 5)
    with H264Writer(None, files["video.ts"], 64, 48, 5.0, klv=klv) as writer:
        for i in range(n_frames):
            writer.write(np.full((48, 64, 3), i % 256, np.uint8))
    return SimTelemetry(plan, tele, files)


@pytest.fixture(scope="module", params=SCENARIOS)
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SimTelemetry:
    plan = plan_mission(request.param, 0)
    return write_sim_telemetry(plan, tmp_path_factory.mktemp(request.param))


def _formats(sim: SimTelemetry) -> list[str]:
    return sorted(sim.files)


def geodesic_deg(q_a: np.ndarray, q_b: np.ndarray) -> np.ndarray:
    """Angle of the rotation between two ``N x 4`` unit quaternions, degrees (atan2: exact near 0)."""
    delta = quaternion_multiply(q_a * np.array([1.0, -1.0, -1.0, -1.0]), q_b)
    return np.asarray(np.degrees(2 * np.arctan2(np.linalg.norm(delta[:, 1:], axis=1), np.abs(delta[:, 0]))))


# -- acceptance: 10 Hz telemetry interpolated at the frame times -----------------------------------


def test_every_format_places_every_frame_within_10_cm(sim: SimTelemetry) -> None:
    frames = sim.plan.frames
    between = (frames.t * 10) % 1 > 1e-6  # frames that fall between two telemetry samples
    assert between.sum() >= len(frames.t) // 2
    for name in _formats(sim):
        track = load_telemetry(sim.files[name])
        assert len(track) >= len(sim.telemetry.t) - 1, name
        error = sim.horizontal_error_m(track, frames.t, frames.xy)
        assert error.max() < POSITION_TOLERANCE_M, f"{name}: {error.max():.3f} m"
        assert error[between].max() < POSITION_TOLERANCE_M, name


def test_tlog_attitude_slerp_matches_truth_between_samples(sim: SimTelemetry) -> None:
    frames = sim.plan.frames
    poses = load_telemetry(sim.files["telemetry.tlog"]).poses_at(sim.frame_utc)
    truth = euler_deg_to_quaternions(frames.roll_deg, frames.pitch_deg, frames.yaw_deg)
    got = euler_deg_to_quaternions(poses.roll, poses.pitch, poses.yaw)
    assert geodesic_deg(got, truth).max() < ATTITUDE_TOLERANCE_DEG
    if sim.plan.scenario.platform is Platform.drone:  # the gimbal reports the camera attitude
        truth = euler_deg_to_quaternions(
            frames.camera_roll_deg, frames.camera_pitch_deg, frames.camera_yaw_deg
        )
        got = euler_deg_to_quaternions(poses.camera_roll, poses.camera_pitch, poses.camera_yaw)
        assert geodesic_deg(got, truth).max() < ATTITUDE_TOLERANCE_DEG
    else:
        assert np.isnan(poses.camera_yaw).all()  # a fixed camera: the profile's mount applies


def test_klv_attitude_and_camera_from_relative_sensor_angles(sim: SimTelemetry) -> None:
    tele = sim.telemetry
    poses = load_telemetry(sim.files["video.ts"]).poses_at(sim.start + tele.t)
    # ST 0601 heading is a 16-bit angle (0.0055 deg steps): the quantisation bounds the error here.
    truth = euler_deg_to_quaternions(tele.roll_deg, tele.pitch_deg, tele.yaw_deg)
    got = euler_deg_to_quaternions(poses.roll, poses.pitch, poses.yaw)
    assert geodesic_deg(got, truth).max() < 360.0 / 65535
    assert np.abs(poses.alt_agl - tele.camera_height).max() < 19900.0 / 65535 * 2  # two 16-bit heights
    if sim.plan.scenario.platform is Platform.drone:
        truth = euler_deg_to_quaternions(tele.camera_roll_deg, tele.camera_pitch_deg, tele.camera_yaw_deg)
        got = euler_deg_to_quaternions(poses.camera_roll, poses.camera_pitch, poses.camera_yaw)
        assert geodesic_deg(got, truth).max() < 360.0 / 65535
    else:
        assert np.isnan(poses.camera_pitch).all()


def test_frames_beyond_max_gap_are_unlocated_and_counted(sim: SimTelemetry) -> None:
    track = load_telemetry(sim.files["telemetry.tlog"])
    s = track.samples
    rel = s.time_utc - sim.start
    keep = (rel < 5.0) | (rel > 8.0)  # a 3 s telemetry outage
    cut = TelemetryTrack.from_columns(
        "outage",
        time_utc=s.time_utc[keep],
        lat=s.lat[keep],
        lon=s.lon[keep],
        yaw=s.yaw[keep],
        alt_msl=s.alt_msl[keep],
    )
    poses = cut.poses_at(sim.frame_utc, max_gap_s=0.5)
    t = sim.plan.frames.t
    nearest = np.minimum(np.abs(t - 4.9), np.abs(t - 8.1))
    expected = (t > 4.9) & (t < 8.1) & (nearest > 0.5 + 1e-9)
    assert expected.sum() > 0
    np.testing.assert_array_equal(~poses.located, expected)
    assert int((~poses.located).sum()) == int(expected.sum())
    assert all(poses.pose(i) is None for i in np.flatnonzero(expected).tolist())
    assert all(poses.pose(i) is not None for i in np.flatnonzero(~expected).tolist())


# -- slerp --------------------------------------------------------------------------------------------


def test_slerp_is_exact_for_a_steady_turn_near_nadir() -> None:
    """A camera at pitch -89.5 turning about a fixed axis: per-angle interpolation fails, slerp does not.

    Near nadir yaw and roll swing fast and opposite while the rotation moves
    slowly; slerp follows a constant-rate rotation exactly.
    """
    axis = np.array([0.3, -0.2, 0.93])
    axis /= np.linalg.norm(axis)
    rate = np.radians(20.0)  # deg/s
    start = euler_deg_to_quaternions(np.array([0.2]), np.array([-89.5]), np.array([40.0]))[0]

    def attitude(t: np.ndarray) -> np.ndarray:
        half = rate * t / 2
        turn = np.column_stack([np.cos(half), np.sin(half)[:, None] * axis])
        return quaternion_multiply(np.broadcast_to(start, turn.shape), turn)

    t = np.arange(0.0, 2.01, 0.1)
    roll, pitch, yaw = quaternion_to_euler_deg(attitude(t))
    at = t[:-1] + 0.05
    got = euler_deg_to_quaternions(*interp_attitude_deg(t, roll, pitch, yaw, at))
    assert geodesic_deg(got, attitude(at)).max() < 1e-6
    track = TelemetryTrack.from_columns(
        "turn", time_utc=t, lat=np.zeros_like(t), lon=np.zeros_like(t), roll=roll, pitch=pitch, yaw=yaw
    )
    poses = track.poses_at(at)
    got = euler_deg_to_quaternions(poses.roll, poses.pitch, poses.yaw)
    assert geodesic_deg(got, attitude(at)).max() < 1e-6


def test_attitude_with_an_unknown_angle_falls_back_to_per_angle_interpolation() -> None:
    t = np.array([0.0, 1.0])
    track = TelemetryTrack.from_columns(
        "partial",
        time_utc=t,
        lat=np.zeros(2),
        lon=np.zeros(2),
        camera_pitch=np.array([-90.0, -80.0]),  # gimbal yaw and roll unknown
        yaw=np.array([350.0, 10.0]),
    )
    pose = track.pose_at(0.5)
    assert pose is not None
    assert pose.camera_pitch == pytest.approx(-85.0)
    assert pose.camera_yaw is None and pose.camera_roll is None
    assert pose.yaw == pytest.approx(0.0, abs=1e-9) or pose.yaw == pytest.approx(360.0)


def test_gimbal_lock_keeps_the_rotation() -> None:
    q = euler_deg_to_quaternions(np.array([3.0, 0.0]), np.array([-90.0, 90.0]), np.array([40.0, 15.0]))
    roll, pitch, yaw = quaternion_to_euler_deg(q, roll_at_lock=np.array([3.0, 0.0]))
    np.testing.assert_allclose(pitch, [-90.0, 90.0])
    np.testing.assert_allclose(roll, [3.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(yaw, [40.0, 15.0], atol=1e-6)
    assert geodesic_deg(euler_deg_to_quaternions(roll, pitch, yaw), q).max() < 1e-6


# -- KLV in MPEG-TS -------------------------------------------------------------------------------------


def test_klv_stream_has_one_checked_local_set_per_telemetry_sample(sim: SimTelemetry) -> None:
    rows, stats = read_klv_ts(sim.files["video.ts"])
    assert stats.local_sets == len(sim.telemetry.t) == len(rows)
    assert stats.other_sets == 0 and len(stats.pids) == 1
    np.testing.assert_allclose([r["time_utc"] for r in rows], sim.start + sim.telemetry.t, atol=1e-6)


def test_ts_without_klv_is_a_clear_error(tmp_path: Path) -> None:
    ts = tmp_path / "plain.ts"
    with H264Writer(None, ts, 64, 48, 5.0) as writer:
        for i in range(5):
            writer.write(np.full((48, 64, 3), 50 * i, np.uint8))
    with pytest.raises(TelemetryError, match=r"plain\.ts: no KLV metadata stream"):
        load_telemetry(ts)


def test_ts_with_klv_still_plays_in_gstreamer(sim: SimTelemetry) -> None:
    from capture import VideoSource

    with VideoSource(str(sim.files["video.ts"]), "klv", start_time_utc=sim.start) as source:
        n = sum(1 for _ in source)
    assert n == round(sim.plan.scenario.duration_s * 5)


# -- malformed samples: each format names the file and the line or byte offset ---------------------


def _corrupt_tlog(path: Path, out: Path) -> str:
    data = bytearray(path.read_bytes())
    second = 8 + 10 + data[9] + 2  # the first record: time stamp, MAVLink 2 header, payload, CRC
    data[second + 8 + 12] ^= 0xFF
    out.write_bytes(bytes(data))
    return rf"byte offset {second + 8}: bad MAVLink packet"


def _corrupt_text(path: Path, out: Path, pick: str, old: str, new: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    k = next(i for i, line in enumerate(lines) if pick in line and i > 20)
    lines[k] = lines[k].replace(old, new, 1)
    out.write_text("\n".join(lines), encoding="utf-8")
    return k + 1


def _corrupt_klv(path: Path, out: Path) -> str:
    data = bytearray(path.read_bytes())
    key_at = data.find(UAS_LOCAL_SET_KEY, data.find(UAS_LOCAL_SET_KEY) + 1)  # the second local set
    data[key_at + 16 + 1 + 12] ^= 0x5A  # a byte of its time stamp
    out.write_bytes(bytes(data))
    return rf"byte offset {key_at}: UAS local set checksum mismatch"


def _malformed(sim: SimTelemetry, name: str, folder: Path) -> tuple[Path, str]:
    src = sim.files[name]
    bad = folder / f"bad_{name}"
    if name == "telemetry.tlog":
        return bad, _corrupt_tlog(src, bad)
    if name == "video.ts":
        return bad, _corrupt_klv(src, bad)
    if name == "video.SRT":
        line = _corrupt_text(src, bad, "[latitude", "[latitude:", "[latitude: x")
        return bad, rf"line {line}: subtitle \d+ has no latitude"
    if name == "telemetry.nmea":
        line = _corrupt_text(src, bad, "$GPGGA", ",4,18,", ",4,1x,")
        return bad, rf"line {line}: checksum mismatch"
    if name == "telemetry.gpx":
        line = _corrupt_text(src, bad, "<trkpt", 'lat="', 'lat="3O.')
        return bad, rf"line {line}: track point \d+: missing or bad"
    raise AssertionError(name)


def test_a_malformed_sample_of_each_format_names_file_and_place(sim: SimTelemetry, tmp_path: Path) -> None:
    for name in _formats(sim):
        bad, where = _malformed(sim, name, tmp_path)
        with pytest.raises(TelemetryError) as info:
            load_telemetry(bad)
        message = str(info.value)
        assert message.startswith(f"{bad}: "), message
        assert re.search(where, message), f"{name}: {message!r} lacks {where!r}"


def test_ts_that_lost_sync_names_the_byte_offset(sim: SimTelemetry, tmp_path: Path) -> None:
    data = bytearray(sim.files["video.ts"].read_bytes())
    data[188 * 7] = 0x00
    bad = tmp_path / "nosync.ts"
    bad.write_bytes(bytes(data))
    with pytest.raises(TelemetryError, match=rf"nosync\.ts: byte offset {188 * 7}: lost MPEG-TS sync"):
        load_telemetry(bad)


# -- live NMEA over TCP and serial --------------------------------------------------------------------


class NmeaTcpServer:
    """A GNSS receiver's TCP server on localhost: sends ``parts`` of the log, one per connection.

    Bytes go out in small chunks that split sentences, as a network does; after
    the last part the connection stays open until :meth:`stop`.
    """

    def __init__(self, parts: list[bytes], chunk: int = 97) -> None:
        self.parts = parts
        self.chunk = chunk
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10.0)
        self.port = int(self.server.getsockname()[1])
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for k, part in enumerate(self.parts):
            conn, _ = self.server.accept()
            with conn:
                for i in range(0, len(part), self.chunk):
                    conn.sendall(part[i : i + self.chunk])
                if k == len(self.parts) - 1:
                    self.done.wait(30.0)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        self.server.close()


@pytest.fixture(scope="module")
def vehicle_sim(tmp_path_factory: pytest.TempPathFactory) -> SimTelemetry:
    return write_sim_telemetry(plan_mission("vehicle_quick", 0), tmp_path_factory.mktemp("vehicle_quick"))


def _nmea_lines(sim: SimTelemetry) -> list[bytes]:
    return sim.files["telemetry.nmea"].read_bytes().splitlines(keepends=True)


def test_live_nmea_over_tcp_matches_the_log_and_counts_bad_sentences(vehicle_sim: SimTelemetry) -> None:
    lines = _nmea_lines(vehicle_sim)
    vtg = next(i for i, line in enumerate(lines) if b"GPVTG" in line and i > 10)
    lines[vtg] = lines[vtg].replace(b",T,", b",T,9", 1)  # checksum no longer matches
    half = len(lines) // 2
    server = NmeaTcpServer([b"".join(lines[:half]), b"".join(lines[half:])])
    try:
        with LiveNmea(f"nmea+tcp://127.0.0.1:{server.port}", reconnect_s=0.1) as live:
            expected = load_telemetry(vehicle_sim.files["telemetry.nmea"])
            assert live.wait_for_samples(len(expected), timeout_s=20), (len(live), live.error)
            assert live.lines_received == len(lines)
            assert live.bad_sentences == 1
            assert live.reconnects == 1  # the receiver dropped the connection halfway
            track = live.track()
            assert track is not None
            np.testing.assert_array_equal(track.samples.time_utc, expected.samples.time_utc)
            frames = vehicle_sim.plan.frames
            error = vehicle_sim.horizontal_error_m(track, frames.t, frames.xy)
            assert error.max() < POSITION_TOLERANCE_M
            assert live.pose_at(vehicle_sim.start + 1.05) is not None
            assert live.pose_at(vehicle_sim.start + 100.0) is None  # far past the data: unlocated
    finally:
        server.stop()


def test_live_nmea_over_a_serial_port(vehicle_sim: SimTelemetry) -> None:
    controller, device = os.openpty()  # a real tty: the receiver writes to one end, we read the other
    try:
        with LiveNmea(f"nmea+serial://{os.ttyname(device)}?baud=9600") as live:
            assert live.baud == 9600
            for line in _nmea_lines(vehicle_sim):
                os.write(controller, line)
            n = len(load_telemetry(vehicle_sim.files["telemetry.nmea"]))
            assert live.wait_for_samples(n, timeout_s=20), (len(live), live.error)
            assert live.bad_sentences == 0
            pose = live.pose_at(vehicle_sim.start + 2.0)
            assert pose is not None and pose.speed_mps == pytest.approx(16.67, abs=0.5)
    finally:
        os.close(controller)
        os.close(device)


def test_live_nmea_rejects_bad_uris_and_is_unlocated_before_data() -> None:
    for uri in ("http://x", "nmea+tcp://host-without-port", "nmea+serial:///dev/ttyS0?baud=fast"):
        with pytest.raises(TelemetryError, match=re.escape(uri)):
            LiveNmea(uri)
    port = socket.create_server(("127.0.0.1", 0))
    live = LiveNmea(f"nmea+tcp://127.0.0.1:{port.getsockname()[1]}")
    port.close()
    assert live.pose_at(1e9) is None and not live.poses_at(np.array([1e9])).located.any()
    with pytest.raises(TelemetryError, match="cannot connect"):
        live.start()


# -- DJI survey stills: EXIF + XMP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[MissionPlan, list[Path], np.ndarray]:
    plan = plan_mission("drone_quick", 0)
    every_n = 7
    paths = write_survey_photos(plan, 0, tmp_path_factory.mktemp("survey"), every_n=every_n)
    return plan, paths, np.arange(0, len(plan.frames.t), every_n)


def test_photo_telemetry_matches_the_trajectory(survey: tuple[MissionPlan, list[Path], np.ndarray]) -> None:
    plan, paths, idx = survey
    frames = plan.frames
    track = load_photo_telemetry(paths[0].parent)
    assert len(track) == len(paths) == len(idx)
    s = track.samples
    np.testing.assert_allclose(s.time_utc, plan.scenario.start_posix + frames.t[idx], atol=1e-3)
    xy = plan.world.to_local(np.column_stack([s.lon, s.lat]))
    assert np.hypot(*(xy - frames.xy[idx]).T).max() < 0.01
    np.testing.assert_allclose(s.alt_agl, frames.camera_height[idx], atol=1e-6)
    for got, want in (
        ((s.roll, s.pitch, s.yaw), (frames.roll_deg, frames.pitch_deg, frames.yaw_deg)),
        (
            (s.camera_roll, s.camera_pitch, s.camera_yaw),
            (frames.camera_roll_deg, frames.camera_pitch_deg, frames.camera_yaw_deg),
        ),
    ):
        q_got = euler_deg_to_quaternions(*got)
        q_want = euler_deg_to_quaternions(*(w[idx] for w in want))
        assert geodesic_deg(q_got, q_want).max() < 1e-5
    shifted = load_photo_telemetry(paths, utc_offset_s=8 * 3600)  # DJI: local time, offset given
    np.testing.assert_allclose(shifted.samples.time_utc, s.time_utc - 8 * 3600)


def test_photo_folder_source_yields_posed_frames_in_time_order(
    survey: tuple[MissionPlan, list[Path], np.ndarray],
) -> None:
    plan, paths, idx = survey
    with PhotoFolderSource(paths[0].parent, "m3e") as source:
        frames = list(source)
    assert len(frames) == len(paths) and source.unreadable == 0
    assert [f.index for f in frames] == list(range(len(paths)))
    t = plan.scenario.start_posix + plan.frames.t[idx]
    np.testing.assert_allclose([f.time_utc for f in frames], t, atol=1e-3)
    np.testing.assert_allclose([f.pts_ns for f in frames], (t - t[0]) * 1e9, atol=1e6)
    first = frames[1]
    assert first.source_id == "m3e" and first.pose is not None
    assert first.pose.camera_pitch == pytest.approx(float(plan.frames.camera_pitch_deg[idx[1]]), abs=1e-6)
    rendered = plan.render_frame(int(idx[1]))  # the JPEG holds the rendered view (before the video look)
    assert first.image.shape == rendered.shape
    assert np.abs(first.image.astype(int) - rendered).mean() < 4.0  # JPEG quality 92


@pytest.mark.parametrize(
    ("pattern", "replacement", "field"),
    [  # same-length edits: the JPEG segment lengths stay right
        (rb'(GpsLatitude=")\+3', rb"\1x3", "XMP drone-dji:GpsLatitude is not a number"),
        (rb'(FlightYawDegree=")[+-]', rb"\1?", "XMP drone-dji:FlightYawDegree is not a number"),
        (rb"(\d{4}):(\d\d):(\d\d \d\d:\d\d:\d\d)", rb"\1-\2-\3", "EXIF DateTimeOriginal"),
        (rb"</x:xmpmeta>", b"</x:xmpmetaX", "XMP: not valid XML"),
    ],
)
def test_malformed_photo_metadata_names_file_and_field(
    survey: tuple[MissionPlan, list[Path], np.ndarray],
    tmp_path: Path,
    pattern: bytes,
    replacement: bytes,
    field: str,
) -> None:
    data = survey[1][2].read_bytes()
    corrupted, n = re.subn(pattern, replacement, data)
    assert n >= 1 and len(corrupted) == len(data)
    bad = tmp_path / "DJI_0099.JPG"
    bad.write_bytes(corrupted)
    with pytest.raises(TelemetryError, match=rf"^{re.escape(str(bad))}: .*{re.escape(field)}"):
        load_photo_telemetry([bad])


@pytest.mark.parametrize("scenario", ["drone_quick", "vehicle_quick"])
def test_generated_missions_carry_st0601_klv_in_their_ts(scenario: str) -> None:
    mission = cached_mission(scenario, 0)
    klv = load_telemetry(mission / "video.ts")
    tlog = load_telemetry(mission / "telemetry.tlog")
    np.testing.assert_allclose(klv.samples.time_utc, tlog.samples.time_utc, atol=1e-6)
    at = np.linspace(klv.start_time_utc, klv.end_time_utc, 97)
    a, b = klv.poses_at(at), tlog.poses_at(at)
    m_per_deg = 111_195.0
    north = (a.lat - b.lat) * m_per_deg
    east = (a.lon - b.lon) * m_per_deg * np.cos(np.radians(b.lat))
    assert np.hypot(north, east).max() < 0.02  # both quantise: 1e-7 deg (tlog), 2^-32 of 360 deg (KLV)
    assert np.isfinite(a.camera_pitch).all() == (scenario == "drone_quick")


# -- video-to-telemetry offset from image rotation vs heading change --------------------------------


@pytest.fixture(scope="module")
def nadir_flight() -> tuple[MissionPlan, np.ndarray]:
    """20 s of the small drone scenario (10 fps) and the picture's rotation between its frames."""
    sc = load_scenario("drone_quick")
    sc = sc.model_copy(update={"duration_s": 20.0, "road": sc.road.model_copy(update={"length_m": 200.0})})
    plan = plan_mission(sc, 0)
    return plan, image_rotation_deg(plan.render_frame(i) for i in range(len(plan.frames.t)))


@pytest.mark.parametrize("true_offset_s", [0.37, -1.3])
def test_time_offset_is_recovered_from_image_rotation(
    nadir_flight: tuple[MissionPlan, np.ndarray], true_offset_s: float
) -> None:
    plan, rotation = nadir_flight
    traj, start = plan.trajectory, plan.scenario.start_posix
    tele = traj.state(traj.telemetry_times())
    late = TelemetryTrack.from_columns(  # the telemetry clock runs true_offset_s ahead of the video's
        "late",
        time_utc=start + tele.t + true_offset_s,
        lat=np.full_like(tele.t, 30.0),
        lon=np.full_like(tele.t, 120.0),
        yaw=tele.yaw_deg,
        camera_roll=tele.camera_roll_deg,
        camera_pitch=tele.camera_pitch_deg,
        camera_yaw=tele.camera_yaw_deg,
    )
    estimate = estimate_time_offset(late, start + plan.frames.t, rotation, max_offset_s=2.0)
    assert estimate.correlation > 0.8
    assert estimate.offset_s == pytest.approx(true_offset_s, abs=0.05)  # half a frame interval at 10 fps


def test_time_offset_needs_a_turning_camera(nadir_flight: tuple[MissionPlan, np.ndarray]) -> None:
    plan, rotation = nadir_flight
    t = plan.scenario.start_posix + np.arange(0.0, 21.0, 0.1)
    still = TelemetryTrack.from_columns("still", time_utc=t, lat=np.zeros_like(t), lon=np.zeros_like(t))
    with pytest.raises(TelemetryError, match="heading never changes"):
        estimate_time_offset(still, plan.scenario.start_posix + plan.frames.t, rotation, max_offset_s=0.5)


def _ts_packet(pid: int, payload: bytes, *, start: bool) -> bytes:
    """One 188-byte TS packet; a short payload is padded by adaptation-field stuffing."""
    head = bytes([0x47, (0x40 if start else 0) | (pid >> 8), pid & 0xFF])
    if len(payload) == 184:
        return head + b"\x10" + payload
    stuffing = 183 - len(payload)  # adaptation field length byte + flags + 0xFF bytes
    field = bytes([stuffing]) + (b"\x00" + b"\xff" * (stuffing - 1) if stuffing else b"")
    return head + b"\x30" + field + payload


def _psi(table_id: int, body: bytes) -> bytes:
    length = len(body) + 4  # + CRC (not checked by the reader)
    return b"\x00" + bytes([table_id, 0xB0 | (length >> 8), length & 0xFF]) + body + b"\x00" * 4


def test_synchronous_klv_metadata_stream_is_read(tmp_path: Path) -> None:
    """Stream type 0x15 (ST 1402 synchronous KLV): metadata AU cells inside PES packets of stream 0xFC."""
    from hardware.sim.klv import encode_uas_local_set

    pat = _psi(0x00, b"\x00\x01\xc1\x00\x00" + b"\x00\x01\xf0\x00")  # program 1 -> PMT PID 0x1000
    pmt = _psi(0x02, b"\x00\x01\xc1\x00\x00\xe1\x01\xf0\x00" + b"\x15\xe1\x01\xf0\x00")  # KLV on 0x101
    packets = [_ts_packet(0x0000, pat, start=True), _ts_packet(0x1000, pmt, start=True)]
    for k in range(3):
        ls = encode_uas_local_set({2: (START + k * 0.1) * 1e6, 5: 10.0 * k, 13: 30.0, 14: 120.0 + 1e-5 * k})
        cell = bytes([0, k, 0xDF]) + len(ls).to_bytes(2, "big") + ls
        pes_body = b"\x84\x80\x05" + b"\x21\x00\x01\x00\x01" + cell  # flags, PTS only
        pes = b"\x00\x00\x01\xfc" + len(pes_body).to_bytes(2, "big") + pes_body
        packets.append(_ts_packet(0x0101, pes, start=True))
    ts = tmp_path / "sync.ts"
    ts.write_bytes(b"".join(packets))
    track = load_telemetry(ts)
    assert len(track) == 3
    np.testing.assert_allclose(track.samples.time_utc, START + np.array([0.0, 0.1, 0.2]), atol=1e-6)
    np.testing.assert_allclose(track.samples.yaw, [0.0, 10.0, 20.0], atol=360 / 65535)
    np.testing.assert_allclose(track.samples.lon, 120.0 + 1e-5 * np.arange(3), atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sample_mission_files_place_every_frame_within_10_cm(scenario: str) -> None:
    """The acceptance on the generated sample missions themselves (cached; shared with the pipeline tests)."""
    mission = cached_mission(scenario, 0)
    plan = plan_mission(scenario, 0)
    frames, start = plan.frames, plan.scenario.start_posix
    names = [
        n for n in ("telemetry.tlog", "video.SRT", "telemetry.nmea", "video.ts") if (mission / n).exists()
    ]
    assert len(names) == 3
    for name in names:
        poses = load_telemetry(mission / name).poses_at(start + frames.t, max_gap_s=0.2)
        assert poses.located.all(), name
        xy = plan.world.to_local(np.column_stack([poses.lon, poses.lat]))
        error = np.hypot(*(xy - frames.xy).T)
        assert error.max() < POSITION_TOLERANCE_M, f"{name}: {error.max():.3f} m"
