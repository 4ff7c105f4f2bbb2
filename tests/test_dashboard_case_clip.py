"""The Case page's clip: the case's evidence frames in time order, blurred like the stills for other roles."""

from __future__ import annotations

from pathlib import Path

import gi
import pytest
from fixtures_evidence import build_site

from dashboard.case_media import case_clip
from stream import open_store
from stream.evidence import LocalEvidenceStore


def _case_events(root: Path, offsets: tuple[float, ...]):
    site = build_site(root, frame_offsets_s=offsets)
    with open_store(str(site.store_path), readonly=True) as store:
        events = store.read()
    return site, events[events["event_id"].isin(set(site.case.event_ids))]


def test_clip_of_a_case_plays_its_frames_in_time_order(tmp_path: Path) -> None:
    gi.require_version("Gst", "1.0")
    gi.require_version("GstPbutils", "1.0")
    from gi.repository import Gst, GstPbutils

    Gst.init(None)
    site, events = _case_events(tmp_path, (0.0, 15.0, 30.0))
    assert len(events) == 3
    for blur in (False, True):
        clip = case_clip(events, LocalEvidenceStore(site.evidence_root), blur=blur)
        assert clip.data is not None, clip.note
        assert clip.frames == 3 and clip.media_type == "video/mp4"
        out = tmp_path / f"clip-{blur}.mp4"
        out.write_bytes(clip.data)
        info = GstPbutils.Discoverer.new(60 * Gst.SECOND).discover_uri(out.as_uri())
        assert info.get_duration() / Gst.SECOND == pytest.approx(1.5, abs=0.05)  # 3 frames x 0.5 s
        video = info.get_video_streams()
        assert len(video) == 1 and video[0].get_caps().to_string().startswith("video/x-h264")


def test_one_frame_makes_no_clip_and_says_why(tmp_path: Path) -> None:
    site, events = _case_events(tmp_path, (0.0,))
    clip = case_clip(events, LocalEvidenceStore(site.evidence_root), blur=False)
    assert clip.data is None and clip.note is not None and "two evidence frames" in clip.note
