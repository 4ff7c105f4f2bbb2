"""Stream frames rendered live (from where the simulated vehicle is now) over RTSP.

Example:
    >>> server = LiveRtspServer(render_now, 640, 360, fps=5, port=0).start()  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'rtsp://127.0.0.1:41234/live'

``render()`` is called ``fps`` times a second (wall clock) once a client plays
the stream; it returns a ``height x width x 3`` BGR frame, or None to end the
stream (an end-of-stream the client sees, as at the end of a file). Frames go
through ``appsrc`` (live, timestamped on arrival) -> ``x264enc`` (zero latency)
-> RTP. The media is shared: one renderer feeds every client. A frame that
takes longer than its period to render delays the next one (the stream then
runs at a lower rate, it never queues up old views).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: E402

from hardware.sim.rtsp import RtspServeError, RtspVideoServer  # noqa: E402

log = logging.getLogger(__name__)

Render = Callable[[], np.ndarray | None]


class LiveRtspServer(RtspVideoServer):
    """One RTSP mount whose video is rendered on demand by ``render``."""

    def __init__(
        self,
        render: Render,
        width: int,
        height: int,
        *,
        fps: float = 5.0,
        port: int = 0,
        mount: str = "/live",
        address: str = "127.0.0.1",
        bitrate_kbps: int = 1500,
    ) -> None:
        if width <= 0 or height <= 0 or fps <= 0:
            raise RtspServeError(f"live stream needs a positive size and rate, got {width}x{height} @ {fps}")
        self.render = render
        self.width, self.height, self.fps = width, height, fps
        self.bitrate_kbps = bitrate_kbps
        self.frames_sent = 0
        self.ended = threading.Event()
        self._feeders: list[threading.Thread] = []
        self._stop_feeding = threading.Event()
        self._setup(port=port, mount=mount, address=address, on_first_play=None)

    def _launch(self) -> str:
        caps = f"video/x-raw,format=BGR,width={self.width},height={self.height},framerate={round(self.fps)}/1"
        key_interval = max(1, round(self.fps))
        return (
            f"( appsrc name=src is-live=true format=time do-timestamp=true caps={caps}"
            " ! videoconvert ! video/x-raw,format=I420"  # x264's baseline profile takes 4:2:0 only
            f" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_interval}"
            f" bitrate={self.bitrate_kbps} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )

    def _on_media_configure(
        self, factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
    ) -> None:
        super()._on_media_configure(factory, media)
        appsrc = media.get_element().get_by_name("src")
        feeder = threading.Thread(target=self._feed, args=(appsrc,), name="live-render", daemon=True)
        self._feeders.append(feeder)
        feeder.start()

    def _feed(self, appsrc: Gst.Element) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        try:
            while not self._stop_feeding.is_set():
                frame = self.render()
                if frame is None:
                    appsrc.emit("end-of-stream")
                    self.ended.set()
                    return
                if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
                    raise RtspServeError(
                        f"render() gave a {frame.shape} {frame.dtype} frame; expected "
                        f"({self.height}, {self.width}, 3) uint8"
                    )
                buffer = Gst.Buffer.new_wrapped(np.ascontiguousarray(frame).tobytes())
                if appsrc.emit("push-buffer", buffer) != Gst.FlowReturn.OK:
                    return  # the media was torn down (client gone, server stopping)
                self.frames_sent += 1
                next_at = max(next_at + period, time.monotonic())
                self._stop_feeding.wait(max(0.0, next_at - time.monotonic()))
        except Exception:
            log.exception("live render stopped")

    def stop(self) -> None:
        self._stop_feeding.set()
        for feeder in self._feeders:
            feeder.join(timeout=5)
        self._feeders = []
        super().stop()
