"""Generate a simulated mission folder: video (MP4 + TS), telemetry, sidecars and exact ground truth.

The TS also carries the telemetry as MISB ST 0601 KLV (``hardware.sim.klv``), as a UAS would.

The layout is the table in ``docs/architecture.md``. Frame ``i`` is captured at
``start_time_utc + i / fps`` and rendered from the trajectory at exactly that
time; telemetry samples the same trajectory from ``start_time_utc`` on.

Example (small and quick):
    >>> import tempfile
    >>> out = generate_mission("drone_quick", 1, Path(tempfile.mkdtemp()), progress=False)
    >>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['ground_truth.geojson', 'scenario.json', 'telemetry.tlog', 'video.SRT', 'video.mp4', 'video.ts']
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hardware import load_camera_profile
from hardware.sim.camera import camera_axes
from hardware.sim.encode import H264Writer
from hardware.sim.groundtruth import write_ground_truth
from hardware.sim.klv import mission_klv
from hardware.sim.photometric import Photometric
from hardware.sim.render import render_view
from hardware.sim.road import Road, RoadSpec
from hardware.sim.scenario import Platform, Scenario, load_scenario
from hardware.sim.sidecars import write_nmea, write_srt
from hardware.sim.tlog import write_tlog
from hardware.sim.trajectory import PlatformState, Trajectory
from hardware.sim.world import GroundTruthObject, World, WorldSpec, build_world, local_crs

MISSION_FORMAT = "roadsight-sim-mission/1"
FILES = {
    "video_mp4": "video.mp4",
    "video_ts": "video.ts",
    "telemetry_tlog": "telemetry.tlog",
    "srt": "video.SRT",
    "nmea": "telemetry.nmea",
    "ground_truth": "ground_truth.geojson",
}
EDGE_MARGIN_PX = 2.0  # "fully visible" keeps this far from the frame border


def road_spec(scenario: Scenario, seed: int) -> RoadSpec:
    """The scenario's road, with the seed filling in what the scenario leaves open."""
    rng = np.random.default_rng([seed, 3])
    r = scenario.road
    heading = r.heading_deg if r.heading_deg is not None else float(rng.uniform(0.0, 360.0))
    if r.curvature_deg_per_100m is not None:
        curvature = r.curvature_deg_per_100m
    else:
        curvature = float(rng.choice([0.0, rng.uniform(-6.0, 6.0)]))
    return RoadSpec(
        length_m=r.length_m,
        heading_deg=heading,
        curvature_deg_per_100m=curvature,
        lanes_per_direction=r.lanes_per_direction,
        lane_width_m=r.lane_width_m,
        sidewalk_m=r.sidewalk_m,
        verge_m=r.verge_m,
    )


def frame_homographies(K: np.ndarray, state: PlatformState) -> np.ndarray:
    """Ground (local metres) -> pixel homography of every sample of ``state``, shape ``(n, 3, 3)``."""
    out = np.empty((len(state.t), 3, 3))
    for i in range(len(state.t)):
        R_t = camera_axes(
            float(state.camera_yaw_deg[i]), float(state.camera_pitch_deg[i]), float(state.camera_roll_deg[i])
        ).T
        x, y = state.xy[i]
        M = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y], [0.0, 0.0, -float(state.camera_height[i])]])
        out[i] = K @ R_t @ M
    return out


