"""Helpers for the test-range simulator tests: mission loading, real GStreamer decoding, quaternion maths."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)


@dataclass(frozen=True)
class Mission:
    folder: Path
    manifest: dict[str, Any]
    ground_truth: dict[str, Any]


def load_mission(folder: Path) -> Mission:
    manifest = json.loads((folder / "scenario.json").read_text(encoding="utf-8"))
    gt = json.loads((folder / "ground_truth.geojson").read_text(encoding="utf-8"))
    return Mission(folder, manifest, gt)


@dataclass(frozen=True)
class Decoded:
    frames: list[np.ndarray]
    pts_ns: list[int]
    width: int
    height: int


def decode_video(path: Path, keep: set[int] | None = None) -> Decoded:
    """Decode every frame with ``uridecodebin`` into a BGR appsink; keep the images of ``keep`` indices."""
    pipeline = Gst.parse_launch(
        f"uridecodebin uri={path.resolve().as_uri()} ! videoconvert ! video/x-raw,format=BGR "
        "! appsink name=sink sync=false max-buffers=4"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames: list[np.ndarray] = []
    pts: list[int] = []
    width = height = 0
    try:
        while True:
            sample = sink.emit("try-pull-sample", 20 * Gst.SECOND)
            if sample is None:
                break
            s = sample.get_caps().get_structure(0)
            width, height = s.get_value("width"), s.get_value("height")
            buf = sample.get_buffer()
            if keep is None or len(pts) in keep:
                ok, info = buf.map(Gst.MapFlags.READ)
                assert ok
                frames.append(np.frombuffer(info.data, np.uint8).reshape(height, width, 3).copy())
                buf.unmap(info)
            pts.append(int(buf.pts))
        bus = pipeline.get_bus()
        err = bus.pop_filtered(Gst.MessageType.ERROR)
        assert err is None, f"{path}: {err.parse_error()[0].message}"
    finally:
        pipeline.set_state(Gst.State.NULL)
    return Decoded(frames, pts, width, height)


def quaternion_to_euler_deg(q: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(w, x, y, z) -> aerospace ZYX (roll, pitch, yaw) in degrees; written independently of the simulator."""
    w, x, y, z = q
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw)


def rotation_from_quaternion(q: tuple[float, float, float, float]) -> np.ndarray:
    """Body (FRD) -> NED rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
