"""A simulated ArduPilot vehicle that replays a tlog over MAVLink in real time.

Example:
    >>> out = "udpout:127.0.0.1:14550"
    >>> vehicle = MavlinkVehicle.from_tlog(Path("mission/telemetry.tlog"), out)  # doctest: +SKIP
    >>> vehicle.start(); vehicle.begin_replay()  # doctest: +SKIP
    >>> # dronekit.connect("udp:127.0.0.1:14550", wait_ready=True) now succeeds
    >>> vehicle.stop()  # doctest: +SKIP

Behaviour (enough of ArduCopter for ground stations and dronekit):

* its own ``HEARTBEAT`` at 1 Hz: ``MAV_TYPE_QUADROTOR``, ``MAV_AUTOPILOT_ARDUPILOTMEGA``,
  custom mode GUIDED, armed while the replay runs (recorded heartbeats are not forwarded);
* with ``loop`` the log restarts every ``loop_period_s`` (the mission duration),
  so laps stay in step with a looping video;
* before :meth:`begin_replay` and after the log ends (without ``loop``) it
  holds: the first / last recorded message of each kind is re-sent at the
  recorded rate (a parked vehicle still reports where it is);
* during the replay every recorded message is sent at its recorded offset from
  the replay start, so times are shifted to now: ``SYSTEM_TIME.time_unix_usec``
  and UNIX ``time_usec`` fields become the current time, ``time_boot_ms`` the
  vehicle's uptime;
* ``PARAM_REQUEST_LIST`` / ``PARAM_REQUEST_READ`` / ``PARAM_SET`` are answered
  with ``PARAM_VALUE`` (correct ``param_count`` / ``param_index``);
  ``COMMAND_LONG`` gets ``COMMAND_ACK`` (and ``AUTOPILOT_VERSION`` when asked
  for capabilities or that message); the mission protocol (upload, download, clear)
  is answered by :class:`~hardware.sim.mission_store.MissionStore` (item 0: home,
  the first recorded position); ``REQUEST_DATA_STREAM`` and others are ignored.
  The uploaded mission is stored, not flown.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymavlink import mavutil

from hardware.sim.link_thread import LinkThread
from hardware.sim.mission_store import MISSION_KINDS, MissionStore

log = logging.getLogger(__name__)

mavlink = mavutil.mavlink

DEFAULT_PARAMS: dict[str, float] = {
    "SYSID_THISMAV": 1.0,
    "FRAME_CLASS": 1.0,  # quad
    "FRAME_TYPE": 1.0,  # X
    "WPNAV_SPEED": 500.0,
    "RTL_ALT": 3000.0,
    "MNT1_TYPE": 6.0,  # gimbal: MAVLink
    "GPS_TYPE": 1.0,
    "ARMING_CHECK": 1.0,
}
_COPTER_GUIDED = 4
_UNIX_USEC_MIN = 10**15  # larger "time_usec" values are UNIX time, smaller are since boot
_HOLD_KINDS = (
    "GLOBAL_POSITION_INT",
    "ATTITUDE",
    "GPS_RAW_INT",
    "GIMBAL_DEVICE_ATTITUDE_STATUS",
    "MOUNT_STATUS",
    "VFR_HUD",
    "SYS_STATUS",
)


@dataclass(frozen=True, slots=True)
class Record:
    """One recorded message and its offset (seconds) from the log's first record."""

    offset_s: float
    msg: Any


def read_tlog_records(path: Path) -> list[Record]:
    """All messages of a tlog with their offsets from the first record (HEARTBEATs dropped)."""
    conn = mavutil.mavlink_connection(str(path), robust_parsing=True)
    records: list[Record] = []
    t0: float | None = None
    try:
        while (msg := conn.recv_msg()) is not None:
            kind = msg.get_type()
            if kind in ("BAD_DATA", "HEARTBEAT") or kind.startswith("UNKNOWN"):
                continue
            t = float(msg._timestamp)
            t0 = t if t0 is None else t0
            records.append(Record(t - t0, msg))
    finally:
        conn.close()
    records.sort(key=lambda r: r.offset_s)
    return records


