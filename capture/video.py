"""Decoded video frames from a file or a live stream, via GStreamer and appsink.

Example:
    >>> with VideoSource("mission/video.mp4", "drone-1", start_time_utc=1.7e9) as video:  # doctest: +SKIP
    ...     for frame in video:
    ...         print(frame.index, frame.time_utc, frame.image.shape)

Sources: see :mod:`capture.video_pipeline` (files, RTSP, RTP/UDP, MPEG-TS/UDP,
RTMP, SRT, V4L2). Decoder: see :mod:`capture.decoders`.

Time of a frame (``Frame.time_utc``):

* files: ``start_time_utc`` if given, else the container's ``datetime`` tag
  (MP4 ``mvhd`` creation time, Matroska ``DateUTC``), plus the frame's PTS
  relative to the first frame's PTS. Note that many muxers write the *muxing*
  time as creation time, so pass ``start_time_utc`` when it is known. Without
  either, the first frame raises :class:`CaptureError` rather than invent a
  time that would mislocate every detection.
* live: the sender's clock when ``rtspsrc`` has synchronised via RTCP sender
  reports (``GstReferenceTimestampMeta`` ``timestamp/x-ntp`` on the buffer);
  otherwise the arrival time: the jitter buffer stamps packets with their
  (skew-corrected) arrival running time, which is mapped to UTC through the
  pipeline clock at the moment the sample is pulled.
* always strictly increasing per source, across reconnects too: a time that is
  not later than the previous frame's (a sender clock stepping back, a
  reconnect) is moved to just after it, logged and counted in ``times_adjusted``.

Resilience of live sources: a stream that posts an error, ends because the
connection broke, or delivers no frame for ``stall_timeout_s`` is torn down and
reconnected with exponential backoff (``backoff_initial_s`` doubling up to
``backoff_max_s``), forever or until ``max_reconnect_s`` without a frame;
iteration goes on transparently, ``Frame.index`` and ``Frame.pts_ns`` continue.
Before the first frame the source retries for at most ``timeout_s`` and then
raises :class:`CaptureError` (a wrong URL fails instead of hanging). A stream
the sender *ends* ends the iteration, unless ``reconnect_on_eos``: an RTCP BYE
came (RTSP; the server may close the connection right after it), or the end of
stream came without a preceding error. A dead server (no BYE, "Could not read
from resource" before the end of stream) is a broken stream. :meth:`VideoSource.stop` (any thread) ends an
iteration within about 0.2 s, also while it waits in a backoff.

Bad data in files: frames the decoder cannot decode are counted in
``frames_bad`` (the decoder's ``max-errors`` is lifted so it keeps going); a
file that cannot be read at all (not a video; an MP4 cut off before its
``moov`` index was written, checked up front by :mod:`capture.isobmff`) raises
:class:`CaptureError`; an error after some frames (a truncated file)
ends the iteration cleanly, logged, counted as one bad frame and recorded in
``end_reason``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import gi

from capture.decoders import DecoderSteering, choose_decoder, is_video_decoder
from capture.errors import CaptureError
from capture.gst_buffer import VideoLayout, buffer_to_array
from capture.gst_registry import bin_elements, require_elements
from capture.isobmff import missing_index_reason
from capture.types import Frame
from capture.video_pipeline import (
    DECODEBIN_NAME,
    SINK_NAME,
    VideoUri,
    describe_pipeline,
    parse_video_uri,
    source_elements,
)

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst, GstApp  # noqa: E402

log = logging.getLogger(__name__)

if not Gst.is_initialized():
    Gst.init(None)

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01
_NTP_CAPS = Gst.Caps.from_string("timestamp/x-ntp")
_POLL_NS = 100 * Gst.MSECOND
_EOS_SETTLE_S = 1.0  # how long to wait for the bus to explain an end of stream
_TIME_STEP_S = 1e-6  # an adjusted time lies this much after the previous frame's


class _StreamLost(Exception):
    """The live stream broke; the message says how (internal: triggers a reconnect)."""


def _datetime_tag_utc(tags: Gst.TagList) -> float | None:
    """POSIX seconds of a tag list's ``datetime`` (timezone-aware in GStreamer), if any."""
    ok, value = tags.get_date_time(Gst.TAG_DATE_TIME)
    if not ok or value is None or not value.has_time():
        return None
    gdt = value.to_g_date_time()
    if gdt is None:
        return None
    return float(gdt.to_unix()) + gdt.get_microsecond() / 1e6


