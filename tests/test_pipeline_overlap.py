"""The inference loop hands geo, tracking, evidence and the store to a post stage thread.

Real parts: the quick drone mission decoded by GStreamer, the starter model on ONNX
Runtime, the GeoPackage store and the local evidence store. Checked here: evidence is
encoded only for the frames the stored events show (not for every frame with a
detection), each picture is the event's own frame, tracking-off runs still evidence
every event, and an error in the post stage ends the run with that error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fixtures_pipeline import mission_config

from capture import VideoSource
from roadsight.config import PipelineConfig
from roadsight.pipeline import Pipeline, RunSummary
from stream import GeoPackageStore, open_evidence_store
from stream.event_store import evidence_from_json


def _config(mission: Path, store: Path, **extra: Any) -> PipelineConfig:
    return mission_config(mission, store, sampling={"mode": "all"}, cases={"enabled": False}, **extra)


def _evidence_files(store: Path) -> set[str]:
    root = store.with_suffix(".evidence")
    return {p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _stored_refs(store: Path) -> list[tuple[int, Any]]:
    with GeoPackageStore(store, readonly=True) as events:
        frame = events.read()
    return [
        (int(index), ref)
        for index, text in zip(frame["frame_index"], frame["evidence"], strict=True)
        for ref in evidence_from_json(text)
    ]


def _frames(video: Path, indices: set[int]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    with VideoSource(str(video), "cam0") as source:
        for frame in source:
            if frame.index in indices:
                out[frame.index] = np.array(frame.image)
    return out


@pytest.fixture(scope="module")
def tracked_run(
    drone_quick_mission: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, RunSummary]:
    store = tmp_path_factory.mktemp("overlap") / "events.gpkg"
    summary = Pipeline(_config(drone_quick_mission, store)).run()
    return store, summary


def test_only_the_frames_events_show_are_encoded(tracked_run: tuple[Path, RunSummary]) -> None:
    store, summary = tracked_run
    refs = _stored_refs(store)
    assert summary.events > 0 and len(refs) == summary.events_stored == summary.events
    files = _evidence_files(store)
    # Every stored picture is referenced by an event, and every reference has its file.
    assert files == {Path(ref.uri).name for _, ref in refs}
    # Frames with detections far outnumber the tracks: most were never encoded.
    assert len(files) >= 1 and summary.detections > 2 * len(files), (summary.detections, len(files))
    # Per-stage times of the split loop are reported.
    assert {"preprocess", "inference", "postprocess", "geo", "tracking", "evidence"} <= set(summary.stage_ms)


def test_each_picture_is_the_events_own_frame(
    drone_quick_mission: Path, tracked_run: tuple[Path, RunSummary]
) -> None:
    store, _ = tracked_run
    refs = _stored_refs(store)
    evidence = open_evidence_store(str(store.with_suffix(".evidence")))
    frames = _frames(drone_quick_mission / "video.mp4", {i for i, _ in refs} | {i + 3 for i, _ in refs})
    for index, ref in refs:
        picture = cv2.imdecode(np.frombuffer(evidence.get(ref), np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None
        own = np.abs(picture.astype(np.int16) - frames[index]).mean()
        assert own < 3.0, (index, own)  # JPEG at quality 90
        if index + 3 in frames:  # the camera moves: another frame is visibly different
            other = np.abs(picture.astype(np.int16) - frames[index + 3]).mean()
            assert other > own + 1.0, (index, own, other)


def test_without_tracking_every_event_has_its_picture(drone_quick_mission: Path, tmp_path: Path) -> None:
    store = tmp_path / "untracked.gpkg"
    summary = Pipeline(_config(drone_quick_mission, store, tracking={"enabled": False})).run()
    refs = _stored_refs(store)
    assert 0 < summary.events <= summary.detections
    assert len(refs) == summary.events  # one picture per event, none missing
    assert _evidence_files(store) == {Path(ref.uri).name for _, ref in refs}


class _Enough(Exception):
    pass


def test_an_error_in_the_post_stage_ends_the_run_with_it(drone_quick_mission: Path, tmp_path: Path) -> None:
    """The progress hook runs on the post stage after each store write; what it raises, run() raises."""
    calls: list[int] = []

    def hook(summary: RunSummary) -> None:
        calls.append(summary.frames_processed)
        if len(calls) == 3:
            raise _Enough

    pipeline = Pipeline(_config(drone_quick_mission, tmp_path / "stopped.gpkg"), progress=hook)
    with pytest.raises(_Enough):
        pipeline.run()
    assert len(calls) == 3  # nothing ran after the error
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    assert calls[-1] < manifest["video"]["frame_count"]
