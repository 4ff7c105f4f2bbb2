"""The images of a case page: its best frame with the box drawn, and the crop around the box.

The best frame is the highest-scoring event of the case that has evidence in the
store. For a role that may not see originals (all but enforcement and admin) the
frame is blurred first (faces and plates, :mod:`dashboard.privacy`, imported
only when present); if it cannot be blurred the image is withheld, never shown
unblurred.

Example:
    >>> media = case_media(events_of_case, evidence_store, blur=True)  # doctest: +SKIP
    >>> media.frame_png[:4], media.crop_png[:4]  # doctest: +SKIP
    (b'\\x89PNG', b'\\x89PNG')
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from geo.types import EvidenceRef
from stream.evidence import EvidenceError, EvidenceStore

BOX_COLOR = (255, 40, 40)
CROP_MARGIN = 0.6  # of the box size, on each side
MIN_CROP_PX = 96


@dataclass(frozen=True)
class CaseMedia:
    """PNG bytes of the annotated frame and of the crop (None with ``note`` saying why)."""

    frame_png: bytes | None
    crop_png: bytes | None
    event_id: str | None
    note: str | None = None
    blurred: bool = False


def _blurrer() -> Callable[[bytes], bytes] | None:
    """``dashboard.privacy.blur_sensitive`` when that module exists (another part of the project)."""
    if importlib.util.find_spec("dashboard.privacy") is None:
        return None
    module = importlib.import_module("dashboard.privacy")
    blur = getattr(module, "blur_sensitive", None)
    return blur if callable(blur) else None


def _refs(evidence_json: object) -> list[EvidenceRef]:
    if not isinstance(evidence_json, str) or not evidence_json:
        return []
    return [EvidenceRef(**e) for e in json.loads(evidence_json)]


def annotate(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[bytes, bytes]:
    """PNGs of ``image`` with ``box`` (x1, y1, x2, y2 pixels) drawn, and of the crop around it."""
    x1, y1, x2, y2 = box
    frame = image.convert("RGB")
    w, h = frame.size
    mx = max((x2 - x1) * CROP_MARGIN, MIN_CROP_PX / 2)
    my = max((y2 - y1) * CROP_MARGIN, MIN_CROP_PX / 2)
    crop_box = (int(max(0, x1 - mx)), int(max(0, y1 - my)), int(min(w, x2 + mx)), int(min(h, y2 + my)))
    drawn = frame.copy()
    ImageDraw.Draw(drawn).rectangle([x1, y1, x2, y2], outline=BOX_COLOR, width=max(2, w // 400))
    crop = drawn.crop(crop_box)
    out = []
    for img in (drawn, crop):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out[0], out[1]


def case_media(events: pd.DataFrame, store: EvidenceStore, *, blur: bool) -> CaseMedia:
    """The best frame of the case's ``events`` (rows of the event store) from ``store``."""
    if events.empty:
        return CaseMedia(None, None, None, "No events of this case in the event store.")
    ordered = events.sort_values("score", ascending=False)
    problems = []
    for row in ordered.itertuples(index=False):
        refs = [r for r in _refs(getattr(row, "evidence", None)) if r.media_type.startswith("image/")]
        for ref in refs:
            try:
                data = store.get(ref)
            except EvidenceError as exc:
                problems.append(str(exc))
                continue
            blurred = False
            if blur:
                blurrer = _blurrer()
                if blurrer is None:
                    return CaseMedia(
                        None, None, row.event_id, "Image withheld: no blurring module for this role."
                    )
                try:
                    data = blurrer(data)
                except Exception as exc:  # fail closed: an unblurred frame must not leak
                    return CaseMedia(
                        None, None, row.event_id, f"Image withheld: it could not be blurred ({exc})."
                    )
                blurred = True
            frame_png, crop_png = annotate(Image.open(io.BytesIO(data)), _box(row))
            return CaseMedia(frame_png, crop_png, row.event_id, None, blurred)
    why = f" ({len(problems)} unreadable: {problems[0]})" if problems else ""
    return CaseMedia(None, None, None, f"No evidence frame of this case in the evidence store{why}.")


@dataclass(frozen=True)
class CaseClip:
    """The case's evidence frames in time order as a short clip (``data`` None with ``note``)."""

    data: bytes | None
    media_type: str | None
    frames: int
    note: str | None = None


def case_clip(events: pd.DataFrame, store: EvidenceStore, *, blur: bool, max_frames: int = 24) -> CaseClip:
    """A clip of the case's evidence frames (each with its box, oldest first, at most
    ``max_frames`` evenly spread), blurred like the stills for roles that may not see originals."""
    from dashboard.evidence_media import EvidenceMediaError, encode_clip

    rows = events.sort_values("time_utc") if not events.empty else events
    frames: list[bytes] = []
    seen: set[str] = set()
    for row in rows.itertuples(index=False):
        for ref in _refs(getattr(row, "evidence", None)):
            if not ref.media_type.startswith("image/") or ref.sha256 in seen:
                continue
            seen.add(ref.sha256)
            try:
                data = store.get(ref)
            except EvidenceError:
                continue  # the stills above say which frames are unreadable
            if blur:
                blurrer = _blurrer()
                if blurrer is None:
                    return CaseClip(None, None, 0, "Clip withheld: no blurring module for this role.")
                try:
                    data = blurrer(data)
                except Exception as exc:  # fail closed, as for the stills
                    return CaseClip(None, None, 0, f"Clip withheld: a frame could not be blurred ({exc}).")
            frames.append(annotate(Image.open(io.BytesIO(data)), _box(row))[0])
    if len(frames) < 2:
        return CaseClip(None, None, len(frames), "A clip needs two evidence frames or more; this case has "
                        f"{len(frames)}.")  # fmt: skip
    if len(frames) > max_frames:
        frames = [frames[round(i)] for i in np.linspace(0, len(frames) - 1, max_frames)]
    try:
        clip = encode_clip(frames, seconds_per_frame=0.5)
    except EvidenceMediaError as exc:
        return CaseClip(None, None, len(frames), f"No clip: {exc}")
    return CaseClip(clip.data, clip.media_type, clip.frames)


def _box(row: object) -> tuple[float, float, float, float]:
    """The detection box of an event-store row (columns box_x1, box_y1, box_x2, box_y2)."""
    x1, y1, x2, y2 = (float(getattr(row, n)) for n in ("box_x1", "box_y1", "box_x2", "box_y2"))
    return x1, y1, x2, y2