class MavlinkVehicle(LinkThread):
    """Replays :class:`Record` s over a pymavlink link and answers like an ArduPilot copter."""

    def __init__(
        self,
        records: list[Record],
        out_uri: str = "udpout:127.0.0.1:14550",
        *,
        loop: bool = False,
        loop_period_s: float | None = None,
        system_id: int = 1,
        params: dict[str, float] | None = None,
    ) -> None:
        if not records:
            raise ValueError("no MAVLink records to replay")
        super().__init__(out_uri, system_id=system_id, thread_name="mavlink-vehicle")
        self.records = records
        self.loop = loop
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.messages_sent = 0
        self.requests_answered = 0
        self.finished = threading.Event()
        self._replay_start: float | None = None
        self._begin = threading.Event()
        self._hold = self._first_of_each_kind()
        self.mission = MissionStore(home=self._home_position())
        self._hold_period = self._record_period()
        # One loop lasts the mission (the video's length); records at or after it belong to the next lap.
        self.loop_period_s = loop_period_s or records[-1].offset_s + self._hold_period

    @classmethod
    def from_tlog(cls, path: Path, out_uri: str = "udpout:127.0.0.1:14550", **kwargs: Any) -> MavlinkVehicle:
        return cls(read_tlog_records(path), out_uri, **kwargs)

    def _first_of_each_kind(self) -> dict[str, Any]:
        first: dict[str, Any] = {}
        for r in self.records:
            first.setdefault(r.msg.get_type(), r.msg)
        return {k: v for k, v in first.items() if k in _HOLD_KINDS}

    def _home_position(self) -> tuple[float, float, float]:
        """Latitude, longitude (degrees) and AMSL altitude (m) of the first recorded position."""
        pos = self._hold.get("GLOBAL_POSITION_INT")
        return (0.0, 0.0, 0.0) if pos is None else (pos.lat * 1e-7, pos.lon * 1e-7, pos.alt * 1e-3)

    def _record_period(self) -> float:
        times = [r.offset_s for r in self.records if r.msg.get_type() == "GLOBAL_POSITION_INT"]
        if len(times) < 2:
            return 0.2
        return max(0.02, (times[-1] - times[0]) / (len(times) - 1))

    # -- lifecycle -----------------------------------------------------------------
    def begin_replay(self) -> None:
        """Start moving: replay the log from its first record, time-shifted to now."""
        self._begin.set()

    # -- main loop -----------------------------------------------------------------
    def _run(self) -> None:
        next_heartbeat = next_hold = 0.0
        index = 0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._send_heartbeat()
                    next_heartbeat = now + 1.0
                if self._begin.is_set() and self._replay_start is None:
                    self._replay_start, index = now, 0
                replaying = self._replay_start is not None and not self.finished.is_set()
                if replaying:
                    assert self._replay_start is not None
                    elapsed = now - self._replay_start
                    end = self.loop_period_s if self.loop else float("inf")
                    while (
                        index < len(self.records)
                        and self.records[index].offset_s <= elapsed
                        and self.records[index].offset_s < end
                    ):
                        self._send_record(self.records[index].msg)
                        index += 1
                    if self.loop and elapsed >= self.loop_period_s:
                        self._replay_start += self.loop_period_s  # additive: laps never drift
                        index = 0
                    elif not self.loop and index >= len(self.records):
                        self.finished.set()
                elif now >= next_hold:
                    for msg in self._hold.values():
                        self._send_record(msg)
                    next_hold = now + self._hold_period
                self._answer_requests()
                self._stop.wait(0.005)
        except Exception:
            if not self._stop.is_set():
                log.exception("MAVLink vehicle on %s stopped", self.out_uri)

    def _send_heartbeat(self) -> None:
        armed = self._replay_start is not None and not self.finished.is_set()
        base_mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        base_mode |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if armed:
            base_mode |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        state = mavlink.MAV_STATE_ACTIVE if armed else mavlink.MAV_STATE_STANDBY
        self._conn.mav.heartbeat_send(
            mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base_mode, _COPTER_GUIDED, state
        )
        self.messages_sent += 1

    def _send_record(self, msg: Any) -> None:
        kind = msg.get_type()
        if hasattr(msg, "time_boot_ms"):
            msg.time_boot_ms = self._uptime_ms()
        if kind == "SYSTEM_TIME":
            msg.time_unix_usec = int(time.time() * 1e6)
        elif hasattr(msg, "time_usec") and msg.time_usec >= _UNIX_USEC_MIN:
            msg.time_usec = int(time.time() * 1e6)
        self._conn.mav.send(msg)
        self.messages_sent += 1
        if kind in self._hold:
            self._hold[kind] = msg  # the last position reported is where the vehicle stays

    # -- requests ------------------------------------------------------------------
    def _answer_requests(self) -> None:
        while (msg := self._conn.recv_msg()) is not None:
            kind = msg.get_type()
            if answer_param_message(self._conn, self.params, msg):
                pass
            elif kind == "COMMAND_LONG":
                self._answer_command(msg)
            elif kind in MISSION_KINDS:
                self.mission.handle(self._conn, msg)
            else:
                continue  # REQUEST_DATA_STREAM, HEARTBEAT from the GCS, ...: nothing to answer
            self.requests_answered += 1

    def _answer_command(self, msg: Any) -> None:
        answer_version_request(self._conn, msg)
        self._conn.mav.command_ack_send(msg.command, mavlink.MAV_RESULT_ACCEPTED)


def answer_param_message(conn: Any, params: dict[str, float], msg: Any) -> bool:
    """Answer ``PARAM_REQUEST_LIST`` / ``_READ`` / ``PARAM_SET`` with ``PARAM_VALUE`` (False: not those)."""
    kind = msg.get_type()
    names = list(params)

    def send(name: str) -> None:
        conn.mav.param_value_send(
            name.encode("ascii"), params[name], mavlink.MAV_PARAM_TYPE_REAL32, len(names), names.index(name)
        )

    if kind == "PARAM_REQUEST_LIST":
        for name in names:
            send(name)
    elif kind == "PARAM_REQUEST_READ":
        wanted: str | None = msg.param_id if msg.param_index < 0 else None
        if wanted is None and 0 <= msg.param_index < len(names):
            wanted = names[msg.param_index]
        if wanted is not None and wanted in params:
            send(wanted)
    elif kind == "PARAM_SET":
        if msg.param_id in params:
            params[msg.param_id] = float(msg.param_value)
            send(msg.param_id)
    else:
        return False
    return True


def answer_version_request(conn: Any, msg: Any) -> bool:
    """Send ``AUTOPILOT_VERSION`` (ArduCopter 4.5.0) if the ``COMMAND_LONG`` asks for it."""
    wants_version = msg.command == mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES or (
        msg.command == mavlink.MAV_CMD_REQUEST_MESSAGE
        and int(msg.param1) == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION
    )
    if wants_version:
        conn.mav.autopilot_version_send(
            mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT,
            0x040500FF,  # ArduCopter 4.5.0, official release
            0,
            0,
            0,
            b"\0" * 8,
            b"\0" * 8,
            b"\0" * 8,
            0,
            0,
            0,
        )
    return bool(wants_version)
