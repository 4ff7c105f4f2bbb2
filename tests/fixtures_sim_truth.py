"""Ground-truth detections for geo accuracy tests: the simulator's own camera, the real telemetry path.

:func:`truth_detections` plans a test-range mission (no video), writes its
MAVLink telemetry log exactly as the mission generator does, reads it back
with :func:`capture.load_telemetry` and interpolates poses at the frame times
(the pipeline's path). Each ground-truth object visible in a frame becomes a
box placed so that its taxonomy anchor (box centre, or bottom centre for
upright classes) is the exact projection of the object's anchor point by the
simulator's camera (:mod:`hardware.sim.camera`). Geo-referencing those boxes
isolates geo from the detector: any error left is telemetry (quantisation,
interpolation, attitude composition) and the geo model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capture import PoseSeries, load_telemetry
from hardware.sim.camera import project_ground_points
from hardware.sim.generate import MissionPlan, plan_mission
from hardware.sim.scenario import Platform
from hardware.sim.tlog import write_tlog
from taxonomy import Anchor, load_taxonomy


@dataclass(frozen=True)
class TruthDetections:
    plan: MissionPlan
    poses: PoseSeries  # read back from the telemetry log at the frame times
    xyxy: np.ndarray  # (N, 4)
    class_id: np.ndarray
    frame_of: np.ndarray
    truth_lonlat: np.ndarray  # (N, 2) the object's anchor, WGS84
    object_ids: list[str]


def write_plan_tlog(plan: MissionPlan, path: Path) -> Path:
    """The mission's ``telemetry.tlog`` (the same call as ``generate_mission``)."""
    sc, world, traj = plan.scenario, plan.world, plan.trajectory
    tele = traj.state(traj.telemetry_times())
    write_tlog(
        path,
        tele,
        sc.start_posix,
        ground_elevation_m=sc.origin.ground_elevation_m,
        lonlat=world.to_lonlat(tele.xy),
        vehicle_type=2 if sc.platform is Platform.drone else 10,
        gimbal=sc.platform is Platform.drone,
        rate_hz=sc.telemetry_rate_hz,
    )
    return path


def truth_detections(scenario: str, seed: int, work: Path, *, every: int = 3) -> TruthDetections:
    """Anchored ground-truth boxes in every ``every``-th frame of ``scenario`` (see the module docstring)."""
    plan = plan_mission(scenario, seed)
    sc = plan.scenario
    track = load_telemetry(write_plan_tlog(plan, work / f"{scenario}-{seed}.tlog"))
    frame_ids = np.arange(0, len(plan.frames.t), every)
    poses = track.poses_at(sc.start_posix + plan.frames.t[frame_ids])
    bottom = {c.id: c.anchor is Anchor.bottom_center for c in load_taxonomy().classes}
    w, h = sc.video.width, sc.video.height
    rows: list[tuple[float, float, float, float]] = []
    cls: list[int] = []
    frame_of: list[int] = []
    truth: list[tuple[float, float]] = []
    ids: list[str] = []
    for k, i in enumerate(frame_ids):
        cam = plan.frames.camera_pose(int(i))
        for obj in plan.kept:
            (uv,), front = project_ground_points(plan.K, cam, np.array([obj.center_xy]))
            inside = 2 <= uv[0] <= w - 2 and 2 <= uv[1] <= h - 2
            if not (front[0] and inside):
                continue
            ring, ring_front = project_ground_points(plan.K, cam, np.asarray(obj.footprint_xy))
            if not ring_front.all():
                continue
            bw, bh = np.ptp(ring[:, 0]), np.ptp(ring[:, 1])
            top = uv[1] - bh if bottom[obj.class_id] else uv[1] - bh / 2
            rows.append((uv[0] - bw / 2, top, uv[0] + bw / 2, top + bh))
            cls.append(obj.class_id)
            frame_of.append(k)
            truth.append(tuple(plan.world.to_lonlat(np.array([obj.center_xy]))[0]))
            ids.append(obj.object_id)
    return TruthDetections(
        plan=plan,
        poses=poses,
        xyxy=np.array(rows, np.float64).reshape(-1, 4),
        class_id=np.array(cls, np.int64),
        frame_of=np.array(frame_of, np.intp),
        truth_lonlat=np.array(truth, np.float64).reshape(-1, 2),
        object_ids=ids,
    )
