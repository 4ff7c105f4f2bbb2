"""Everything stored about one case: its events from the event store and its frames from the evidence store.

Frames are read by content (SHA-256) and checked against it; each frame knows
the events that saw it and its capture time (the earliest of those events).
Events or frames that cannot be found are listed (``events_missing``,
``evidence_missing``), never left out silently. Used by the evidence packet and
the case report.

Example:
    >>> found = gather_case_evidence(case, events_store="data/roadsight.gpkg",
    ...                              evidence_root="data/roadsight.evidence")  # doctest: +SKIP
    >>> [f.path for f in found.frames]  # doctest: +SKIP
    ['frames/3f2a....jpg', 'frames/9b1c....jpg']
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from geo.cases import Case, load_cases
from geo.types import EvidenceRef
from stream.event_store import evidence_from_json, open_store
from stream.evidence import EvidenceError, EvidenceStore, LocalEvidenceStore, evidence_name, sha256_hex


class CaseNotFound(LookupError):
    """No case with that id in the case book (the message names the file and the id)."""


@dataclass
class CaseFrame:
    """One original frame of a case: the stored bytes, where it goes in a packet, what saw it."""

    ref: EvidenceRef
    data: bytes
    path: str
    width: int | None
    height: int | None
    event_ids: list[str] = field(default_factory=list)
    time_utc: datetime | None = None

    @property
    def is_image(self) -> bool:
        return self.ref.media_type.startswith("image/")


@dataclass(frozen=True)
class CaseEvidence:
    """The events of a case and its frames in capture order (untimed frames last)."""

    events: pd.DataFrame
    frames: list[CaseFrame]
    events_missing: list[str]
    evidence_missing: list[dict[str, str]]

    def events_of(self, frame: CaseFrame) -> pd.DataFrame:
        return self.events[self.events["event_id"].isin(frame.event_ids)].sort_values("event_id")


def image_size(data: bytes) -> tuple[int | None, int | None]:
    # PIL reads the header only; the bytes in a packet are the stored ones, never re-encoded.
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except (UnidentifiedImageError, OSError):
        return None, None


def read_evidence(store: EvidenceStore, ref: EvidenceRef) -> bytes:
    """The stored bytes of ``ref``, checked against its SHA-256."""
    if isinstance(store, LocalEvidenceStore):
        # By content, not by the URI's path: the store may have moved since capture.
        path = store.path_of(ref.sha256, ref.media_type)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EvidenceError(f"evidence {ref.sha256}: not in {store.root} ({exc.strerror})") from None
        if sha256_hex(data) != ref.sha256:
            raise EvidenceError(f"evidence {path}: bytes do not match SHA-256 {ref.sha256}")
        return data
    return store.get(ref)


def find_case(case_or_id: Case | str, cases_path: str | Path) -> Case:
    if isinstance(case_or_id, Case):
        return case_or_id
    book = load_cases(cases_path)
    found = next((c for c in book.cases if c.case_id == case_or_id), None)
    if found is None:
        raise CaseNotFound(f"{cases_path}: no case {case_or_id!r}")
    return found


def gather_case_evidence(
    case: Case, *, events_store: str | Path, evidence_root: str | Path | EvidenceStore
) -> CaseEvidence:
    """The case's events (from ``events_store``) and frames (from ``evidence_root``)."""
    store = LocalEvidenceStore(evidence_root) if isinstance(evidence_root, str | Path) else evidence_root
    with open_store(events_store, readonly=True) as events_db:
        all_events = events_db.read()
    wanted = set(case.event_ids)
    events = all_events[all_events["event_id"].isin(wanted)]
    events_missing = sorted(wanted - set(events["event_id"]))

    frames: dict[str, CaseFrame] = {}
    evidence_missing: list[dict[str, str]] = []

    def add(ref: EvidenceRef, event_id: str | None, time_utc: datetime | None) -> None:
        if ref.sha256 not in frames:
            try:
                data = read_evidence(store, ref)
            except EvidenceError as exc:
                if all(m["sha256"] != ref.sha256 for m in evidence_missing):
                    evidence_missing.append({"sha256": ref.sha256, "uri": ref.uri, "reason": str(exc)})
                return
            path = "frames/" + evidence_name(ref.sha256, ref.media_type).rsplit("/", 1)[-1]
            frames[ref.sha256] = CaseFrame(ref, data, path, *image_size(data))
        frame = frames[ref.sha256]
        if event_id is not None and event_id not in frame.event_ids:
            frame.event_ids.append(event_id)
        if time_utc is not None and (frame.time_utc is None or time_utc < frame.time_utc):
            frame.time_utc = time_utc

    for row in events.itertuples(index=False):
        for ref in evidence_from_json(row.evidence):
            add(ref, str(row.event_id), pd.Timestamp(row.time_utc).to_pydatetime())
    for ref in case.evidence:
        add(ref, None, None)
    last = datetime.max.replace(tzinfo=UTC)
    ordered = sorted(frames.values(), key=lambda f: (f.time_utc or last, f.path))
    return CaseEvidence(events, ordered, events_missing, evidence_missing)
