"""A small site for the evidence, review and roles tests: a case book, an event store, JPEG frames, a key."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
from fixtures_geo import make_event, write_store
from PIL import Image

from dashboard.evidence_packet import SiteKeyPaths, generate_site_key
from geo.cases import Case, CaseBook, save_cases
from geo.types import GeoEvent
from stream.evidence import LocalEvidenceStore


@dataclass(frozen=True)
class Site:
    cases_path: Path
    store_path: Path
    evidence_root: Path
    keys: SiteKeyPaths
    case: Case
    events: list[GeoEvent]
    frames: list[bytes]


def jpeg(width: int, height: int, seed: int) -> bytes:
    """A real JPEG of a deterministic gradient (different per ``seed``)."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    img = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                    np.full((height, width), (seed * 37) % 256, np.float32)], axis=-1)  # fmt: skip
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def build_site(
    root: Path,
    *,
    class_key: str = "illegal_parking_vehicle",
    class_id: int = 18,
    frame_offsets_s: tuple[float, ...] = (0.0, 15.0),
    size: tuple[int, int] = (1280, 720),
) -> Site:
    """One case of ``class_key`` seen in one frame per offset (seconds), each frame in the evidence store."""
    store = LocalEvidenceStore(root / "evidence")
    events, frames = [], []
    for i, dt in enumerate(frame_offsets_s):
        data = jpeg(*size, seed=i)
        ref = store.put(data, "image/jpeg")
        base = make_event(i, class_key=class_key, class_id=class_id)
        events.append(replace(base, time_utc=base.time_utc + timedelta(seconds=dt), evidence=(ref,)))
        frames.append(data)
    book = CaseBook()
    book.ingest(events)
    assert len(book) == 1, "the site's events must make one case"
    cases_path = save_cases(book.to_geodataframe(), root / "roadsight.cases.gpkg")
    store_path = write_store(root / "roadsight.gpkg", events)
    keys = generate_site_key(root / "keys" / "site_key.pem")
    return Site(cases_path, store_path, root / "evidence", keys, book.cases[0], events, frames)
