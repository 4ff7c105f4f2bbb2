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
from typing import Any

import dronekit
import numpy as np

from hardware.missions import MissionItem

FLOAT32_DEGREE_TOLERANCE = 1e-5  # float32 spacing at |180| degrees is 1.5e-5


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


def upload_mission(vehicle: Any, items: list[MissionItem], *, timeout_s: float = 30.0) -> None:
    """Replace the vehicle's mission with ``items`` (home kept); raises ``TimeoutError``."""
    commands = vehicle.commands
    commands.download()  # DroneKit keeps home (item 0) from the download when clearing
    commands.wait_ready(timeout=timeout_s)
    commands.clear()
    for command in to_dronekit_commands(items):
        commands.add(command)
    commands.upload(timeout=timeout_s)


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
