"""DJI survey stills as a telemetry track and as a frame source: the pose comes from each photo's metadata.

A DJI aircraft writes into every JPEG:

* EXIF ``DateTimeOriginal`` (+ ``SubSecTimeOriginal``) in the aircraft's
  local time, usually without ``OffsetTimeOriginal``: pass the local offset
  from UTC as ``utc_offset_s`` (``8 * 3600`` in China); an
  ``OffsetTimeOriginal`` in the photo, when present, is used instead;
* XMP ``drone-dji:`` fields: ``GpsLatitude``, ``GpsLongitude`` (older firmware:
  ``GpsLongtitude``), ``AbsoluteAltitude`` (MSL), ``RelativeAltitude`` (above
  the take-off point), ``GimbalYaw/Pitch/RollDegree`` (camera, earth frame)
  and ``FlightYaw/Pitch/RollDegree`` (aircraft), as attributes or elements;
* the EXIF GPS IFD, used for the position when a photo has no XMP.

Malformed metadata raises :class:`TelemetryError` naming the file and the field.

Example:
    >>> track = load_photo_telemetry("survey/", utc_offset_s=8 * 3600)  # doctest: +SKIP
    >>> for frame in PhotoFolderSource("survey/", "m3e", utc_offset_s=8 * 3600):  # doctest: +SKIP
    ...     print(frame.index, frame.time_utc, frame.pose)
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from calendar import timegm
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from capture.errors import TelemetryError
from capture.telemetry.track import COLUMNS, TelemetryTrack
from capture.types import Frame, Pose

log = logging.getLogger(__name__)

DJI_NAMESPACE = "http://www.dji.com/drone-dji/1.0/"
XMP_FIELDS = {
    "GpsLatitude": "lat",
    "GpsLongitude": "lon",
    "GpsLongtitude": "lon",  # the spelling of older DJI firmware
    "AbsoluteAltitude": "alt_msl",
    "RelativeAltitude": "alt_agl",
    "GimbalRollDegree": "camera_roll",
    "GimbalPitchDegree": "camera_pitch",
    "GimbalYawDegree": "camera_yaw",
    "FlightRollDegree": "roll",
    "FlightPitchDegree": "pitch",
    "FlightYawDegree": "yaw",
}
JPEG_SUFFIXES = (".jpg", ".jpeg")
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _SUBSEC_ORIGINAL, _OFFSET_ORIGINAL, _DATETIME = 0x9003, 0x9291, 0x9011, 0x0132
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class PhotoPose:
    """One photo's file, capture time (UTC) and pose from its metadata."""

    path: Path
    pose: Pose

    @property
    def time_utc(self) -> float:
        return self.pose.time_utc


def _xmp_values(path: Path, xmp: bytes | str) -> dict[str, float]:
    text = xmp.decode("utf-8", errors="replace") if isinstance(xmp, bytes) else xmp
    text = text.strip("\x00 \r\n\ufeff")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise TelemetryError(f"{path}: XMP: not valid XML at line {line}, column {col}") from None
    values: dict[str, float] = {}
    prefix = "{" + DJI_NAMESPACE + "}"
    for element in root.iter():
        found = [(k, v) for k, v in element.attrib.items() if k.startswith(prefix)]
        if element.tag.startswith(prefix) and element.text is not None:
            found.append((element.tag, element.text))
        for key, raw in found:
            name = key[len(prefix) :]
            column = XMP_FIELDS.get(name)
            if column is None:
                continue
            try:
                values[column] = float(raw.strip())
            except ValueError:
                raise TelemetryError(f"{path}: XMP drone-dji:{name} is not a number: {raw!r}") from None
    return values