class VideoSource:
    """Iterate decoded BGR frames of a video file or live stream.

    Args:
        uri: file path, ``file://`` URI, or a live URL of :mod:`capture.video_pipeline`.
        source_id: copied into every :class:`Frame`, named in errors and logs.
        start_time_utc: UTC of the first frame (files); overrides container tags.
        decoder: ``None``/``"auto"`` probes (:func:`capture.decoders.choose_decoder`),
            else a decoder element name that must be installed.
        latency_ms: jitter-buffer latency (RTSP, RTP, SRT).
        transport: RTSP ``"tcp"`` / ``"udp"``, overrides the URI hint.
        timeout_s: how long to wait for the first frame (retrying a live source
            meanwhile) before :class:`CaptureError`; also how long a reconnection
            may take to deliver its first frame (a keyframe may be seconds away).
        zero_copy: hand out views on GStreamer memory (see :mod:`capture.gst_buffer`).
        sender_clock: trust the sender's RTCP clock once known. Turn it off for
            cameras whose clock is not synchronised (NTP/GNSS); arrival time is
            then used throughout.
        stall_timeout_s: live: no frame for this long means the stream is lost.
        reconnect: reconnect a lost live stream (default: yes for live sources;
            files never reconnect).
        max_reconnect_s: give up (:class:`CaptureError`) after this long without
            a frame; ``None`` retries forever.
        reconnect_on_eos: also reconnect when the sender ends the stream cleanly.
        output_size: ``(width, height)`` to scale to in GStreamer, or ``None``.
        backoff_initial_s, backoff_max_s: reconnect delays (doubling, capped).

    Counters: ``frames_out`` (yielded), ``frames_bad`` (could not be decoded or
    converted: decoder warnings and unusable samples), ``frames_dropped`` (live
    only: decoded frames the appsink dropped, oldest first, because the consumer
    fell behind: the latest-frame policy; counted exactly by a pad probe),
    ``frames_lost`` (live only: frames missing from the PTS sequence beyond
    those, estimated from the frame rate: lost in the network or the sender),
    ``frames_sender_timed`` (timed by the sender's RTCP clock rather than
    arrival), ``reconnects`` (live streams torn down and reopened),
    ``times_adjusted`` (times moved to keep ``time_utc`` increasing),
    ``outage_s`` (seconds between losing a stream and its next frame).
    """

    def __init__(
        self,
        uri: str,
        source_id: str,
        *,
        start_time_utc: float | None = None,
        decoder: str | None = None,
        latency_ms: int = 100,
        transport: str | None = None,
        timeout_s: float = 20.0,
        zero_copy: bool = True,
        sender_clock: bool = True,
        stall_timeout_s: float = 3.0,
        reconnect: bool | None = None,
        max_reconnect_s: float | None = None,
        reconnect_on_eos: bool = False,
        output_size: tuple[int, int] | None = None,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.uri = uri
        self.source_id = source_id
        self.start_time_utc = start_time_utc
        self.timeout_s = timeout_s
        self.zero_copy = zero_copy
        self.sender_clock = sender_clock
        self.stall_timeout_s = stall_timeout_s
        self.max_reconnect_s = max_reconnect_s
        self.reconnect_on_eos = reconnect_on_eos
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.frames_out = 0
        self.frames_bad = 0
        self.frames_dropped = 0
        self.frames_lost = 0
        self.frames_sender_timed = 0
        self.reconnects = 0
        self.times_adjusted = 0
        self.outage_s = 0.0
        self.end_reason: str | None = None  # why a file ended early, if it did
        self.decoder_in_use: str | None = None  # the video decoder element of the running pipeline
        self._source: VideoUri = parse_video_uri(uri, transport)
        self.reconnect = self._source.is_live if reconnect is None else reconnect and self._source.is_live
        context = f"{uri} (source {source_id})"
        require_elements(source_elements(self._source), context)
        if self._source.kind == "file":
            reason = missing_index_reason(Path(self._source.location))
            if reason is not None:
                raise CaptureError(f"{context}: unreadable MP4: {reason}")
        self._steering: DecoderSteering | None = None
        if self._source.kind == "rtp":
            assert self._source.codec is not None
            try:
                decoder = choose_decoder(self._source.codec, decoder).element
            except CaptureError as exc:
                raise CaptureError(f"{context}: {exc}") from None
        elif decoder and decoder != "auto":
            require_elements([decoder, "parsebin"], context)
        else:
            decoder = None
            self._steering = DecoderSteering(None, context)
        if output_size is not None:
            require_elements(["videoscale"], context)
        self.pipeline_description = describe_pipeline(
            self._source, latency_ms=latency_ms, decoder=decoder, timeout_s=timeout_s, output_size=output_size
        )
        self._stop_requested = threading.Event()
        self._lock = threading.RLock()  # guards _pipeline/_sink against close() from another thread
        self._iterating: threading.Thread | None = None
        self._pipeline: Gst.Pipeline | None = None
        self._sink: GstApp.AppSink | None = None
        self._tag_time_utc: float | None = None
        self._first_pts: int | None = None
        self._last_pts: int | None = None
        # Live: PTS of the decoded frames that reached the appsink and are not yet pulled. A frame
        # that leaves this list without being pulled was dropped by the latest-frame policy: an
        # exact count, where PTS gaps (network loss) are only an estimate.
        self._arrived_pts: deque[int] = deque()
        self._pts_offset = 0
        self._rebase_pts = False
        self._last_pts_out: int | None = None
        self._last_time_utc: float | None = None
        self._frame_ns: int | None = None
        self._layout: VideoLayout | None = None
        self._layout_caps: Gst.Caps | None = None
        self._session_frames = 0
        self._file_failed = False  # a file's pipeline failed after some frames: end there
        self._source_trouble: str | None = None  # a warning/error of the session, explains an EOS
        self._sender_bye = False  # the RTP sender said goodbye (RTCP BYE): its EOS is an end
        self._undecodable_pending = 0  # decoder warnings since the last frame (counted once)

    @property
    def is_live(self) -> bool:
        return self._source.is_live

    @property
    def _context(self) -> str:
        return f"{self.uri} (source {self.source_id})"

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> VideoSource:
        """Build and start the pipeline; raises :class:`CaptureError` if it cannot be built or started.

        Whether the stream delivers is found out while iterating (errors, stalls).
        """
        with self._lock:
            if self._pipeline is not None:
                return self
            log.info("video %s (%s): %s", self.source_id, self.uri, self.pipeline_description)
            try:
                pipeline = Gst.parse_launch(self.pipeline_description)
            except GLib.Error as exc:
                raise CaptureError(f"{self._context}: cannot build pipeline: {exc.message}") from None
            assert isinstance(pipeline, Gst.Pipeline)
            pipeline.connect("deep-element-added", self._on_element_added)
            for element in bin_elements(pipeline):  # those named in the description
                self._on_element_added(pipeline, pipeline, element)
            source = pipeline.get_by_name("src")
            if source is not None and source.find_property("add-reference-timestamp-meta") is not None:
                source.connect("new-manager", self._on_new_rtp_manager)  # rtspsrc: watch for RTCP BYE
            decodebin = pipeline.get_by_name(DECODEBIN_NAME)
            if decodebin is not None and self._steering is not None:
                decodebin.connect("autoplug-select", self._steering.on_autoplug_select)
            self._pipeline = pipeline
            self._sink = pipeline.get_by_name(SINK_NAME)
            if self.is_live and self._sink is not None:
                pad = self._sink.get_static_pad("sink")
                if pad is not None:
                    pad.add_probe(Gst.PadProbeType.BUFFER, self._on_sink_buffer)
            self._session_frames = 0
            self._source_trouble = None
            self._sender_bye = False
            if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                message = self._pending_error() or "cannot start"
                self._teardown()
                raise CaptureError(f"{self._context}: {message}")
        return self

    def close(self) -> None:
        """Stop the pipeline and release its resources (idempotent).

        Called from another thread while a loop iterates this source, it stops
        that iteration (:meth:`stop`) and lets it release the pipeline.
        """
        iterating = self._iterating
        if iterating is not None:
            self.stop()  # an iteration in progress ends (also when closed from its own loop body)
        if iterating is not None and iterating is not threading.current_thread() and iterating.is_alive():
            iterating.join(timeout=2.0)
            if iterating.is_alive():
                log.warning("video %s: the iterating thread did not stop within 2 s", self.source_id)
                return
        self._teardown()

    def stop(self) -> None:
        """Ask an iteration (in any thread) to end cleanly; returns at once, thread-safe.

        Final: a later iteration of this source ends at once.
        """
        self._stop_requested.set()

    def _teardown(self) -> None:
        with self._lock:
            pipeline, self._pipeline, self._sink = self._pipeline, None, None
        if pipeline is not None:
            pipeline.set_state(Gst.State.NULL)

    def __enter__(self) -> VideoSource:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _on_new_rtp_manager(self, _source: Gst.Element, manager: Gst.Element) -> None:
        manager.connect("on-bye-ssrc", self._on_sender_bye)

    def _on_sender_bye(self, _manager: Gst.Element, _session: int, ssrc: int) -> None:
        log.info("video %s: the sender ended the stream (RTCP BYE from SSRC %08x)", self.source_id, ssrc)
        self._sender_bye = True

    def _on_element_added(self, _bin: Gst.Bin, _sub_bin: Gst.Bin, element: Gst.Element) -> None:
        factory = element.get_factory()
        if factory is None or not is_video_decoder(factory):
            return
        if element.find_property("max-errors") is not None:
            element.set_property("max-errors", -1)  # count bad frames and go on, never abort
        if factory.get_name() != self.decoder_in_use:
            self.decoder_in_use = factory.get_name()
            log.info("video %s: decoder %s", self.source_id, self.decoder_in_use)

    # -- frames --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        self._iterating = threading.current_thread()
        try:
            yield from self._frames()
        finally:
            self._iterating = None
            self._teardown()

    def _frames(self) -> Iterator[Frame]:
        lost_at: float | None = None  # monotonic time the stream was lost (or first opened)
        lost_reason = ""
        started = time.monotonic()
        attempt = 0
        while not self._stop_requested.is_set():
            try:
                self.open()
                sample = self._next_sample()
            except (_StreamLost, CaptureError) as exc:
                if not self.reconnect:
                    if isinstance(exc, _StreamLost):
                        raise CaptureError(f"{self._context}: {exc}") from None
                    raise
                self._teardown()
                lost_reason = str(exc)
                now = time.monotonic()
                if lost_at is None:
                    lost_at = started if self.frames_out == 0 else now
                    if self.frames_out:
                        log.warning("video %s: stream lost: %s; reconnecting", self.source_id, lost_reason)
                self._give_up_if_too_long(now - lost_at, lost_reason)
                delay = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
                log.debug(
                    "video %s: no stream (%s); next attempt in %.2f s", self.source_id, lost_reason, delay
                )
                attempt += 1
                if self._stop_requested.wait(delay):
                    return
                self._begin_session()
                continue
            if sample is None:
                return
            frame = self._to_frame(sample)
            if frame is None:
                continue
            if lost_at is not None:
                if self.frames_out > 0:
                    self.reconnects += 1
                    outage = time.monotonic() - lost_at
                    self.outage_s += outage
                    log.info(
                        "video %s: stream back after %.2f s (%d reconnects)",
                        self.source_id,
                        outage,
                        self.reconnects,
                    )
                lost_at, attempt = None, 0
            self.frames_out += 1
            yield frame

    def _give_up_if_too_long(self, waited_s: float, reason: str) -> None:
        if self.frames_out == 0 and waited_s >= self.timeout_s:
            raise CaptureError(f"{self._context}: no video within {self.timeout_s:g} s: {reason}")
        if self.frames_out and self.max_reconnect_s is not None and waited_s >= self.max_reconnect_s:
            raise CaptureError(
                f"{self._context}: stream lost and not back within {self.max_reconnect_s:g} s: {reason}"
            )

    def _on_sink_buffer(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buffer = info.get_buffer()
        if buffer is not None and buffer.pts != Gst.CLOCK_TIME_NONE:
            self._arrived_pts.append(int(buffer.pts))  # deque.append is atomic: streaming thread
        return Gst.PadProbeReturn.OK

    def _begin_session(self) -> None:
        """Forget the previous connection's PTS bookkeeping (a new stream starts anew)."""
        # Frames of the old connection that reached the appsink but were never pulled were dropped.
        self.frames_dropped += len(self._arrived_pts)
        self._arrived_pts.clear()
        self._last_pts = None
        self._rebase_pts = True

    def _next_sample(self) -> Gst.Sample | None:
        """Next sample, or None at the end (or on :meth:`stop`).

        Raises :class:`_StreamLost` for a live stream that broke or stalled and
        :class:`CaptureError` for a file that cannot be read.
        """
        sink = self._sink
        assert sink is not None
        # A (re)connection's first frame may wait for a keyframe seconds away: timeout_s.
        wait_s = self.stall_timeout_s if self._session_frames else self.timeout_s
        deadline = time.monotonic() + wait_s
        while not self._stop_requested.is_set():
            self._drain_bus()
            if self._file_failed:
                return None
            sample = sink.try_pull_sample(_POLL_NS)
            if sample is not None:
                self._session_frames += 1
                self._drain_bus()  # tags (the container's datetime) are posted before the frame
                return sample
            if sink.is_eos():
                return self._on_eos()
            if time.monotonic() > deadline:
                message = f"no frame for {wait_s:g} s"
                if self.is_live:
                    raise _StreamLost(message)
                raise CaptureError(f"{self._context}: {message}")
        return None

    def _on_eos(self) -> Gst.Sample | None:
        """End of a file or of a stream the sender ended; a live stream that broke raises."""
        if self.is_live:
            # The source's warning ("Could not read from resource") precedes the EOS it
            # causes: wait for the pipeline's EOS message, by then the warning is on the bus.
            bus = self._bus()
            deadline = time.monotonic() + _EOS_SETTLE_S
            while bus is not None and self._source_trouble is None and time.monotonic() < deadline:
                self._drain_bus()
                if bus.timed_pop_filtered(50 * Gst.MSECOND, Gst.MessageType.EOS) is not None:
                    self._drain_bus()
                    break
            if self.reconnect_on_eos or (self._source_trouble is not None and not self._sender_bye):
                raise _StreamLost(f"end of stream: {self._source_trouble or 'the sender ended it'}")
        self._drain_bus()
        return None

    def _bus(self) -> Gst.Bus | None:
        with self._lock:
            return self._pipeline.get_bus() if self._pipeline is not None else None

    def _pending_error(self) -> str | None:
        bus = self._bus()
        msg = bus.pop_filtered(Gst.MessageType.ERROR) if bus is not None else None
        if msg is None:
            return None
        err, debug = msg.parse_error()
        log.debug("gstreamer error debug: %s", debug)
        return f"GStreamer error from {msg.src.get_name()}: {err.message}"

    def _drain_bus(self) -> None:
        """Handle pending bus messages (errors raise, or end a file that gave frames: ``_file_failed``)."""
        bus = self._bus()
        if bus is None:
            return
        types = Gst.MessageType.ERROR | Gst.MessageType.TAG | Gst.MessageType.WARNING
        while (msg := bus.pop_filtered(types)) is not None:
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                log.debug("gstreamer error debug: %s", debug)
                message = f"GStreamer error from {msg.src.get_name()}: {err.message}"
                if self.is_live:
                    raise _StreamLost(message)
                if self.frames_out == 0:
                    raise CaptureError(f"{self._context}: {message}")
                # Some frames came: a file cut short or corrupt towards its end. End here, counted.
                log.error("video %s: %s; ending after %d frames", self.source_id, message, self.frames_out)
                self.frames_bad += 1
                self.end_reason = message
                self._file_failed = True
                return
            if msg.type == Gst.MessageType.WARNING:
                self._on_warning(msg)
            elif self._tag_time_utc is None:
                self._tag_time_utc = _datetime_tag_utc(msg.parse_tag())

    def _on_warning(self, msg: Gst.Message) -> None:
        warn, _ = msg.parse_warning()
        element = msg.src
        factory = element.get_factory() if isinstance(element, Gst.Element) else None
        if factory is not None and is_video_decoder(factory):
            self.frames_bad += 1  # GstVideoDecoder warns once per frame it could not decode
            self._undecodable_pending += 1  # that frame will be missing from the PTS sequence too
        if msg.src.get_name() == "src":
            self._source_trouble = warn.message
        log.warning(
            "video %s: GStreamer warning from %s: %s", self.source_id, element.get_name(), warn.message
        )

    def _to_frame(self, sample: Gst.Sample) -> Frame | None:
        buffer = sample.get_buffer()
        caps = sample.get_caps()
        if buffer is None or caps is None or buffer.pts == Gst.CLOCK_TIME_NONE:
            self.frames_bad += 1
            return None
        try:
            image = buffer_to_array(buffer, self._layout_for(caps), zero_copy=self.zero_copy)
        except ValueError as exc:
            log.warning("video %s: bad frame at pts %d: %s", self.source_id, buffer.pts, exc)
            self.frames_bad += 1
            return None
        pts = int(buffer.pts)
        self._count_drops(pts)
        return Frame(
            source_id=self.source_id,
            index=self.frames_out,
            pts_ns=self._continuous_pts(pts),
            time_utc=self._increasing(self._time_utc(sample, buffer, pts)),
            image=image,
        )

    def _continuous_pts(self, pts: int) -> int:
        """PTS carried on across reconnects: a new session continues one frame after the last."""
        if self._rebase_pts:
            self._rebase_pts = False
            if self._last_pts_out is not None:
                self._pts_offset = self._last_pts_out + (self._frame_ns or 1) - pts
        self._last_pts_out = pts + self._pts_offset
        return self._last_pts_out

    def _increasing(self, time_utc: float) -> float:
        last = self._last_time_utc
        if last is not None and time_utc <= last:
            if self.times_adjusted == 0 or self.times_adjusted % 100 == 0:
                log.warning(
                    "video %s: frame time %.6f is not after the previous %.6f; moved after it (%d so far)",
                    self.source_id,
                    time_utc,
                    last,
                    self.times_adjusted + 1,
                )
            self.times_adjusted += 1
            time_utc = last + _TIME_STEP_S
        self._last_time_utc = time_utc
        return time_utc

    def _layout_for(self, caps: Gst.Caps) -> VideoLayout:
        if self._layout is None or self._layout_caps is None or not caps.is_equal(self._layout_caps):
            self._layout = VideoLayout.from_caps(caps)
            self._layout_caps = caps
            ok, num, den = caps.get_structure(0).get_fraction("framerate")
            self._frame_ns = int(Gst.SECOND * den / num) if ok and num > 0 else None
        return self._layout

    def _count_drops(self, pts: int) -> None:
        """Frames missing from the PTS sequence (estimated from the frame rate).

        Live: dropped (the appsink's latest-frame policy, network loss). Files: bad,
        since nothing drops frames of a file but data the demuxer or decoder could
        not use (corruption). Frames the decoder already reported are not counted again.
        An estimate: damaged timestamps (a PTS jump after a corrupt PES header) inflate it.
        """
        dropped_now = 0
        if self.is_live:
            while self._arrived_pts and self._arrived_pts[0] < pts:
                self._arrived_pts.popleft()
                dropped_now += 1
            if self._arrived_pts and self._arrived_pts[0] == pts:
                self._arrived_pts.popleft()
            self.frames_dropped += dropped_now
        if self._last_pts is not None and self._frame_ns:
            missing = max(0, round((pts - self._last_pts) / self._frame_ns) - 1)
            missing -= min(missing, self._undecodable_pending)  # already counted as bad
            if self.is_live:
                # What the PTS gap says beyond the frames the appsink dropped: lost before decoding.
                self.frames_lost += max(0, missing - dropped_now)
            elif missing:
                log.warning(
                    "video %s: %d frames missing before pts %.3f s (undecodable data)",
                    self.source_id,
                    missing,
                    pts / Gst.SECOND,
                )
                self.frames_bad += missing
        self._last_pts = pts
        self._undecodable_pending = 0

    def _time_utc(self, sample: Gst.Sample, buffer: Gst.Buffer, pts: int) -> float:
        if self._first_pts is None:
            self._first_pts = pts
        if self.is_live:
            return self._live_time_utc(sample, buffer, pts)
        base = self.start_time_utc if self.start_time_utc is not None else self._tag_time_utc
        if base is None:
            raise CaptureError(
                f"{self._context}: no start time: the file has no datetime tag; pass start_time_utc"
            )
        return base + (pts - self._first_pts) / Gst.SECOND

    def _live_time_utc(self, sample: Gst.Sample, buffer: Gst.Buffer, pts: int) -> float:
        meta = buffer.get_reference_timestamp_meta(_NTP_CAPS) if self.sender_clock else None
        if meta is not None and meta.timestamp > 0:
            self.frames_sender_timed += 1
            return meta.timestamp / Gst.SECOND - NTP_UNIX_OFFSET_S
        with self._lock:
            pipeline = self._pipeline
        now_utc = time.time()
        clock = pipeline.get_clock() if pipeline is not None else None
        segment = sample.get_segment()
        running = segment.to_running_time(Gst.Format.TIME, pts) if segment is not None else -1
        if pipeline is None or clock is None or running < 0:
            return now_utc
        age_ns = clock.get_time() - (pipeline.get_base_time() + running)
        return now_utc - max(age_ns, 0) / Gst.SECOND
