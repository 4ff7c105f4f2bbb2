"""Live NMEA 0183 from a GNSS receiver over TCP or a serial port: a background reader that grows a track.

``nmea+tcp://HOST:PORT`` connects to a receiver's (or a gateway's) TCP server
and reconnects when the connection drops; ``nmea+serial:///dev/ttyUSB0?baud=9600``
opens a serial port with pyserial (4800 baud, the NMEA 0183 standard rate,
when ``baud`` is not given). Sentences are parsed by the same
:class:`~capture.telemetry.nmea.NmeaEpochs` as NMEA log files, so times are the
receiver's UTC fixes, not arrival times. A bad sentence (checksum, field) is
counted in ``bad_sentences`` and logged, never fatal: a live link keeps going.

Example:
    >>> with LiveNmea("nmea+tcp://192.168.1.20:10110") as gnss:  # doctest: +SKIP
    ...     gnss.wait_for_samples(1, timeout_s=5)
    ...     pose = gnss.pose_at(frame.time_utc)
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from capture.errors import TelemetryError
from capture.telemetry.live_track import LIVE_HISTORY_S, LiveTrackSource
from capture.telemetry.nmea import NmeaEpochs, epochs_to_track
from capture.telemetry.track import TelemetryTrack

log = logging.getLogger(__name__)

SCHEMES = ("nmea+tcp", "nmea+serial")
DEFAULT_BAUD = 4800
_READ_TIMEOUT_S = 0.2  # how often the reader looks at the stop flag
_MAX_LINE = 256  # NMEA sentences are at most 82 characters; longer is garbage


class LiveNmea(LiveTrackSource):
    """Thread-safe growing pose track fed by NMEA 0183 sentences from TCP or serial.

    Counters: ``lines_received``, ``bad_sentences``, ``reconnects``
    (``messages_received`` is ``lines_received``, as on LiveTelemetry).
    """

    def __init__(self, uri: str, *, history_s: float = LIVE_HISTORY_S, reconnect_s: float = 1.0) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES:
            raise TelemetryError(
                f"{uri}: not an NMEA link (use nmea+tcp://HOST:PORT or nmea+serial:///dev/ttyUSB0?baud=9600)"
            )
        self._parts = parts
        if parts.scheme == "nmea+tcp" and (not parts.hostname or parts.port is None):
            raise TelemetryError(f"{uri}: nmea+tcp needs HOST:PORT")
        if parts.scheme == "nmea+serial" and not parts.path:
            raise TelemetryError(f"{uri}: nmea+serial needs a device path, e.g. nmea+serial:///dev/ttyUSB0")
        try:
            self.baud = int(parse_qs(parts.query).get("baud", [DEFAULT_BAUD])[0])
        except ValueError:
            raise TelemetryError(f"{uri}: baud must be a whole number") from None
        self.history_s = history_s
        self.reconnect_s = reconnect_s
        self.parser = NmeaEpochs(uri)
        self.lines_received = 0
        self.bad_sentences = 0
        self.reconnects = 0
        self._alt_reference: float | None = None
        self._lock = threading.Lock()
        self._version_counter = 0
        self._stream: Any = None  # a socket or a serial.Serial

    @property
    def messages_received(self) -> int:
        return self.lines_received

    # -- lifecycle -----------------------------------------------------------------
    def _open_link(self) -> None:
        self._stream = self._open()

    def _close_link(self) -> None:
        self._close_stream()

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _open(self) -> Any:
        if self._parts.scheme == "nmea+tcp":
            host, port = self._parts.hostname, self._parts.port
            try:
                sock = socket.create_connection((host, port), timeout=5.0)
            except OSError as exc:
                raise TelemetryError(f"{self.uri}: cannot connect: {exc}") from None
            sock.settimeout(_READ_TIMEOUT_S)
            return sock
        try:
            import serial  # pyserial: an optional dependency of this link only
        except ImportError:
            raise TelemetryError(
                f"{self.uri}: reading NMEA from a serial port needs the pyserial package"
            ) from None
        try:
            return serial.Serial(self._parts.path, baudrate=self.baud, timeout=_READ_TIMEOUT_S)
        except (serial.SerialException, ValueError) as exc:
            raise TelemetryError(f"{self.uri}: cannot open serial port: {exc}") from None

    # -- reader --------------------------------------------------------------------
    def _chunks(self) -> Callable[[], bytes | None]:
        """A reader of the next bytes: b"" at end of stream, None when nothing came in time."""
        stream = self._stream
        if isinstance(stream, socket.socket):

            def read_socket() -> bytes | None:
                try:
                    return stream.recv(4096)
                except TimeoutError:
                    return None

            return read_socket

        def read_serial() -> bytes | None:
            data: bytes = stream.read(stream.in_waiting or 1)
            return data or None

        return read_serial

    def _run(self) -> None:
        pending = b""
        try:
            while not self._stop.is_set():
                if self._stream is None:
                    if not self._reconnect():
                        continue
                    pending = b""
                chunk = self._chunks()()
                if chunk is None:
                    continue
                if chunk == b"":  # the peer closed the connection
                    log.warning("%s: connection closed, reconnecting", self.uri)
                    self._close_stream()
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > _MAX_LINE:
                    lines.append(pending)
                    pending = b""
                for raw in lines:
                    self._feed(raw.decode("ascii", errors="replace"))
        except Exception as exc:  # surfaced through .error; the link is gone either way
            if not self._stop.is_set():
                log.exception("%s: NMEA reader stopped", self.uri)
                self.error = exc

    def _reconnect(self) -> bool:
        if self._stop.wait(self.reconnect_s):
            return False
        try:
            self._stream = self._open()
        except TelemetryError as exc:
            log.warning("%s", exc)
            return False
        self.reconnects += 1
        return True

    def _feed(self, line: str) -> None:
        self.lines_received += 1
        with self._lock:
            before = len(self.parser.epochs)
            try:
                self.parser.feed(line, self.lines_received)
            except TelemetryError as exc:
                self.bad_sentences += 1
                log.warning("%s", exc)
                return
            self._version_counter += 1
            if len(self.parser.epochs) != before:
                # ~20 epochs a second at most: keep history_s of them
                self.parser.drop_before(max(10, round(self.history_s * 20)))

    # -- LiveTrackSource ---------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return sum(1 for e in self.parser.epochs if "lat" in e.values)

    def _version(self) -> int:
        return self._version_counter

    def _build_track(self) -> TelemetryTrack | None:
        with self._lock:
            if self._alt_reference is None:
                heights = (e.values.get("alt_msl", math.nan) for e in self.parser.epochs)
                self._alt_reference = next((h for h in heights if math.isfinite(h)), None)
            try:
                return epochs_to_track(self.uri, self.parser.epochs, alt_reference=self._alt_reference)
            except TelemetryError:
                return None  # no dated fix yet (no RMC seen)
