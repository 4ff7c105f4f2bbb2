"""Generated missions: real GStreamer decoding, pymavlink parsing, SRT/NMEA, ground truth consistency."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import gi
import numpy as np
import pytest
from fixtures_sim import (
    Mission,
    decode_video,
    load_mission,
    quaternion_to_euler_deg,
    rotation_from_quaternion,
)
from pymavlink import mavutil
from pyproj import CRS, Transformer

from hardware import load_camera_profile
from taxonomy import load_taxonomy

gi.require_version("GstPbutils", "1.0")
from gi.repository import Gst, GstPbutils  # noqa: E402

pytestmark = pytest.mark.gst


@pytest.fixture(scope="module")
def drone_mission(tmp_path_factory: pytest.TempPathFactory) -> Mission:
    """``drone_quick`` (640x360, 10 fps, 6 s), generated once."""
    from hardware.sim import generate_mission

    return load_mission(generate_mission("drone_quick", 3, tmp_path_factory.mktemp("drone"), progress=False))


@pytest.fixture(scope="module")
def vehicle_mission(tmp_path_factory: pytest.TempPathFactory) -> Mission:
    """``vehicle_quick`` (640x360, 10 fps, 4 s), generated once."""
    from hardware.sim import generate_mission

    return load_mission(
        generate_mission("vehicle_quick", 4, tmp_path_factory.mktemp("vehicle"), progress=False)
    )


def _start(m: Mission) -> float:
    return (
        datetime.strptime(m.manifest["start_time_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    )


def _to_local(m: Mission) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_proj4(m.manifest["local_crs"]), always_xy=True)


# --------------------------------------------------------------------------- manifest and video


def test_manifest_names_the_files_and_a_whole_second_start(drone_mission: Mission, vehicle_mission: Mission):
    for m, side in ((drone_mission, "srt"), (vehicle_mission, "nmea")):
        man = m.manifest
        assert man["start_time_utc"].endswith("Z")
        assert _start(m) == int(_start(m))
        for key, name in man["files"].items():
            if name is not None:
                assert (m.folder / name).stat().st_size > 0, key
        assert man["files"][side] is not None
        assert man["video"]["frame_count"] == round(man["duration_s"] * man["video"]["fps"])
        assert "+proj=tmerc" in man["local_crs"] and f"+lat_0={man['origin']['lat']}" in man["local_crs"]


@pytest.mark.parametrize("name", ["video.mp4", "video.ts"])
def test_video_decodes_with_expected_frames(drone_mission: Mission, name: str):
    man = drone_mission.manifest
    dec = decode_video(drone_mission.folder / name)
    assert len(dec.pts_ns) == man["video"]["frame_count"]
    assert (dec.width, dec.height) == (man["video"]["width"], man["video"]["height"])
    step = 1e9 / man["video"]["fps"]
    assert np.allclose(np.diff(dec.pts_ns), step, atol=1e6)  # frames exactly 1/fps apart


def test_mp4_starts_at_zero_and_carries_the_start_time(drone_mission: Mission):
    dec = decode_video(drone_mission.folder / "video.mp4", keep=set())
    assert dec.pts_ns[0] == 0
    info = GstPbutils.Discoverer.new(10 * Gst.SECOND).discover_uri(
        (drone_mission.folder / "video.mp4").as_uri()
    )
    tags = info.get_stream_info().get_tags() or info.get_container_streams()[0].get_tags()
    ok, when = tags.get_date_time("datetime")
    assert ok and when.to_g_date_time().to_unix() == _start(drone_mission)


def test_decoded_frame_matches_the_render_at_its_own_time(drone_mission: Mission):
    """Frame k is rendered at start + k/fps: it matches a fresh render of k, not of its neighbour k+1."""
    from hardware.sim.generate import plan_mission

    plan = plan_mission("drone_quick", drone_mission.manifest["seed"])
    k = 30
    decoded = decode_video(drone_mission.folder / "video.mp4", keep={k}).frames[0].astype(np.float32)

    def corr(i: int) -> float:
        img = plan.render_frame(i).astype(np.float32)
        # compare structure, not colour: the mission applies its own exposure look
        a = decoded.mean(axis=2) - decoded.mean()
        b = img.mean(axis=2) - img.mean()
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    same, later = corr(k), corr(k + 1)
    assert same > 0.995  # only H.264 and the exposure curve stand between them
    assert same > later + 0.02


# --------------------------------------------------------------------------- MAVLink telemetry


def _read_tlog(path: Path) -> list:
    conn = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
    msgs = []
    while True:
        msg = conn.recv_match()
        if msg is None:
            break
        msgs.append(msg)
    return msgs


def test_tlog_parses_with_expected_types_rates_and_times(drone_mission: Mission):
    msgs = _read_tlog(drone_mission.folder / "telemetry.tlog")
    by_type: dict[str, list] = {}
    for m in msgs:
        by_type.setdefault(m.get_type(), []).append(m)
    man = drone_mission.manifest
    n = int(man["duration_s"] * man["telemetry_rate_hz"]) + 1
    for t in (
        "SYSTEM_TIME",
        "GLOBAL_POSITION_INT",
        "ATTITUDE",
        "GPS_RAW_INT",
        "GIMBAL_DEVICE_ATTITUDE_STATUS",
    ):
        assert len(by_type[t]) == n, t
    assert len(by_type["HEARTBEAT"]) == math.floor(man["duration_s"]) + 1
    assert "BAD_DATA" not in by_type
    stamps = np.array([m._timestamp for m in msgs])
    assert np.all(np.diff(stamps) >= 0)
    gpi = np.array([m._timestamp for m in by_type["GLOBAL_POSITION_INT"]])
    assert gpi[0] == pytest.approx(_start(drone_mission), abs=1e-6)  # first record at the first frame's time
    assert np.allclose(np.diff(gpi), 1 / man["telemetry_rate_hz"], atol=2e-6)
    st = by_type["SYSTEM_TIME"][0]
    assert st.time_unix_usec == round(_start(drone_mission) * 1e6)
    assert all(
        m.get_srcComponent() == mavutil.mavlink.MAV_COMP_ID_GIMBAL
        for m in by_type["GIMBAL_DEVICE_ATTITUDE_STATUS"]
    )
    assert (
        by_type["GIMBAL_DEVICE_ATTITUDE_STATUS"][0].flags
        & mavutil.mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
    )
    assert all(m.fix_type == 3 for m in by_type["GPS_RAW_INT"])
    g = by_type["GLOBAL_POSITION_INT"][0]
    assert g.alt - g.relative_alt == round(man["ground_elevation_m"] * 1000)
    assert abs(g.relative_alt / 1000 - 30.0) < 0.5
    speed = math.hypot(g.vx, g.vy) / 100
    assert speed == pytest.approx(5.5, abs=0.3)


def test_every_ground_truth_object_is_seen_by_the_telemetry_camera(drone_mission: Mission):
    """Rebuild the camera from tlog fields alone (quaternion, lat/lon, relative_alt) and project the truth.

    This uses an independent quaternion -> axes implementation, so it checks the
    gimbal convention, the positions and the ground truth together.
    """
    msgs = _read_tlog(drone_mission.folder / "telemetry.tlog")
    pos = [m for m in msgs if m.get_type() == "GLOBAL_POSITION_INT"]
    gim = [m for m in msgs if m.get_type() == "GIMBAL_DEVICE_ATTITUDE_STATUS"]
    man = drone_mission.manifest
    w, h = man["video"]["width"], man["video"]["height"]
    K = load_camera_profile(man["camera_profile"]).intrinsics(w, h)
    tf = _to_local(drone_mission)
    lon = np.array([p.lon for p in pos]) / 1e7
    lat = np.array([p.lat for p in pos]) / 1e7
    cx, cy = tf.transform(lon, lat)
    cz = np.array([p.relative_alt for p in pos]) / 1000
    gt = drone_mission.ground_truth["features"]
    assert len(gt) == man["ground_truth_objects"] > 0
    seen = np.zeros(len(gt), int)
    for i, g in enumerate(gim):
        R = rotation_from_quaternion(tuple(g.q))
        # FRD body axes in NED -> ENU
        axes = {k: np.array([R[1, j], R[0, j], -R[2, j]]) for j, k in enumerate(("f", "r", "d"))}
        for j, feat in enumerate(gt):
            ring = np.array(feat["properties"]["footprint"])
            px, py = tf.transform(ring[:, 0], ring[:, 1])
            v = np.column_stack([px - cx[i], py - cy[i], -cz[i] * np.ones(len(px))])
            zf = v @ axes["f"]
            u = K[0, 0] * (v @ axes["r"]) / zf + K[0, 2]
            vv = K[1, 1] * (v @ axes["d"]) / zf + K[1, 2]
            if np.all(zf > 0) and np.all((u >= 0) & (u <= w) & (vv >= 0) & (vv <= h)):
                seen[j] += 1
    assert np.all(seen >= 3), seen  # telemetry at the frame rate here: >= min_frames_fully_visible


def test_gimbal_quaternion_is_nadir_and_along_the_road(drone_mission: Mission):
    msgs = _read_tlog(drone_mission.folder / "telemetry.tlog")
    gim = [m for m in msgs if m.get_type() == "GIMBAL_DEVICE_ATTITUDE_STATUS"]
    pos = [m for m in msgs if m.get_type() == "GLOBAL_POSITION_INT"]
    for g, p in zip(gim, pos, strict=True):
        assert abs(math.sqrt(sum(c * c for c in g.q)) - 1) < 1e-5
        R = rotation_from_quaternion(tuple(g.q))
        assert R[2, 0] > math.cos(math.radians(1.0))  # optical axis within 1 degree of straight down
        # the image's "up" (optical forward component, here -down axis) points along the flight
        up_ned = -R[:, 2]
        course = math.degrees(math.atan2(p.vy, p.vx))
        heading = math.degrees(math.atan2(up_ned[1], up_ned[0]))
        assert abs((heading - course + 180) % 360 - 180) < 6
    _roll, pitch, _ = quaternion_to_euler_deg(tuple(gim[0].q))
    assert pitch < -88.5


# --------------------------------------------------------------------------- sidecars


_SRT_BLOCK = re.compile(
    r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n"
    r"<font size=\"28\">FrameCnt: (\d+), DiffTime: (\d+)ms\n"
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\n.*?\[latitude: ([-\d.]+)\] \[longitude: ([-\d.]+)\] "
    r"\[rel_alt: ([-\d.]+) abs_alt: ([-\d.]+)\] "
    r"\[gb_yaw: ([-\d.]+) gb_pitch: ([-\d.]+) gb_roll: ([-\d.]+)\] </font>"
)


def test_srt_has_one_entry_per_frame_in_dji_layout(drone_mission: Mission):
    text = (drone_mission.folder / "video.SRT").read_text(encoding="utf-8")
    blocks = _SRT_BLOCK.findall(text)
    man = drone_mission.manifest
    assert len(blocks) == man["video"]["frame_count"] == text.count("FrameCnt:")
    assert [int(b[3]) for b in blocks] == list(range(1, len(blocks) + 1))
    first = datetime.strptime(blocks[0][5], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
    assert first == _start(drone_mission)
    last = datetime.strptime(blocks[-1][5], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
    assert last - first == pytest.approx((len(blocks) - 1) / man["video"]["fps"], abs=1e-3)
    rel = np.array([float(b[8]) for b in blocks])
    absolute = np.array([float(b[9]) for b in blocks])
    assert np.allclose(absolute - rel, man["ground_elevation_m"], atol=2e-3)
    assert all(-90.0 <= float(b[11]) <= -89.0 for b in blocks)
    # SRT positions agree with the tlog at the same instants (both from one trajectory)
    msgs = [
        m
        for m in _read_tlog(drone_mission.folder / "telemetry.tlog")
        if m.get_type() == "GLOBAL_POSITION_INT"
    ]
    for b, p in zip(blocks, msgs, strict=False):  # 10 fps video, 10 Hz telemetry: same instants
        assert float(b[6]) == pytest.approx(p.lat / 1e7, abs=2e-7)
        assert float(b[7]) == pytest.approx(p.lon / 1e7, abs=2e-7)


def _nmea_ok(line: str) -> bool:
    body, _, cs = line[1:].partition("*")
    calc = 0
    for ch in body:
        calc ^= ord(ch)
    return line.startswith("$") and cs == f"{calc:02X}"


def test_nmea_sentences_have_valid_checksums_and_rate(vehicle_mission: Mission):
    raw = (vehicle_mission.folder / "telemetry.nmea").read_bytes()
    assert raw.endswith(b"\r\n")
    lines = raw.decode("ascii").split("\r\n")[:-1]
    assert all(_nmea_ok(s) for s in lines)
    kinds = [s[1:6] for s in lines]
    man = vehicle_mission.manifest
    n = int(man["duration_s"] * man["telemetry_rate_hz"]) + 1
    for k in ("GPRMC", "GPGGA", "GPVTG", "GPHDT"):
        assert kinds.count(k) == n, k
    gga = [s.split(",") for s in lines if s.startswith("$GPGGA")]
    first = gga[0]
    start = datetime.fromtimestamp(_start(vehicle_mission), tz=UTC)
    assert first[1] == start.strftime("%H%M%S") + ".00"
    lat = int(first[2][:2]) + float(first[2][2:]) / 60
    lon = int(first[4][:3]) + float(first[4][3:]) / 60
    assert lat == pytest.approx(man["origin"]["lat"], abs=0.01) and first[3] == "N"
    assert lon == pytest.approx(man["origin"]["lon"], abs=0.01) and first[5] == "E"
    assert float(first[9]) == pytest.approx(
        man["ground_elevation_m"] + man["camera_mount"]["height_m"], abs=1e-3
    )
    vtg = [s.split(",") for s in lines if s.startswith("$GPVTG")]
    assert float(vtg[0][7]) == pytest.approx(16.67 * 3.6, abs=1.0)
    rmc = [s.split(",") for s in lines if s.startswith("$GPRMC")]
    assert rmc[0][2] == "A" and rmc[0][9] == start.strftime("%d%m%y")
    hdt = [float(s.split(",")[1]) for s in lines if s.startswith("$GPHDT")]
    assert abs((hdt[0] - float(vtg[0][1]) + 180) % 360 - 180) < 2


def test_vehicle_tlog_has_no_gimbal_and_nmea_matches_it(vehicle_mission: Mission):
    msgs = _read_tlog(vehicle_mission.folder / "telemetry.tlog")
    types = {m.get_type() for m in msgs}
    assert "GIMBAL_DEVICE_ATTITUDE_STATUS" not in types and "GLOBAL_POSITION_INT" in types


def test_vehicle_truth_is_seen_by_the_nmea_pose_and_the_fixed_mount(vehicle_mission: Mission):
    """Camera from NMEA alone (GGA position, HDT heading) and the fixed mount: every object is in view."""
    man = vehicle_mission.manifest
    lines = (vehicle_mission.folder / "telemetry.nmea").read_bytes().decode("ascii").split("\r\n")
    gga = [s.split(",") for s in lines if s.startswith("$GPGGA")]
    hdt = [float(s.split(",")[1]) for s in lines if s.startswith("$GPHDT")]
    assert len(gga) == len(hdt) == man["video"]["frame_count"] + 1  # 10 Hz telemetry, 10 fps video
    lat = np.array([int(g[2][:2]) + float(g[2][2:]) / 60 for g in gga])
    lon = np.array([int(g[4][:3]) + float(g[4][3:]) / 60 for g in gga])
    cx, cy = _to_local(vehicle_mission).transform(lon, lat)
    cam = load_camera_profile(man["camera_profile"])
    assert cam.mount is not None
    w, h = man["video"]["width"], man["video"]["height"]
    K = cam.intrinsics(w, h)
    tf = _to_local(vehicle_mission)
    gt = vehicle_mission.ground_truth["features"]
    assert len(gt) == man["ground_truth_objects"] > 0
    seen = np.zeros(len(gt), int)
    for i, heading in enumerate(hdt):
        yaw, pitch = math.radians(heading + cam.mount.yaw_deg), math.radians(cam.mount.pitch_deg)
        f = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
        r = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
        d = np.cross(f, r)
        for j, feat in enumerate(gt):
            ring = np.array(feat["properties"]["footprint"])
            px, py = tf.transform(ring[:, 0], ring[:, 1])
            v = np.column_stack([px - cx[i], py - cy[i], np.full(len(px), -cam.mount.height_m)])
            z = v @ f
            u, vv = K[0, 0] * (v @ r) / z + K[0, 2], K[1, 1] * (v @ d) / z + K[1, 2]
            if np.all(z > 0) and np.all((u >= 0) & (u <= w) & (vv >= 0) & (vv <= h)):
                seen[j] += 1
    assert np.all(seen >= 3), seen


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_geojson_is_well_formed(drone_mission: Mission, vehicle_mission: Mission):
    tax = load_taxonomy()
    for m in (drone_mission, vehicle_mission):
        fc = m.ground_truth
        assert fc["type"] == "FeatureCollection" and len(fc["features"]) == m.manifest["ground_truth_objects"]
        ids = [f["properties"]["object_id"] for f in fc["features"]]
        assert len(set(ids)) == len(ids)
        tf = _to_local(m)
        for f in fc["features"]:
            p = f["properties"]
            assert tax.get(p["class_key"]).id == p["class_id"]
            ring = np.array(p["footprint"])
            assert np.array_equal(ring[0], ring[-1])
            lon, lat = f["geometry"]["coordinates"]
            x, y = tf.transform(ring[:, 0], ring[:, 1])
            ax, ay = tf.transform(lon, lat)
            # the anchor lies inside the footprint's bounds and the size matches the ring
            assert x.min() <= ax <= x.max() and y.min() <= ay <= y.max()
            diam = np.max(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]))
            assert diam == pytest.approx(p["size_m"], abs=0.01)
    drone_classes = {f["properties"]["class_key"] for f in drone_mission.ground_truth["features"]}
    assert len(drone_classes) == 9


def test_same_seed_same_mission(drone_mission: Mission, tmp_path: Path):
    """Determinism: the same scenario and seed reproduce truth, telemetry and sidecars byte for byte."""
    from hardware.sim import generate_mission

    again = generate_mission(
        "drone_quick", drone_mission.manifest["seed"], tmp_path / "again", progress=False
    )
    for name in ("ground_truth.geojson", "telemetry.tlog", "video.SRT", "scenario.json"):
        assert (again / name).read_bytes() == (drone_mission.folder / name).read_bytes(), name
    other = generate_mission(
        "drone_quick", drone_mission.manifest["seed"] + 1, tmp_path / "other", progress=False
    )
    assert (other / "ground_truth.geojson").read_bytes() != (again / "ground_truth.geojson").read_bytes()
