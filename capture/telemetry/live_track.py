"""What every live telemetry link offers: a growing track, pose queries, a context manager.

A link (MAVLink: :class:`~capture.telemetry.live.LiveTelemetry`, NMEA:
:class:`~capture.telemetry.nmea_live.LiveNmea`) reads in a background thread
and implements ``_open_link``, ``_run`` (the reader loop, until ``_stop`` is
set), ``_close_link``, ``__len__`` (position samples so far), ``_version``
(bumped on every stored sample) and ``_build_track``; the track is rebuilt
only when new samples arrived.

Example:
    >>> with LiveNmea("nmea+tcp://127.0.0.1:10110") as live:  # doctest: +SKIP
    ...     live.wait_for_samples(1)
    ...     pose = live.pose_at(time.time() - 0.5)
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

import numpy as np

from capture.telemetry.track import PoseSeries, TelemetryTrack
from capture.types import Pose

# Seconds of samples a live link keeps. Poses are looked up for frames within a second or two
# of their capture (live sources drop frames rather than queue them), so a minute is ample;
# the track is rebuilt from the whole history whenever samples arrive (about once a frame),
# which took 7.6 ms with 600 s of 10 Hz MAVLink and takes 1.2 ms with 60 s.
LIVE_HISTORY_S = 60.0


class LiveTrackSource:
    """Shared lifecycle and queries of a live link; ``error`` holds what stopped the reader, if anything."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._track: TelemetryTrack | None = None
        self._track_version = -1
        self._track_lock = threading.Lock()

    # -- to implement --------------------------------------------------------------
    def _open_link(self) -> None:
        """Open the link; raise TelemetryError naming the URI if it cannot open."""
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _close_link(self) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _version(self) -> int:
        raise NotImplementedError

    def _build_track(self) -> TelemetryTrack | None:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    def start(self) -> Self:
        """Open the link and start the reader thread (raises TelemetryError if the link cannot open)."""
        if self._thread is not None:
            return self
        self._open_link()
        name = f"{type(self).__name__}({self.uri})"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the reader and close the link (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_link()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def wait_for_samples(self, n: int = 1, timeout_s: float = 10.0) -> bool:
        """Block until ``n`` position samples have arrived; False on timeout or reader error."""
        deadline = time.monotonic() + timeout_s
        while len(self) < n:
            if time.monotonic() > deadline or self.error is not None:
                return False
            time.sleep(0.02)
        return True

    def track(self) -> TelemetryTrack | None:
        """Snapshot of the data so far (rebuilt only when new samples arrived)."""
        with self._track_lock:
            version = self._version()
            if version != self._track_version:
                self._track = self._build_track()
                self._track_version = version
            return self._track

    def poses_at(self, times: np.ndarray, max_gap_s: float = 1.0) -> PoseSeries:
        """As :meth:`TelemetryTrack.poses_at`; all unlocated before the first position."""
        track = self.track()
        return PoseSeries.unlocated(times) if track is None else track.poses_at(times, max_gap_s)

    def pose_at(self, t: float, max_gap_s: float = 1.0) -> Pose | None:
        track = self.track()
        return None if track is None else track.pose_at(t, max_gap_s)

    @property
    def start_time_utc(self) -> float | None:
        track = self.track()
        return None if track is None else track.start_time_utc

    @property
    def end_time_utc(self) -> float | None:
        track = self.track()
        return None if track is None else track.end_time_utc
