"""Render the path a simulated vehicle actually flew into a mission folder: video, tlog, ground truth.

Example:
    >>> plan = plan_mission("drone_quick", 1)  # doctest: +SKIP
    >>> # ... FlyingVehicle flies a mission planned along plan.world's road ...
    >>> write_flown_mission(plan, vehicle.track(), Path("flown"))  # doctest: +SKIP
    PosixPath('flown')

The world (road, defects, distractors) and the camera come from a
:class:`~hardware.sim.generate.MissionPlan`; the motion comes from the
:class:`~hardware.sim.flying_vehicle.TrackSample` s of the flight, not from the
scenario's trajectory. The cruise part of the flight (armed, in AUTO, at
least ``min_alt_m`` above home) is resampled at the video rate, so frame ``i`` is the
vehicle's pose ``i / fps`` after the cruise began; the camera is a nadir gimbal
that turns with the nose. Telemetry is written from the same samples, and the
ground truth keeps the objects fully seen in at least
``scenario.min_frames_fully_visible`` frames of this flight. The folder has the
generated missions' layout, so ``roadsight run``, ``roadsight eval`` and
``roadsight sim serve`` take it as they take a generated one.

:func:`live_view` renders the same view while the vehicle flies, for a live RTSP stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hardware.sim.camera import CameraPose
from hardware.sim.encode import H264Writer
from hardware.sim.flying_vehicle import FlyingVehicle, TrackSample
from hardware.sim.generate import FILES, MISSION_FORMAT, MissionPlan, frame_homographies, frames_fully_visible
from hardware.sim.groundtruth import write_ground_truth
from hardware.sim.render import render_view
from hardware.sim.scenario import Platform
from hardware.sim.tlog import write_tlog
from hardware.sim.trajectory import PlatformState
from hardware.sim.world import World

NADIR_PITCH_DEG = -90.0


class FlownMissionError(ValueError):
    """The flight has no cruise part to render."""


def flown_state(samples: Sequence[TrackSample], world: World, times: np.ndarray, t0: float) -> PlatformState:
    """Platform and camera state at simulated ``t0 + times``, interpolated linearly between samples."""
    t = np.array([s.time_s for s in samples])
    lonlat = np.array([[s.lon, s.lat] for s in samples])
    alt = np.array([s.alt_rel_m for s in samples])
    yaw = np.unwrap(np.radians([s.yaw_deg for s in samples]))
    vel = np.array([[s.vel_east, s.vel_north, s.vel_up] for s in samples])
    at = t0 + np.asarray(times, dtype=np.float64)
    xy_all = world.to_local(lonlat)
    xy = np.column_stack([np.interp(at, t, xy_all[:, 0]), np.interp(at, t, xy_all[:, 1])])
    yaw_deg = np.degrees(np.interp(at, t, yaw)) % 360.0
    height = np.interp(at, t, alt)
    zeros = np.zeros_like(at)
    return PlatformState(
        t=np.asarray(times, dtype=np.float64),
        xy=xy,
        alt_agl=height,
        velocity_enu=np.column_stack([np.interp(at, t, vel[:, k]) for k in range(3)]),
        roll_deg=zeros,
        pitch_deg=zeros,
        yaw_deg=yaw_deg,
        camera_height=height,
        camera_yaw_deg=yaw_deg,
        camera_pitch_deg=np.full_like(at, NADIR_PITCH_DEG),
        camera_roll_deg=zeros,
    )


def cruise_window(samples: Sequence[TrackSample], min_alt_m: float) -> tuple[float, float]:
    """First and last simulated time the vehicle flew its mission (AUTO) at ``min_alt_m`` or higher."""
    # AUTO only: the mission's own legs, not the return to launch over the same road.
    cruise = [s.time_s for s in samples if s.armed and s.mode == "AUTO" and s.alt_rel_m >= min_alt_m]
    if len(cruise) < 2:
        raise FlownMissionError(
            f"the flight never flew its mission at {min_alt_m:g} m or higher: nothing to render"
        )
    return cruise[0], cruise[-1]


def write_flown_mission(
    plan: MissionPlan, samples: Sequence[TrackSample], out_dir: Path, *, min_alt_m: float | None = None
) -> Path:
    """Write ``video.mp4``, ``telemetry.tlog``, ``ground_truth.geojson`` and ``scenario.json``."""
    sc, world = plan.scenario, plan.world
    if sc.platform is not Platform.drone:
        raise FlownMissionError(f"{sc.name}: only drone missions are flown")
    floor = 0.9 * sc.motion.altitude_agl_m if min_alt_m is None else min_alt_m
    t0, t1 = cruise_window(samples, floor)
    fps = sc.video.fps
    frames = flown_state(samples, world, np.arange(0.0, t1 - t0, 1.0 / fps), t0)
    rate = sc.telemetry_rate_hz
    tele = flown_state(samples, world, np.arange(0.0, t1 - t0 + 1e-9, 1.0 / rate), t0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width, height = sc.video.width, sc.video.height
    seen = [
        int(
            frames_fully_visible(
                frame_homographies(plan.K, frames), np.asarray(obj.footprint_xy), width, height
            ).sum()
        )
        for obj in world.objects
    ]
    kept = [obj for obj, n in zip(world.objects, seen, strict=True) if n >= sc.min_frames_fully_visible]
    write_ground_truth(out_dir / FILES["ground_truth"], world, kept)
    elevation = sc.origin.ground_elevation_m
    write_tlog(
        out_dir / FILES["telemetry_tlog"],
        tele,
        sc.start_posix,
        ground_elevation_m=elevation,
        lonlat=world.to_lonlat(tele.xy),
        vehicle_type=2,
        gimbal=True,
        rate_hz=rate,
    )
    with H264Writer(
        out_dir / FILES["video_mp4"],
        None,
        width,
        height,
        fps,
        bitrate_kbps=sc.video.bitrate_kbps,
        creation_time=sc.start_time_utc,
    ) as writer:
        for i in range(len(frames.t)):
            writer.write(render_view(world, plan.K, frames.camera_pose(i), width, height))
    manifest = {
        "format": MISSION_FORMAT,
        "mission_id": f"flown-{sc.name}-{plan.seed}",
        "scenario": sc.name,
        "platform": sc.platform.value,
        "seed": plan.seed,
        "origin": {"lat": sc.origin.lat, "lon": sc.origin.lon},
        "ground_elevation_m": elevation,
        "camera_profile": sc.camera_profile,
        "video": {
            "width": width,
            "height": height,
            "fps": fps,
            "frame_count": len(frames.t),
            "codec": "h264",
        },
        "start_time_utc": sc.start_time_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": len(frames.t) / fps,
        "telemetry_rate_hz": rate,
        "flown": {"cruise_start_s": t0, "cruise_end_s": t1, "samples": len(samples)},
        "ground_truth_objects": len(kept),
        "dropped_not_fully_visible": [
            o.object_id for o, n in zip(world.objects, seen, strict=True) if n < sc.min_frames_fully_visible
        ],
        "files": {
            **{k: None for k in FILES},
            **{k: FILES[k] for k in ("video_mp4", "telemetry_tlog", "ground_truth")},
        },
    }
    (out_dir / "scenario.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out_dir


def live_view(
    vehicle: FlyingVehicle, plan: MissionPlan, *, until: Callable[[], bool], min_height_m: float = 2.0
) -> Callable[[], np.ndarray | None]:
    """A renderer for :class:`~hardware.sim.live_video.LiveRtspServer`: the nadir view from where
    ``vehicle`` is now, None (end of stream) once ``until()`` is true.

    On the ground the camera is held ``min_height_m`` up (a view from zero height is degenerate).
    """
    world, sc = plan.world, plan.scenario

    def render() -> np.ndarray | None:
        if until():
            return None
        s = vehicle.flight.state
        x, y = world.to_local(np.array([[s.lon, s.lat]]))[0]
        pose = CameraPose(float(x), float(y), max(s.alt_rel_m, min_height_m), s.yaw_deg, NADIR_PITCH_DEG)
        return render_view(world, plan.K, pose, sc.video.width, sc.video.height)

    return render
