"""What an evidence packet adds to the original frames: annotated copies, a clip, a telemetry excerpt.

* :func:`annotate_frame` -- a JPEG copy of a frame with the detection boxes drawn
  and a caption band burned in at the bottom stating the capture time (UTC) and
  the place (WGS84), so that time and place are visible in the image as GA/T
  832-2014 asks; the original bytes are never touched;
* :func:`encode_clip` -- the case's frames in capture order as a short H.264 MP4
  (real GStreamer pipeline: ``appsrc ! videoconvert ! x264enc ! h264parse !
  mp4mux``, :class:`hardware.sim.encode.H264Writer`), one frame a second by
  default; Motion-JPEG AVI through OpenCV when GStreamer's x264enc is missing;
* :func:`telemetry_csv` -- one row per detection of the case: time, source,
  frame, box, located point and accuracy, and, given the mission's telemetry
  track, the platform and camera pose interpolated at that time.

Example:
    >>> caption = caption_for(t, 30.27, 120.15, 0.8)  # doctest: +SKIP
    >>> copy = annotate_frame(jpeg_bytes, [(10, 20, 200, 120)], caption)  # doctest: +SKIP
    >>> clip = encode_clip([copy_a, copy_b], tmp_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from capture.telemetry.track import TelemetryTrack
from dashboard.case_evidence import CaseEvidence, CaseFrame
from dashboard.privacy import blur_sensitive_image
from dashboard.reports import ReportImage
from geo.cases import Case

BOX_COLOUR = (0, 0, 255)  # BGR red
CLIP_SECONDS_PER_FRAME = 1.0
ANNOTATED_JPEG_QUALITY = 92


class EvidenceMediaError(RuntimeError):
    """A frame that cannot be decoded, or a clip that cannot be encoded."""


def caption_for(
    time_utc: datetime | None, lat: float, lon: float, accuracy_m: float | None = None, extra: str = ""
) -> str:
    """``2026-11-23 09:00:15.250 UTC | N30.2700000 E120.1500000 +/-0.8 m | extra`` (ASCII: burned in
    with OpenCV's Hershey fonts, which have no other glyphs)."""
    when = (
        f"{time_utc:%Y-%m-%d %H:%M:%S}.{time_utc.microsecond // 1000:03d} UTC" if time_utc else "time unknown"
    )
    if math.isfinite(lat) and math.isfinite(lon):
        place = f"{'N' if lat >= 0 else 'S'}{abs(lat):.7f} {'E' if lon >= 0 else 'W'}{abs(lon):.7f}"
        if accuracy_m is not None and math.isfinite(accuracy_m):
            place += f" +/-{accuracy_m:.1f} m"
    else:
        place = "place unknown"
    text = f"{when} | {place}"
    return f"{text} | {extra}" if extra else text


def decode_image(data: bytes, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise EvidenceMediaError(f"{what}: not a decodable image ({len(data)} bytes)")
    return image


def draw_annotations(
    image: np.ndarray, boxes: Sequence[Sequence[float]], caption: str, labels: Sequence[str] = ()
) -> np.ndarray:
    """A copy of BGR ``image`` with the boxes (x1, y1, x2, y2) and the caption band below it."""
    h, w = image.shape[:2]
    thick = max(2, round(h / 360))
    band = max(24, round(h * 0.05))
    out = np.empty((h + band, w, 3), np.uint8)
    out[:h] = image
    out[h:] = 0
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        p1, p2 = (round(x1), round(y1)), (round(x2), round(y2))
        cv2.rectangle(out[:h], p1, p2, BOX_COLOUR, thick)
        if i < len(labels):
            cv2.putText(out[:h], labels[i], (p1[0], max(p1[1] - 2 * thick, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                        band / 48, BOX_COLOUR, thick)  # fmt: skip
    # The caption fills the band's height, shrunk to fit the width.
    scale = band / 40
    (tw, _), _ = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if tw > w - 16:
        scale *= (w - 16) / tw
    cv2.putText(out, caption, (8, h + round(band * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(1, thick // 2), cv2.LINE_AA)  # fmt: skip
    return out


def annotate_frame(
    data: bytes,
    boxes: Sequence[Sequence[float]],
    caption: str,
    *,
    labels: Sequence[str] = (),
    blur: bool = False,
    what: str = "frame",
) -> bytes:
    """A JPEG copy of the encoded frame ``data`` with boxes and caption; ``blur``: faces and plates
    blurred first (for people who may not see originals)."""
    image = decode_image(data, what)
    if blur:
        image = blur_sensitive_image(image)
    ok, encoded = cv2.imencode(".jpg", draw_annotations(image, boxes, caption, labels),
                               [cv2.IMWRITE_JPEG_QUALITY, ANNOTATED_JPEG_QUALITY])  # fmt: skip
    if not ok:
        raise EvidenceMediaError(f"{what}: cannot encode the annotated copy")
    return bytes(encoded)


@dataclass(frozen=True, slots=True)
class Clip:
    data: bytes
    name: str  # clip.mp4 or clip.avi
    media_type: str
    codec: str
    frames: int
    seconds_per_frame: float


def _x264_available() -> bool:
    from capture.gst_registry import element_installed

    return all(element_installed(e) for e in ("appsrc", "videoconvert", "x264enc", "h264parse", "mp4mux"))


def encode_clip(
    images: Sequence[bytes],
    *,
    seconds_per_frame: float = CLIP_SECONDS_PER_FRAME,
    creation_time: datetime | None = None,
    prefer_h264: bool = True,
) -> Clip:
    """The encoded frames ``images`` (at least one) as a clip, each shown ``seconds_per_frame``;
    frames of another size are scaled to the first one's (cut to even sides, as H.264 needs)."""
    if not images:
        raise EvidenceMediaError("a clip needs at least one frame")
    decoded = [decode_image(d, f"clip frame {i}") for i, d in enumerate(images)]
    h, w = (decoded[0].shape[0] // 2) * 2, (decoded[0].shape[1] // 2) * 2
    frames = [
        f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in decoded
    ]
    fps = 1.0 / seconds_per_frame
    with tempfile.TemporaryDirectory(prefix="roadsight-clip-") as tmp:
        if prefer_h264 and _x264_available():
            return _h264_clip(Path(tmp) / "clip.mp4", frames, fps, creation_time)
        path = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
        if not writer.isOpened():
            raise EvidenceMediaError("neither GStreamer's x264enc nor OpenCV's MJPEG writer is available")
        for frame in frames:
            writer.write(frame)
        writer.release()
        return Clip(path.read_bytes(), "clip.avi", "video/x-msvideo", "MJPEG", len(frames), 1.0 / fps)


def _h264_clip(path: Path, frames: list[np.ndarray], fps: float, creation_time: datetime | None) -> Clip:
    from hardware.sim.encode import EncodeError, H264Writer

    h, w = frames[0].shape[:2]
    try:
        with H264Writer(path, None, w, h, fps, creation_time=creation_time, speed_preset="medium") as writer:
            for frame in frames:
                writer.write(frame)
    except EncodeError as exc:
        raise EvidenceMediaError(f"H.264 clip: {exc}") from None
    return Clip(path.read_bytes(), "clip.mp4", "video/mp4", "H.264", len(frames), 1.0 / fps)


TELEMETRY_COLUMNS = ("time_utc", "mission_id", "source_id", "frame_index", "event_id", "class_key", "score",
                     "box_x1", "box_y1", "box_x2", "box_y2", "lat", "lon", "accuracy_m")  # fmt: skip
POSE_COLUMNS = ("platform_lat", "platform_lon", "alt_msl", "alt_agl", "roll", "pitch", "yaw", "camera_pitch",
                "camera_yaw", "camera_roll", "speed_mps")  # fmt: skip


def telemetry_csv(
    events: pd.DataFrame, track: TelemetryTrack | None = None, *, max_gap_s: float = 1.0
) -> bytes:
    """The telemetry excerpt of a case: one row per detection in time order (UTF-8 CSV).

    With ``track`` (the mission's telemetry), the platform and camera pose at each
    detection's time (empty where the track has no pose within ``max_gap_s``).
    Without it, the pose columns are left out: the event store keeps where each
    detection is, not where the camera was.
    """
    rows = events.sort_values(["time_utc", "event_id"]) if len(events) else events
    times = (
        pd.to_datetime(rows["time_utc"], utc=True)
        if len(rows)
        else pd.Series([], dtype="datetime64[ns, UTC]")
    )
    header = [*TELEMETRY_COLUMNS, *(POSE_COLUMNS if track is not None else ())]
    poses: dict[str, np.ndarray] = {}
    if track is not None and len(rows):
        series = track.poses_at(times.map(lambda t: t.timestamp()).to_numpy(np.float64), max_gap_s=max_gap_s)
        poses = {
            "platform_lat": series.lat,
            "platform_lon": series.lon,
            **{c: getattr(series, c) for c in POSE_COLUMNS if c not in ("platform_lat", "platform_lon")},
        }
        poses = {k: np.where(series.located, v, np.nan) for k, v in poses.items()}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, (row, t) in enumerate(zip(rows.to_dict("records"), times, strict=True)):
        values: list[Any] = [t.isoformat(), *(row.get(c) for c in TELEMETRY_COLUMNS[1:])]
        values += [poses[c][i] for c in POSE_COLUMNS] if poses else []
        writer.writerow(
            ["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in values]
        )
    return buf.getvalue().encode("utf-8")


@dataclass
class PacketMedia:
    """The files an evidence packet adds to the originals, and what the manifest says about them."""

    files: list[tuple[str, bytes, str]]  # (path in the packet, bytes, media type)
    annotated: dict[str, str]  # original frame path -> its annotated copy
    report_images: list[ReportImage]
    clip_info: dict[str, Any]
    telemetry_info: dict[str, Any]
    problems: list[dict[str, str]] = field(default_factory=list)


def annotated_copy(case: Case, found: CaseEvidence, frame: CaseFrame, *, blur: bool = False) -> bytes:
    """The frame with its detections' boxes and a caption of capture time, place, class and case."""
    events = found.events_of(frame)
    boxes = events[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(np.float64)
    labels = [f"{k} {s:.2f}" for k, s in zip(events["class_key"], events["score"], strict=True)]
    # The place of this frame's detection (the case's fused place when no event is at hand).
    lat, lon, acc = (
        (float(events["lat"].iloc[0]), float(events["lon"].iloc[0]), float(events["accuracy_m"].iloc[0]))
        if len(events)
        else (case.lat, case.lon, case.accuracy_m)
    )
    caption = caption_for(frame.time_utc, lat, lon, acc, f"{case.class_key} | case {case.case_id}")
    return annotate_frame(frame.data, boxes.tolist(), caption, labels=labels, blur=blur, what=frame.path)


def report_images(found: CaseEvidence, copies: dict[str, bytes]) -> list[ReportImage]:
    """One report page per annotated frame: capture time and the original's SHA-256."""
    return [
        ReportImage(
            copies[f.path],
            f"captured {f.time_utc:%Y-%m-%d %H:%M:%S} UTC" if f.time_utc else "capture time unknown",
            f"original {f.path} SHA-256 {f.ref.sha256}",
        )
        for f in found.frames
        if f.path in copies
    ]


def packet_media(
    case: Case,
    found: CaseEvidence,
    *,
    telemetry: TelemetryTrack | None = None,
    clip_seconds_per_frame: float = CLIP_SECONDS_PER_FRAME,
) -> PacketMedia:
    """Annotated copies of the image frames, the clip (two or more images), the telemetry excerpt."""
    files: list[tuple[str, bytes, str]] = []
    problems: list[dict[str, str]] = []
    copies: dict[str, bytes] = {}
    annotated: dict[str, str] = {}
    for frame in found.frames:
        if not frame.is_image:
            continue
        try:
            copies[frame.path] = annotated_copy(case, found, frame)
        except EvidenceMediaError as exc:
            problems.append({"path": frame.path, "reason": str(exc)})
            continue
        annotated[frame.path] = f"annotated/{frame.ref.sha256}.jpg"
        files.append((annotated[frame.path], copies[frame.path], "image/jpeg"))

    clip_info: dict[str, Any] = {"path": None, "reason": "fewer than two image frames"}
    if len(copies) >= 2:
        try:
            first = next(f.time_utc for f in found.frames if f.path in copies)
            clip = encode_clip(
                list(copies.values()), seconds_per_frame=clip_seconds_per_frame, creation_time=first
            )
        except EvidenceMediaError as exc:
            problems.append({"path": "clip", "reason": str(exc)})
            clip_info = {"path": None, "reason": "encoding failed (see media_problems)"}
        else:
            files.append((clip.name, clip.data, clip.media_type))
            clip_info = {
                "path": clip.name,
                "codec": clip.codec,
                "frames": clip.frames,
                "seconds_per_frame": clip.seconds_per_frame,
                "of": [f.path for f in found.frames if f.path in copies],
            }

    files.append(("telemetry.csv", telemetry_csv(found.events, telemetry), "text/csv"))
    telemetry_info = {
        "path": "telemetry.csv",
        "rows": len(found.events),
        "poses": telemetry is not None,
        "note": "platform and camera poses from the mission's telemetry track"
        if telemetry is not None
        else "detections only: no telemetry track was given, and the event store keeps no camera pose",
    }
    return PacketMedia(files, annotated, report_images(found, copies), clip_info, telemetry_info, problems)
