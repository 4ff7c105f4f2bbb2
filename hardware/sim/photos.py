"""DJI-style survey stills: JPEGs of a mission's frames with EXIF and DJI XMP pose metadata.

Every ``every_n``-th frame of the planned mission is rendered and written as
a JPEG carrying what a DJI aircraft writes into its photos:

* EXIF: ``Make`` DJI, ``Model``, ``DateTimeOriginal`` + ``SubSecTimeOriginal``
  (the simulator's clock is UTC, like its SRT; DJI aircraft write local time
  without an offset), ``FocalLength``, and the GPS IFD (latitude, longitude,
  altitude above sea level);
* XMP (``drone-dji`` namespace, in an APP1 segment): ``GpsLatitude``,
  ``GpsLongitude``, ``AbsoluteAltitude``, ``RelativeAltitude``,
  ``GimbalYaw/Pitch/RollDegree`` (earth frame) and
  ``FlightYaw/Pitch/RollDegree``, yaw in -180..180 as DJI writes it.

Example:
    >>> paths = write_survey_photos("drone_quick", 0, Path("photos"), every_n=10)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from hardware import load_camera_profile
from hardware.sim.generate import MissionPlan, plan_mission
from hardware.sim.scenario import Scenario

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def _signed(deg: float) -> float:
    return float((deg + 180.0) % 360.0 - 180.0)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    d = math.floor(value)
    m = math.floor((value - d) * 60)
    return float(d), float(m), round((value - d - m / 60) * 3600, 6)


def dji_xmp(fields: dict[str, float]) -> bytes:
    """The XMP packet DJI writes: ``drone-dji:*`` attributes of one ``rdf:Description``."""
    attrs = "\n".join(f'    drone-dji:{name}="{value:+.8f}"' for name, value in fields.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="DJI Meta Data"\n'
        '    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        f"{attrs}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def insert_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """``jpeg`` with an XMP APP1 segment after its leading APPn segments (EXIF stays first)."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    segment = XMP_HEADER + xmp
    if len(segment) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one APP1 segment")
    pos = 2
    while jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return jpeg[:pos] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + jpeg[pos:]


def _exif(when: datetime, lat: float, lon: float, alt_msl: float, focal_mm: float) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "DJI"
    exif[0x0110] = "M3E"
    exif[0x0132] = when.strftime("%Y:%m:%d %H:%M:%S")
    sub = exif.get_ifd(_EXIF_IFD)
    sub[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9291] = f"{when.microsecond // 1000:03d}"  # SubSecTimeOriginal (milliseconds)
    sub[0x920A] = focal_mm  # FocalLength
    gps = exif.get_ifd(_GPS_IFD)
    gps[0] = b"\x02\x03\x00\x00"  # GPSVersionID
    gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(lon)
    gps[5], gps[6] = (0 if alt_msl >= 0 else 1), abs(alt_msl)
    return exif


def write_survey_photos(
    mission: MissionPlan | Scenario | str | Path,
    seed: int,
    out_dir: Path,
    *,
    every_n: int = 30,
    quality: int = 92,
) -> list[Path]:
    """Write ``DJI_0001.JPG``... for every ``every_n``-th frame of the mission; return their paths.

    ``mission`` is a :class:`MissionPlan` (``seed`` is then unused) or a
    scenario (name, YAML path or model) planned with ``seed``.
    """
    if every_n < 1:
        raise ValueError(f"every_n must be at least 1, got {every_n}")
    plan = mission if isinstance(mission, MissionPlan) else plan_mission(mission, seed)
    sc, frames = plan.scenario, plan.frames
    focal_mm = load_camera_profile(sc.camera_profile).focal_length_mm
    elev = sc.origin.ground_elevation_m
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    indices = np.arange(0, len(frames.t), every_n)
    lonlat = plan.world.to_lonlat(frames.xy[indices])
    paths = []
    for k, i in enumerate(indices.tolist()):
        when = datetime.fromtimestamp(round(sc.start_posix + float(frames.t[i]), 3), tz=UTC)
        lon, lat = (float(v) for v in lonlat[k])
        height = float(frames.camera_height[i])
        xmp = dji_xmp(
            {
                "GpsLatitude": lat,
                "GpsLongitude": lon,
                "AbsoluteAltitude": elev + height,
                "RelativeAltitude": height,
                "GimbalRollDegree": float(frames.camera_roll_deg[i]),
                "GimbalYawDegree": _signed(float(frames.camera_yaw_deg[i])),
                "GimbalPitchDegree": float(frames.camera_pitch_deg[i]),
                "FlightRollDegree": float(frames.roll_deg[i]),
                "FlightYawDegree": _signed(float(frames.yaw_deg[i])),
                "FlightPitchDegree": float(frames.pitch_deg[i]),
            }
        )
        rgb = cv2.cvtColor(plan.render_frame(i), cv2.COLOR_BGR2RGB)
        buf = io.BytesIO()
        exif = _exif(when, lat, lon, elev + height, focal_mm)
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, exif=exif.tobytes())
        path = out_dir / f"DJI_{k + 1:04d}.JPG"
        path.write_bytes(insert_xmp(buf.getvalue(), xmp))
        paths.append(path)
    return paths
