"""Decoded video frames from a file or an RTSP stream, via GStreamer and appsink.

Example:
    >>> with VideoSource("mission/video.mp4", "drone-1", start_time_utc=1.7e9) as video:  # doctest: +SKIP
    ...     for frame in video:
    ...         print(frame.index, frame.time_utc, frame.image.shape)

Time of a frame (``Frame.time_utc``):

* files: ``start_time_utc`` if given, else the container's ``datetime`` tag
  (MP4 ``mvhd`` creation time, Matroska ``DateUTC``), plus the frame's PTS
  relative to the first frame's PTS. Note that many muxers write the *muxing*
  time as creation time, so pass ``start_time_utc`` when it is known. Without
  either, the first frame raises :class:`CaptureError` rather than invent a
  time that would mislocate every detection.
* RTSP: the sender's clock when ``rtspsrc`` has synchronised via RTCP sender
  reports (``GstReferenceTimestampMeta`` ``timestamp/x-ntp`` on the buffer);
  before the first sender report, the arrival time: the jitter buffer stamps
  packets with their (skew-corrected) arrival running time, which is mapped to
  UTC through the pipeline clock at the moment the sample is pulled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import TracebackType

import gi

from capture.errors import CaptureError
from capture.gst_buffer import VideoLayout, buffer_to_array
from capture.types import Frame
from capture.video_pipeline import SINK_NAME, VideoUri, describe_pipeline, parse_video_uri

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst, GstApp  # noqa: E402

log = logging.getLogger(__name__)

if not Gst.is_initialized():
    Gst.init(None)

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01
_NTP_CAPS = Gst.Caps.from_string("timestamp/x-ntp")
_POLL_NS = 100 * Gst.MSECOND


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
    """Iterate decoded BGR frames of a video file or RTSP stream.

    Args:
        uri: file path, ``file://`` URI or ``rtsp://`` URL (optionally with
            ``?transport=tcp`` or ``?transport=udp``).
        source_id: copied into every :class:`Frame`.
        start_time_utc: UTC of the first frame (files); overrides container tags.
        decoder: decoder element name; ``None`` lets ``decodebin`` choose.
        latency_ms: RTSP jitter-buffer latency.
        transport: ``"tcp"`` / ``"udp"``, overrides the URI hint.
        timeout_s: how long to wait for the stream to start or for the next frame.
        zero_copy: hand out views on GStreamer memory (see :mod:`capture.gst_buffer`).
        sender_clock: RTSP: trust the sender's RTCP clock once known. Turn it off
            for cameras whose clock is not synchronised (NTP/GNSS); arrival time is
            then used throughout.

    Counters: ``frames_out`` (yielded), ``frames_bad`` (samples that could not
    be converted, skipped), ``frames_dropped`` (live only: frames missing from
    the PTS sequence, estimated from the frame rate; the live appsink drops the
    oldest frame when the consumer falls behind), ``frames_sender_timed`` (live
    only: frames timed by the sender's RTCP clock rather than arrival).
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
    ) -> None:
        self.uri = uri
        self.source_id = source_id
        self.start_time_utc = start_time_utc
        self.timeout_s = timeout_s
        self.zero_copy = zero_copy
        self.sender_clock = sender_clock
        self.frames_out = 0
        self.frames_bad = 0
        self.frames_dropped = 0
        self.frames_sender_timed = 0
        self._source: VideoUri = parse_video_uri(uri, transport)
        self.pipeline_description = describe_pipeline(
            self._source, latency_ms=latency_ms, decoder=decoder, timeout_s=timeout_s
        )
        self._pipeline: Gst.Pipeline | None = None
        self._sink: GstApp.AppSink | None = None
        self._tag_time_utc: float | None = None
        self._first_pts: int | None = None
        self._last_pts: int | None = None
        self._frame_ns: int | None = None
        self._layout: VideoLayout | None = None
        self._layout_caps: Gst.Caps | None = None

    @property
    def is_live(self) -> bool:
        return self._source.is_live

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> VideoSource:
        """Build and start the pipeline; raises :class:`CaptureError` if it cannot start."""
        if self._pipeline is not None:
            return self
        log.info("video %s (%s): %s", self.source_id, self.uri, self.pipeline_description)
        try:
            pipeline = Gst.parse_launch(self.pipeline_description)
        except GLib.Error as exc:
            raise CaptureError(f"{self.uri}: cannot build pipeline: {exc}") from exc
        assert isinstance(pipeline, Gst.Pipeline)
        self._pipeline = pipeline
        self._sink = pipeline.get_by_name(SINK_NAME)
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._raise_bus_error("cannot start")
        ret, _, _ = pipeline.get_state(int(self.timeout_s * Gst.SECOND))
        if ret == Gst.StateChangeReturn.FAILURE:
            self._raise_bus_error("cannot start")
        if ret == Gst.StateChangeReturn.ASYNC:
            self.close()
            raise CaptureError(f"{self.uri}: no video within {self.timeout_s:g} s")
        return self

    def close(self) -> None:
        """Stop the pipeline and release its resources (idempotent)."""
        if self._pipeline is not None:
            self._pipeline.set_state(Gst.State.NULL)
            self._pipeline = None
            self._sink = None

    def __enter__(self) -> VideoSource:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- frames --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        self.open()
        try:
            while True:
                sample = self._next_sample()
                if sample is None:
                    return
                frame = self._to_frame(sample)
                if frame is not None:
                    yield frame
        finally:
            self.close()

    def _next_sample(self) -> Gst.Sample | None:
        """Next sample, or None at end of stream; raises on pipeline errors and stalls."""
        assert self._sink is not None
        waited_ns = 0
        while True:
            self._drain_bus()
            sample = self._sink.try_pull_sample(_POLL_NS)
            if sample is not None:
                return sample
            if self._sink.is_eos():
                self._drain_bus()
                return None
            waited_ns += _POLL_NS
            if waited_ns > self.timeout_s * Gst.SECOND:
                raise CaptureError(f"{self.uri}: no frame for {self.timeout_s:g} s (source {self.source_id})")

    def _drain_bus(self) -> None:
        assert self._pipeline is not None
        bus = self._pipeline.get_bus()
        types = Gst.MessageType.ERROR | Gst.MessageType.TAG | Gst.MessageType.WARNING
        while (msg := bus.pop_filtered(types)) is not None:
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                log.debug("gstreamer error debug: %s", debug)
                self.close()
                raise CaptureError(
                    f"{self.uri}: GStreamer error from {msg.src.get_name()}"
                    f" (source {self.source_id}): {err.message}"
                )
            if msg.type == Gst.MessageType.WARNING:
                warn, _ = msg.parse_warning()
                log.warning("%s: GStreamer warning from %s: %s", self.uri, msg.src.get_name(), warn.message)
            elif self._tag_time_utc is None:
                self._tag_time_utc = _datetime_tag_utc(msg.parse_tag())

    def _raise_bus_error(self, what: str) -> None:
        try:
            self._drain_bus()
        finally:
            self.close()
        raise CaptureError(f"{self.uri}: {what} (source {self.source_id})")

    def _to_frame(self, sample: Gst.Sample) -> Frame | None:
        buffer = sample.get_buffer()
        caps = sample.get_caps()
        if buffer is None or caps is None or buffer.pts == Gst.CLOCK_TIME_NONE:
            self.frames_bad += 1
            return None
        try:
            image = buffer_to_array(buffer, self._layout_for(caps), zero_copy=self.zero_copy)
        except ValueError as exc:
            log.warning("%s: bad frame at pts %d: %s", self.uri, buffer.pts, exc)
            self.frames_bad += 1
            return None
        pts = int(buffer.pts)
        self._count_drops(pts)
        frame = Frame(
            source_id=self.source_id,
            index=self.frames_out,
            pts_ns=pts,
            time_utc=self._time_utc(sample, buffer, pts),
            image=image,
        )
        self.frames_out += 1
        return frame

    def _layout_for(self, caps: Gst.Caps) -> VideoLayout:
        if self._layout is None or self._layout_caps is None or not caps.is_equal(self._layout_caps):
            self._layout = VideoLayout.from_caps(caps)
            self._layout_caps = caps
            ok, num, den = caps.get_structure(0).get_fraction("framerate")
            self._frame_ns = int(Gst.SECOND * den / num) if ok and num > 0 else None
        return self._layout

    def _count_drops(self, pts: int) -> None:
        if self.is_live and self._last_pts is not None and self._frame_ns:
            missing = round((pts - self._last_pts) / self._frame_ns) - 1
            self.frames_dropped += max(0, missing)
        self._last_pts = pts

    def _time_utc(self, sample: Gst.Sample, buffer: Gst.Buffer, pts: int) -> float:
        if self._first_pts is None:
            self._first_pts = pts
        if self.is_live:
            return self._live_time_utc(sample, buffer, pts)
        base = self.start_time_utc if self.start_time_utc is not None else self._tag_time_utc
        if base is None:
            raise CaptureError(
                f"{self.uri}: no start time: the file has no datetime tag; pass start_time_utc"
            )
        return base + (pts - self._first_pts) / Gst.SECOND

    def _live_time_utc(self, sample: Gst.Sample, buffer: Gst.Buffer, pts: int) -> float:
        meta = buffer.get_reference_timestamp_meta(_NTP_CAPS) if self.sender_clock else None
        if meta is not None and meta.timestamp > 0:
            self.frames_sender_timed += 1
            return meta.timestamp / Gst.SECOND - NTP_UNIX_OFFSET_S
        assert self._pipeline is not None
        clock = self._pipeline.get_clock()
        segment = sample.get_segment()
        running = segment.to_running_time(Gst.Format.TIME, pts) if segment is not None else -1
        now_utc = time.time()
        if clock is None or running < 0:
            return now_utc
        age_ns = clock.get_time() - (self._pipeline.get_base_time() + running)
        return now_utc - max(age_ns, 0) / Gst.SECOND
