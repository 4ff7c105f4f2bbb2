"""Upload a planned mission to a MAVLink vehicle with DroneKit, and download what the vehicle holds.

Example:
    >>> vehicle = dronekit.connect("udp:127.0.0.1:14550", wait_ready=True)  # doctest: +SKIP
    >>> upload_mission(vehicle, plan.mission_items())  # doctest: +SKIP
    >>> download_mission(vehicle) == plan.mission_items()  # positions to float32, see below  # doctest: +SKIP

Items go up as ``MISSION_ITEM_INT`` (DroneKit's :class:`~dronekit.CommandInt`,
positions to 1e-7 degree); DroneKit downloads with the float ``MISSION_REQUEST``,
so positions come back as float32 degrees (about 0.5 m at worst, see
:func:`same_mission`). Home (item 0) is the vehicle's own and is left as it is.
This module does not arm or start anything: flying is a separate, confirmed step.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import dronekit
import numpy as np
from pymavlink import mavutil

from hardware.missions import MissionError, MissionItem

FLOAT32_DEGREE_TOLERANCE = 1e-5  # float32 spacing at |180| degrees is 1.5e-5
MISSION_ACCEPTED = mavutil.mavlink.MAV_MISSION_ACCEPTED
MISSION_TYPE_MISSION = mavutil.mavlink.MAV_MISSION_TYPE_MISSION


def to_dronekit_commands(items: list[MissionItem]) -> list[dronekit.CommandInt]:
    """DroneKit ``CommandInt`` s for ``items`` (targets are fixed by DroneKit on upload)."""
    return [
        dronekit.CommandInt(
            0,
            0,
            0,
            item.frame,
            item.command,
            0,
            int(item.autocontinue),
            *item.params,
            round(item.lat * 1e7),
            round(item.lon * 1e7),
            item.alt,
        )
        for item in items
    ]


class MissionRejected(MissionError):
    """The vehicle answered the upload with a ``MISSION_ACK`` other than ``MAV_MISSION_ACCEPTED``."""

    def __init__(self, result: int) -> None:
        entry = mavutil.mavlink.enums["MAV_MISSION_RESULT"].get(result)
        self.result = result
        super().__init__(f"the vehicle rejected the mission: {entry.name if entry else result}")


class _UploadAck:
    """The ``MISSION_ACK`` that ends an upload: a refusal, or an acceptance once items were asked for.

    DroneKit's ``upload`` returns once every item has been *asked for*, not once
    the vehicle has taken the last one, so a caller that reads the vehicle's
    mission straight after could see the old one. The vehicle's answer to the
    last item is its ``MISSION_ACK``; the ack of the clear that DroneKit sends
    first comes before any item request and is not it.
    """

    def __init__(self) -> None:
        self._asked = False
        self.result: int | None = None
        self.done = threading.Event()

    def on_request(self, _vehicle: Any, _name: str, msg: Any) -> None:
        self._asked = True

    def on_ack(self, _vehicle: Any, _name: str, msg: Any) -> None:
        mission_type = getattr(msg, "mission_type", MISSION_TYPE_MISSION)
        if mission_type != MISSION_TYPE_MISSION or self.done.is_set():
            return
        # A refusal ends the upload whenever it comes (a count too large is refused before any item).
        if msg.type != MISSION_ACCEPTED or self._asked:
            self.result = int(msg.type)
            self.done.set()


def upload_mission(vehicle: Any, items: list[MissionItem], *, timeout_s: float = 30.0) -> None:
    """Replace the vehicle's mission with ``items`` (home kept) and wait for the vehicle's ``MISSION_ACK``.

    Raises ``TimeoutError`` when the vehicle does not answer within ``timeout_s``
    (for each of download, upload and the final ack) and :class:`MissionRejected`
    when it answers with an error.
    """
    commands = vehicle.commands
    commands.download()  # DroneKit keeps home (item 0) from the download when clearing
    commands.wait_ready(timeout=timeout_s)
    commands.clear()
    for command in to_dronekit_commands(items):
        commands.add(command)
    ack = _UploadAck()
    listeners = [
        ("MISSION_REQUEST", ack.on_request),
        ("MISSION_REQUEST_INT", ack.on_request),
        ("MISSION_ACK", ack.on_ack),
    ]
    for name, listener in listeners:
        vehicle.add_message_listener(name, listener)
    try:
        try:
            commands.upload(timeout=timeout_s)
        except Exception:
            # DroneKit waits for item requests that a refusing vehicle never sends.
            if ack.result is not None and ack.result != MISSION_ACCEPTED:
                raise MissionRejected(ack.result) from None
            raise
        if not ack.done.wait(timeout_s):
            raise TimeoutError(f"the vehicle did not acknowledge the mission within {timeout_s:g} s")
    finally:
        for name, listener in listeners:
            vehicle.remove_message_listener(name, listener)
    if ack.result is not None and ack.result != MISSION_ACCEPTED:
        raise MissionRejected(ack.result)


def _as_degrees(msg: Any, value: float) -> float:
    return value * 1e-7 if msg.get_type() == "MISSION_ITEM_INT" else float(value)


def download_mission(vehicle: Any, *, timeout_s: float = 30.0) -> list[MissionItem]:
    """The vehicle's mission items after home, as :class:`MissionItem` s."""
    commands = vehicle.commands
    commands.download()
    commands.wait_ready(timeout=timeout_s)
    return [
        MissionItem(
            int(msg.command),
            int(msg.frame),
            (float(msg.param1), float(msg.param2), float(msg.param3), float(msg.param4)),
            _as_degrees(msg, msg.x),
            _as_degrees(msg, msg.y),
            float(msg.z),
            bool(msg.autocontinue),
        )
        for msg in (commands[i] for i in range(len(commands)))
    ]


def same_mission(a: list[MissionItem], b: list[MissionItem]) -> bool:
    """Equal commands, frames and flags; params and altitudes to float32; positions to 1e-5 degree."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if (x.command, x.frame, x.autocontinue) != (y.command, y.frame, y.autocontinue):
            return False
        values_x = np.array([*x.params, x.alt], dtype=np.float32)
        values_y = np.array([*y.params, y.alt], dtype=np.float32)
        if not np.array_equal(values_x, values_y, equal_nan=True):
            return False
        if not (
            math.isclose(x.lat, y.lat, abs_tol=FLOAT32_DEGREE_TOLERANCE)
            and math.isclose(x.lon, y.lon, abs_tol=FLOAT32_DEGREE_TOLERANCE)
        ):
            return False
    return True
