"""Deterministic event ids (UUIDv5), so replays produce the same ids.

Example:
    >>> event_id_for("m1", "cam0", 12, 0) == event_id_for("m1", "cam0", 12, 0)
    True
"""

from __future__ import annotations

import uuid

# Fixed forever: changing it would change every event id ever issued.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c2a4e-8b7d-5c3e-9a10-2d4b6e8f0a17")


def event_id_for(mission_id: str, source_id: str, frame_index: int, det_index: int) -> str:
    """UUIDv5 of ``mission_id/source_id/frame_index/det_index`` in the project namespace."""
    name = f"{mission_id}/{source_id}/{int(frame_index)}/{int(det_index)}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))
