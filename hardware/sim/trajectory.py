"""The platform's flight or drive: a smooth, analytic function of time, sampled for frames and telemetry.

Positions follow the road (centre line for drones, a lane for vehicles) at
constant speed with a gentle seeded wander; attitude and gimbal jitter are
sums of slow sinusoids, so every quantity is smooth and exactly repeatable.
Velocities are central differences of the same function.

Example:
    >>> from hardware.sim.scenario import load_scenario
    >>> from hardware.sim.road import Road, RoadSpec
    >>> sc = load_scenario("drone_quick")
    >>> traj = Trajectory(sc, Road(RoadSpec(length_m=80.0)), seed=1)
    >>> st = traj.state(np.array([0.0, 1.0]))
    >>> bool(abs(st.speed_mps[0] - 5.5) < 0.2), bool(st.camera_pitch_deg[0] >= -90.0)
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hardware import load_camera_profile
from hardware.sim.camera import CameraPose
from hardware.sim.road import Road
from hardware.sim.scenario import Platform, Scenario, ScenarioError


@dataclass(frozen=True, slots=True)
class PlatformState:
    """Platform and camera state at times ``t`` (seconds from the start); arrays ``(n,)`` or ``(n, k)``."""

    t: np.ndarray
    xy: np.ndarray  # local metres (n, 2)
    alt_agl: np.ndarray  # platform (antenna) height above the ground
    velocity_enu: np.ndarray  # m/s (n, 3)
    roll_deg: np.ndarray  # aircraft/vehicle attitude, aviation conventions
    pitch_deg: np.ndarray
    yaw_deg: np.ndarray  # clockwise from true north, 0..360
    camera_height: np.ndarray  # camera above the ground plane
    camera_yaw_deg: np.ndarray  # earth frame, 0..360
    camera_pitch_deg: np.ndarray
    camera_roll_deg: np.ndarray

    @property
    def speed_mps(self) -> np.ndarray:
        return np.asarray(np.hypot(self.velocity_enu[:, 0], self.velocity_enu[:, 1]))

    @property
    def course_deg(self) -> np.ndarray:
        v = self.velocity_enu
        return np.asarray(np.degrees(np.arctan2(v[:, 0], v[:, 1])) % 360.0)

    def camera_pose(self, i: int) -> CameraPose:
        return CameraPose(
            float(self.xy[i, 0]),
            float(self.xy[i, 1]),
            float(self.camera_height[i]),
            float(self.camera_yaw_deg[i]),
            float(self.camera_pitch_deg[i]),
            float(self.camera_roll_deg[i]),
        )


class _Wobble:
    """Smooth zero-mean signal in [-1, 1]: three sinusoids with seeded slow frequencies."""

    def __init__(self, rng: np.random.Generator, f_lo: float = 0.05, f_hi: float = 0.6) -> None:
        self.freq = rng.uniform(f_lo, f_hi, 3)
        self.phase = rng.uniform(0, 2 * np.pi, 3)
        self.amp = rng.uniform(0.5, 1.0, 3)
        self.amp /= self.amp.sum()

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.asarray((self.amp * np.sin(2 * np.pi * self.freq * t[:, None] + self.phase)).sum(axis=1))


class Trajectory:
    """Where the platform is at any time ``t`` in ``[0, duration]`` (seconds from ``start_time_utc``)."""

    def __init__(self, scenario: Scenario, road: Road, seed: int) -> None:
        self.scenario = scenario
        self.road = road
        motion = scenario.motion
        travel = motion.speed_mps * scenario.duration_s
        L = road.spec.length_m
        self.s0 = motion.start_s_m if motion.start_s_m is not None else (L - travel) / 2.0
        if self.s0 < 0 or self.s0 + travel > L:
            raise ScenarioError(
                f"{scenario.name}: road.length_m={L:g} is too short for {travel:.0f} m of travel "
                f"(motion.speed_mps x duration_s) starting at s={self.s0:.0f} m"
            )
        camera = load_camera_profile(scenario.camera_profile)
        self.mount = camera.mount
        if scenario.platform is Platform.vehicle and self.mount is None:
            raise ScenarioError(
                f"{scenario.name}: camera_profile {scenario.camera_profile!r} has no vehicle mount"
            )
        rng = np.random.default_rng([seed, 7])
        # slow drift for the path, faster for attitude and gimbal (Hz ranges)
        bands = {
            "lat": (0.01, 0.05),
            "alt": (0.03, 0.15),
            "roll": (0.1, 0.5),
            "pitch": (0.1, 0.5),
            "yaw": (0.05, 0.2),
            "cam_p": (0.1, 0.6),
            "cam_y": (0.1, 0.6),
            "cam_r": (0.1, 0.6),
        }
        self._wobbles = {k: _Wobble(rng, lo, hi) for k, (lo, hi) in bands.items()}

    def _position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.scenario.motion
        s = self.s0 + m.speed_mps * t
        lat = m.lateral_offset_m + m.lateral_wander_m * self._wobbles["lat"](t)
        xy = self.road.points(s, lat)
        if self.scenario.platform is Platform.drone:
            alt = m.altitude_agl_m + 0.15 * self._wobbles["alt"](t)
        else:
            assert self.mount is not None
            alt = np.full_like(t, self.mount.height_m)
        return xy, alt

    def state(self, t: np.ndarray) -> PlatformState:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        xy, alt = self._position(t)
        dt = 1e-3
        xy_p, alt_p = self._position(t + dt)
        xy_m, alt_m = self._position(t - dt)
        vel = np.column_stack([(xy_p - xy_m) / (2 * dt), (alt_p - alt_m) / (2 * dt)])
        course = np.degrees(np.arctan2(vel[:, 0], vel[:, 1]))
        j = self.scenario.motion.attitude_jitter_deg
        w = self._wobbles
        if self.scenario.platform is Platform.drone:
            roll = j * w["roll"](t)
            pitch = -(1.5 + 0.3 * self.scenario.motion.speed_mps) + j * w["pitch"](
                t
            )  # nose down in forward flight
            yaw = course + 2 * j * w["yaw"](t)
            cam_yaw = yaw + j * w["cam_y"](t)
            base = self.scenario.motion.gimbal_pitch_deg
            # a nadir gimbal cannot look past straight down: its jitter stays on the upper side
            cam_pitch = base + j * ((0.5 + 0.5 * w["cam_p"](t)) if base <= -89.0 else w["cam_p"](t))
            cam_roll = 0.3 * j * w["cam_r"](t)
            cam_h = alt
        else:
            assert self.mount is not None
            roll = j * w["roll"](t)
            pitch = j * w["pitch"](t)
            yaw = course
            cam_yaw = yaw + self.mount.yaw_deg
            cam_pitch = self.mount.pitch_deg + pitch
            cam_roll = self.mount.roll_deg + roll
            cam_h = alt
        return PlatformState(
            t=t,
            xy=xy,
            alt_agl=alt,
            velocity_enu=vel,
            roll_deg=roll,
            pitch_deg=pitch,
            yaw_deg=yaw % 360.0,
            camera_height=cam_h,
            camera_yaw_deg=cam_yaw % 360.0,
            camera_pitch_deg=cam_pitch,
            camera_roll_deg=cam_roll,
        )

    def frame_times(self) -> np.ndarray:
        """Capture time of every video frame, seconds from the start (frame 0 at 0)."""
        return np.arange(self.scenario.frame_count) / self.scenario.video.fps

    def telemetry_times(self) -> np.ndarray:
        """Telemetry sample times from 0 to the end of the video inclusive."""
        rate = self.scenario.telemetry_rate_hz
        n = math.floor(self.scenario.duration_s * rate + 1e-9) + 1
        return np.arange(n) / rate
