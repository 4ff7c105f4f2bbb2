"""Live MAVLink telemetry: a background reader that grows a pose track.

Example:
    >>> with LiveTelemetry("udp:0.0.0.0:14550") as live:  # doctest: +SKIP
    ...     live.wait_for_samples(1, timeout_s=10)
    ...     pose = live.pose_at(time.time() - 0.2)

``udp:HOST:PORT`` and ``udpin:HOST:PORT`` listen (a vehicle or the simulator
sends to us); ``udpout:HOST:PORT`` and ``tcp:HOST:PORT`` connect out. Samples
are stamped with their arrival time (as a ground station's tlog does). The
reader sends a ground-station heartbeat once a second and, on the first
vehicle heartbeat, asks for all data streams at 10 Hz (an ArduPilot vehicle
only streams on request). Only the last ``history_s`` seconds are kept.
"""

from __future__ import annotations

import logging
import time

from pymavlink import mavutil

from capture.errors import TelemetryError
from capture.telemetry.live_track import LIVE_HISTORY_S, LiveTrackSource
from capture.telemetry.mavlink_samples import MavlinkSamples
from capture.telemetry.track import TelemetryTrack

log = logging.getLogger(__name__)

_SCHEMES = ("udp:", "udpin:", "udpout:", "udpbcast:", "tcp:", "tcpin:")


class LiveTelemetry(LiveTrackSource):
    """Thread-safe growing telemetry track fed by a MAVLink link.

    ``pose_at``/``poses_at`` behave as on :class:`TelemetryTrack` for the data
    received so far (None before the first position message).
    """

    def __init__(self, uri: str, *, history_s: float = LIVE_HISTORY_S, stream_rate_hz: int = 10) -> None:
        if not uri.startswith(_SCHEMES):
            raise TelemetryError(f"{uri}: not a MAVLink link (use udp:HOST:PORT, udpin:, udpout: or tcp:)")
        super().__init__(uri)
        self.history_s = history_s
        self.stream_rate_hz = stream_rate_hz
        self.samples = MavlinkSamples(uri)
        self.messages_received = 0
        self.vehicle_system: int | None = None
        self._conn: mavutil.mavfile | None = None

    # -- lifecycle -----------------------------------------------------------------
    def _open_link(self) -> None:
        try:
            self._conn = mavutil.mavlink_connection(self.uri, source_system=255, source_component=190)
        except OSError as exc:
            raise TelemetryError(f"{self.uri}: cannot open MAVLink link: {exc}") from exc

    def _close_link(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- reader --------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        last_gcs_heartbeat = 0.0
        last_trim = time.time()
        try:
            while not self._stop.is_set():
                now = time.time()
                if now - last_gcs_heartbeat >= 1.0 and self._can_send(conn):
                    conn.mav.heartbeat_send(
                        mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0
                    )
                    last_gcs_heartbeat = now
                msg = conn.recv_match(blocking=True, timeout=0.2)
                if msg is None:
                    continue
                self.messages_received += 1
                if msg.get_type() == "HEARTBEAT" and self.vehicle_system is None:
                    if msg.type != mavutil.mavlink.MAV_TYPE_GCS:
                        self.vehicle_system = msg.get_srcSystem()
                        conn.mav.request_data_stream_send(
                            self.vehicle_system,
                            msg.get_srcComponent(),
                            mavutil.mavlink.MAV_DATA_STREAM_ALL,
                            self.stream_rate_hz,
                            1,
                        )
                    continue
                self.samples.add(msg, getattr(msg, "_timestamp", None) or time.time())
                if now - last_trim > 10.0:
                    self.samples.trim_before(now - self.history_s)
                    last_trim = now
        except Exception as exc:  # surfaced through .error; the link is gone either way
            if not self._stop.is_set():
                log.exception("%s: MAVLink reader stopped", self.uri)
                self.error = exc

    @staticmethod
    def _can_send(conn: mavutil.mavfile) -> bool:
        # A listening UDP socket knows no peer until a packet has arrived.
        return not isinstance(conn, mavutil.mavudp) or not conn.udp_server or bool(conn.last_address)

    # -- queries -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def _version(self) -> int:
        return self.samples.version

    def _build_track(self) -> TelemetryTrack | None:
        return self.samples.to_track() if len(self.samples) else None
