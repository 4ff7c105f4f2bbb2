"""The simulated vehicle's mission: the MAVLink mission protocol (upload, download, clear) as on ArduPilot.

Example:
    >>> store = MissionStore(home=(30.27, 120.15, 12.0))
    >>> len(store.items)  # item 0 is home, as on ArduPilot
    1

Upload: ``MISSION_COUNT`` -> the vehicle sends ``MISSION_REQUEST`` for each seq
(ArduPilot asks with the float request and accepts ``MISSION_ITEM`` or
``MISSION_ITEM_INT``) -> ``MISSION_ACK``. Download: ``MISSION_REQUEST_LIST`` ->
``MISSION_COUNT``; each ``MISSION_REQUEST_INT`` / ``MISSION_REQUEST`` is answered
with ``MISSION_ITEM_INT`` / ``MISSION_ITEM``. ``MISSION_CLEAR_ALL`` keeps home.
Only the mission type is stored: fence and rally uploads are refused with
``MAV_MISSION_UNSUPPORTED`` and their lists are empty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pymavlink import mavutil

mavlink = mavutil.mavlink
MISSION_KINDS = (
    "MISSION_COUNT",
    "MISSION_ITEM",
    "MISSION_ITEM_INT",
    "MISSION_REQUEST_LIST",
    "MISSION_REQUEST",
    "MISSION_REQUEST_INT",
    "MISSION_CLEAR_ALL",
    "MISSION_ACK",
)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """A mission item as stored: positions in degrees whichever message carried them."""

    frame: int
    command: int
    autocontinue: int
    params: tuple[float, float, float, float]
    lat: float
    lon: float
    alt: float

    @classmethod
    def from_message(cls, msg: Any) -> StoredItem:
        scale = 1e-7 if msg.get_type() == "MISSION_ITEM_INT" else 1.0
        params = (msg.param1, msg.param2, msg.param3, msg.param4)
        return cls(msg.frame, msg.command, msg.autocontinue, params, msg.x * scale, msg.y * scale, msg.z)


class MissionStore:
    """Holds the mission and answers mission-protocol messages on a pymavlink connection."""

    def __init__(
        self, home: tuple[float, float, float], *, capacity: int | None = None, commit_delay_s: float = 0.0
    ) -> None:
        lat, lon, alt = home
        # Items the vehicle can store, home included (None: no limit); an upload of
        # more is refused with MAV_MISSION_NO_SPACE before any item, as ArduPilot does.
        self.capacity = capacity
        # Seconds the vehicle takes to write a complete upload to storage before it acks
        # (an autopilot writes EEPROM or SD card); a ground station must wait for the ack.
        self.commit_delay_s = commit_delay_s
        self.home = StoredItem(
            mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT, 1, (0, 0, 0, 0), lat, lon, alt
        )
        self.items: list[StoredItem] = [self.home]
        self.uploads_accepted = 0
        self._incoming: list[StoredItem] | None = None
        self._incoming_count = 0

    def handle(self, conn: Any, msg: Any) -> None:
        """Answer one of :data:`MISSION_KINDS` from the ground station that sent ``msg``."""
        kind = msg.get_type()
        gcs = (msg.get_srcSystem(), msg.get_srcComponent())
        mission_type = getattr(msg, "mission_type", mavlink.MAV_MISSION_TYPE_MISSION)
        if kind == "MISSION_COUNT":
            if mission_type != mavlink.MAV_MISSION_TYPE_MISSION:
                conn.mav.mission_ack_send(*gcs, mavlink.MAV_MISSION_UNSUPPORTED, mission_type)
            elif self.capacity is not None and msg.count > self.capacity:
                conn.mav.mission_ack_send(*gcs, mavlink.MAV_MISSION_NO_SPACE, mission_type)
            elif msg.count == 0:
                self.items = [self.home]
                conn.mav.mission_ack_send(*gcs, mavlink.MAV_MISSION_ACCEPTED, mission_type)
            else:
                self._incoming, self._incoming_count = [], msg.count
                conn.mav.mission_request_send(*gcs, 0, mission_type)
        elif kind in ("MISSION_ITEM", "MISSION_ITEM_INT"):
            self._receive_item(conn, gcs, msg)
        elif kind == "MISSION_REQUEST_LIST":
            count = len(self.items) if mission_type == mavlink.MAV_MISSION_TYPE_MISSION else 0
            conn.mav.mission_count_send(*gcs, count, mission_type)
        elif kind in ("MISSION_REQUEST", "MISSION_REQUEST_INT"):
            self._send_item(conn, gcs, msg.seq, as_int=kind == "MISSION_REQUEST_INT")
        elif kind == "MISSION_CLEAR_ALL":
            self.items = [self.home]
            conn.mav.mission_ack_send(*gcs, mavlink.MAV_MISSION_ACCEPTED, mission_type)
        # MISSION_ACK from the GCS closes a download: nothing to answer.

    def _receive_item(self, conn: Any, gcs: tuple[int, int], msg: Any) -> None:
        incoming = self._incoming
        if incoming is None or msg.seq != len(incoming):
            return  # not uploading, or a duplicate / out-of-order item: the request stands
        incoming.append(StoredItem.from_message(msg))
        if len(incoming) < self._incoming_count:
            conn.mav.mission_request_send(*gcs, len(incoming), mavlink.MAV_MISSION_TYPE_MISSION)
            return
        if self.commit_delay_s > 0:
            time.sleep(self.commit_delay_s)
        self.items, self._incoming = incoming, None
        self.uploads_accepted += 1
        conn.mav.mission_ack_send(*gcs, mavlink.MAV_MISSION_ACCEPTED, mavlink.MAV_MISSION_TYPE_MISSION)

    def _send_item(self, conn: Any, gcs: tuple[int, int], seq: int, *, as_int: bool) -> None:
        if not 0 <= seq < len(self.items):
            conn.mav.mission_ack_send(
                *gcs, mavlink.MAV_MISSION_INVALID_SEQUENCE, mavlink.MAV_MISSION_TYPE_MISSION
            )
            return
        item = self.items[seq]
        current = 1 if seq == 0 else 0
        lat: float | int = item.lat
        lon: float | int = item.lon
        send = conn.mav.mission_item_send
        if as_int:
            lat, lon = round(item.lat * 1e7), round(item.lon * 1e7)
            send = conn.mav.mission_item_int_send
        send(
            *gcs, seq, item.frame, item.command, current, item.autocontinue, *item.params, lat, lon, item.alt
        )
