"""Serve a mission folder live: RTSP video and MAVLink telemetry, time-shifted to now.

Example:
    >>> server = serve_mission(Path("missions/drone-1"), rtsp_port=8554)  # doctest: +SKIP
    >>> server.rtsp_url  # doctest: +SKIP
    'rtsp://127.0.0.1:8554/mission'
    >>> server.wait(); server.stop()  # doctest: +SKIP

The simulated vehicle sits at the mission's first position until the first
RTSP client starts playing, then video and telemetry replay together from
their first frame / record, so a client's frame arrival times and the
telemetry it receives line up as they would with a real drone. A mission
without video starts the telemetry replay at once (``start_on_play=False``
does the same with video).

With ``loop`` the video comes from ``video.ts`` (re-read endlessly as one
seamless stream) and the telemetry restarts every ``duration_s`` of the
manifest, so both stay in step lap after lap.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from hardware.sim.mavlink_vehicle import MavlinkVehicle
from hardware.sim.rtsp import RtspServeError, RtspVideoServer

log = logging.getLogger(__name__)

__all__ = ["MissionServer", "RtspServeError", "serve_mission"]


def _mission_file(mission_dir: Path, manifest: dict[str, object], key: str, default: str) -> Path:
    files = manifest.get("files")
    name = files.get(key, default) if isinstance(files, dict) else default
    return mission_dir / str(name or default)


class MissionServer:
    """A running live replay of one mission; :meth:`stop` releases ports and threads."""

    def __init__(self, rtsp: RtspVideoServer | None, vehicle: MavlinkVehicle | None, *, loop: bool) -> None:
        self.rtsp = rtsp
        self.vehicle = vehicle
        self.loop = loop
        self._stopped = threading.Event()

    @property
    def rtsp_url(self) -> str | None:
        return None if self.rtsp is None else self.rtsp.url

    def start(self) -> MissionServer:
        """Start both halves (idempotent; :func:`serve_mission` already calls it)."""
        if self.vehicle is not None:
            self.vehicle.start()
        if self.rtsp is not None:
            self.rtsp.start()
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until stopped or (without ``loop``) the telemetry replay has finished.

        Returns True if that happened, False on timeout.
        """
        done = self.vehicle.finished if self.vehicle is not None and not self.loop else None
        step = 0.2
        waited = 0.0
        while timeout_s is None or waited < timeout_s:
            if self._stopped.wait(step) or (done is not None and done.is_set()):
                return True
            waited += step
        return False

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._stopped.set()
        if self.rtsp is not None:
            self.rtsp.stop()
        if self.vehicle is not None:
            self.vehicle.stop()

    def __enter__(self) -> MissionServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_mission(
    mission_dir: Path,
    *,
    rtsp_port: int = 8554,
    mount: str = "/mission",
    mavlink_out: str | None = "udpout:127.0.0.1:14550",
    loop: bool = False,
    start_on_play: bool = True,
) -> MissionServer:
    """Start serving ``mission_dir`` (``video.mp4``, or ``video.ts`` with ``loop``, over RTSP;
    ``telemetry.tlog`` over MAVLink).

    ``rtsp_port=0`` picks a free port (see ``server.rtsp.port``); ``mavlink_out=None``
    serves video only. Raises :class:`RtspServeError` (a ``ValueError``) naming
    the file when the mission has neither video nor telemetry or a file is unusable.
    """
    mission_dir = Path(mission_dir)
    manifest_path = mission_dir / "scenario.json"
    manifest: dict[str, object] = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RtspServeError(f"{manifest_path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    video = (
        _mission_file(mission_dir, manifest, "video_ts", "video.ts")
        if loop
        else _mission_file(mission_dir, manifest, "video_mp4", "video.mp4")
    )
    tlog = _mission_file(mission_dir, manifest, "telemetry_tlog", "telemetry.tlog")
    vehicle = None
    if mavlink_out is not None and tlog.is_file():
        duration = manifest.get("duration_s")
        period = float(duration) if isinstance(duration, int | float) and duration > 0 else None
        vehicle = MavlinkVehicle.from_tlog(tlog, mavlink_out, loop=loop, loop_period_s=period)
    elif mavlink_out is not None:
        log.warning("%s: no telemetry log; serving video only", tlog)
    rtsp = None
    if video.is_file():
        begin = vehicle.begin_replay if vehicle is not None and start_on_play else None
        rtsp = RtspVideoServer(video, port=rtsp_port, mount=mount, loop=loop, on_first_play=begin)
    elif vehicle is None:
        raise RtspServeError(f"{mission_dir}: neither {video.name} nor {tlog.name} to serve")
    if vehicle is not None and (rtsp is None or not start_on_play):
        vehicle.begin_replay()
    server = MissionServer(rtsp, vehicle, loop=loop)
    try:
        return server.start()
    except Exception:
        server.stop()
        raise
