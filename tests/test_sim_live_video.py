"""The simulator's live RTSP stream of rendered frames, read by the pipeline's own GStreamer source."""

from __future__ import annotations

import time

import numpy as np
import pytest

from capture.video import VideoSource
from hardware.sim.live_video import LiveRtspServer
from hardware.sim.rtsp import RtspServeError


@pytest.mark.gst
def test_rendered_frames_arrive_live_and_the_stream_ends_when_render_says_so() -> None:
    shades: list[int] = []

    def render() -> np.ndarray | None:
        if len(shades) == 30:
            return None
        shades.append(20 + 6 * len(shades))
        return np.full((120, 160, 3), shades[-1], np.uint8)

    live = LiveRtspServer(render, 160, 120, fps=10).start()
    try:
        frames = [(f.time_utc, float(f.image.mean())) for f in VideoSource(live.url, "cam0", transport="tcp")]
        received_at = time.time()
    finally:
        live.stop()
    assert live.ended.is_set() and live.frames_sent == 30
    assert 20 <= len(frames) <= 30  # the first frames may go before the decoder has a key frame
    means = [m for _, m in frames]
    assert means == sorted(means) and means[-1] == pytest.approx(shades[-1], abs=3)  # in order, whole
    assert abs(frames[-1][0] - received_at) < 10  # stamped with the time they were sent, not a file's


def test_live_stream_refuses_a_bad_size() -> None:
    with pytest.raises(RtspServeError, match="positive size"):
        LiveRtspServer(lambda: None, 0, 120)
