"""Evidence frames, encoded only for the events that keep them.

A tracked object is seen in several processed frames, but its one event shows
only the frame the tracker kept as its best observation. Encoding every frame
with a detection as JPEG (about 14 ms for 1080p) would spend most of that work
on pictures no event references. So the pipeline *holds* each frame that has
detections (the zero-copy GStreamer buffer, no pixel copy), releases the frames
no open track may still pick, and encodes a frame only when an emitted event
points at it: once per frame, however many events show it.

Example:
    >>> evidence = FrameEvidence(open_evidence_store("data/evidence"), jpeg_quality=90)  # doctest: +SKIP
    >>> evidence.hold(frame)  # doctest: +SKIP
    >>> events = evidence.attach(tracker.update(placed, time_utc=frame.time_utc))  # doctest: +SKIP
    >>> evidence.keep_only({(frame.source_id, i) for i in tracker.best_frame_indices()})  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

import cv2

from capture import Frame
from geo import EvidenceRef, GeoEvent
from stream import EvidenceStore

log = logging.getLogger(__name__)

FrameKey = tuple[str, int]  # (source_id, frame index)


class FrameEvidence:
    """Frames held by (source, index) until an event needs one; JPEG-encoded on first need.

    Counters: ``frames_encoded`` (JPEGs written), ``frames_released`` (held, never needed),
    ``events_without_frame`` (emitted events whose frame was not held: they go out without
    a picture rather than not at all).
    """

    def __init__(self, store: EvidenceStore, jpeg_quality: int) -> None:
        self.store = store
        self.jpeg_quality = jpeg_quality
        self._frames: dict[FrameKey, Frame] = {}
        self._refs: dict[FrameKey, EvidenceRef | None] = {}  # encoded frames (None: encoding failed)
        self.frames_encoded = 0
        self.frames_released = 0
        self.events_without_frame = 0

    @property
    def held(self) -> int:
        """Frames held now (each keeps one decoded buffer alive)."""
        return len(self._frames)

    def hold(self, frame: Frame) -> None:
        """Keep ``frame`` until :meth:`keep_only` releases it."""
        self._frames[(frame.source_id, frame.index)] = frame

    def attach(self, events: Sequence[GeoEvent]) -> list[GeoEvent]:
        """``events`` with their frame's evidence added (those with some already are left alone)."""
        out: list[GeoEvent] = []
        for event in events:
            if event.evidence:
                out.append(event)
                continue
            ref = self._ref_for((event.source_id, event.frame_index))
            out.append(event if ref is None else replace(event, evidence=(*event.evidence, ref)))
        return out

    def keep_only(self, keys: Iterable[FrameKey]) -> None:
        """Release every held frame not in ``keys`` (the frames open tracks may still show)."""
        keep = set(keys)
        for key in [k for k in self._frames if k not in keep]:
            del self._frames[key]
            if key not in self._refs:
                self.frames_released += 1
            self._refs.pop(key, None)

    def _ref_for(self, key: FrameKey) -> EvidenceRef | None:
        if key in self._refs:
            return self._refs[key]
        frame = self._frames.get(key)
        if frame is None:
            self.events_without_frame += 1
            log.warning("frame %s/%d: not held; event without evidence", *key)
            return None
        ref = self._refs[key] = self._encode(frame)
        return ref

    def _encode(self, frame: Frame) -> EvidenceRef | None:
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:  # never lose the events for want of a picture
            log.warning(
                "frame %s/%d: JPEG encoding failed; events without evidence", frame.source_id, frame.index
            )
            return None
        self.frames_encoded += 1
        # Synced only once the events that reference it are about to be committed (make_durable).
        return self.store.put(jpeg.tobytes(), "image/jpeg", durable=False)
