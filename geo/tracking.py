"""Ground-plane multi-object tracking: one event per physical object per pass.

The association is ByteTrack's (Zhang et al., ECCV 2022): detections with a
high score are matched to the tracks first; the tracks left over then get a
second chance with the low-score detections, which are usually the same
object seen badly (blur, partial view) rather than clutter; only unmatched
high-score detections start new tracks.

What differs from image-space ByteTrack is where the matching happens. A
camera on a drone or a car moves every object across the image between two
processed frames (by half a frame with distance-based selection), so box IoU
in the image finds nothing to match, and a Kalman filter would have to learn
the platform's motion from the boxes. But the telemetry already gives that
motion: once detections are placed on the ground, a pothole does not move, so
tracks are matched by ground distance, gated by the position accuracies and
the object sizes. This is camera-motion compensation by telemetry instead of
by image registration (as BoT-SORT does), and it is exact for static objects,
which all roadsight classes are, or nearly (parked vehicles, vendors).

Matching is class-aware by taxonomy category (a crack classified
"longitudinal" in one frame and "transverse" in the next is one object; a
crack and a pothole are not), and the track's class is the score-weighted
vote of its detections. Each finished track yields one :class:`GeoEvent`: the
score-and-accuracy weighted mean position, the voted class, and the best
observation for evidence (highest score, box well inside the frame).

Example:
    >>> tracker = GroundTracker()
    >>> finished = tracker.update(events_of_frame, time_utc=t, frame_size=(1920, 1080))  # doctest: +SKIP
    >>> finished += tracker.flush()  # end of stream  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from geo.crs import LocalFrame
from geo.errors import GeoError
from geo.types import GeoEvent
from taxonomy import Taxonomy, load_taxonomy

EDGE_MARGIN = 0.02  # a box closer than this share of the frame to its border may be cut off


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """Tuning of :class:`GroundTracker`; the defaults suit metre-accurate geo-referencing.

    ``high_score``: ByteTrack's split between the first and second association;
    only detections at or above it start tracks (Ultralytics' ByteTrack uses
    0.25 for both); detections below it, when the detector's threshold is
    lower, can only extend a track.
    ``min_gate_m`` and ``gate_sigmas``: a detection may join a track when their
    ground distance is within ``max(min_gate_m, gate_sigmas * combined
    accuracy)`` plus half the larger footprint size (a partial view of a large
    crack has its centre elsewhere). ``max_lost_s``: a track not seen for this
    long (capture time) is finished and emitted.
    ``min_hits`` and ``confirm_score``: as ByteTrack keeps a new track
    unconfirmed until a second frame sees it, a finished track seen fewer than
    ``min_hits`` times is emitted only when its best score reaches
    ``confirm_score`` (an object seen once, but clearly); otherwise it is
    dropped as clutter and counted in ``tracks_unconfirmed``.
    """

    high_score: float = 0.25
    min_gate_m: float = 1.0
    gate_sigmas: float = 3.0
    max_lost_s: float = 5.0
    min_hits: int = 2
    confirm_score: float = 0.5

    def __post_init__(self) -> None:
        for name in ("high_score", "min_gate_m", "gate_sigmas", "max_lost_s", "min_hits", "confirm_score"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise GeoError(f"tracking.{name} must be a finite number >= 0, got {value!r}")


@dataclass
class _Track:
    track_id: int
    category: int  # code of the taxonomy category
    x: float
    y: float
    weight: float
    size_m: float
    accuracy_m: float
    first_event_id: str
    last_seen_utc: float
    best: GeoEvent
    best_quality: float
    hits: int = 1
    votes: dict[str, float] = field(default_factory=dict)
    class_ids: dict[str, int] = field(default_factory=dict)
    top_score: dict[str, float] = field(default_factory=dict)


def _evidence_quality(event: GeoEvent, frame_size: tuple[int, int] | None) -> float:
    """Score, halved when the box touches the frame border (the object may be cut off)."""
    if frame_size is None:
        return event.score
    width, height = frame_size
    x1, y1, x2, y2 = event.box_xyxy
    mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height
    inside = x1 >= mx and y1 >= my and x2 <= width - mx and y2 <= height - my
    return event.score if inside else 0.5 * event.score


class GroundTracker:
    """Track static objects of one camera on the ground; emit one event per finished track.

    Feed it the events of each processed frame in capture-time order with
    :meth:`update`; it returns the events of tracks that have just finished.
    :meth:`flush` finishes the rest at the end of a stream. Counters:
    ``detections_in``, ``tracks_started``, ``tracks_emitted``, ``tracks_unconfirmed``.
    """

    def __init__(self, settings: TrackerSettings | None = None, *, taxonomy: Taxonomy | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._category = {c.key: c.category for c in (taxonomy or load_taxonomy()).classes}
        self._category_codes: dict[str, int] = {}
        self._frame: LocalFrame | None = None
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.detections_in = 0
        self.tracks_started = 0
        self.tracks_emitted = 0
        self.tracks_unconfirmed = 0
        # The last update's detections and the track each joined (rules that need every
        # sighting of a track, such as how long a vehicle stood still, read these).
        self.assignments: list[tuple[int, GeoEvent]] = []

    @property
    def active(self) -> int:
        return len(self._tracks)

    def best_frame_indices(self) -> set[int]:
        """Frames whose observation is some open track's best so far: its evidence may come from them.

        A caller that defers evidence (holding frames, encoding only what an emitted event shows)
        can release every other frame.
        """
        return {t.best.frame_index for t in self._tracks}

    def update(
        self, events: Sequence[GeoEvent], *, time_utc: float, frame_size: tuple[int, int] | None = None
    ) -> list[GeoEvent]:
        """Associate one frame's events with the tracks; return the events of finished tracks.

        ``time_utc`` is the frame's capture time: it ages the tracks (``max_lost_s``).
        """
        finished = self._finish_lost(time_utc)
        self.assignments = []
        if not events:
            return finished
        self.detections_in += len(events)
        if self._frame is None:
            self._frame = LocalFrame.centred_on(
                np.array([e.lon for e in events]), np.array([e.lat for e in events])
            )
        x, y = self._frame.to_local(np.array([e.lon for e in events]), np.array([e.lat for e in events]))
        size = self._footprint_sizes_m(events)
        category = np.array([self._category_code(e.class_key) for e in events])
        high = np.array([e.score for e in events]) >= self.settings.high_score
        unmatched = list(range(len(self._tracks)))
        # ByteTrack: confident detections first, then the weak ones against the tracks left over.
        first = self._associate(events, x, y, size, category, np.flatnonzero(high), unmatched)
        unmatched = [t for t in unmatched if t not in {ti for ti, _ in first}]
        second = self._associate(events, x, y, size, category, np.flatnonzero(~high), unmatched)
        for ti, di in first + second:
            self._absorb(self._tracks[ti], events[di], x[di], y[di], size[di], frame_size)
            self.assignments.append((self._tracks[ti].track_id, events[di]))
            self._tracks[ti].last_seen_utc = time_utc
        # Only confident detections start tracks; weak ones that match nothing are dropped.
        taken = {di for _, di in first}
        for new in np.flatnonzero(high).tolist():
            if new not in taken:
                self._start(events[new], x[new], y[new], size[new], category[new], frame_size)
                self.assignments.append((self._tracks[-1].track_id, events[new]))
                self._tracks[-1].last_seen_utc = time_utc
        return finished

    def flush(self) -> list[GeoEvent]:
        """Finish every track (end of stream) and return their events."""
        done, self._tracks = self._tracks, []
        return self._emit_confirmed(done)

    # -- internals -----------------------------------------------------------------
    def _category_code(self, class_key: str) -> int:
        category = self._category.get(class_key, class_key)
        return self._category_codes.setdefault(category, len(self._category_codes))

    def _footprint_sizes_m(self, events: Sequence[GeoEvent]) -> np.ndarray:
        """Diagonal of each footprint's local bounding box (0 where there is no footprint)."""
        assert self._frame is not None
        sizes = np.zeros(len(events))
        rings = [np.asarray(e.footprint, dtype=np.float64).reshape(-1, 2) for e in events]
        lengths = np.array([len(r) for r in rings])
        if not lengths.any():
            return sizes
        fx, fy = self._frame.to_local(*np.concatenate(rings).T)  # one PROJ call for all rings
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        has = lengths >= 3
        idx = starts[has]
        span_x = np.maximum.reduceat(fx, idx) - np.minimum.reduceat(fx, idx)
        span_y = np.maximum.reduceat(fy, idx) - np.minimum.reduceat(fy, idx)
        sizes[has] = np.hypot(span_x, span_y)
        return sizes

    def _associate(
        self,
        events: Sequence[GeoEvent],
        x: np.ndarray,
        y: np.ndarray,
        size: np.ndarray,
        category: np.ndarray,
        dets: np.ndarray,
        tracks: list[int],
    ) -> list[tuple[int, int]]:
        """Greedy nearest-first matching within the gates (one detection per track and vice versa)."""
        if not len(dets) or not tracks:
            return []
        s = self.settings
        tr = [self._tracks[i] for i in tracks]
        tx, ty = np.array([t.x for t in tr]), np.array([t.y for t in tr])
        tacc, tsize = np.array([t.accuracy_m for t in tr]), np.array([t.size_m for t in tr])
        tcat = np.array([t.category for t in tr])
        dacc = np.array([events[d].accuracy_m for d in dets])
        dist = np.hypot(tx[:, None] - x[dets][None, :], ty[:, None] - y[dets][None, :])
        sigma = np.hypot(tacc[:, None], dacc[None, :])
        half_size = 0.5 * np.maximum(tsize[:, None], size[dets][None, :])
        gate = np.maximum(s.min_gate_m, s.gate_sigmas * sigma) + half_size
        cost = np.where((tcat[:, None] == category[dets][None, :]) & (dist <= gate), dist, np.inf)
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        candidates = int(np.isfinite(cost).sum())
        for flat in np.argsort(cost, axis=None)[:candidates]:
            i, j = divmod(int(flat), cost.shape[1])
            if i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            pairs.append((tracks[i], int(dets[j])))
        return pairs

    def _start(
        self,
        event: GeoEvent,
        x: float,
        y: float,
        size: float,
        category: int,
        frame_size: tuple[int, int] | None,
    ) -> None:
        weight = event.score / max(event.accuracy_m, 0.05) ** 2
        track = _Track(
            track_id=self._next_id,
            category=int(category),
            x=float(x),
            y=float(y),
            weight=weight,
            size_m=float(size),
            accuracy_m=event.accuracy_m,
            first_event_id=event.event_id,
            last_seen_utc=event.time_utc.timestamp(),
            best=event,
            best_quality=_evidence_quality(event, frame_size),
            votes={event.class_key: event.score},
            class_ids={event.class_key: event.class_id},
            top_score={event.class_key: event.score},
        )
        self._next_id += 1
        self.tracks_started += 1
        self._tracks.append(track)

    @staticmethod
    def _absorb(
        track: _Track, event: GeoEvent, x: float, y: float, size: float, frame_size: tuple[int, int] | None
    ) -> None:
        weight = event.score / max(event.accuracy_m, 0.05) ** 2
        total = track.weight + weight
        track.x = (track.x * track.weight + float(x) * weight) / total
        track.y = (track.y * track.weight + float(y) * weight) / total
        track.weight = total
        track.size_m = max(track.size_m, float(size))
        # Errors of one pass are correlated (the same telemetry bias), so averaging does not
        # shrink them much: report the best single observation's accuracy, not 1/sqrt(n) of it.
        track.accuracy_m = min(track.accuracy_m, event.accuracy_m)
        track.hits += 1
        key = event.class_key
        track.votes[key] = track.votes.get(key, 0.0) + event.score
        track.class_ids[key] = event.class_id
        track.top_score[key] = max(track.top_score.get(key, 0.0), event.score)
        quality = _evidence_quality(event, frame_size)
        if quality > track.best_quality:
            track.best, track.best_quality = event, quality

    def _finish_lost(self, now_utc: float) -> list[GeoEvent]:
        lost = [t for t in self._tracks if now_utc - t.last_seen_utc > self.settings.max_lost_s]
        if not lost:
            return []
        self._tracks = [t for t in self._tracks if now_utc - t.last_seen_utc <= self.settings.max_lost_s]
        return self._emit_confirmed(lost)

    def _emit_confirmed(self, tracks: list[_Track]) -> list[GeoEvent]:
        s = self.settings
        confirmed = [
            t for t in tracks if t.hits >= s.min_hits or max(t.top_score.values()) >= s.confirm_score
        ]
        self.tracks_unconfirmed += len(tracks) - len(confirmed)
        return [self._emit(t) for t in confirmed]

    def _emit(self, track: _Track) -> GeoEvent:
        assert self._frame is not None
        key = max(track.votes, key=lambda k: track.votes[k])
        lon, lat = self._frame.to_lonlat(np.array([track.x]), np.array([track.y]))
        self.tracks_emitted += 1
        # The first detection's id names the track: replaying the same frames gives the same id.
        return replace(
            track.best,
            event_id=track.first_event_id,
            class_key=key,
            class_id=track.class_ids[key],
            score=track.top_score[key],
            lon=float(lon[0]),
            lat=float(lat[0]),
            accuracy_m=track.accuracy_m,
            track_id=track.track_id,
        )
