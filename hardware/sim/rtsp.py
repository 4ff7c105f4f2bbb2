"""Serve an H.264 MP4 over RTSP with gst-rtsp-server, paced in real time.

Example:
    >>> server = RtspVideoServer(Path("mission/video.mp4"), port=8554).start()  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'rtsp://127.0.0.1:8554/mission'
    >>> server.stop()  # doctest: +SKIP

The media factory is *shared*: the pipeline is built once, when the first
client asks for it, and starts from the first frame when that client plays;
later clients join the running stream. The RTSP sinks synchronise on the
clock, so the file is sent at its own frame rate. ``on_first_play`` is called
(from the server thread) when the media first starts playing; the mission
server uses it to start the telemetry replay at the same instant.

With ``loop`` the video must be an MPEG-TS file (the mission's ``video.ts``):
``multifilesrc loop=true`` re-reads it endlessly and ``tsdemux`` keeps the
timestamps running on, so clients see one seamless live stream (MP4 cannot be
looped this way: qtdemux needs the whole file's index).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

log = logging.getLogger(__name__)


class RtspServeError(ValueError):
    """The RTSP server cannot serve this file or port; the message names which."""


def launch_description(video: Path, *, loop: bool = False) -> str:
    """Media pipeline for an MP4, or a looping MPEG-TS (``pay0`` is the name gst-rtsp-server looks for)."""
    location = str(video).replace("\\", "\\\\").replace('"', '\\"')
    if loop:
        source = f'multifilesrc location="{location}" loop=true ! tsdemux'
    else:
        source = f'filesrc location="{location}" ! qtdemux'
    return f"( {source} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


class RtspVideoServer:
    """One RTSP mount serving one MP4 file; runs its own GLib main loop in a thread."""

    def __init__(
        self,
        video: Path,
        *,
        port: int = 8554,
        mount: str = "/mission",
        address: str = "0.0.0.0",
        loop: bool = False,
        on_first_play: Callable[[], None] | None = None,
    ) -> None:
        if not video.is_file():
            raise RtspServeError(f"{video}: video file not found")
        if loop and video.suffix.lower() not in (".ts", ".m2ts"):
            raise RtspServeError(f"{video}: looping needs an MPEG-TS file (video.ts)")
        self.video = video
        self.loop = loop
        self._setup(port=port, mount=mount, address=address, on_first_play=on_first_play)

    def _setup(
        self, *, port: int, mount: str, address: str, on_first_play: Callable[[], None] | None
    ) -> None:
        """The server itself, whatever it serves (subclasses with another media call this)."""
        if not mount.startswith("/"):
            raise RtspServeError(f"mount {mount!r} must start with '/'")
        if not Gst.is_initialized():
            Gst.init(None)
        self.mount = mount
        self.address = address
        self.requested_port = port
        self.on_first_play = on_first_play
        self.played = threading.Event()
        self.clients = 0
        self._context = GLib.MainContext.new()
        self._mainloop = GLib.MainLoop.new(self._context, False)
        self._server = GstRtspServer.RTSPServer.new()
        self._thread: threading.Thread | None = None
        self._source_id: int | None = None

    @property
    def port(self) -> int:
        """The bound port (differs from the requested one when that was 0)."""
        return int(self._server.get_bound_port())

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        return f"rtsp://{host}:{self.port}{self.mount}"

    def start(self) -> Self:
        """Bind the port and start serving (idempotent); raises RtspServeError if the port cannot be bound."""
        if self._thread is not None:
            return self
        server = self._server
        server.set_address(self.address)
        server.set_service(str(self.requested_port))
        factory = GstRtspServer.RTSPMediaFactory.new()
        factory.set_launch(self._launch())
        factory.set_shared(True)
        factory.connect("media-configure", self._on_media_configure)
        server.get_mount_points().add_factory(self.mount, factory)
        server.connect("client-connected", self._on_client_connected)
        try:
            self._source_id = server.attach(self._context)
        except GLib.Error as exc:
            raise RtspServeError(f"cannot serve RTSP on {self.address}:{self.requested_port}: {exc}") from exc
        if not self._source_id:
            raise RtspServeError(f"cannot serve RTSP on {self.address}:{self.requested_port}")
        self._thread = threading.Thread(target=self._run, name="rtsp-server", daemon=True)
        self._thread.start()
        log.info("RTSP %s -> %s", self.url, self._launch())
        return self

    def _launch(self) -> str:
        return launch_description(self.video, loop=self.loop)

    def _run(self) -> None:
        self._context.push_thread_default()
        try:
            self._mainloop.run()
        finally:
            self._context.pop_thread_default()

    def _on_client_connected(
        self, server: GstRtspServer.RTSPServer, client: GstRtspServer.RTSPClient
    ) -> None:
        self.clients += 1

    def _on_media_configure(
        self, factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
    ) -> None:
        media.connect("new-state", self._on_media_state)

    def _on_media_state(self, media: GstRtspServer.RTSPMedia, state: int) -> None:
        if state == Gst.State.PLAYING and not self.played.is_set():
            self.played.set()
            if self.on_first_play is not None:
                self.on_first_play()

    def stop(self) -> None:
        """Disconnect clients, close the listening socket, stop the thread (idempotent)."""
        if self._thread is None:
            return

        def shutdown() -> bool:
            self._server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
            if self._source_id is not None:
                source = self._context.find_source_by_id(self._source_id)
                if source is not None:
                    source.destroy()
                self._source_id = None
            self._mainloop.quit()
            return False

        self._context.invoke_full(GLib.PRIORITY_DEFAULT, shutdown)
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            log.warning("RTSP server thread did not stop within 10 s")
        self._thread = None