def frames_fully_visible(H: np.ndarray, pts_xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean per frame: all ground points ``(m, 2)`` project inside the image (with a small margin)."""
    hom = np.einsum("fij,mj->fmi", H, np.column_stack([pts_xy, np.ones(len(pts_xy))]))
    w = hom[..., 2]
    front = w > 1e-9
    uv = hom[..., :2] / np.where(front, w, 1.0)[..., None]
    m = EDGE_MARGIN_PX
    inside = (uv[..., 0] >= m) & (uv[..., 0] <= width - m) & (uv[..., 1] >= m) & (uv[..., 1] <= height - m)
    return np.asarray((inside & front).all(axis=1))


def _video_look(rng: np.random.Generator, enabled: bool) -> np.ndarray:
    """Per-mission exposure, contrast and white balance as a ``256 x 1 x 3`` lookup table."""
    p = Photometric.random(rng, stills=False) if enabled else Photometric()
    x = np.arange(256, dtype=np.float32)[:, None]
    gain = 1.0 + (p.gain - 1.0) * 0.5  # milder than for stills: one consistent look per mission
    contrast = 1.0 + (p.contrast - 1.0) * 0.5
    lut = ((x - 128.0) * contrast + 128.0) * gain * np.asarray(p.white_balance, np.float32)
    return np.clip(lut + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _manifest(
    sc: Scenario, seed: int, world: World, n_objects: int, dropped: list[str], files: dict[str, str | None]
) -> dict[str, Any]:
    cam = load_camera_profile(sc.camera_profile)
    return {
        "format": MISSION_FORMAT,
        "mission_id": f"sim-{sc.name}-{seed}",
        "scenario": sc.name,
        "platform": sc.platform.value,
        "seed": seed,
        "origin": {"lat": sc.origin.lat, "lon": sc.origin.lon},
        "ground_elevation_m": sc.origin.ground_elevation_m,
        "camera_profile": sc.camera_profile,
        "camera_mount": cam.mount.model_dump() if cam.mount is not None else None,
        "video": {
            "width": sc.video.width,
            "height": sc.video.height,
            "fps": sc.video.fps,
            "frame_count": sc.frame_count,
            "codec": "h264",
        },
        "start_time_utc": sc.start_time_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": sc.duration_s,
        "telemetry_rate_hz": sc.telemetry_rate_hz,
        "local_crs": local_crs(sc.origin.lat, sc.origin.lon),
        "road": {
            "length_m": world.road.spec.length_m,
            "heading_deg": world.road.spec.heading_deg,
            "curvature_deg_per_100m": world.road.spec.curvature_deg_per_100m,
            "half_width_m": world.road.spec.half_width_m,
        },
        "motion": sc.motion.model_dump(),
        "ground_truth_objects": n_objects,
        "dropped_not_fully_visible": dropped,
        "srt_clock": "UTC",
        "files": files,
    }


@dataclass(frozen=True)
class MissionPlan:
    """Everything a mission is rendered from: the world, the motion, the camera and the kept truth."""

    scenario: Scenario
    seed: int
    world: World
    trajectory: Trajectory
    frames: PlatformState  # sampled at the frame times
    K: np.ndarray
    kept: list[GroundTruthObject]
    dropped: list[str]

    def render_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` before the mission's exposure look (exactly what the video encodes, minus the LUT)."""
        v = self.scenario.video
        return render_view(self.world, self.K, self.frames.camera_pose(i), v.width, v.height)


def plan_mission(scenario: str | Path | Scenario, seed: int) -> MissionPlan:
    """Build the world and motion of a mission without writing anything (deterministic in ``seed``)."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    width, height = sc.video.width, sc.video.height
    K = load_camera_profile(sc.camera_profile).intrinsics(width, height)
    road = Road(road_spec(sc, seed))
    traj = Trajectory(sc, road, seed)
    frames = traj.state(traj.frame_times())
    H = frame_homographies(K, frames)
    need = sc.min_frames_fully_visible

    def accept(centre: np.ndarray, radius: float) -> bool:
        ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = centre + radius * np.column_stack([np.cos(ang), np.sin(ang)])
        return int(frames_fully_visible(H, ring, width, height).sum()) >= need

    spec = WorldSpec(
        road=road.spec,
        gsd=sc.gsd_m,
        objects_per_class=dict(sc.objects_per_class),
        n_distractors=sc.n_distractors,
        origin_lat=sc.origin.lat,
        origin_lon=sc.origin.lon,
        ground_elevation_m=sc.origin.ground_elevation_m,
    )
    world = build_world(spec, seed, accept)
    kept: list[GroundTruthObject] = []
    dropped: list[str] = []
    for obj in world.objects:
        seen = frames_fully_visible(H, np.asarray(obj.footprint_xy), width, height)
        if int(seen.sum()) >= need:
            kept.append(obj)
        else:
            dropped.append(obj.object_id)
    return MissionPlan(sc, seed, world, traj, frames, K, kept, dropped)


def generate_mission(
    scenario: str | Path | Scenario, seed: int, out_dir: Path, *, progress: bool = True
) -> Path:
    """Write the mission folder for ``scenario`` (name, YAML path or model) and ``seed``; return it.

    Ground truth keeps only the objects the flight sees fully in at least
    ``min_frames_fully_visible`` frames; objects are placed so that this holds.
    """
    plan = plan_mission(scenario, seed)
    sc, world, traj, frames = plan.scenario, plan.world, plan.trajectory, plan.frames
    kept, dropped = plan.kept, plan.dropped
    width, height = sc.video.width, sc.video.height
    camera = load_camera_profile(sc.camera_profile)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    files: dict[str, str | None] = dict(FILES)
    files["srt" if sc.platform is Platform.vehicle else "nmea"] = None
    write_ground_truth(out_dir / FILES["ground_truth"], world, kept)
    tele = traj.state(traj.telemetry_times())
    tele_ll = world.to_lonlat(tele.xy)
    start = sc.start_posix
    elev = sc.origin.ground_elevation_m
    write_tlog(
        out_dir / FILES["telemetry_tlog"],
        tele,
        start,
        ground_elevation_m=elev,
        lonlat=tele_ll,
        vehicle_type=2 if sc.platform is Platform.drone else 10,
        gimbal=sc.platform is Platform.drone,
        rate_hz=sc.telemetry_rate_hz,
    )
    if sc.platform is Platform.drone:
        focal_35 = (
            camera.focal_length_mm
            * math.hypot(36.0, 24.0)
            / math.hypot(camera.sensor_width_mm, camera.sensor_height_mm)
        )
        write_srt(
            out_dir / FILES["srt"],
            frames,
            start,
            lonlat=world.to_lonlat(frames.xy),
            ground_elevation_m=elev,
            focal_len_35mm=focal_35,
        )
    else:
        write_nmea(out_dir / FILES["nmea"], tele, start, lonlat=tele_ll, ground_elevation_m=elev)
    (out_dir / "scenario.json").write_text(
        json.dumps(_manifest(sc, seed, world, len(kept), dropped, files), indent=2) + "\n", encoding="utf-8"
    )

    lut = _video_look(np.random.default_rng([seed, 5]), sc.photometric_variation)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, disable=not progress) as bar,
        H264Writer(
            out_dir / FILES["video_mp4"],
            out_dir / FILES["video_ts"],
            width,
            height,
            sc.video.fps,
            bitrate_kbps=sc.video.bitrate_kbps,
            creation_time=sc.start_time_utc,
            klv=mission_klv(
                tele, start, lonlat=tele_ll, ground_elevation_m=elev, gimbal=sc.platform is Platform.drone
            ),
        ) as writer,
    ):
        task = bar.add_task(f"rendering {sc.name} (seed {seed})", total=len(frames.t))
        for i in range(len(frames.t)):
            writer.write(cv2.LUT(plan.render_frame(i), lut))
            bar.advance(task)
    return out_dir
