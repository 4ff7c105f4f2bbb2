"""H.264 encoding of rendered frames with a real GStreamer pipeline, into MP4 and MPEG-TS at once.

``appsrc -> videoconvert -> x264enc -> tee -> (h264parse -> mp4mux) + (h264parse -> mpegtsmux)``;
one encode feeds both containers, so they hold identical frames with identical
timestamps (frame ``i`` at ``i / fps``). Given ``klv`` (timed KLV metadata
packets, e.g. MISB ST 0601 local sets), a second appsrc with caps
``meta/x-klv,parsed=true`` feeds the same ``mpegtsmux``, which carries it as a
KLV metadata stream beside the video; each packet is pushed just before the
first frame at or after its time, so the muxer never waits on either input.

Example:
    >>> import numpy as np, tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> with H264Writer(d / "a.mp4", d / "a.ts", 64, 48, 10.0) as w:
    ...     for i in range(3):
    ...         w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    >>> (d / "a.mp4").stat().st_size > 0, (d / "a.ts").stat().st_size > 0
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import gi
import numpy as np

from hardware.sim.mp4time import set_mp4_creation_time

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)


class EncodeError(RuntimeError):
    """The GStreamer pipeline failed; the message carries GStreamer's error."""


class H264Writer:
    """Push BGR frames; closing sends EOS and waits until both files are finalised.

    ``creation_time`` (the first frame's capture time) is stamped into the MP4 headers.
    """

    def __init__(
        self,
        mp4_path: Path | None,
        ts_path: Path | None,
        width: int,
        height: int,
        fps: float,
        *,
        bitrate_kbps: int = 8000,
        creation_time: datetime | None = None,
        speed_preset: str = "ultrafast",
        klv: Sequence[tuple[float, bytes]] = (),
    ) -> None:
        if mp4_path is None and ts_path is None:
            raise ValueError("need at least one of mp4_path, ts_path")
        if klv and ts_path is None:
            raise ValueError("KLV metadata needs ts_path (MP4 does not carry it here)")
        self.width, self.height = width, height
        self.rate = Fraction(fps).limit_denominator(1001)
        key_int = max(1, round(fps))
        branches = []
        if mp4_path is not None:
            branches.append(f't. ! queue ! h264parse ! mp4mux name=mp4 ! filesink location="{mp4_path}"')
        if ts_path is not None:
            branches.append(f't. ! queue ! h264parse ! mpegtsmux name=ts ! filesink location="{ts_path}"')
        if klv:
            klv_caps = "meta/x-klv,parsed=true"
            branches.append(f"appsrc name=klv format=time block=false caps={klv_caps} ! queue ! ts.")
        desc = (
            f"appsrc name=src is-live=false block=true format=time max-bytes={width * height * 3 * 4} "
            f"caps=video/x-raw,format=BGR,width={width},height={height},"
            f"framerate={self.rate.numerator}/{self.rate.denominator} "
            f"! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc speed-preset={speed_preset} key-int-max={key_int} bitrate={bitrate_kbps} "
            f"! video/x-h264,profile=high ! tee name=t " + " ".join(branches)
        )
        try:
            self.pipeline = Gst.parse_launch(desc)
        except GLib.Error as exc:
            raise EncodeError(f"cannot build the encoding pipeline: {exc.message}") from None
        self.src = self.pipeline.get_by_name("src")
        self.klv_src = self.pipeline.get_by_name("klv") if klv else None
        self._klv = sorted(klv, key=lambda item: item[0])
        self._klv_next = 0
        self.mp4_path = mp4_path
        self.creation_time = creation_time
        self.index = 0
        self.pipeline.set_state(Gst.State.PLAYING)

    def _pts(self, i: int) -> int:
        return i * Gst.SECOND * self.rate.denominator // self.rate.numerator

    def write(self, frame: np.ndarray) -> None:
        """Push one ``H x W x 3`` BGR ``uint8`` frame (timestamp ``index / fps``)."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {self.index}: expected {self.height}x{self.width}x3 uint8, got {frame.shape}"
            )
        self._check_bus()
        self._push_klv(self._pts(self.index))
        buf = Gst.Buffer.new_wrapped(np.ascontiguousarray(frame).tobytes())
        buf.pts = self._pts(self.index)
        buf.duration = self._pts(self.index + 1) - buf.pts
        ret = self.src.emit("push-buffer", buf)
        if ret != Gst.FlowReturn.OK:
            self._check_bus()
            raise EncodeError(f"frame {self.index}: appsrc refused the buffer ({ret.value_nick})")
        self.index += 1

    def _push_klv(self, until_ns: int | None) -> None:
        """Push the KLV packets stamped at or before ``until_ns`` (all of them for None)."""
        while self.klv_src is not None and self._klv_next < len(self._klv):
            t, packet = self._klv[self._klv_next]
            pts = round(t * Gst.SECOND)
            if until_ns is not None and pts > until_ns:
                return
            buf = Gst.Buffer.new_wrapped(packet)
            buf.pts = buf.dts = pts
            ret = self.klv_src.emit("push-buffer", buf)
            if ret != Gst.FlowReturn.OK:
                self._check_bus()
                raise EncodeError(f"KLV packet {self._klv_next}: appsrc refused it ({ret.value_nick})")
            self._klv_next += 1

    def _check_bus(self) -> None:
        bus = self.pipeline.get_bus()
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        if msg is not None:
            err, debug = msg.parse_error()
            self.pipeline.set_state(Gst.State.NULL)
            raise EncodeError(f"GStreamer: {err.message} ({debug})")

    def close(self) -> None:
        """Send EOS, wait for the muxers to finish writing, release the pipeline."""
        if self.pipeline is None:
            return
        try:
            if self.klv_src is not None:
                self._push_klv(None)
                self.klv_src.emit("end-of-stream")
            self.src.emit("end-of-stream")
            bus = self.pipeline.get_bus()
            msg = bus.timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                raise EncodeError("timed out waiting for the encoder to finish")
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                raise EncodeError(f"GStreamer: {err.message} ({debug})")
        finally:
            self.pipeline.set_state(Gst.State.NULL)
            self.pipeline = None
        if self.mp4_path is not None and self.creation_time is not None:
            set_mp4_creation_time(self.mp4_path, self.creation_time)

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        elif self.pipeline is not None:
            self.pipeline.set_state(Gst.State.NULL)
            self.pipeline = None
