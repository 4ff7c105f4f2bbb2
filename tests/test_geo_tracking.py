"""Ground-plane tracking: one event per physical object, ByteTrack association on the ground."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, make_event, offset_lonlat

from geo import GeoError, GeoEvent, GroundTracker, TrackerSettings

FRAME = (1000, 800)


def seen(i: int, east_m: float, north_m: float, *, key: str = "pothole", cid: int = 4, score: float = 0.8,
         box: tuple[float, float, float, float] = (400.0, 300.0, 500.0, 400.0)) -> GeoEvent:  # fmt: skip
    lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, east_m, north_m)
    return replace(make_event(i, class_key=key, class_id=cid, lon=lon, lat=lat), score=score, box_xyxy=box)


def run(tracker: GroundTracker, frames: list[list[GeoEvent]], dt: float = 0.5) -> list[GeoEvent]:
    out: list[GeoEvent] = []
    for k, events in enumerate(frames):
        out += tracker.update(events, time_utc=1e9 + k * dt, frame_size=FRAME)
    return out + tracker.flush()


def distance_m(a: GeoEvent, east_m: float, north_m: float) -> float:
    lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, east_m, north_m)
    return float(GEOD.inv(a.lon, a.lat, lon, lat)[2])


def test_one_object_seen_in_several_frames_is_one_event_at_its_mean_position() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.2, (4, 2))
    frames = [[seen(k, 10 + noise[k, 0], 5 + noise[k, 1])] for k in range(4)]
    (event,) = run(GroundTracker(), frames)
    # Equal weights: the emitted position is the mean of the observations.
    assert distance_m(event, 10 + noise[:, 0].mean(), 5 + noise[:, 1].mean()) < 0.01
    assert event.event_id == frames[0][0].event_id  # named by its first detection: replays agree
    assert event.track_id == 1


def test_neighbours_of_different_categories_and_far_apart_objects_stay_apart() -> None:
    frames = [
        [seen(3 * k, 0, 0), seen(3 * k + 1, 0.3, 0, key="road_debris", cid=16), seen(3 * k + 2, 20, 0)]
        for k in range(3)
    ]
    tracker = GroundTracker()
    events = run(tracker, frames)
    assert sorted(e.class_key for e in events) == ["pothole", "pothole", "road_debris"]
    assert tracker.tracks_started == 3 and tracker.detections_in == 9


def test_class_vote_within_a_category() -> None:
    """A crack called longitudinal twice and transverse once is one longitudinal crack."""
    frames = [
        [seen(0, 0, 0, key="longitudinal_crack", cid=0, score=0.7)],
        [seen(1, 0.2, 0, key="transverse_crack", cid=1, score=0.6)],
        [seen(2, 0.1, 0.1, key="longitudinal_crack", cid=0, score=0.5)],
    ]
    (event,) = run(GroundTracker(), frames)
    assert (event.class_key, event.class_id, event.score) == ("longitudinal_crack", 0, 0.7)


def test_best_evidence_is_the_highest_score_with_the_box_inside_the_frame() -> None:
    edge = (0.0, 300.0, 90.0, 400.0)  # touches the left border: may be cut off
    frames = [
        [seen(0, 0, 0, score=0.9, box=edge)],
        [seen(1, 0, 0, score=0.7)],
        [seen(2, 0, 0, score=0.6)],
    ]
    (event,) = run(GroundTracker(), frames)
    assert event.frame_index == 1  # 0.7 inside beats 0.9 at the edge (worth 0.45)
    assert event.score == 0.9  # the track's score is still its best detection's


def test_unconfirmed_clutter_is_dropped_and_counted_but_a_clear_single_view_is_kept() -> None:
    tracker = GroundTracker(TrackerSettings(min_hits=2, confirm_score=0.5))
    events = run(tracker, [[seen(0, 0, 0, score=0.3), seen(1, 30, 0, score=0.9)]])
    assert [round(e.score, 2) for e in events] == [0.9]
    assert tracker.tracks_unconfirmed == 1 and tracker.tracks_emitted == 1


def test_low_score_detections_extend_tracks_but_do_not_start_them() -> None:
    tracker = GroundTracker(TrackerSettings(high_score=0.5, min_hits=1))
    frames = [[seen(0, 0, 0, score=0.8)], [seen(1, 0.1, 0, score=0.3), seen(2, 40, 0, score=0.3)]]
    (event,) = run(tracker, frames)
    assert tracker.tracks_started == 1 and tracker.detections_in == 3
    assert distance_m(event, 0, 0) < 0.1


def test_a_track_lost_for_longer_than_max_lost_s_is_emitted_before_the_end() -> None:
    tracker = GroundTracker(TrackerSettings(max_lost_s=2.0, min_hits=1))
    assert tracker.update([seen(0, 0, 0)], time_utc=100.0, frame_size=FRAME) == []
    assert tracker.update([], time_utc=101.5, frame_size=FRAME) == []
    (event,) = tracker.update([seen(1, 50, 0)], time_utc=102.5, frame_size=FRAME)
    assert event.frame_index == 0 and tracker.active == 1
    # The same place seen again after the track ended is a new track (a second pass).
    assert len(tracker.flush()) == 1


def test_gate_follows_the_accuracy() -> None:
    """1.8 m apart: one object for metre-accurate positions, two for 10 cm-accurate ones."""

    def frames(acc: float) -> list[list[GeoEvent]]:
        return [[replace(seen(0, 0, 0, box=(0, 0, 0, 0)), accuracy_m=acc, footprint=())],
                [replace(seen(1, 1.8, 0), accuracy_m=acc, footprint=())]]  # fmt: skip

    settings = TrackerSettings(min_hits=1)
    assert len(run(GroundTracker(settings), frames(1.0))) == 1
    assert len(run(GroundTracker(settings), frames(0.1))) == 2


@pytest.mark.parametrize("name", ["high_score", "min_gate_m", "max_lost_s"])
def test_bad_settings_name_the_key(name: str) -> None:
    with pytest.raises(GeoError, match=f"tracking.{name}"):
        TrackerSettings(**{name: -1.0})  # type: ignore[arg-type]


def test_assignments_say_which_track_each_detection_joined() -> None:
    tracker = GroundTracker(TrackerSettings(min_hits=1))
    a, b = seen(0, 0, 0), seen(1, 30, 0)
    tracker.update([a, b], time_utc=1.0, frame_size=FRAME)
    first = {e.event_id: t for t, e in tracker.assignments}
    c = seen(2, 0.2, 0)
    tracker.update([c], time_utc=2.0, frame_size=FRAME)
    assert tracker.assignments == [(first[a.event_id], c)]
    assert first[a.event_id] != first[b.event_id]