def _rational(path: Path, field: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise TelemetryError(f"{path}: EXIF {field} is not a number: {value!r}") from None


def _gps_values(path: Path, gps: dict[int, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for column, ref_tag, tag, field, negative in (
        ("lat", 1, 2, "GPSLatitude", "S"),
        ("lon", 3, 4, "GPSLongitude", "W"),
    ):
        if tag not in gps:
            continue
        dms = gps[tag]
        if not isinstance(dms, tuple) or len(dms) != 3:
            raise TelemetryError(f"{path}: EXIF {field} is not degrees, minutes, seconds: {dms!r}")
        d, m, s = (_rational(path, field, v) for v in dms)
        value = d + m / 60 + s / 3600
        values[column] = -value if str(gps.get(ref_tag, "")).upper().startswith(negative) else value
    if 6 in gps:
        alt = _rational(path, "GPSAltitude", gps[6])
        below = gps.get(5) in (1, b"\x01")
        values["alt_msl"] = -alt if below else alt
    return values


def _capture_time(path: Path, exif: Image.Exif, utc_offset_s: float) -> float:
    sub = exif.get_ifd(_EXIF_IFD)
    text = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not text:
        raise TelemetryError(f"{path}: EXIF DateTimeOriginal missing (needed to place the photo in time)")
    text = str(text).strip("\x00 ")
    match = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})", text)
    if match is None:
        raise TelemetryError(f"{path}: EXIF DateTimeOriginal {text!r} is not 'YYYY:MM:DD HH:MM:SS'")
    seconds = float(timegm(tuple(int(g) for g in match.groups())))
    subsec = str(sub.get(_SUBSEC_ORIGINAL, "")).strip("\x00 ")
    if subsec:
        if not subsec.isdigit():
            raise TelemetryError(f"{path}: EXIF SubSecTimeOriginal {subsec!r} is not digits")
        seconds += int(subsec) / 10 ** len(subsec)
    offset_text = str(sub.get(_OFFSET_ORIGINAL, "")).strip("\x00 ")
    if offset_text:
        offset = _OFFSET.match(offset_text)
        if offset is None:
            raise TelemetryError(f"{path}: EXIF OffsetTimeOriginal {offset_text!r} is not '+HH:MM'")
        sign = -1.0 if offset.group(1) == "-" else 1.0
        utc_offset_s = sign * (int(offset.group(2)) * 3600 + int(offset.group(3)) * 60)
    return seconds - utc_offset_s


def read_photo_pose(path: str | Path, *, utc_offset_s: float = 0.0) -> PhotoPose:
    """Capture time and pose of one photo (see the module docstring for the fields used)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            xmp = image.info.get("xmp")
    except (OSError, UnidentifiedImageError) as exc:
        raise TelemetryError(f"{path}: not a readable JPEG: {exc}") from None
    time_utc = _capture_time(path, exif, utc_offset_s)
    values = _gps_values(path, exif.get_ifd(_GPS_IFD))
    if xmp:
        values.update(_xmp_values(path, xmp))
    if "lat" not in values or "lon" not in values:
        raise TelemetryError(f"{path}: no GpsLatitude/GpsLongitude in XMP nor GPS position in EXIF")
    return PhotoPose(path, Pose(time_utc=time_utc, **_pose_fields(values)))


def _pose_fields(values: dict[str, float]) -> dict[str, float]:
    fields = dict(values)
    for name in ("roll", "pitch", "yaw"):
        fields.setdefault(name, 0.0)
    fields["yaw"] %= 360.0
    if "camera_yaw" in fields:
        fields["camera_yaw"] %= 360.0
    return fields


def photo_paths(folder_or_files: str | Path | Iterable[str | Path]) -> list[Path]:
    """The JPEGs of a folder (sorted by name), or the given files."""
    if isinstance(folder_or_files, str | Path):
        folder = Path(folder_or_files)
        if not folder.is_dir():
            raise TelemetryError(f"{folder}: not a folder of photos")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in JPEG_SUFFIXES)
        if not paths:
            raise TelemetryError(f"{folder}: no JPEG photos (.jpg, .jpeg)")
        return paths
    return [Path(p) for p in folder_or_files]


def read_photo_poses(
    folder_or_files: str | Path | Iterable[str | Path], *, utc_offset_s: float = 0.0
) -> list[PhotoPose]:
    """Every photo's time and pose, in time order (ties: by file name)."""
    poses = [read_photo_pose(p, utc_offset_s=utc_offset_s) for p in photo_paths(folder_or_files)]
    return sorted(poses, key=lambda p: (p.time_utc, p.path.name))


def load_photo_telemetry(
    folder_or_files: str | Path | Iterable[str | Path], *, utc_offset_s: float = 0.0
) -> TelemetryTrack:
    """A track with one sample per photo (for pairing video frames with a photo survey's poses)."""
    poses = read_photo_poses(folder_or_files, utc_offset_s=utc_offset_s)
    if not poses:
        raise TelemetryError(f"{folder_or_files}: no photos")
    cols = {
        name: np.array([np.nan if getattr(p.pose, name) is None else getattr(p.pose, name) for p in poses])
        for name in COLUMNS
        if name not in ("lat", "lon", "speed_mps")
    }
    source = str(folder_or_files) if isinstance(folder_or_files, str | Path) else str(poses[0].path.parent)
    return TelemetryTrack.from_columns(
        source,
        time_utc=np.array([p.time_utc for p in poses]),
        lat=np.array([p.pose.lat for p in poses]),
        lon=np.array([p.pose.lon for p in poses]),
        **cols,
    )


class PhotoFolderSource:
    """Frames from a folder of geotagged stills, in capture-time order, each posed by its own metadata.

    ``pts_ns`` is the time since the first photo; ``index`` the place in time
    order. A photo whose pixels cannot be decoded is logged, counted in
    ``unreadable`` and skipped (its index stays unused); bad metadata raises
    :class:`TelemetryError` when iteration starts.
    """

    def __init__(self, folder: str | Path, source_id: str, *, utc_offset_s: float = 0.0) -> None:
        self.folder = Path(folder)
        self.source_id = source_id
        self.utc_offset_s = utc_offset_s
        self.frames_read = 0
        self.unreadable = 0
        # The counters every frame source has (a folder drops nothing and never reconnects).
        self.frames_dropped = 0
        self.reconnects = 0
        self._photos: list[PhotoPose] | None = None
        self._stopped = False

    @property
    def frames_bad(self) -> int:
        return self.unreadable

    def stop(self) -> None:
        """End an iteration in progress after the current photo (thread-safe)."""
        self._stopped = True

    def close(self) -> None:
        self.stop()

    def photos(self) -> list[PhotoPose]:
        """The photos' metadata in time order (read once)."""
        if self._photos is None:
            self._photos = read_photo_poses(self.folder, utc_offset_s=self.utc_offset_s)
        return self._photos

    def __len__(self) -> int:
        return len(self.photos())

    def __iter__(self) -> Iterator[Frame]:
        photos = self.photos()
        t0 = photos[0].time_utc
        for index, photo in enumerate(photos):
            if self._stopped:
                return
            image = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
            if image is None:
                self.unreadable += 1
                log.warning("%s: photo cannot be decoded, skipped", photo.path)
                continue
            self.frames_read += 1
            yield Frame(
                source_id=self.source_id,
                index=index,
                pts_ns=round((photo.time_utc - t0) * 1e9),
                time_utc=photo.time_utc,
                image=image,
                pose=photo.pose,
            )

    def __enter__(self) -> PhotoFolderSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
