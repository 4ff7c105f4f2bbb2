"""Records owned by the geo stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from geo.ids import event_id_for


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """Evidence media named by content: the URI says where, the hash what."""

    uri: str
    sha256: str
    media_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class GeoEvent:
    """One detection placed on the earth.

    Coordinates are WGS84 (EPSG:4326) longitude/latitude in degrees; the
    ``footprint`` is the detection box projected onto the ground, a closed ring
    of ``(lon, lat)`` pairs. ``accuracy_m`` is the estimated horizontal
    position error (1 sigma, metres). ``event_id`` is deterministic for a given
    mission, source, frame and detection, so replaying a mission produces the
    same ids and an idempotent store ignores the duplicates.
    """

    event_id: str
    class_id: int
    class_key: str
    score: float
    lon: float
    lat: float
    accuracy_m: float
    time_utc: datetime
    mission_id: str
    source_id: str
    frame_index: int
    box_xyxy: tuple[float, float, float, float]
    footprint: tuple[tuple[float, float], ...] = ()
    track_id: int | None = None
    evidence: tuple[EvidenceRef, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class GeoEventBatch:
    """Detections of ``F`` frames placed on the earth, column-wise: ``N`` rows, one per detection.

    Every input detection has a row; ``located`` says whether its anchor ray
    met the ground (the others are NaN: rejected, counted, never a pin).
    ``footprint`` holds closed rings ``(N, 5, 2)`` of WGS84 ``(lon, lat)``,
    counter-clockwise (RFC 7946), NaN unless ``footprint_ok`` (every box corner
    on the ground). ``frame_of`` indexes the per-frame columns ``frame_source``,
    ``frame_index`` and ``frame_time``. :meth:`events` materialises the located
    rows as :class:`GeoEvent` records, only when asked.
    """

    mission_id: str
    frame_of: np.ndarray  # (N,) int
    det_index: np.ndarray  # (N,) int, position within the frame's detections (event id)
    class_id: np.ndarray  # (N,) int
    score: np.ndarray  # (N,) float
    xyxy: np.ndarray  # (N, 4) frame pixels
    track_id: np.ndarray  # (N,) int, -1 for none
    located: np.ndarray  # (N,) bool
    lon: np.ndarray  # (N,) degrees, NaN unless located
    lat: np.ndarray
    accuracy_m: np.ndarray  # (N,) horizontal radial 1 sigma, metres
    footprint: np.ndarray  # (N, 5, 2)
    footprint_ok: np.ndarray  # (N,) bool
    frame_located: np.ndarray  # (F,) bool: the frame had a usable pose
    frame_source: tuple[str, ...]  # (F,)
    frame_index: np.ndarray  # (F,) int
    frame_time: np.ndarray  # (F,) POSIX seconds UTC
    class_keys: tuple[str, ...]  # taxonomy key by class id

    def __len__(self) -> int:
        return int(self.located.shape[0])

    def events(self) -> list[GeoEvent]:
        """The located rows as :class:`GeoEvent` records, in row order."""
        keep = np.flatnonzero(self.located)
        if keep.size == 0:
            return []
        # Plain copies converted to Python objects in bulk (tolist), no math per record.
        f_of = self.frame_of[keep]
        flat = self.footprint[keep].reshape(-1, 10).tolist()  # lon0 lat0 lon1 lat1 ... per ring
        rings = [tuple(zip(r[0::2], r[1::2], strict=True)) for r in flat]
        times = [datetime.fromtimestamp(t, tz=UTC) for t in self.frame_time.tolist()]
        sources, indices = self.frame_source, self.frame_index.tolist()
        rows = zip(
            f_of.tolist(),
            self.det_index[keep].tolist(),
            self.class_id[keep].tolist(),
            self.score[keep].tolist(),
            self.lon[keep].tolist(),
            self.lat[keep].tolist(),
            self.accuracy_m[keep].tolist(),
            self.xyxy[keep].tolist(),
            self.footprint_ok[keep].tolist(),
            rings,
            self.track_id[keep].tolist(),
            strict=True,
        )
        return [
            GeoEvent(
                event_id=event_id_for(self.mission_id, sources[f], indices[f], j),
                class_id=cid,
                class_key=self.class_keys[cid],
                score=score,
                lon=lon,
                lat=lat,
                accuracy_m=acc,
                time_utc=times[f],
                mission_id=self.mission_id,
                source_id=sources[f],
                frame_index=indices[f],
                box_xyxy=(box[0], box[1], box[2], box[3]),
                footprint=ring if has_fp else (),
                track_id=track if track >= 0 else None,
            )
            for f, j, cid, score, lon, lat, acc, box, has_fp, ring, track in rows
        ]
